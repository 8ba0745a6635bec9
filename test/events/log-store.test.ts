import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { CURRENT_VERSION, type DomainEvent } from '../../src/events/event-types.js';
import { encodeLine, MAX_LINE_BYTES } from '../../src/events/line-codec.js';
import { ACTIVE_LOG, segmentName } from '../../src/events/log-files.js';
import { LogStore, type AppendInput, type LogStoreOptions } from '../../src/events/log-store.js';
import { readLogEvents, runLogProblems, sampleEvent } from '../fixtures-helpers/events.js';
import { ControlledIo } from '../fixtures-helpers/store-io.js';

const trace = (runId: string, n: number): DomainEvent => ({ type: 'run.trace', data: { run_id: runId, level: 'info', type: 'step', data: { n } } });
const profile = (name: string, n: number): DomainEvent => ({ type: 'profile.upserted', data: { runtime_profile: name, profile: { n } } });

function open(root: string, extra: Partial<LogStoreOptions> = {}): { store: LogStore; recovered: StoredEvent[]; warnings: Array<{ message: string; details: Record<string, unknown> }> } {
  const recovered: StoredEvent[] = [];
  const warnings: Array<{ message: string; details: Record<string, unknown> }> = [];
  const store = LogStore.open({ root, onEvent: (e) => recovered.push(e), onWarning: (message, details) => warnings.push({ message, details }), ...extra });
  return { store, recovered, warnings };
}

async function rejection(p: Promise<unknown>): Promise<ArpdError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
  throw new Error('the promise resolved; a rejection was expected');
}

const activeSize = (root: string): number => (existsSync(join(root, ACTIVE_LOG)) ? statSync(join(root, ACTIVE_LOG)).size : 0);

t.test('stamps the envelope and acknowledges appends with contiguous seqs and stream revisions', async (t) => {
  const root = t.testdir();
  const now = new Date('2024-05-01T12:00:00.000Z');
  const { store } = open(root, { clock: () => now });
  const a = await store.append([trace('r1', 1), profile('p1', 1), trace('r1', 2)], { actor: 'me' });
  const b = await store.append({ ...trace('r2', 1), meta: { actor: 'other' } }, { actor: 'ignored' });
  t.same(a.map((e) => [e.seq, e.stream, e.rev]), [[1, 'run:r1', 1], [2, 'profile:p1', 1], [3, 'run:r1', 2]]);
  t.same(b.map((e) => [e.seq, e.stream, e.rev]), [[4, 'run:r2', 1]]);
  t.equal(a[0]?.ts, now.toISOString());
  t.equal(a[0]?.v, CURRENT_VERSION['run.trace']);
  t.same(a[0]?.meta, { actor: 'me' }, 'the call meta applies to events without their own');
  t.same(b[0]?.meta, { actor: 'other' }, 'an event meta wins over the call meta');
  const ids = [...a, ...b].map((e) => e.id);
  t.equal(new Set(ids).size, 4, 'ids are unique');
  t.same([...ids].sort(), ids, 'ids sort in creation order even within one millisecond');
  t.equal(store.seq, 4);
  t.equal(store.head, 4);
  t.equal(store.streamRev('run:r1'), 2);
  t.equal(store.streamRev('run:none'), 0);
  await store.close();
  t.same(readLogEvents(root), [...a, ...b], 'the file holds exactly the acknowledged events');
});

t.test('publishes each durable event once, in seq order, before its append resolves', async (t) => {
  const root = t.testdir();
  const { store } = open(root);
  const seen: number[] = [];
  store.live$.subscribe((e) => seen.push(e.seq));
  const unpublishedAtResolve: number[] = [];
  await Promise.all(Array.from({ length: 20 }, (_, i) => store.append(trace(`r${i % 3}`, i)).then((evs) => {
    for (const e of evs) if (!seen.includes(e.seq)) unpublishedAtResolve.push(e.seq);
  })));
  t.same(unpublishedAtResolve, [], 'every event was published before its append resolved');
  t.same(seen, Array.from({ length: 20 }, (_, i) => i + 1), 'each once, in seq order');
  await store.close();
});

