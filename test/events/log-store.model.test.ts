/**
 * Model-based test of the log store against a plain array: random appends (with right, wrong or no
 * expected revision), concurrent appends, clean restarts and crashes at any point of a group commit
 * (with a torn tail or garbage left in the active file). After every reopen the store holds exactly
 * the model: every acknowledged event, plus those of a frozen commit whose whole line reached the file.
 * `npm test` runs 150 cases, `npm run soak` (ARPD_SOAK=1) 2,000; ARPD_MODEL_RUNS sets the count.
 */
import { deepStrictEqual, equal, ok } from 'node:assert/strict';
import { appendFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { streamOf, type DomainEvent } from '../../src/events/event-types.js';
import { ACTIVE_LOG } from '../../src/events/log-files.js';
import { LogStore, type AppendInput } from '../../src/events/log-store.js';
import { bootId } from '../../src/system/process-identity.js';
import { abandonStore, EVENT_KINDS, removeDirSettled, runLogProblems, sampleEvent, tempDir } from '../fixtures-helpers/events.js';
import { ControlledIo, type Freeze } from '../fixtures-helpers/store-io.js';
import { SOAK, soakCount } from '../helpers/soak.js';

const NUM_RUNS = soakCount('ARPD_MODEL_RUNS', { ci: 150, soak: 2000 });
/**
 * What a run of NUM_RUNS cases must have exercised, per case. A case has about 1.2 crashes, 0.6 torn
 * tails, 1.9 kept lines of frozen commits and 2.1 refused conflicts: the soak run keeps the bar
 * this test always had (1,000 runs: over 1,000 crashes, over 500 of each other), the short run a
 * lower one that a few hundred cases clear every time.
 */
const COVERAGE = SOAK ? { crashes: 1, tornCuts: 0.5, frozenLinesKept: 0.5, conflicts: 0.5 } : { crashes: 0.6, tornCuts: 0.25, frozenLinesKept: 0.5, conflicts: 0.5 };

interface ModelEvent { seq: number; stream: string; rev: number; type: string; data: unknown }
interface Model { events: ModelEvent[]; revs: Map<string, number> }
interface Real { root: string; segmentBytes: number; store: LogStore; io: ControlledIo; opens: number }

const stats = { crashes: 0, tornCuts: 0, frozenLinesKept: 0, conflicts: 0 };

type RevMode = 'none' | 'right' | 'wrong';
interface Input { event: DomainEvent; rev: RevMode }

/** What an append should do, worked out on the model: its inputs, and either a conflict or the events it adds. */
interface Plan { inputs: AppendInput[]; conflict: boolean; events: ModelEvent[] }

function plan(batch: readonly Input[], revs: Map<string, number>, lastSeq: number): Plan {
  const local = new Map<string, number>();
  const inputs: AppendInput[] = [];
  const events: ModelEvent[] = [];
  let conflict = false;
  let seq = lastSeq;
  for (const { event, rev } of batch) {
    const stream = streamOf(event);
    const current = local.get(stream) ?? revs.get(stream) ?? 0;
    if (rev === 'wrong') conflict = true;
    const expectedRev = rev === 'none' ? undefined : rev === 'right' ? current : current + 1;
    inputs.push(expectedRev === undefined ? { ...event } : { ...event, expectedRev });
    local.set(stream, current + 1);
    events.push({ seq: ++seq, stream, rev: current + 1, type: event.type, data: event.data });
  }
  return { inputs, conflict, events: conflict ? [] : events };
}

function commit(m: Model, events: readonly ModelEvent[]): void {
  for (const e of events) {
    m.events.push(e);
    m.revs.set(e.stream, e.rev);
  }
}

const view = (e: StoredEvent): ModelEvent => ({ seq: e.seq, stream: e.stream, rev: e.rev, type: e.type, data: e.data });

const activeSize = (root: string): number => (existsSync(join(root, ACTIVE_LOG)) ? statSync(join(root, ACTIVE_LOG)).size : 0);

async function appendAndCheck(m: Model, r: Real, events: DomainEvent[]): Promise<void> {
  const p = plan(events.map((event) => ({ event, rev: 'none' })), m.revs, m.events.length);
  const stored = await r.store.append(p.inputs);
  deepStrictEqual(stored.map(view), p.events);
  commit(m, p.events);
}

/** Opens the store (as the daemon does at boot), checks it against the model, and records a daemon start. */
async function boot(m: Model, r: Real, expectCutAt: number | undefined): Promise<void> {
  const recovered: StoredEvent[] = [];
  const warnings: Array<Record<string, unknown>> = [];
  r.io = new ControlledIo();
  r.store = LogStore.open({
    root: r.root, segmentBytes: r.segmentBytes, io: r.io,
    onEvent: (e) => recovered.push(e), onWarning: (_message, details) => warnings.push(details),
  });
  r.opens++;
  deepStrictEqual(recovered.map(view), m.events, 'the recovered log equals the model');
  equal(r.store.seq, m.events.length);
  for (const [stream, rev] of m.revs) equal(r.store.streamRev(stream), rev, `revision of ${stream}`);
  const cuts = warnings.filter((w) => typeof w['offset'] === 'number');
  if (expectCutAt === undefined) {
    equal(cuts.length, 0, 'nothing was cut');
  } else {
    equal(cuts.length, 1, 'the torn tail was cut');
    equal(cuts[0]?.['offset'], expectCutAt, 'at the end of the last whole line');
    ok(existsSync(cuts[0]?.['copy'] as string), 'a copy of the torn file was kept');
  }
  deepStrictEqual(runLogProblems(r.root, recovered), [], 'every run log matches the global log');
  await appendAndCheck(m, r, [{ type: 'daemon.started', data: { pid: process.pid, version: 'model', boot_id: bootId(), host: `boot-${r.opens}` } }]);
}

class Append implements fc.AsyncCommand<Model, Real> {
  constructor(readonly batch: Input[]) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const p = plan(this.batch, m.revs, m.events.length);
    if (p.conflict) {
      const size = activeSize(r.root);
      const err = await r.store.append(p.inputs).then(() => undefined, (e: unknown) => e);
      ok(err instanceof ArpdError && err.code === 'E_CONFLICT', `expected E_CONFLICT, got ${String(err)}`);
      equal(activeSize(r.root), size, 'a conflict writes nothing');
      equal(r.store.seq, m.events.length, 'a conflict takes no seq');
      stats.conflicts++;
      return;
    }
    const stored = await r.store.append(p.inputs);
    deepStrictEqual(stored.map(view), p.events);
    commit(m, p.events);
  }
  toString(): string { return `Append(${describe(this.batch)})`; }
}

