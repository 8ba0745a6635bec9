import { join } from 'node:path';
import { Registry } from '../src/projections/registry.js';
import { RunArchive } from '../src/retention/run-archive.js';
import { readSnapshot, snapshotName } from '../src/retention/snapshot-file.js';
import { listSnapshotSeqs } from '../src/retention/snapshot-file.js';
import { runAsChild } from './lib/child.js';
import { writeHistory, type History } from './lib/history.js';
import { nowMs } from './lib/timer.js';

/**
 * The two parts of boot-history that run in a process of their own:
 * - `generate <data-dir> <runs>`: writes the history through the real LogStore (lib/history.ts);
 * - `load-snapshot <data-dir>`: what loading the newest snapshot alone costs: `readSnapshot` (read, checksum,
 *   JSON.parse) + `Registry.importState` + the archive's index import, timed after the modules are loaded.
 */

export interface SnapshotLoad {
  ms: number;
  cpuMs: number;
  readMs: number;
  bytes: number;
  runsInMemory: number;
  archived: number;
}

function loadSnapshot(root: string): SnapshotLoad {
  const dir = join(root, 'snapshots');
  const seq = listSnapshotSeqs(dir)[0];
  if (seq === undefined) throw new Error(`no snapshot under ${dir}`);
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  const snap = readSnapshot(join(dir, snapshotName(seq)));
  const t1 = nowMs();
  const registry = Registry.importState(snap.body.registry);
  const archive = new RunArchive(join(root, 'runs'));
  archive.importIndex(snap.body.archive);
  registry.setArchive(archive);
  const ms = nowMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, readMs: t1 - t0, bytes: snap.bytes, runsInMemory: registry.runs.size, archived: archive.archived };
}

runAsChild(async ([mode, root, runs]): Promise<History | SnapshotLoad> => {
  if (root === undefined) throw new Error('usage: boot-history-child.js generate <data-dir> <runs> | load-snapshot <data-dir>');
  if (mode === 'generate') return writeHistory(root, Number(runs), (n) => process.stderr.write(`boot-history: ${n.toLocaleString('en-US')} runs written\n`));
  if (mode === 'load-snapshot') return loadSnapshot(root);
  throw new Error(`unknown mode ${String(mode)}`);
});
