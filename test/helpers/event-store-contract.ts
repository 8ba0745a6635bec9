/**
 * The EventStore contract (src/events/event-store.ts), written once and run against every adapter:
 * `eventStoreContract(t, subject)` registers one subtest per rule. It knows nothing of any adapter;
 * what only some stores can do (a second writer on the same store, faults) comes in as optional
 * parts of the subject, and the tests that need a missing part are skipped with the reason.
 */
import fc from 'fast-check';
import type { Test } from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { AppendInput, EventFilter, EventStore } from '../../src/events/event-store.js';
import { CURRENT_VERSION, type DomainEvent, type JsonObject } from '../../src/events/event-types.js';
import { jsonObject } from '../fixtures-helpers/arbitraries.js';

export interface ContractFaults {
  /** The next commit of `store` reaches the store but its acknowledgement is lost (the connection drops after the commit). */
  loseNextCommitAck?(store: EventStore): Promise<void>;
  /** Makes the store unreachable for `store` until the returned function is called. */
  cutOff?(store: EventStore): Promise<() => Promise<void>>;
}

export interface ContractSubject {
  /** Opens a fresh, empty store. The suite closes what it opens. */
  open(): Promise<EventStore>;
  /** For stores shared by several processes: another writer on the same data as `store`. */
  openPeer?(store: EventStore): Promise<EventStore>;
  faults?: ContractFaults;
}

export const traceEvent = (run: string, n: number, extra: JsonObject = {}): DomainEvent => ({ type: 'run.trace', data: { run_id: run, level: 'info', type: 'step', data: { n, ...extra } } });
const profileEvent = (name: string, n: number): DomainEvent => ({ type: 'profile.upserted', data: { runtime_profile: name, profile: { n } } });
const accepted = (run: string): DomainEvent => ({ type: 'run.accepted', data: { run_id: run, request: {}, request_hash: 'h' } });

export async function rejection(p: Promise<unknown>): Promise<ArpdError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
  throw new Error('the promise resolved; a rejection was expected');
}

/** Waits until `cond()` holds, checking every 10 ms; fails after `ms` (a bound, not a measurement). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 20_000, what = 'the condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Every event of the store, in store order, through readPage. */
export async function readAll(store: EventStore, filter?: EventFilter, limit = 1000): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  let after = 0;
  for (;;) {
    const page = await store.readPage(after, limit, filter);
    out.push(...page.events);
    after = page.last;
    if (page.atHead) return out;
  }
}

const seqs = (events: readonly StoredEvent[]): number[] => events.map((e) => e.seq);

