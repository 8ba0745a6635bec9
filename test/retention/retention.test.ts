/**
 * Retention: ended runs that leave memory are answered from disk exactly as before (view, progress, place in
 * submission order, counts), whatever the history, the policy and the moments the sweeps ran; and again after the
 * state went through a snapshot (a restart). The runs' files are the real ones a real store wrote.
 */
import fc from 'fast-check';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import { LogStore } from '../../src/events/log-store.js';
import { Registry } from '../../src/projections/registry.js';
import { runsLeavingMemory } from '../../src/retention/retention-policy.js';
import { ARCHIVE_INDEX_FILE } from '../../src/retention/archive-index-file.js';
import { RunArchive, type ArchiveSnapshotRef, type LegacyArchiveIndex } from '../../src/retention/run-archive.js';
import { RunRetention } from '../../src/retention/run-retention.js';
import { readLogEvents, removeDir, tempDir } from '../fixtures-helpers/events.js';
import { runHistory } from '../fixtures-helpers/histories.js';

const RUNS = Number(process.env['ARPD_PROPERTY_RUNS'] ?? 40);
const HOUR = 3_600_000;
const silent = pino({ level: 'silent' });

function sameAnswers(a: Registry, b: Registry, what: string): void {
  const problems: string[] = [];
  for (const [id, view] of a.runs) {
    if (JSON.stringify(b.run(id)) !== JSON.stringify(view)) problems.push(`${id}: view ${JSON.stringify(b.run(id))}`);
    if (JSON.stringify(b.progress(id)) !== JSON.stringify(a.progress(id))) problems.push(`${id}: progress`);
    if (b.streamRev(`run:${id}`) !== a.streamRev(`run:${id}`)) problems.push(`${id}: revision`);
  }
  if (a.orderCount !== b.orderCount) problems.push(`orderCount ${b.orderCount} vs ${a.orderCount}`);
  for (let i = 0; i < a.orderCount; i++) {
    if (JSON.stringify(b.runAtOrder(i)) !== JSON.stringify(a.runAtOrder(i))) problems.push(`place ${i}: ${b.runAtOrder(i)?.run_id} vs ${a.runAtOrder(i)?.run_id}`);
  }
  if (JSON.stringify(b.countRunsByState()) !== JSON.stringify(a.countRunsByState())) problems.push(`counts ${JSON.stringify(b.countRunsByState())} vs ${JSON.stringify(a.countRunsByState())}`);
  for (const id of b.runs.keys()) if (!a.runs.has(id)) problems.push(`${id} in memory but pruned`);
  for (const s of ['queued', 'running'] as const) for (const id of a.runIdsInState(s)) if (!b.runs.has(id)) problems.push(`${id} (${s}) left memory before it ended`);
  if (problems.length > 0) throw new Error(`${what}: ${problems.slice(0, 5).join('; ')}`);
}

const INDEX_DAMAGE = ['missing', 'torn', 'flipped', 'of a newer version', 'of another snapshot'] as const;

/** Damages the archive index file the way a crash, a bad disk, a newer arpd or a newer snapshot leaves it. */
function damageIndex(path: string, how: (typeof INDEX_DAMAGE)[number]): void {
  if (how === 'missing') { rmSync(path, { force: true }); return; }
  const buf = readFileSync(path);
  if (how === 'torn') writeFileSync(path, buf.subarray(0, Math.max(0, buf.length - 3)));
  else if (how === 'flipped') { const at = buf.length > 24 ? 24 : 0; buf.writeUInt8(buf.readUInt8(at) ^ 0xff, at); writeFileSync(path, buf); }
  else if (how === 'of a newer version') { buf.writeUInt32LE(2, 8); writeFileSync(path, buf); }
  else { buf.writeUInt32LE((buf.readUInt32LE(16) ^ 1) >>> 0, 16); writeFileSync(path, buf); }
}

