import { existsSync, mkdir } from 'node:fs';
import { basename, join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import type { DomainEvent } from '../../src/events/event-types.js';
import { LogStore, type LogStoreOptions } from '../../src/events/log-store.js';
import type { RunLogIo } from '../../src/events/run-log-queue.js';
import { Registry } from '../../src/projections/registry.js';
import { RunArchive } from '../../src/retention/run-archive.js';
import { listSnapshotSeqs } from '../../src/retention/snapshot-file.js';
import { Snapshotter } from '../../src/retention/snapshotter.js';

const trace = (runId: string, n: number): DomainEvent => ({ type: 'run.trace', data: { run_id: runId, level: 'info', type: 'step', data: { n } } });

/** A log store in `root` with a registry folding it and a snapshotter that snapshots only when asked. */
function snapshotting(root: string, opts: Partial<LogStoreOptions> = {}): { store: LogStore; archive: RunArchive; dir: string; snapshotter: Snapshotter } {
  const store = LogStore.open({ root, ...opts });
  const registry = new Registry();
  store.live$.subscribe((e) => registry.apply(e));
  const archive = new RunArchive(join(root, 'runs'));
  const dir = join(root, 'snapshots');
  const snapshotter = new Snapshotter(registry, archive, store, dir, { everyEvents: 1_000_000, everyMs: 3_600_000 }, { events$: store.live$, logger: pino({ level: 'silent' }), now: () => new Date() });
  snapshotter.start();
  return { store, archive, dir, snapshotter };
}

t.test('a snapshot is written only after the run log lines it covers are written (they come after the ack)', async (t) => {
  const root = t.testdir();
  const held: Array<() => void> = [];
  const created: string[] = [];
  const io: Partial<RunLogIo> = {
    mkdir: (dir, cb) => { held.push(() => mkdir(dir, { mode: 0o700 }, (err) => { created.push(basename(dir)); cb(err); })); },
  };
  const { store, archive, dir, snapshotter } = snapshotting(root, { runLogIo: io });
  t.teardown(() => snapshotter.stop());
  await store.append([trace('r1', 1), trace('r1', 2)]);
  let traceAtSnapshot: boolean | undefined;
  const taking = snapshotter.take().then((info) => { traceAtSnapshot = existsSync(join(root, 'runs', 'r1', 'trace.jsonl')); return info; });
  // the run's directory is held: the snapshot must wait for it (a snapshot that does not wait is written meanwhile)
  await Promise.race([taking, new Promise((r) => setTimeout(r, 2000))]);
  t.same(existsSync(dir) ? listSnapshotSeqs(dir) : [], [], 'no snapshot while the run log is not written');
  for (const go of held) go();
  const info = await taking;
  t.equal(info?.seq, 2, 'the snapshot covers both events');
  t.equal(traceAtSnapshot, true, 'the run log was there when the snapshot was written');
  t.same(created, ['r1']);
  await store.close();
  archive.close();
});

const queued = (runId: string): DomainEvent[] => [
  { type: 'run.accepted', data: { run_id: runId, request: { run_id: runId, input: { goal: 'x' } }, request_hash: 'h' } },
  { type: 'run.queued', data: { run_id: runId } },
];

t.test('a snapshot creates the logs of queued runs first; a clean stop that leaves queued runs without logs takes none', async (t) => {
  const root = t.testdir();
  const { store, archive, dir, snapshotter } = snapshotting(root, { queuedLogsAtStop: 0 });
  await store.append(queued('q1'));
  t.equal(existsSync(join(root, 'runs', 'q1')), false, 'the queued run has no directory');
  const info = await snapshotter.take();
  t.equal(info?.seq, 2, 'a snapshot covers it');
  t.equal(existsSync(join(root, 'runs', 'q1', 'trace.jsonl')), true, 'and its log was created before');
  await store.append(queued('q2'));
  await snapshotter.stop();
  await store.close();
  t.equal(await snapshotter.final(), undefined, 'the stop takes no snapshot while q2 has no log');
  t.same(listSnapshotSeqs(dir), [2], 'the snapshot before it is the newest');
  t.equal(existsSync(join(root, 'runs', 'q2')), false, 'and q2 still has no directory');
  archive.close();
});
