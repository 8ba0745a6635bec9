import fc from 'fast-check';
import t from 'tap';
import { DeadlineHeap } from '../../src/runs/deadline-heap.js';

/** The naive model: each key's one live time in a plain map; due keys found by sorting. */
type Model = Map<string, number>;
const itemsOf = (heap: DeadlineHeap<string>): number => (heap as unknown as { items: unknown[] }).items.length;

function checkSame(model: Model, heap: DeadlineHeap<string>): void {
  if (heap.size !== model.size) throw new Error(`size ${heap.size}, model ${model.size}`);
  const min = model.size === 0 ? undefined : Math.min(...model.values());
  const peek = heap.peekAt();
  if (peek !== min) throw new Error(`peekAt ${String(peek)}, model ${String(min)}`);
}

class Push implements fc.Command<Model, DeadlineHeap<string>> {
  constructor(readonly at: number, readonly key: string) {}
  check = (): boolean => true;
  run(model: Model, heap: DeadlineHeap<string>): void {
    heap.push(this.at, this.key);
    if (Number.isFinite(this.at)) model.set(this.key, this.at);
    checkSame(model, heap);
  }
  toString = (): string => `push(${this.at}, ${this.key})`;
}

class Delete implements fc.Command<Model, DeadlineHeap<string>> {
  constructor(readonly key: string) {}
  check = (): boolean => true;
  run(model: Model, heap: DeadlineHeap<string>): void {
    heap.delete(this.key);
    model.delete(this.key);
    checkSame(model, heap);
  }
  toString = (): string => `delete(${this.key})`;
}

class PopDue implements fc.Command<Model, DeadlineHeap<string>> {
  constructor(readonly now: number) {}
  check = (): boolean => true;
  run(model: Model, heap: DeadlineHeap<string>): void {
    const got = heap.popDue(this.now);
    const due = [...model].filter(([, at]) => at <= this.now);
    const times = got.map((k) => model.get(k));
    if (got.length !== due.length || new Set(got).size !== got.length) throw new Error(`popDue(${this.now}) gave ${JSON.stringify(got)}, model ${JSON.stringify(due)}`);
    for (const [k] of due) if (!got.includes(k)) throw new Error(`popDue(${this.now}) missed ${k}`);
    for (let i = 1; i < times.length; i++) if ((times[i] as number) < (times[i - 1] as number)) throw new Error(`popDue(${this.now}) not earliest first: ${JSON.stringify(times)}`);
    for (const [k] of due) model.delete(k);
    checkSame(model, heap);
  }
  toString = (): string => `popDue(${this.now})`;
}

t.test('behaves like a map of key → time with a sorted scan (push, re-push, delete, popDue, peekAt)', async () => {
  const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h');
  const time = fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 30 }) }, { weight: 1, arbitrary: fc.constantFrom(Infinity, -Infinity, NaN) });
  const commands = [
    fc.tuple(time, key).map(([at, k]) => new Push(at, k)),
    key.map((k) => new Delete(k)),
    fc.integer({ min: -1, max: 32 }).map((now) => new PopDue(now)),
  ];
  fc.assert(fc.property(fc.commands(commands, { maxCommands: 200 }), (cmds) => {
    fc.modelRun(() => ({ model: new Map(), real: new DeadlineHeap<string>() }), cmds);
  }), { numRuns: 500 });
});

t.test('memory stays bounded after many deletes', async (t) => {
  const heap = new DeadlineHeap<string>();
  for (let i = 0; i < 100_000; i++) heap.push(i, `k${i}`);
  for (let i = 0; i < 100_000; i++) if (i % 1000 !== 0) heap.delete(`k${i}`);
  t.equal(heap.size, 100);
  t.ok(itemsOf(heap) <= 2 * heap.size + 1025, `${itemsOf(heap)} entries held for ${heap.size} live keys`);
  t.same(heap.popDue(Infinity).slice(0, 3), ['k0', 'k1000', 'k2000'], 'and it is still a heap');
});

t.test('memory stays bounded when one key is pushed again and again', async (t) => {
  const heap = new DeadlineHeap<string>();
  heap.push(0, 'anchor');
  // each push replaces the key's time; the earlier, later-in-time entry goes stale below the top
  for (let i = 100_000; i > 0; i--) heap.push(i, 'moving');
  t.equal(heap.size, 2);
  t.ok(itemsOf(heap) <= 2 * heap.size + 1025, `${itemsOf(heap)} entries held for ${heap.size} live keys`);
  t.same(heap.popDue(Infinity), ['anchor', 'moving']);
  t.equal(heap.peekAt(), undefined);
});