t.test('group-commits 64 concurrent appends into fewer syncs, with seqs in call order', async (t) => {
  const root = t.testdir();
  const io = new ControlledIo();
  const { store } = open(root, { io });
  await store.append(profile('p1', 0));
  const syncsBefore = io.syncs;
  const calls = Array.from({ length: 64 }, (_, i) => store.append(i % 4 === 0 ? [trace('r1', i), trace('r2', i)] : trace(`r${i % 3}`, i)));
  const results = await Promise.all(calls);
  const syncs = io.syncs - syncsBefore;
  t.ok(syncs < 64, `64 appends took ${syncs} fdatasync calls`);
  t.ok(syncs >= 1);
  const expected: number[][] = [];
  let next = 2;
  for (let i = 0; i < 64; i++) expected.push(i % 4 === 0 ? [next++, next++] : [next++]);
  t.same(results.map((evs) => evs.map((e) => e.seq)), expected, 'seqs are contiguous in the order of the calls');
  await store.close();
  t.same(readLogEvents(root).map((e) => e.seq), Array.from({ length: next - 1 }, (_, i) => i + 1));
  t.same(runLogProblems(root, readLogEvents(root)), []);
});

t.test('checks expected revisions against earlier appends that are not durable yet', async (t) => {
  const root = t.testdir();
  const { store } = open(root);
  const first = store.append({ ...trace('r1', 1), expectedRev: 0 });
  const second = store.append({ ...trace('r1', 2), expectedRev: 1 });
  const stale = rejection(store.append({ ...trace('r1', 3), expectedRev: 1 }));
  t.same((await first).map((e) => e.rev), [1]);
  t.same((await second).map((e) => e.rev), [2]);
  t.match(await stale, { code: 'E_CONFLICT', data: { stream: 'run:r1', expected: 1, actual: 2 } });
  await store.close();
});

t.test('writes nothing when an expected revision does not match', async (t) => {
  const root = t.testdir();
  const io = new ControlledIo();
  const { store } = open(root, { io });
  await store.append([{ ...trace('r1', 1), expectedRev: 0 }, { ...profile('p1', 1), expectedRev: 0 }]);
  const size = activeSize(root);
  const calls = [io.writes, io.syncs];
  const cases: Array<[string, AppendInput[]]> = [
    ['a new stream expected at 1', [{ ...trace('r9', 1), expectedRev: 1 }]],
    ['an existing stream expected as new', [{ ...trace('r1', 1), expectedRev: 0 }]],
    ['a good event followed by a conflicting one', [{ ...profile('p1', 2), expectedRev: 1 }, { ...trace('r1', 2), expectedRev: 7 }]],
    ['two events of one stream, the second expecting the old revision', [{ ...trace('r1', 2), expectedRev: 1 }, { ...trace('r1', 3), expectedRev: 1 }]],
  ];
  for (const [name, inputs] of cases) {
    const err = await rejection(store.append(inputs));
    t.equal(err.code, 'E_CONFLICT', name);
    t.match(err.message, /is at revision \d+, not \d+/);
    t.equal(activeSize(root), size, `${name}: file size unchanged`);
    t.equal(store.seq, 2, `${name}: seq unchanged`);
    t.equal(store.streamRev('run:r1'), 1);
    t.equal(store.streamRev('profile:p1'), 1, `${name}: revision unchanged`);
  }
  t.same([io.writes, io.syncs], calls, 'no write or sync was made');
  const ok = await store.append([{ ...profile('p1', 2), expectedRev: 1 }, { ...trace('r1', 2), expectedRev: 1 }, { ...trace('r1', 3), expectedRev: 2 }]);
  t.same(ok.map((e) => [e.seq, e.rev]), [[3, 2], [4, 2], [5, 3]], 'the next append takes the next seq: no hole');
  await store.close();
  t.same(readLogEvents(root).map((e) => e.seq), [1, 2, 3, 4, 5]);
});

t.test('refuses an event over 1 MiB with E_TOO_LARGE before anything is written', async (t) => {
  const root = t.testdir();
  const io = new ControlledIo();
  const { store } = open(root, { io });
  await store.append(trace('r1', 1));
  const size = activeSize(root);
  const calls = [io.writes, io.syncs];
  const huge: DomainEvent = { type: 'run.trace', data: { run_id: 'r1', level: 'info', type: 'blob', data: { s: 'x'.repeat(MAX_LINE_BYTES) } } };
  const alone = await rejection(store.append(huge));
  t.match(alone, { code: 'E_TOO_LARGE', data: { limit: MAX_LINE_BYTES, type: 'run.trace' } });
  t.ok((alone.data?.['bytes'] as number) > MAX_LINE_BYTES);
  const mixed = await rejection(store.append([profile('p1', 1), huge, trace('r2', 1)]));
  t.equal(mixed.code, 'E_TOO_LARGE', 'a batch with one huge event is refused whole');
  t.equal(activeSize(root), size, 'file size unchanged');
  t.same([io.writes, io.syncs], calls, 'no write or sync was made');
  t.equal(store.seq, 1);
  t.equal(store.streamRev('run:r1'), 1);
  t.equal(store.streamRev('profile:p1'), 0);
  const next = await store.append(profile('p1', 1));
  t.equal(next[0]?.seq, 2);
  await store.close();
  t.same(readLogEvents(root).map((e) => e.type), ['run.trace', 'profile.upserted']);
});

