import { closeSync, existsSync, fstatSync, ftruncateSync, mkdirSync, openSync, readdirSync, readSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { isValidId } from '../ids/id-rules.js';
import type { StoredEvent } from './envelope.js';
import { listLogFiles } from './log-files.js';
import { scanFile } from './log-scan.js';
import { decodeLine } from './line-codec.js';
import { encodeTraceLine } from './trace-line.js';

/**
 * Brings per-run logs in line with the global log at boot. A run log that is behind (a crash between
 * the global fsync and the run log write, or an OS crash that lost unsynced pages) is completed from
 * the global log; a torn last line is cut; one that does not match (only possible after `--repair`
 * cut the global log) is rebuilt.
 */

export interface ReconcileResult {
  checked: number;
  completed: number;
  rebuilt: number;
  linesWritten: number;
}

/** The `seq` of the last complete line of a trace file (0 when empty or missing); cuts a torn tail. -1 = unreadable. */
export function lastTraceSeq(path: string, fix: boolean): number {
  if (!existsSync(path)) return 0;
  const fd = openSync(path, fix ? 'r+' : 'r');
  try {
    let size = fstatSync(fd).size;
    let window = 64 * 1024;
    for (;;) {
      if (size === 0) return 0;
      const w = Math.min(size, window);
      const buf = Buffer.allocUnsafe(w);
      readSync(fd, buf, 0, w, size - w);
      if (buf[w - 1] !== 0x0a) {
        // torn last line: cut it (a run log line is written whole; a fragment is never a fact)
        const nl = buf.lastIndexOf(0x0a);
        if (nl === -1 && w < size) { window *= 4; continue; }
        if (!fix) return -1;
        size = size - w + nl + 1;
        ftruncateSync(fd, size);
        continue;
      }
      const prev = w >= 2 ? buf.lastIndexOf(0x0a, w - 2) : -1;
      if (prev === -1 && w < size) { window *= 4; continue; }
      try {
        const line = JSON.parse(buf.toString('utf8', prev + 1, w - 1)) as { seq?: unknown };
        return typeof line.seq === 'number' ? line.seq : -1;
      } catch {
        return -1;
      }
    }
  } finally {
    closeSync(fd);
  }
}

export function reconcileRunLogs(root: string, runsDir: string, streamRevs: Map<string, number>, candidates: Iterable<string> | undefined): ReconcileResult {
  const result: ReconcileResult = { checked: 0, completed: 0, rebuilt: 0, linesWritten: 0 };
  const ids: Iterable<string> = candidates ?? (function* () {
    for (const stream of streamRevs.keys()) if (stream.startsWith('run:')) yield stream.slice(4);
  })();
  /** run id → the rev after which lines are missing */
  const need = new Map<string, number>();
  for (const runId of ids) {
    if (!isValidId(runId)) continue;
    const logRev = streamRevs.get(`run:${runId}`) ?? 0;
    result.checked++;
    const path = join(runsDir, runId, 'trace.jsonl');
    const fileRev = lastTraceSeq(path, true);
    if (fileRev === logRev) continue;
    if (fileRev < 0 || fileRev > logRev) {
      need.set(runId, 0);
      result.rebuilt++;
    } else {
      need.set(runId, fileRev);
      result.completed++;
    }
  }
  if (candidates === undefined) {
    // A full check also looks at run dirs the log no longer knows (cut by a repair): their logs are ahead.
    let names: string[] = [];
    try { names = readdirSync(runsDir); } catch { /* no runs dir */ }
    for (const runId of names) {
      if (!isValidId(runId) || streamRevs.has(`run:${runId}`)) continue;
      const path = join(runsDir, runId, 'trace.jsonl');
      if (existsSync(path) && lastTraceSeq(path, false) !== 0) {
        truncateSync(path, 0);
        result.rebuilt++;
      }
    }
  }
  if (need.size === 0) return result;

  const fds = new Map<string, number>();
  try {
    for (const [runId, after] of need) {
      const dir = join(runsDir, runId);
      const fd = openAppend(dir, after === 0);
      fds.set(runId, fd);
    }
    for (const file of listLogFiles(root)) {
      if (!existsSync(file.path)) continue;
      scanFile(file.path, {
        line(buf, start, end) {
          const r = decodeLine(buf, start, end);
          if (!r.ok) return true;
          const e: StoredEvent = r.event;
          if (!e.stream.startsWith('run:')) return true;
          const runId = e.stream.slice(4);
          const after = need.get(runId);
          if (after === undefined || e.rev <= after) return true;
          writeSync(fds.get(runId) as number, encodeTraceLine(e, runId));
          result.linesWritten++;
          return true;
        },
      });
    }
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
  return result;
}

function openAppend(dir: string, truncate: boolean): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 }); // the run dir may be missing entirely
  return openSync(join(dir, 'trace.jsonl'), truncate ? 'w' : 'a', 0o600);
}
