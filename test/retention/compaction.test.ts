/**
 * Compaction (src/events/log-compact.ts): whatever the segments, snapshots and budget, no event that the oldest
 * snapshot does not hold is ever removed; every reader (events, verify, a boot from a snapshot) still reads the log
 * whole from its horizon; and a compaction killed at any moment leaves a log that reads the same.
 */
import { existsSync } from 'node:fs';
import fc from 'fast-check';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import { compactLog, logBytes } from '../../src/events/log-compact.js';
import { readHorizon } from '../../src/events/log-files.js';
import { forEachEvent } from '../../src/events/log-read.js';
import { recoverLog } from '../../src/events/log-recovery.js';
import { LogStore, type LogPosition } from '../../src/events/log-store.js';
import { Projection } from '../../src/projections/projection.js';
import { Registry } from '../../src/projections/registry.js';
import { spawnHelper } from '../fixtures-helpers/child.js';
import { removeDir, tempDir } from '../fixtures-helpers/events.js';
import { runHistory } from '../fixtures-helpers/histories.js';

const RUNS = Number(process.env['ARPD_PROPERTY_RUNS'] ?? 30);
const KILLS = Number(process.env['ARPD_CRASH_RUNS'] ?? 12);

async function writeLog(root: string, history: Parameters<LogStore['append']>[0][], segmentBytes: number): Promise<{ events: StoredEvent[]; positions: Map<number, LogPosition>; activeFirstSeq: number }> {
  const store = LogStore.open({ root, segmentBytes });
  const events: StoredEvent[] = [];
  const positions = new Map<number, LogPosition>([[0, store.position()]]);
  for (const input of history) {
    events.push(...(await store.append(input)));
    positions.set(store.head, store.position());
  }
  const activeFirstSeq = store.position().fileFirstSeq;
  await store.close();
  return { events, positions, activeFirstSeq };
}

function readAll(root: string): StoredEvent[] {
  const out: StoredEvent[] = [];
  forEachEvent(root, (e) => { out.push(e); });
  return out;
}

function fold(events: readonly StoredEvent[]): Registry {
  const r = new Registry();
  for (const e of events) r.apply(e);
  return r;
}

/** What must hold after any compaction, finished or killed. */
function checkLog(root: string, events: StoredEvent[], positions: Map<number, LogPosition>, newest: number, oldest: number): void {
  const horizon = readHorizon(root)?.first_seq ?? 1;
  if (horizon > oldest + 1) throw new Error(`the log starts at ${horizon}, after the oldest snapshot (${oldest}): events no snapshot holds were removed`);
  const read = readAll(root);
  const expected = events.filter((e) => e.seq >= horizon);
  const got = read.filter((e) => e.seq >= horizon); // files before the horizon may linger after a kill
  if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error(`the log from ${horizon} reads ${got.length} events, ${expected.length} expected`);
  recoverLog(root, { mutate: false, fromHorizon: true }); // log verify's check: throws on damage
  for (const seq of [newest, oldest]) {
    const projection = new Projection(fold(events.slice(0, seq)));
    const store = LogStore.open({ root, from: positions.get(seq), revOf: (s) => projection.registry.streamRev(s), onEvent: (e) => projection.push(e) });
    if (JSON.stringify(projection.registry.exportState()) !== JSON.stringify(fold(events).exportState())) throw new Error(`a boot from the snapshot at ${seq} gives another state`);
    store.close().catch(() => undefined);
  }
}

t.test('compaction never removes an event the oldest snapshot does not hold, and every reader still reads the log', async (t) => {
  await fc.assert(fc.asyncProperty(runHistory({ maxRuns: 16 }), fc.nat(), fc.nat(), fc.integer({ min: 0, max: 30_000 }), async (history, a, b, budget) => {
    const root = tempDir('compact');
    try {
      const { events, positions, activeFirstSeq } = await writeLog(root, history.map((e) => [e]), 1024);
      const seqs = [...positions.keys()];
      const s1 = seqs[a % seqs.length] as number;
      const s2 = seqs[b % seqs.length] as number;
      const [oldest, newest] = s1 <= s2 ? [s1, s2] : [s2, s1];
      const before = logBytes(root);
      const r = await compactLog(root, activeFirstSeq, { newestSnapshotSeq: newest, oldestSnapshotSeq: oldest, budgetBytes: budget });
      checkLog(root, events, positions, newest, oldest);
      if (r.removed.length === 0 && readHorizon(root) !== undefined) throw new Error('a horizon without a removal');
      if (r.bytesAfter > before) throw new Error(`compaction grew the log: ${before} → ${r.bytesAfter}`);
      if (!r.overBudget && r.bytesAfter > budget) throw new Error('says within budget but is not');
      // a second compaction changes nothing more than the first allowed
      await compactLog(root, activeFirstSeq, { newestSnapshotSeq: newest, oldestSnapshotSeq: oldest, budgetBytes: budget });
      checkLog(root, events, positions, newest, oldest);
    } finally {
      removeDir(root);
    }
  }), { numRuns: RUNS });
  t.pass('held');
});

t.test('a compaction killed at any moment leaves a log that reads the same', async (t) => {
  const history = fc.sample(runHistory({ maxRuns: 24 }), { numRuns: 1, seed: 42 })[0] ?? [];
  for (let k = 0; k < KILLS; k++) {
    const root = tempDir('compact-kill');
    try {
      const { events, positions, activeFirstSeq } = await writeLog(root, history.map((e) => [e]), 1024);
      const seqs = [...positions.keys()].sort((x, y) => x - y);
      const newest = seqs[Math.floor(seqs.length * 0.8)] as number;
      const oldest = seqs[Math.floor(seqs.length * 0.5)] as number;
      const child = spawnHelper('compact-child.ts', [root, String(activeFirstSeq), String(newest), String(oldest), '2048']);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await new Promise((resolve) => child.stdout?.once('data', resolve)); // loaded: compacting from now on
      await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 300)));
      child.kill('SIGKILL');
      await exited;
      checkLog(root, events, positions, newest, oldest);
      // and the next compaction finishes what the killed one left
      await compactLog(root, activeFirstSeq, { newestSnapshotSeq: newest, oldestSnapshotSeq: oldest, budgetBytes: 2048 });
      checkLog(root, events, positions, newest, oldest);
      t.ok(existsSync(root), `kill ${k + 1}: the log reads the same`);
    } finally {
      removeDir(root);
    }
  }
});