t.test('a run that left memory answers status, result, progress and its place in the list exactly as before', async (t) => {
  await fc.assert(fc.asyncProperty(
    runHistory({ prune: true }),
    fc.record({ retainRuns: fc.integer({ min: 0, max: 4 }), retainDays: fc.constantFrom(0, 0.5, 2, 10_000) }),
    fc.array(fc.nat(), { maxLength: 8 }),
    fc.constantFrom(...INDEX_DAMAGE),
    async (history, policy, sweepPicks, damage) => {
      const root = tempDir('retention');
      try {
        let clock = Date.UTC(2024, 0, 1);
        const store = LogStore.open({ root, clock: () => new Date((clock += HOUR)) });
        for (const e of history) await store.append([e]);
        await store.close();
        const events: StoredEvent[] = readLogEvents(root);

        const all = new Registry();
        for (const e of events) all.apply(e);

        const reg = new Registry();
        const archive = new RunArchive(join(root, 'runs'));
        archive.reset();
        reg.setArchive(archive);
        const keeper = new RunRetention(reg, archive, policy, { logger: silent, now: () => new Date(clock) });
        const sweepAt = new Set(sweepPicks.map((p) => p % (events.length + 1)));
        for (const [i, e] of events.entries()) {
          reg.apply(e);
          if (sweepAt.has(i)) keeper.sweep();
        }
        keeper.sweepAll();
        sameAnswers(all, reg, 'after sweeps');
        const ended = [...reg.endedInMemory()];
        if (ended.length > policy.retainRuns) throw new Error(`${ended.length} ended runs in memory, policy ${policy.retainRuns}`);

        // a restart: the state and the archive index through a snapshot
        const capture = archive.captureIndex();
        const ref = JSON.parse(JSON.stringify(await archive.writeIndex(capture))) as ArchiveSnapshotRef;
        const restart = (index: ArchiveSnapshotRef | LegacyArchiveIndex, what: string): string[] => {
          const again = Registry.importState(JSON.parse(JSON.stringify(reg.exportState())) as ReturnType<Registry['exportState']>);
          const archive2 = new RunArchive(join(root, 'runs'));
          const warnings: string[] = [];
          try {
            archive2.importIndex(index, (m) => warnings.push(m));
            again.setArchive(archive2);
            sameAnswers(all, again, what);
          } finally {
            archive2.close();
          }
          return warnings;
        };
        if (restart(ref, 'after a restart from a snapshot').length !== 0) throw new Error('a whole index file was not used');
        // a snapshot of the older form (the index as base64 in its JSON) is read as it is
        restart({ size: capture.size, offsets: Buffer.from(capture.offsets.buffer, capture.offsets.byteOffset, capture.offsets.byteLength).toString('base64') }, 'from an older snapshot');
        // an index file that is not the snapshot's is rebuilt from archive.jsonl, with a warning
        damageIndex(join(root, 'runs', ARCHIVE_INDEX_FILE), damage);
        const warned = restart(ref, `after a restart with the index file ${damage}`);
        if (warned.length !== 1 || !warned[0]?.includes('rebuilt from')) throw new Error(`the damaged index (${damage}) was not reported: ${JSON.stringify(warned)}`);
        archive.close();
      } finally {
        removeDir(root);
      }
    },
  ), { numRuns: RUNS });
  t.pass('held');
});

t.test('the policy lets the oldest ended runs go first, past the count or the age', async (t) => {
  const ended = ['a', 'b', 'c', 'd'];
  const at: Record<string, number> = { a: 0, b: 10 * HOUR, c: 100 * HOUR, d: 200 * HOUR };
  const now = 200 * HOUR;
  t.same(runsLeavingMemory(ended, 4, (id) => at[id] as number, { retainRuns: 2, retainDays: 1000 }, now), ['a', 'b'], 'past the count');
  t.same(runsLeavingMemory(ended, 4, (id) => at[id] as number, { retainRuns: 10, retainDays: 100 / 24 }, now), ['a', 'b', 'c'], 'past the age');
  t.same(runsLeavingMemory(ended, 4, (id) => at[id] as number, { retainRuns: 0, retainDays: 1000 }, now, 3), ['a', 'b', 'c'], 'at most a slice');
  t.same(runsLeavingMemory(ended, 4, (id) => at[id] as number, { retainRuns: 10, retainDays: 1000 }, now), [], 'nothing within both');
});

t.test('an archive write that fails keeps the run in memory and answers the same', async (t) => {
  const root = tempDir('retention-fail');
  try {
    const store = LogStore.open({ root });
    await store.append([{ type: 'run.accepted', data: { run_id: 'r1', request: { run_id: 'r1' }, request_hash: 'h' } }]);
    await store.append([{ type: 'run.succeeded', data: { run_id: 'r1', result: { ok: true } } }]);
    await store.close();
    const reg = new Registry();
    for (const e of readLogEvents(root)) reg.apply(e);
    const archive = new RunArchive(join(root, 'runs'));
    const failing = Object.assign(Object.create(archive) as RunArchive, { add: () => { throw Object.assign(new Error('no space'), { code: 'ENOSPC' }); } });
    reg.setArchive(archive);
    const keeper = new RunRetention(reg, failing, { retainRuns: 0, retainDays: 1000 }, { logger: silent, now: () => new Date() });
    t.equal(keeper.sweep(), 0, 'nothing left memory');
    t.ok(reg.runs.has('r1'), 'the run is still in memory');
    t.match(keeper.status(), { retention: { archive_failing: 'ENOSPC' } }, 'status says why');
    const ok = new RunRetention(reg, archive, { retainRuns: 0, retainDays: 1000 }, { logger: silent, now: () => new Date() });
    t.equal(ok.sweep(), 1, 'once the disk has room it goes');
    t.equal(reg.run('r1')?.state, 'succeeded', 'and is answered from disk');
    archive.close();
  } finally {
    removeDir(root);
  }
});