t.test('fails every pending and later append with E_STORAGE when fdatasync fails, and loses nothing acknowledged', async (t) => {
  const root = t.testdir();
  const io = new ControlledIo();
  const { store } = open(root, { io });
  const fatal: ArpdError[] = [];
  store.failure$.subscribe((e) => fatal.push(e));
  const acked: StoredEvent[] = [];
  for (let i = 0; i < 5; i++) acked.push(...(await store.append([trace('r1', i), profile('p1', i)])));
  await Promise.all(Array.from({ length: 8 }, (_, i) => store.append(trace('r2', i)).then((evs) => acked.push(...evs))));
  io.failSync = { code: 'EIO' };
  const pending = Array.from({ length: 6 }, (_, i) => store.append(trace(`r${i % 3}`, 100 + i)));
  const errors = await Promise.all(pending.map(rejection));
  for (const err of errors) t.match(err, { code: 'E_STORAGE', data: { errno: 'EIO' } });
  t.match(errors[0]?.message, /writing the event log failed \(EIO\): an I\/O error/);
  t.ok(errors[0]?.message.includes(`at ${root}: check the disk, then 'arpd daemon restart --keep-instances'`), `it names the data dir and says what to do: ${errors[0]?.message ?? ''}`);
  t.equal(errors[0]?.data?.['path'], root);
  t.equal(fatal.length, 1, 'failure$ emitted once');
  t.equal(fatal[0], errors[0], 'failure$ carries the same error');
  t.equal(store.failure, errors[0]);
  t.match(await rejection(store.append(trace('r1', 999))), { code: 'E_STORAGE' }, 'a later append is rejected');
  t.match(await rejection(store.append(trace('r1', 1000))), { code: 'E_STORAGE' }, 'and the one after it');
  t.equal(fatal.length, 1, 'failure$ still emitted only once');
  await store.drain();
  await store.close();

  t.equal(errors[0]?.data?.['outcome'], 'not_recorded', 'the refused batch was taken back');
  t.notMatch(errors[0]?.message, /may have been recorded/);

  const again = open(root);
  t.same(again.recovered, acked, 'exactly the acknowledged events: the refused batch, whole in the file before the sync failed, was cut');
  const more = await again.store.append(trace('r1', 2000));
  t.equal(more[0]?.seq, again.recovered.length + 1, 'appends work again after reopening');
  await again.store.close();
  t.same(runLogProblems(root, readLogEvents(root)), [], 'run logs match the global log');
});

t.test('a write that fails half-way (ENOSPC) is taken back at once: the file ends where the refused batch began', async (t) => {
  const root = t.testdir();
  const io = new ControlledIo();
  const { store } = open(root, { io });
  const acked: StoredEvent[] = [];
  for (let i = 0; i < 4; i++) acked.push(...(await store.append(trace('r1', i))));
  const goodBytes = activeSize(root);
  // a batch of several lines, of which the first two reach the file whole before the disk is full
  const lines = Buffer.byteLength(encodeLine(acked[0] as StoredEvent)) * 2 + 10;
  io.failWrite = { code: 'ENOSPC', partialBytes: lines };
  const errors = await Promise.all([store.append(trace('r2', 1)), store.append([trace('r1', 9), profile('p9', 9)]), store.append(trace('r3', 1))].map(rejection));
  for (const err of errors) t.match(err, { code: 'E_STORAGE', data: { errno: 'ENOSPC', outcome: 'not_recorded' } });
  t.equal(io.truncates, 1);
  t.equal(activeSize(root), goodBytes, 'the whole lines the failed write left were cut');
  await store.close();
  const again = open(root);
  t.same(again.recovered, acked, 'the next start finds exactly the acknowledged events: nothing refused comes back');
  t.same(again.warnings, [], 'and nothing torn to cut');
  await again.store.close();
});

