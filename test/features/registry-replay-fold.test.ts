import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { compactLog } from '../../src/events/log-compact.js';
import { readHorizon } from '../../src/events/log-files.js';
import { LogStore, type LogPosition } from '../../src/events/log-store.js';
import { Registry } from '../../src/projections/registry.js';
import { writeSnapshot } from '../../src/retention/snapshot-file.js';
import { replayRegistry, type ReplayJob } from '../../src/features/registry-replay-fold.js';

const LIMITS = { runs: 100, instances: 100, profiles: 100 };
const profile = (name: string): DomainEvent => ({ type: 'profile.upserted', data: { runtime_profile: name, profile: { runtime_profile: name, extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } } } } });
const instance = (id: string): DomainEvent => ({ type: 'instance.requested', data: { instance_id: id, runtime_profile: 'p' } });
const accepted = (id: string): DomainEvent => ({ type: 'run.accepted', data: { run_id: id, request: { input: { goal: `secret goal of ${id}` }, run_id: id }, request_hash: `h-${id}` } });
const succeeded = (id: string): DomainEvent => ({ type: 'run.succeeded', data: { run_id: id, result: { run_id: id, ok: true } } });

/** A real log in a temp dir: one event a second from 2026-02-01T00:00:01Z, each its own append. */
async function logOf(root: string, history: DomainEvent[]): Promise<void> {
  let now = Date.UTC(2026, 1, 1);
  const store = LogStore.open({ root, clock: () => new Date(now) });
  for (const e of history) {
    now += 1000;
    await store.append([e]);
  }
  await store.close();
}

const HISTORY: DomainEvent[] = [
  profile('zeta'), profile('alpha'), instance('i1'), instance('i2'),
  accepted('r1'), succeeded('r1'), accepted('r2'), accepted('r3'), succeeded('r3'),
];

t.test('replaying to the head folds the whole log', async (t) => {
  const root = t.testdir();
  await logOf(root, HISTORY);
  const a = replayRegistry({ root, until: { head: true }, limits: LIMITS });
  t.equal(a.until, null);
  t.equal(a.last_seq, 9);
  t.equal(a.last_ts, '2026-02-01T00:00:09.000Z');
  t.equal(a.runs_total, 3);
  t.equal(a.instances_total, 2);
  t.equal(a.profiles_total, 2);
  t.same(a.counts.runs, { queued: 1, running: 0, succeeded: 2, failed: 0, canceled: 0 }, 'counts by state');
  t.equal(a.counts.profiles, 2);
});

t.test('replaying until a seq folds the events up to it and no further', async (t) => {
  const root = t.testdir();
  await logOf(root, HISTORY);
  const a = replayRegistry({ root, until: { seq: 6 }, limits: LIMITS });
  t.equal(a.until, '6');
  t.equal(a.last_seq, 6);
  t.same(a.runs.map((r) => [r.run_id, r.state]), [['r1', 'succeeded']]);
  const none = replayRegistry({ root, until: { seq: 0 }, limits: LIMITS });
  t.equal(none.last_seq, 0);
  t.equal(none.last_ts, null, 'nothing folded: no time');
  t.equal(none.runs_total + none.instances_total + none.profiles_total, 0);
});

t.test('replaying until a time folds the events at or before it', async (t) => {
  const root = t.testdir();
  await logOf(root, HISTORY);
  const a = replayRegistry({ root, until: { time: '2026-02-01T00:00:07Z' }, limits: LIMITS });
  t.equal(a.until, '2026-02-01T00:00:07Z');
  t.equal(a.last_seq, 7, 'the event stamped exactly at the time is in');
  t.same(a.runs.map((r) => [r.run_id, r.state]), [['r2', 'queued'], ['r1', 'succeeded']]);
  t.equal(replayRegistry({ root, until: { time: '2026-02-01T00:00:06.999Z' }, limits: LIMITS }).last_seq, 6, 'a millisecond before: not in');
});

t.test('runs come newest first without their requests, capped by the limit with the total kept', async (t) => {
  const root = t.testdir();
  await logOf(root, HISTORY);
  const a = replayRegistry({ root, until: { head: true }, limits: { ...LIMITS, runs: 2 } });
  t.same(a.runs.map((r) => r.run_id), ['r3', 'r2']);
  t.equal(a.runs_total, 3);
  for (const r of a.runs) t.notOk('request' in r, `${r.run_id} has no request`);
  t.notMatch(JSON.stringify(a), /secret goal/, 'no goal leaks into the answer');
});