class AppendConcurrent implements fc.AsyncCommand<Model, Real> {
  constructor(readonly batches: Input[][]) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const revs = new Map(m.revs);
    let seq = m.events.length;
    const plans = this.batches.map((b) => {
      const p = plan(b, revs, seq);
      for (const e of p.events) revs.set(e.stream, e.rev);
      seq += p.events.length;
      return p;
    });
    const outcomes = await Promise.allSettled(plans.map((p) => r.store.append(p.inputs)));
    for (const [i, o] of outcomes.entries()) {
      const p = plans[i] as Plan;
      if (p.conflict) {
        ok(o.status === 'rejected' && o.reason instanceof ArpdError && o.reason.code === 'E_CONFLICT', `append ${i} conflicts`);
        stats.conflicts++;
      } else {
        ok(o.status === 'fulfilled', `append ${i} succeeds: ${o.status === 'rejected' ? String(o.reason) : ''}`);
        deepStrictEqual(o.value.map(view), p.events);
        commit(m, p.events);
      }
    }
  }
  toString(): string { return `AppendConcurrent(${this.batches.map(describe).join(' | ')})`; }
}

class Restart implements fc.AsyncCommand<Model, Real> {
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    await appendAndCheck(m, r, [{ type: 'daemon.stopped', data: { pid: process.pid, reason: 'restart', run_logs_complete: r.store.runLogsComplete } }]);
    await r.store.close();
    await boot(m, r, undefined);
  }
  toString(): string { return 'Restart'; }
}

type CrashPoint = { at: 'write'; fraction: number } | { at: 'sync' };