t.test('fails with E_STORAGE when a write fails half-way (ENOSPC) and cannot be taken back; the next start cuts the torn tail', async (t) => {
  const root = t.testdir();
  const io = new ControlledIo();
  const { store } = open(root, { io });
  const fatal: ArpdError[] = [];
  store.failure$.subscribe((e) => fatal.push(e));
  const acked: StoredEvent[] = [];
  for (let i = 0; i < 4; i++) acked.push(...(await store.append(trace('r1', i))));
  const goodBytes = activeSize(root);
  io.failWrite = { code: 'ENOSPC', partialBytes: 40 };
  io.failTruncate = { code: 'EIO' };
  const pending = [store.append(trace('r2', 1)), store.append([trace('r1', 9), profile('p9', 9)])];
  const errors = await Promise.all(pending.map(rejection));
  for (const err of errors) t.match(err, { code: 'E_STORAGE', data: { errno: 'ENOSPC', outcome: 'unknown' } });
  t.match(errors[0]?.message, /could not be taken back, so they may have been recorded: send them again with the same ids/);
  t.ok(errors[0]?.message.includes(`the disk is full at ${root}: free space on it, then 'arpd daemon restart --keep-instances'`), `the refusal says the disk is full, where, and what to do: ${errors[0]?.message ?? ''}`);
  t.equal(fatal.length, 1);
  t.match(await rejection(store.append(trace('r1', 5))), { code: 'E_STORAGE' });
  t.equal(activeSize(root), goodBytes + 40, 'the failed write left 40 torn bytes');
  await store.close();

  const again = open(root);
  t.same(again.recovered, acked, 'exactly the acknowledged events');
  t.equal(again.warnings.length, 1);
  t.match(again.warnings[0], { details: { offset: goodBytes, file: join(root, ACTIVE_LOG) } });
  t.match(again.warnings[0]?.message, new RegExp(`byte offset ${goodBytes}`));
  t.ok(existsSync(again.warnings[0]?.details['copy'] as string), 'the torn file was copied aside');
  t.match(again.warnings[0]?.details['copy'], /events\.jsonl\.broken-/);
  t.equal(activeSize(root), goodBytes, 'the tail was cut');
  t.equal((await again.store.append(trace('r1', 5)))[0]?.seq, 5);
  await again.store.close();
  t.same(runLogProblems(root, readLogEvents(root)), []);
});

t.test('finishes pending appends on close, then refuses new ones with E_UNAVAILABLE', async (t) => {
  const root = t.testdir();
  const { store } = open(root);
  const pending = [store.append(trace('r1', 1)), store.append(trace('r1', 2))];
  const closed = store.close();
  t.match(await rejection(store.append(trace('r1', 3))), { code: 'E_UNAVAILABLE' });
  t.same((await Promise.all(pending)).flat().map((e) => e.seq), [1, 2], 'pending appends were acknowledged');
  await closed;
  await store.close();
  t.pass('close is idempotent');
  t.same(readLogEvents(root).map((e) => e.seq), [1, 2]);
});

t.test('rolls into segments named for their first seq and reads across them on reopen', async (t) => {
  const root = t.testdir();
  const segmentBytes = 4096;
  const { store } = open(root, { segmentBytes });
  const written: StoredEvent[] = [];
  for (let i = 0; i < 120; i++) {
    const batch = i % 5 === 0 ? [sampleEvent(i, i, i, 'x'.repeat(i % 200)), sampleEvent(i + 1, i, i)] : [sampleEvent(i, i, i, 'y'.repeat(i % 150))];
    written.push(...(await store.append(batch)));
  }
  await store.close();
  const checkSegments = (): string[] => {
    const names = readdirSync(root).filter((n) => /^events-\d{12}\.jsonl$/.test(n)).sort();
    for (const name of names) {
      const text = readFileSync(join(root, name), 'utf8');
      const firstSeq = (JSON.parse(text.slice(0, text.indexOf('\n'))) as { seq: number }).seq;
      t.equal(name, segmentName(firstSeq), `${name} starts with seq ${firstSeq}`);
      t.ok(text.length >= segmentBytes, `${name} was sealed past the segment size`);
    }
    return names;
  };
  const names = checkSegments();
  t.ok(names.length >= 5, `${names.length} segments`);
  t.equal(names[0], segmentName(1));

  const again = open(root, { segmentBytes });
  t.same(again.recovered, written, 'reopening reads every event across the segments');
  const more: StoredEvent[] = [];
  for (let i = 0; i < 40; i++) more.push(...(await again.store.append(sampleEvent(i, i, i, 'z'.repeat(120)))));
  t.equal(more[0]?.seq, written.length + 1);
  await again.store.close();
  t.ok(checkSegments().length > names.length, 'rolling goes on after a reopen');
  t.same(readLogEvents(root), [...written, ...more]);
  t.same(runLogProblems(root, [...written, ...more]), []);
});