export function eventStoreContract(t: Test, subject: ContractSubject): void {
  const open = async (tt: Test): Promise<EventStore> => {
    const store = await subject.open();
    tt.teardown(() => store.close());
    return store;
  };
  const peer = async (tt: Test, store: EventStore): Promise<EventStore> => {
    const p = await (subject.openPeer as (s: EventStore) => Promise<EventStore>)(store);
    tt.teardown(() => p.close());
    return p;
  };
  const shared = subject.openPeer === undefined ? { skip: 'the store is not shared by several writers' } : {};
  const loseAck = subject.faults?.loseNextCommitAck === undefined ? { skip: 'the subject has no way to lose a commit acknowledgement' } : {};
  const cutOff = subject.faults?.cutOff === undefined ? { skip: 'the subject has no way to cut the store off' } : {};

  t.test('stamps the envelope: seq rises in store order, revisions count per stream from 1, ids unique, the event meta wins over the call meta', async (t) => {
    const store = await open(t);
    const a = await store.append([traceEvent('r1', 1), profileEvent('p1', 1), traceEvent('r1', 2)], { actor: 'me' });
    const b = await store.append([{ ...traceEvent('r2', 1), meta: { actor: 'other' } }], { actor: 'ignored' });
    const all = [...a, ...b];
    t.same(all.map((e) => [e.stream, e.rev]), [['run:r1', 1], ['profile:p1', 1], ['run:r1', 2], ['run:r2', 1]]);
    t.ok(seqs(all).every((s, i) => i === 0 || s > (all[i - 1] as StoredEvent).seq), 'seq rises with each event');
    t.equal(new Set(all.map((e) => e.id)).size, 4, 'ids are unique');
    t.equal(a[0]?.v, CURRENT_VERSION['run.trace']);
    t.ok(!Number.isNaN(Date.parse(a[0]?.ts ?? '')), 'ts is an ISO time');
    t.same(a[0]?.meta, { actor: 'me' });
    t.same(b[0]?.meta, { actor: 'other' });
    t.equal(store.head, (b[0] as StoredEvent).seq, 'head is the last acknowledged event');
    t.same(await readAll(store), all, 'readPage returns exactly the acknowledged events, in order');
  });

  t.test('an append resolves only after its events were published on live$, in store order, once', async (t) => {
    const store = await open(t);
    const live: StoredEvent[] = [];
    const sub = store.live$.subscribe((e) => live.push(e));
    t.teardown(() => sub.unsubscribe());
    for (let i = 1; i <= 5; i++) {
      const got = await store.append([traceEvent('r', i), traceEvent('s', i)]);
      t.same(live.slice(-2), got, `append ${i} was on live$ before it resolved`);
    }
    const burst = await Promise.all(Array.from({ length: 40 }, (_, i) => store.append([traceEvent(`b${i % 4}`, i)])));
    for (const [e] of burst) t.ok(live.some((x) => x.id === e?.id), 'each concurrent append was published before it resolved');
    t.same(live, await readAll(store), 'live$ carried every event once, in store order');
  });

  t.test('an expected revision that does not match refuses the whole append with E_CONFLICT and writes nothing', async (t) => {
    const store = await open(t);
    await store.append([traceEvent('r', 1), traceEvent('r', 2)]);
    const head = store.head;
    const before = await readAll(store);
    const err = await rejection(store.append([{ ...traceEvent('q', 1), expectedRev: 0 }, { ...traceEvent('r', 3), expectedRev: 1 }]));
    t.equal(err.code, 'E_CONFLICT');
    t.match(err.data, { stream: 'run:r', expected: 1, actual: 2 });
    t.match(err.message, /run:r .*revision 2.*not 1/);
    t.equal((await rejection(store.append([{ ...traceEvent('r', 3), expectedRev: 0 }]))).code, 'E_CONFLICT', 'expectedRev 0 means a new stream');
    t.equal((await rejection(store.append([{ ...traceEvent('r', 3), expectedRev: 5 }]))).code, 'E_CONFLICT', 'a revision ahead of the stream conflicts too');
    t.equal(store.head, head, 'head did not move');
    t.same(await readAll(store), before, 'nothing was written, not even the first input');
    t.same(await store.readStream('run:q', 0, 10), [], 'the new stream of the refused append does not exist');
    const ok = await store.append([{ ...traceEvent('r', 3), expectedRev: 2 }, { ...traceEvent('r', 4), expectedRev: 3 }, { ...traceEvent('n', 1), expectedRev: 0 }]);
    t.same(ok.map((e) => [e.stream, e.rev]), [['run:r', 3], ['run:r', 4], ['run:n', 1]], 'matching expectations append, also several on one stream in one call');
  });

  t.test('of many appends racing for the same stream revision exactly one wins; the others get E_CONFLICT', async (t) => {
    const store = await open(t);
    await store.append([traceEvent('race', 0)]);
    const results = await Promise.allSettled(Array.from({ length: 12 }, (_, i) => store.append([{ ...traceEvent('race', i + 1), expectedRev: 1 }])));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    t.equal(won.length, 1, 'one winner');
    t.ok(lost.every((r) => r.reason instanceof ArpdError && r.reason.code === 'E_CONFLICT'), 'every other one is a conflict');
    t.same((await store.readStream('run:race', 0, 100)).map((e) => e.rev), [1, 2], 'the stream holds the first event and the winner');
  });

  t.test("one caller's conflict does not fail other callers' appends made at the same time", async (t) => {
    const store = await open(t);
    await store.append([traceEvent('hot', 0)]);
    const calls = Array.from({ length: 30 }, (_, i) => (i === 7
      ? store.append([{ ...traceEvent('hot', 99), expectedRev: 5 }])
      : store.append([traceEvent(`cold${i}`, i), traceEvent('hot', i)])));
    const results = await Promise.allSettled(calls);
    t.equal(results.filter((r) => r.status === 'rejected').length, 1, 'only the conflicting call failed');
    t.equal((results[7] as PromiseRejectedResult).reason.code, 'E_CONFLICT');
    const hot = await store.readStream('run:hot', 0, 100);
    t.same(hot.map((e) => e.rev), Array.from({ length: 30 }, (_, i) => i + 1), 'appends without expectations on one stream get consecutive revisions');
  });

  t.test('readStream returns a stream from a revision, in revision order, up to a limit', async (t) => {
    const store = await open(t);
    for (let i = 1; i <= 6; i++) await store.append([traceEvent('s', i), traceEvent('other', i)]);
    const all = await store.readStream('run:s', 0, 100);
    t.same(all.map((e) => e.rev), [1, 2, 3, 4, 5, 6]);
    t.ok(all.every((e) => e.stream === 'run:s'));
    t.same((await store.readStream('run:s', 3, 2)).map((e) => e.rev), [3, 4]);
    t.same(await store.readStream('run:s', 7, 10), []);
    t.same(await store.readStream('run:none', 0, 10), []);
    t.same((await store.readStream('run:s', 1, 100)).map((e) => e.id), all.map((e) => e.id), 'the same events readPage holds');
  });

  t.test('readPage pages through the store in order, with limits and filters, and says when it reached the head', async (t) => {
    const store = await open(t);
    const written: StoredEvent[] = [];
    for (let i = 0; i < 7; i++) written.push(...await store.append([traceEvent(`a${i % 2}`, i), profileEvent(`p${i % 3}`, i), accepted(`x${i}`)]));
    const pages: StoredEvent[][] = [];
    let after = 0;
    for (;;) {
      const p = await store.readPage(after, 4);
      pages.push(p.events);
      t.equal(p.last, p.events.length > 0 ? (p.events[p.events.length - 1] as StoredEvent).seq : after, 'last is the last event read');
      after = p.last;
      if (p.atHead) break;
      t.equal(p.events.length, 4, 'a page short of the head is full');
    }
    t.same(pages.flat(), written, 'the pages together are the store, in order, no repeat');
    const cases: Array<[EventFilter, (e: StoredEvent) => boolean]> = [
      [{ types: ['run.'] }, (e) => e.type.startsWith('run.')],
      [{ types: ['run.accepted'] }, (e) => e.type === 'run.accepted'],
      [{ types: ['profile.upserted', 'run.accepted'] }, (e) => e.type === 'profile.upserted' || e.type === 'run.accepted'],
      [{ stream: 'run:a1' }, (e) => e.stream === 'run:a1'],
      [{ stream: 'profile:' }, (e) => e.stream.startsWith('profile:')],
      [{ types: ['run.'], stream: 'run:x' }, () => false],
      [{ types: ['run.trace'], stream: 'run:' }, (e) => e.type === 'run.trace'],
    ];
    for (const [filter, keep] of cases) {
      t.same(seqs(await readAll(store, filter, 2)), seqs(written.filter(keep)), `filter ${JSON.stringify(filter)}`);
    }
    const atHead = await store.readPage(store.head, 10);
    t.same(atHead, { events: [], last: store.head, atHead: true }, 'reading after the head gives an empty page at the head');
  });

  t.test('subscribe catches up, then goes live, with no gap and no repeat while appends go on', async (t) => {
    const store = await open(t);
    for (let i = 0; i < 50; i++) await store.append([traceEvent(`w${i % 3}`, i)]);
    let stop = false;
    const writing = (async () => {
      for (let i = 0; !stop; i++) await store.append([traceEvent(`w${i % 3}`, 100 + i), profileEvent('p', i)]);
    })();
    const got: StoredEvent[] = [];
    let lives = 0;
    const sub = store.subscribe(0, undefined, { event: (e) => { got.push(e); }, live: () => { lives++; } });
    await until(() => lives === 1, 20_000, 'the subscription to go live');
    const target = store.head + 40;
    await until(() => store.head >= target, 20_000, 'more appends');
    stop = true;
    await writing;
    await until(() => got.length > 0 && (got[got.length - 1] as StoredEvent).seq === store.head, 20_000, 'the subscription to reach the head');
    sub.close();
    t.equal(lives, 1, 'live was called once');
    t.same(seqs(got), seqs(await readAll(store)), 'every event once, in store order');
  });

  t.test('subscribe starts after the given seq, delivers only what matches its filter, and stops on close() or on false', async (t) => {
    const store = await open(t);
    const first = await store.append([traceEvent('a', 1), profileEvent('p', 1), traceEvent('b', 1)]);
    const mid = (first[1] as StoredEvent).seq;
    const got: StoredEvent[] = [];
    let live = false;
    const sub = store.subscribe(mid, { types: ['run.'] }, { event: (e) => { got.push(e); }, live: () => { live = true; } });
    await until(() => live, 20_000, 'live');
    await store.append([profileEvent('p', 2), traceEvent('a', 2)]);
    await until(() => got.length === 2, 20_000, 'two events');
    t.same(got.map((e) => [e.stream, e.rev]), [['run:b', 1], ['run:a', 2]], 'after seq, run events only');
    sub.close();
    t.ok(sub.closed);
    await store.append([traceEvent('a', 3)]);
    const stopper: StoredEvent[] = [];
    const s2 = store.subscribe(0, undefined, { event: (e) => { stopper.push(e); return stopper.length < 2; } });
    await until(() => s2.closed, 20_000, 'the subscription to stop itself');
    await store.append([traceEvent('a', 4)]);
    await until(async () => (await readAll(store)).length === 7);
    t.equal(got.length, 2, 'nothing after close()');
    t.equal(stopper.length, 2, 'nothing after the handler returned false');
  });

  t.test('event data round-trips exactly, whatever its strings and numbers', async (t) => {
    const store = await open(t);
    const samples = fc.sample(jsonObject, { numRuns: 60, seed: 4242 });
    const inputs: AppendInput[] = samples.map((data, i) => ({ type: 'run.trace', data: { run_id: `rt${i % 5}`, level: 'info', type: 'sample', data } }));
    const written = await store.append(inputs);
    const back = await readAll(store);
    t.same(back, written, 'what readPage returns equals what append returned');
    t.same(back.map((e) => e.data), inputs.map((i) => JSON.parse(JSON.stringify(i.data))), 'and equals the data given (as JSON)');
  });

  t.test('bad input is refused with a stable code and nothing is written', async (t) => {
    const store = await open(t);
    await store.append([traceEvent('ok', 1)]);
    const head = store.head;
    t.equal((await rejection(store.append([{ type: 'run.nope', data: {} } as unknown as AppendInput]))).code, 'E_VALIDATION', 'an unknown event type');
    t.equal((await rejection(store.append([{ ...traceEvent('ok', 2), expectedRev: -1 }]))).code, 'E_VALIDATION', 'a negative expected revision');
    t.equal((await rejection(store.append([{ ...traceEvent('ok', 2), expectedRev: 1.5 }]))).code, 'E_VALIDATION', 'a fractional expected revision');
    const big = await rejection(store.append([traceEvent('ok', 2), traceEvent('ok', 3, { blob: 'x'.repeat(2 * 1024 * 1024) })]));
    t.equal(big.code, 'E_TOO_LARGE', 'an event over the size limit');
    t.equal(store.head, head, 'nothing was written');
    t.same(await store.append([]), [], 'an empty append is a no-op');
    t.equal((await rejection(store.readPage(0, 0))).code, 'E_VALIDATION', 'a page limit of 0');
    t.equal((await rejection(store.readPage(-1, 10))).code, 'E_VALIDATION', 'a negative position');
    t.equal((await rejection(store.readStream('run:ok', 0, 0))).code, 'E_VALIDATION', 'a stream limit of 0');
    t.same((await store.append([traceEvent('ok', 2)])).map((e) => e.rev), [2], 'the store keeps serving');
  });

  t.test('close finishes pending appends, then refuses new ones with E_UNAVAILABLE; close is idempotent', async (t) => {
    const store = await subject.open();
    const pending = Array.from({ length: 25 }, (_, i) => store.append([traceEvent(`c${i % 3}`, i)]));
    const closing = store.close();
    const results = await Promise.allSettled(pending);
    t.ok(results.every((r) => r.status === 'fulfilled'), 'every append made before close resolved');
    await closing;
    const after = await rejection(store.append([traceEvent('c', 99)]));
    t.equal(after.code, 'E_UNAVAILABLE', 'an append after close');
    await store.close();
    t.pass('a second close resolves');
  });

  t.test("another writer's appends reach live$ and subscriptions, in the same store order for both writers", shared, async (t) => {
    const a = await open(t);
    const b = await peer(t, a);
    const liveA: StoredEvent[] = [];
    const liveB: StoredEvent[] = [];
    const sa = a.live$.subscribe((e) => liveA.push(e));
    const sb = b.live$.subscribe((e) => liveB.push(e));
    t.teardown(() => { sa.unsubscribe(); sb.unsubscribe(); });
    const fromB: StoredEvent[] = [];
    const subA = a.subscribe(0, undefined, { event: (e) => { fromB.push(e); } });
    t.teardown(() => subA.close());
    const writes = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => a.append([traceEvent(`ab${i % 4}`, i)])),
      ...Array.from({ length: 20 }, (_, i) => b.append([traceEvent(`ab${i % 4}`, 100 + i), profileEvent('shared', i)])),
    ]);
    const total = writes.flat().length;
    await until(() => liveA.length === total && liveB.length === total && fromB.length === total, 20_000, 'both writers to see every event');
    t.same(seqs(liveA), seqs(liveB), 'one store order for both');
    t.same(seqs(fromB), seqs(liveA), 'a subscription sees the same order');
    t.same(seqs(liveA), seqs(await readAll(b)), 'and readPage too');
    t.same(new Set(seqs(liveA)), new Set(writes.flat().map((e) => e.seq)), 'exactly the acknowledged events');
  });

  t.test('two writers deciding on the same stream conflict: one wins, the other gets E_CONFLICT with nothing written', shared, async (t) => {
    const a = await open(t);
    const b = await peer(t, a);
    await a.append([accepted('claimed')]);
    for (let round = 0; round < 10; round++) {
      const rev = round + 1;
      const [ra, rb] = await Promise.allSettled([
        a.append([{ ...traceEvent('claimed', round, { by: 'a' }), expectedRev: rev }]),
        b.append([{ ...traceEvent('claimed', round, { by: 'b' }), expectedRev: rev }]),
      ]);
      const outcomes = [ra.status, rb.status].sort();
      t.same(outcomes, ['fulfilled', 'rejected'], `round ${round}: one wins`);
      const lost = (ra.status === 'rejected' ? ra : rb) as PromiseRejectedResult;
      t.equal((lost.reason as ArpdError).code, 'E_CONFLICT');
    }
    t.same((await a.readStream('run:claimed', 0, 100)).map((e) => e.rev), Array.from({ length: 11 }, (_, i) => i + 1), 'one event per revision');
  });

  t.test('an append whose commit acknowledgement was lost resolves once: not applied twice, not reported lost', loseAck, async (t) => {
    const store = await open(t);
    const live: StoredEvent[] = [];
    const sub = store.live$.subscribe((e) => live.push(e));
    t.teardown(() => sub.unsubscribe());
    await store.append([traceEvent('u', 1)]);
    const dropped = (subject.faults?.loseNextCommitAck as (s: EventStore) => Promise<void>)(store);
    const got = await store.append([traceEvent('u', 2), traceEvent('v', 1)]);
    await dropped;
    t.same(got.map((e) => [e.stream, e.rev]), [['run:u', 2], ['run:v', 1]], 'the append resolved with its events');
    const all = await readAll(store);
    t.equal(all.length, 3, 'stored once');
    t.same(all.slice(1), got);
    t.same(live, all, 'published once');
    t.same((await store.append([{ ...traceEvent('u', 3), expectedRev: 2 }])).map((e) => e.rev), [3], 'the stream revision counts it once');
  });

  t.test('while the store is unreachable appends and reads fail with E_UNAVAILABLE; nothing acknowledged is lost and it resumes by itself', cutOff, async (t) => {
    const store = await open(t);
    const live: StoredEvent[] = [];
    const sub = store.live$.subscribe((e) => live.push(e));
    t.teardown(() => sub.unsubscribe());
    const acked: StoredEvent[] = [];
    for (let i = 0; i < 10; i++) acked.push(...await store.append([traceEvent('cut', i)]));
    const restore = await (subject.faults?.cutOff as (s: EventStore) => Promise<() => Promise<void>>)(store);
    const during = await rejection(store.append([traceEvent('cut', 100)]));
    t.equal(during.code, 'E_UNAVAILABLE', 'an append while cut off');
    t.equal(during.data?.retryable, true, 'marked retryable');
    t.match(during.message, /unreachable/);
    t.equal((await rejection(store.readStream('run:cut', 0, 10))).code, 'E_UNAVAILABLE', 'a read while cut off');
    await restore();
    let resumed: StoredEvent[] | undefined;
    await until(async () => {
      try {
        resumed = await store.append([traceEvent('cut', 200)]);
        return true;
      } catch (err) {
        if (err instanceof ArpdError && err.code === 'E_UNAVAILABLE') return false;
        throw err;
      }
    }, 30_000, 'appends to be accepted again');
    acked.push(...(resumed as StoredEvent[]));
    const all = await readAll(store);
    for (const e of acked) t.ok(all.some((x) => x.id === e.id), `acknowledged event ${e.seq} is stored`);
    t.equal(new Set(all.map((e) => e.id)).size, all.length, 'no event twice');
    await until(() => live.length === all.length, 20_000, 'live$ to catch up');
    t.same(seqs(live), seqs(all), 'live$ resumed where it was, without a gap or a repeat');
  });
}
