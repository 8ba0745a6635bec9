import { existsSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
import { HORIZON_FILE, listLogFiles, readHorizon, type LogFile, type LogHorizon } from './log-files.js';
import { fsyncPath } from './log-recovery.js';

/**
 * Keeping the log's disk bounded without losing what matters:
 * - sealed segments whose every event a snapshot holds are compressed (`events-<seq>.jsonl.gz`); every reader reads
 *   them (log-scan.ts), so `log replay`, `log verify` and `events` still see the whole history;
 * - past a byte budget, the oldest compressed segments are removed, but only those the OLDEST kept snapshot holds
 *   (so the newer snapshot can fail and the older one still boots). What was removed is recorded first in
 *   `log-horizon.json`: the log then starts at that seq, and readers say so instead of reporting a gap.
 * Never touched: the active file, and any event after the oldest snapshot's seq.
 * Crash safety: a segment is compressed to a temp file, fsynced, renamed, the directory fsynced, and only then is the
 * plain file removed (both whole in between: readers take the plain one); the horizon is durable before any removal.
 */

export interface CompactOptions {
  /** The newest snapshot's seq: segments it holds whole may be compressed. */
  newestSnapshotSeq: number;
  /** The oldest kept snapshot's seq: segments it holds whole may be removed past the budget. */
  oldestSnapshotSeq: number;
  /** Remove old compressed segments while the log takes more than this. */
  budgetBytes?: number | undefined;
  clock?: () => Date;
}

export interface CompactResult {
  compressed: Array<{ file: string; before: number; after: number }>;
  removed: Array<{ file: string; bytes: number }>;
  bytesBefore: number;
  bytesAfter: number;
  /** True when the budget could not be met without removing events no snapshot holds. */
  overBudget: boolean;
  horizon: number | undefined;
}

/** The last seq a sealed segment holds: the next file's first seq minus one. */
function lastSeqOf(files: LogFile[], i: number, activeFirstSeq: number): number {
  const next = files[i + 1];
  return (next?.firstSeq ?? activeFirstSeq) - 1;
}

function sizeOf(path: string): number {
  try { return statSync(path).size; } catch { return 0; }
}

/** Total bytes of the log files (segments, compressed or not, and the active file). */
export function logBytes(root: string): number {
  return listLogFiles(root).reduce((n, f) => n + sizeOf(f.path), 0);
}

/**
 * Compacts the log under `root`. The caller holds the data dir lock (the daemon) and passes the active file's first
 * seq, read in the same tick as the listing is made here (a segment's end is known only from the file after it; the
 * segments named now are sealed and never change). The work (gzip, writes, fsyncs) is done off the event loop.
 */
export async function compactLog(root: string, activeFirstSeq: number, opts: CompactOptions): Promise<CompactResult> {
  const clock = opts.clock ?? (() => new Date());
  const bytesBefore = logBytes(root);
  const compressed: CompactResult['compressed'] = [];
  const removed: CompactResult['removed'] = [];
  // the plan, in this tick: which sealed segments a snapshot holds whole
  const files = listLogFiles(root).filter((f) => existsSync(f.path));
  const ends = new Map<LogFile, number>(files.map((f, i) => [f, f.active ? Number.MAX_SAFE_INTEGER : lastSeqOf(files, i, activeFirstSeq)]));
  const toCompress = files.filter((f) => !f.active && !f.compressed && (ends.get(f) as number) <= opts.newestSnapshotSeq);
  for (const f of toCompress) {
    const before = sizeOf(f.path);
    const gz = `${f.path}.gz`;
    const tmp = `${gz}.${process.pid}.tmp`;
    const data = await gzipAsync(await readFile(f.path), { level: 6 });
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, gz);
    fsyncPath(root, true);
    await rm(f.path, { force: true });
    fsyncPath(root, true);
    compressed.push({ file: gz, before, after: data.length });
  }
  // a compaction that stopped before removing a plain file left a .gz beside it: finish that
  for (const f of listLogFiles(root)) if (!f.compressed && !f.active && existsSync(f.path) && existsSync(`${f.path}.gz`)) await rm(`${f.path}.gz`, { force: true });

  let total = logBytes(root);
  let overBudget = false;
  let horizon = readHorizon(root)?.first_seq;
  if (opts.budgetBytes !== undefined && total > opts.budgetBytes) {
    const now = listLogFiles(root).filter((f) => existsSync(f.path));
    const removable: LogFile[] = [];
    let freed = 0;
    for (let i = 0; i < now.length - 1 && total - freed > opts.budgetBytes; i++) {
      const f = now[i] as LogFile;
      if (f.active || lastSeqOf(now, i, activeFirstSeq) > opts.oldestSnapshotSeq) break;
      removable.push(f);
      freed += sizeOf(f.path);
    }
    if (removable.length > 0) {
      const idx = now.indexOf(removable[removable.length - 1] as LogFile);
      const firstKept = (now[idx + 1] as LogFile).firstSeq ?? activeFirstSeq;
      const h: LogHorizon = { first_seq: firstKept, covered_by_snapshot: opts.oldestSnapshotSeq, removed_at: clock().toISOString() };
      // the horizon is durable before anything is removed: a crash in between leaves files the horizon says are gone
      const tmp = join(root, `${HORIZON_FILE}.tmp`);
      writeFileSync(tmp, `${JSON.stringify(h)}\n`, { mode: 0o600 });
      fsyncPath(tmp);
      renameSync(tmp, join(root, HORIZON_FILE));
      fsyncPath(root, true);
      for (const f of removable) {
        removed.push({ file: f.path, bytes: sizeOf(f.path) });
        await rm(f.path, { force: true });
      }
      fsyncPath(root, true);
      horizon = firstKept;
    }
    total = logBytes(root);
    overBudget = total > opts.budgetBytes;
  }
  return { compressed, removed, bytesBefore, bytesAfter: total, overBudget, horizon };
}