t.test('profiles come by name and instances newest change first, each capped with the total kept', async (t) => {
  const root = t.testdir();
  await logOf(root, HISTORY);
  const all = replayRegistry({ root, until: { head: true }, limits: LIMITS });
  t.same(all.profiles.map((p) => (p as { runtime_profile: string }).runtime_profile), ['alpha', 'zeta']);
  t.same(all.instances.map((i) => (i as { instance_id: string }).instance_id), ['i2', 'i1']);
  const capped = replayRegistry({ root, until: { head: true }, limits: { runs: 0, instances: 1, profiles: 1 } } satisfies ReplayJob);
  t.same(capped.profiles.map((p) => (p as { runtime_profile: string }).runtime_profile), ['alpha']);
  t.same(capped.instances.map((i) => (i as { instance_id: string }).instance_id), ['i2']);
  t.same(capped.runs, []);
  t.equal(capped.profiles_total, 2);
  t.equal(capped.instances_total, 2);
});

t.test('an empty data dir replays to an empty registry', async (t) => {
  const a = replayRegistry({ root: t.testdir(), until: { head: true }, limits: LIMITS });
  t.equal(a.last_seq, 0);
  t.equal(a.runs_total, 0);
  t.same(a.runs, []);
});

// was a bug (QA): the dashboard's time travel stopped at a damaged line and showed the state before it as the state
// at `until`; `arpd log replay` says E_LOG_CORRUPT there, and so does this fold now
t.test('a damaged line is E_LOG_CORRUPT naming where, not the state before it shown as the state at until', async (t) => {
  const root = t.testdir();
  await logOf(root, HISTORY);
  const file = join(root, 'events.jsonl');
  const lines = readFileSync(file, 'utf8').split('\n');
  lines[5] = (lines[5] as string).replace('run.succeeded', 'run.succeedeX'); // line 6, seq 6: its checksum no longer holds
  writeFileSync(file, lines.join('\n'));
  t.throws(() => replayRegistry({ root, until: { head: true }, limits: LIMITS }), { code: 'E_LOG_CORRUPT', data: { after_seq: 5, line: 6 } }, 'to the head: refused at seq 6');
  t.throws(() => replayRegistry({ root, until: { seq: 8 }, limits: LIMITS }), { code: 'E_LOG_CORRUPT' }, 'until a seq past the damage: refused');
  t.equal(replayRegistry({ root, until: { seq: 5 }, limits: LIMITS }).last_seq, 5, 'until a seq before the damage: answered');
});

// was a bug (QA): once the disk budget removed the oldest segments, the fold read what was left from seq 1 as if it
// were the whole log (profiles and runs of the removed part missing); it starts from the snapshot that holds them
t.test('a log whose oldest segments the disk budget removed replays from the snapshot that holds them', async (t) => {
  const root = t.testdir();
  const store = LogStore.open({ root, segmentBytes: 600 });
  const positions = new Map<number, LogPosition>();
  const events: StoredEvent[] = [];
  for (const e of [...HISTORY, profile('later'), accepted('r4'), succeeded('r4')]) {
    events.push(...(await store.append([e])));
    positions.set(store.head, store.position());
  }
  const activeFirstSeq = store.position().fileFirstSeq;
  await store.close();
  const whole = replayRegistry({ root, until: { head: true }, limits: LIMITS });
  const at = positions.get(9) as LogPosition;
  const reg = new Registry();
  for (const e of events.slice(0, 9)) reg.apply(e);
  await writeSnapshot(join(root, 'snapshots'), at, { registry: reg.exportState(), archive: { size: 0, offsets: '' } }, new Date());
  const r = await compactLog(root, activeFirstSeq, { newestSnapshotSeq: 9, oldestSnapshotSeq: 9, budgetBytes: 1 });
  t.ok(r.removed.length > 0 && (readHorizon(root)?.first_seq ?? 1) > 1, `segments were removed (the log starts at seq ${readHorizon(root)?.first_seq})`);
  const after = replayRegistry({ root, until: { head: true }, limits: LIMITS });
  t.same(after, whole, 'the same answer as before the removal');
  t.throws(() => replayRegistry({ root, until: { seq: 2 }, limits: LIMITS }), { code: 'E_VALIDATION' }, 'a point before the oldest snapshot is refused, not folded from what is left');
  // was a bug (QA): a time before the oldest snapshot answered the snapshot's later state as the state at that time
  const snapTs = Date.parse((events[8] as StoredEvent).ts);
  t.throws(() => replayRegistry({ root, until: { time: new Date(snapTs - 1).toISOString() }, limits: LIMITS }), { code: 'E_VALIDATION', message: /no earlier than .*seq 9/ }, 'a time before the oldest snapshot is refused too');
  t.equal(replayRegistry({ root, until: { time: new Date(snapTs).toISOString() }, limits: LIMITS }).last_seq >= 9, true, 'the snapshot\'s own time is answered');
});