class CrashAt implements fc.AsyncCommand<Model, Real> {
  constructor(readonly inflight: Input[][], readonly point: CrashPoint, readonly garbage: Uint8Array) {}
  check(): boolean { return true; }
  async run(m: Model, r: Real): Promise<void> {
    const revs = new Map(m.revs);
    let seq = m.events.length;
    const plans = this.inflight.map((b) => {
      const p = plan(b, revs, seq);
      for (const e of p.events) revs.set(e.stream, e.rev);
      seq += p.events.length;
      return p;
    });
    const accepted = plans.filter((p) => !p.conflict);
    const sizeBefore = activeSize(r.root);
    let frozen: Promise<Freeze> | undefined;
    if (accepted.length > 0) frozen = this.point.at === 'sync' ? r.io.freezeAtSync() : r.io.freezeAfter(this.point.fraction);
    let settled = 0;
    let conflicts = 0;
    for (const p of plans) {
      r.store.append(p.inputs).then(
        () => { settled++; },
        (err: unknown) => { if (p.conflict && err instanceof ArpdError && err.code === 'E_CONFLICT') conflicts++; else settled++; },
      );
    }
    const f = frozen === undefined ? undefined : await frozen;
    await new Promise((resolve) => setImmediate(resolve));
    equal(settled, 0, 'no append of the frozen commit settled');
    equal(conflicts, plans.length - accepted.length, 'conflicting appends were refused at once');
    abandonStore(r.store);
    if (this.garbage.length > 0) appendFileSync(join(r.root, ACTIVE_LOG), this.garbage);

    // Whole lines that reached the file are durable facts now; a partial line is not.
    const bytes = f?.bytes ?? Buffer.alloc(0);
    let wholeLines = 0;
    for (const b of bytes) if (b === 0x0a) wholeLines++;
    const wholeBytes = bytes.lastIndexOf(0x0a) + 1;
    commit(m, accepted.flatMap((p) => p.events).slice(0, wholeLines));
    const torn = bytes.length > wholeBytes || this.garbage.length > 0;
    stats.crashes++;
    if (torn) stats.tornCuts++;
    stats.frozenLinesKept += wholeLines;
    await boot(m, r, torn ? sizeBefore + wholeBytes : undefined);
  }
  toString(): string {
    const point = this.point.at === 'sync' ? 'sync' : `write ${this.point.fraction.toFixed(3)}`;
    return `CrashAt(${point}, garbage ${this.garbage.length}B, inflight ${this.inflight.map(describe).join(' | ')})`;
  }
}

function describe(batch: readonly Input[]): string {
  return `[${batch.map((i) => `${streamOf(i.event)}${i.rev === 'none' ? '' : `@${i.rev}`}`).join(',')}]`;
}

const inputArb: fc.Arbitrary<Input> = fc
  .record({
    kind: fc.nat(EVENT_KINDS - 1),
    slot: fc.nat(5),
    n: fc.nat(1000),
    pad: fc.nat(300),
    rev: fc.constantFrom<RevMode>('none', 'none', 'none', 'right', 'right', 'wrong'),
  })
  .map(({ kind, slot, n, pad, rev }) => ({ event: sampleEvent(kind, slot, n, 'p'.repeat(pad)), rev }));
const batchArb = fc.array(inputArb, { minLength: 1, maxLength: 4 });

const commandArbs = [
  batchArb.map((b) => new Append(b)),
  fc.array(batchArb, { minLength: 2, maxLength: 6 }).map((bs) => new AppendConcurrent(bs)),
  fc.constant(new Restart()),
  fc.tuple(
    fc.array(batchArb, { minLength: 0, maxLength: 4 }),
    fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }).map((fraction): CrashPoint => ({ at: 'write', fraction })), fc.constant<CrashPoint>({ at: 'sync' })),
    fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 1, maxLength: 48 }).map((a) => a.filter((b) => b !== 0x0a))),
  ).map(([inflight, point, garbage]) => new CrashAt(inflight, point, garbage)),
];

t.test(`the store behaves as an array through appends, conflicts, restarts and crashes (${NUM_RUNS} runs)`, async (t) => {
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(4096, 4096, 64 * 1024 * 1024), fc.commands(commandArbs, { maxCommands: 15 }), async (segmentBytes, cmds) => {
      const root = tempDir('model');
      const model: Model = { events: [], revs: new Map() };
      const real = { root, segmentBytes, opens: 0 } as Real;
      try {
        await fc.asyncModelRun(async () => {
          await boot(model, real, undefined);
          return { model, real };
        }, cmds);
        runs++;
      } finally {
        if (real.store !== undefined) abandonStore(real.store);
        await removeDirSettled(root);
      }
    }),
    { numRuns: NUM_RUNS },
  );
  t.equal(runs, NUM_RUNS);
  t.ok(stats.crashes > COVERAGE.crashes * NUM_RUNS, `${stats.crashes} crashes simulated`);
  t.ok(stats.tornCuts > COVERAGE.tornCuts * NUM_RUNS, `${stats.tornCuts} torn tails cut`);
  t.ok(stats.frozenLinesKept > COVERAGE.frozenLinesKept * NUM_RUNS, `${stats.frozenLinesKept} lines of frozen commits kept`);
  t.ok(stats.conflicts > COVERAGE.conflicts * NUM_RUNS, `${stats.conflicts} conflicting appends refused`);
});
