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
  /** Log files read to find the missing lines. */
  filesRead: number;
  /** Runs still queued left without a log (it is created when they leave the queue). */
  leftQueued: number;
}

/** What a boot's reconciliation did, and the runs it left queued without a log, with their lines so far. */
export interface Reconciled { result: ReconcileResult; leftQueued: Map<string, readonly StoredEvent[]> }

/** The `seq` of the last complete line of a trace file (0 when empty or missing); cuts a torn tail. -1 = unreadable. */
export function lastTraceSeq(path: string, fix: boolean): number {
  return lastTraceLine(path, fix).seq;
}

/** As lastTraceSeq, with the global seq of that line (`extensions["arpd.event"].seq`; 0 when unknown). */
function lastTraceLine(path: string, fix: boolean): { seq: number; globalSeq: number } {
  const none = { seq: 0, globalSeq: 0 };
  const unreadable = { seq: -1, globalSeq: 0 };
  if (!existsSync(path)) return none;
  const fd = openSync(path, fix ? 'r+' : 'r');
  try {
    let size = fstatSync(fd).size;
    let window = 64 * 1024;
    for (;;) {
      if (size === 0) return none;
      const w = Math.min(size, window);
      const buf = Buffer.allocUnsafe(w);
      readSync(fd, buf, 0, w, size - w);
      if (buf[w - 1] !== 0x0a) {
        // torn last line: cut it (a run log line is written whole; a fragment is never a fact)
        const nl = buf.lastIndexOf(0x0a);
        if (nl === -1 && w < size) { window *= 4; continue; }
        if (!fix) return unreadable;
        size = size - w + nl + 1;
        ftruncateSync(fd, size);
        continue;
      }
      const prev = w >= 2 ? buf.lastIndexOf(0x0a, w - 2) : -1;
      if (prev === -1 && w < size) { window *= 4; continue; }
      try {
        const line = JSON.parse(buf.toString('utf8', prev + 1, w - 1)) as { seq?: unknown; extensions?: { 'arpd.event'?: { seq?: unknown } } };
        if (typeof line.seq !== 'number') return unreadable;
        const g = line.extensions?.['arpd.event']?.seq;
        return { seq: line.seq, globalSeq: typeof g === 'number' && Number.isSafeInteger(g) && g > 0 ? g : 0 };
      } catch {
        return unreadable;
      }
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * `firstSeqs`: the global seq of each run's first event (rev 1) where the boot replayed it. The global log is read only
 * from the first seq a missing line can have: after the last line a run log holds, or from the run's first event
 * when the boot replayed it (a run still queued at a crash has no run log yet: it costs a read of the tail, not of
 * the whole history); else from the start. `queued`: runs born in the replayed tail with only their acceptance so far
 * (every event of theirs): one without a log is left so (`leftQueued`), as the run-log queue leaves it until the run
 * leaves the queue. `pruned`: runs whose last word in the replayed log is `runs.pruned`: their logs were deleted on
 * purpose and are not made again. A run id used again after a prune has its log rebuilt from the prune on: the lines
 * before it are the pruned run's.
 */
export function reconcileRunLogs(root: string, runsDir: string, streamRevs: Map<string, number>, candidates: Iterable<string> | undefined, firstSeqs?: ReadonlyMap<string, number>, queued?: ReadonlyMap<string, readonly StoredEvent[]>, pruned?: ReadonlySet<string>): Reconciled {
  const result: ReconcileResult = { checked: 0, completed: 0, rebuilt: 0, linesWritten: 0, filesRead: 0, leftQueued: 0 };
  const leftQueued = new Map<string, readonly StoredEvent[]>();
  // A run that has only waited in the queue is looked at even when the boot checks only a few runs: its log may never
  // have been created, in this boot or an earlier one that crashed, and its lines so far must wait for it (`seed`).
  const ids: Iterable<string> = candidates === undefined
    ? (function* () { for (const stream of streamRevs.keys()) if (stream.startsWith('run:')) yield stream.slice(4); })()
    : queued === undefined || queued.size === 0 ? candidates : new Set([...candidates, ...queued.keys()]);
  /** run id → the rev after which lines are missing */
  const need = new Map<string, number>();
  /** the first global seq a missing line can have */
  let scanFrom = Number.MAX_SAFE_INTEGER;
  for (const runId of ids) {
    if (!isValidId(runId) || pruned?.has(runId) === true) continue;
    const logRev = streamRevs.get(`run:${runId}`) ?? 0;
    result.checked++;
    const path = join(runsDir, runId, 'trace.jsonl');
    const last = lastTraceLine(path, true);
    const fileRev = last.seq;
    if (fileRev === logRev) continue;
    const waited = fileRev === 0 ? queued?.get(runId) : undefined;
    if (waited !== undefined && waited.length === logRev) {
      result.leftQueued++;
      leftQueued.set(runId, waited);
      continue;
    }
    const first = firstSeqs?.get(runId) ?? 1;
    if (fileRev < 0 || fileRev > logRev) {
      need.set(runId, 0);
      result.rebuilt++;
      scanFrom = Math.min(scanFrom, first);
    } else {
      need.set(runId, fileRev);
      result.completed++;
      scanFrom = Math.min(scanFrom, fileRev > 0 && last.globalSeq > 0 ? last.globalSeq + 1 : first);
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
  if (need.size === 0) return { result, leftQueued };

  const fds = new Map<string, number>();
  try {
    for (const [runId, after] of need) {
      const dir = join(runsDir, runId);
      const fd = openAppend(dir, after === 0);
      fds.set(runId, fd);
    }
    // the next rev each run log needs: a line is written only in order, so a line a skipped segment held leaves a gap
    const wanted = new Map<string, number>();
    for (const [runId, after] of need) wanted.set(runId, after + 1);
    const files = listLogFiles(root);
    const pass = (from: number): void => {
      for (const [i, file] of files.entries()) {
        // a sealed segment ends where the next begins: skip those wholly before the first missing line
        const next = files[i + 1]?.firstSeq;
        if (next !== undefined && next <= from) continue;
        if (!existsSync(file.path)) continue;
        result.filesRead++;
        scanFile(file.path, {
          line(buf, start, end) {
            const r = decodeLine(buf, start, end);
            if (!r.ok) return true;
            const e: StoredEvent = r.event;
            if (e.type === 'runs.pruned') {
              // a run pruned here and then begun again under its id: its log starts over with the new run's rev 1
              for (const p of e.data.runs) {
                const fd = fds.get(p.run_id);
                if (fd === undefined) continue;
                closeSync(fd);
                fds.set(p.run_id, openAppend(join(runsDir, p.run_id), true)); // emptied, written from its start
                wanted.set(p.run_id, 1);
              }
              return true;
            }
            if (!e.stream.startsWith('run:')) return true;
            const runId = e.stream.slice(4);
            if (e.rev !== wanted.get(runId)) return true;
            writeSync(fds.get(runId) as number, encodeTraceLine(e, runId));
            wanted.set(runId, e.rev + 1);
            result.linesWritten++;
            return true;
          },
        });
      }
    };
    pass(scanFrom);
    // a run log whose last line did not point where its missing lines are (not expected): read the whole log for it
    const short = [...wanted].some(([runId, rev]) => rev <= (streamRevs.get(`run:${runId}`) ?? 0));
    if (short && scanFrom > 1) pass(1);
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
  return { result, leftQueued };
}

function openAppend(dir: string, truncate: boolean): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 }); // the run dir may be missing entirely
  return openSync(join(dir, 'trace.jsonl'), truncate ? 'w' : 'a', 0o600);
}
