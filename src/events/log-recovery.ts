import { closeSync, existsSync, fsyncSync, openSync, readSync, statSync, truncateSync, writeSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from './envelope.js';
import { listLogFiles, readHorizon, type LogFile } from './log-files.js';
import { scanFile } from './log-scan.js';
import { decodeLine } from './line-codec.js';

/**
 * Boot-time reading of the global log (etcd WAL / Redis AOF rules):
 * - a torn or damaged LAST line is copied aside (`<file>.broken-<timestamp>`), cut off, synced, and
 *   reported as a warning with its byte offset;
 * - damage BEFORE the last line, or a gap in seq, refuses the start with file, line and offset (the
 *   way out is `--repair`, done before recovery by log-repair.ts: nothing is cut there).
 * Every good event is handed to `onEvent` in seq order, exactly once.
 */

export interface Damage {
  file: string;
  line: number;
  offset: number;
  reason: string;
}

export interface RecoveryResult {
  lastSeq: number;
  /** First seq of the active file (lastSeq + 1 when it is empty). */
  activeFirstSeq: number;
  activeBytes: number;
  /** Per-stream last revision. */
  streamRevs: Map<string, number>;
  /**
   * Run ids whose run logs may be behind: those with events since the last clean stop or start of
   * this boot. Undefined = check every run (no start recorded, or the machine rebooted since, so
   * unsynced run log pages may be gone).
   */
  runsToReconcile: Set<string> | undefined;
  warnings: Array<{ message: string; details: Record<string, unknown> }>;
}

/** Where to start reading: right after an event whose place a snapshot recorded. */
export interface RecoveryStart {
  /** The last event already folded. */
  seq: number;
  /** The file that goes on after it (by its first seq) and the byte offset there. */
  fileFirstSeq: number;
  offset: number;
}

/** The snapshot's place is not in the log as it is now (files moved, a repair): read the whole log instead. */
export class StaleStartError extends Error {
  override readonly name = 'StaleStartError';
}

export interface RecoveryOptions {
  /** Read only the log after this place (a snapshot holds everything before it). */
  from?: RecoveryStart | undefined;
  /** When false, nothing is changed on disk: damage of any kind is reported (used by `log verify`). */
  mutate?: boolean;
  /**
   * Read from the log's horizon (log-horizon.json) when old segments were removed, instead of refusing: for tools
   * that check the log's integrity (`log verify`); a boot needs a snapshot that holds what was removed.
   */
  fromHorizon?: boolean;
  bootId?: string;
  clock?: () => Date;
  onEvent?: (event: StoredEvent) => void;
}

interface StreamMark {
  rev: number;
  seq: number;
}

export function fsyncPath(path: string, dir = false): void {
  const fd = openSync(path, dir ? constants.O_RDONLY | constants.O_DIRECTORY : constants.O_RDONLY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function stampOf(clock: () => Date): string {
  return clock().toISOString().replace(/[:.]/g, '-');
}

/**
 * Cuts a file at `offset`, keeping the cut bytes (only those: a full disk needs no room for a copy of the whole log)
 * in `<file>.broken-<time>`.
 */
function cutAt(file: LogFile, offset: number, clock: () => Date): string {
  const aside = `${file.path}.broken-${stampOf(clock)}`;
  const size = statSync(file.path).size;
  const fd = openSync(file.path, 'r');
  const out = openSync(aside, 'w', 0o600);
  try {
    const buf = Buffer.allocUnsafe(Math.min(size - offset, 1024 * 1024));
    let at = offset;
    while (at < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - at), at);
      if (n === 0) break;
      writeSync(out, buf, 0, n);
      at += n;
    }
    fsyncSync(out);
  } finally {
    closeSync(fd);
    closeSync(out);
  }
  truncateSync(file.path, offset);
  fsyncPath(file.path);
  fsyncPath(dirname(file.path), true);
  return aside;
}

export function describeDamage(d: Damage): string {
  return `${d.file} line ${d.line} (byte offset ${d.offset}): ${d.reason}`;
}

export function recoverLog(root: string, opts: RecoveryOptions = {}): RecoveryResult {
  const clock = opts.clock ?? (() => new Date());
  const mutate = opts.mutate ?? true;
  const files = listLogFiles(root);
  /** Per stream: its last rev and the seq of its last event, changed in place (one Map lookup per event). */
  const marks = new Map<string, StreamMark>();
  const warnings: RecoveryResult['warnings'] = [];
  let expectedSeq = 1;
  /**
   * Runs with an event after this seq may have run logs behind the log (the last start of a daemon, or its last
   * clean stop); undefined: every run may (a log read from its horizon, until one of those).
   */
  let sinceSeq: number | undefined = 0;
  let sawStartOfThisBoot = false;
  const onEvent = opts.onEvent;
  let activeFirstSeq = 0;
  let activeBytes = 0;
  /** Anything cut means a run log may be ahead of the log: every run log is checked then. */
  let cut = false;

  let firstIndex = 0;
  let fromOffset = 0;
  const from = opts.from;
  const horizon = readHorizon(root);
  if (horizon !== undefined) {
    if (from !== undefined && from.seq < horizon.first_seq - 1) throw new StaleStartError(`the snapshot at seq ${from.seq} is older than the log's start (seq ${horizon.first_seq})`);
    if (from === undefined && opts.fromHorizon !== true) {
      throw new ArpdError('E_LOG_CORRUPT', `the event log starts at seq ${horizon.first_seq} (older segments were removed by the disk budget, see ${join(root, 'log-horizon.json')}) and no usable snapshot holds the events before it: restore the newest snapshot under snapshots/ or the removed segments from a backup`, { first_seq: horizon.first_seq });
    }
    expectedSeq = horizon.first_seq;
    sinceSeq = undefined;
    // files before the horizon (a compaction stopped after writing it) are not read
    const at = files.findIndex((f) => f.active || (f.firstSeq as number) >= horizon.first_seq);
    firstIndex = at === -1 ? files.length - 1 : at;
  }
  if (from !== undefined) {
    // the file that goes on after the snapshot: the segment that starts there, or the active file
    const seg = files.findIndex((f) => f.firstSeq === from.fileFirstSeq);
    const activeIdx = files.findIndex((f) => f.active);
    const lastSegFirst = files.filter((f) => f.firstSeq !== undefined).reduce((m, f) => Math.max(m, f.firstSeq as number), 0);
    if (seg !== -1) firstIndex = seg;
    else if (activeIdx !== -1 && lastSegFirst < from.fileFirstSeq) firstIndex = activeIdx;
    else throw new StaleStartError(`no log file starts at seq ${from.fileFirstSeq}`);
    expectedSeq = from.seq + 1;
    fromOffset = from.offset;
    sinceSeq = from.seq;
    const f = files[firstIndex] as LogFile;
    if (!existsSync(f.path) || (!f.compressed && statSync(f.path).size < fromOffset)) throw new StaleStartError(`${f.path} is shorter than the snapshot's place in it`);
  }

  for (let i = firstIndex; i < files.length; i++) {
    const file = files[i] as LogFile;
    const last = i === files.length - 1;
    if (!existsSync(file.path)) continue;
    const startAt = i === firstIndex ? fromOffset : 0;
    if (file.firstSeq !== undefined && file.firstSeq !== expectedSeq && startAt === 0) {
      const damage: Damage = { file: file.path, line: 1, offset: 0, reason: `segment name promises seq ${file.firstSeq} but seq ${expectedSeq} comes next` };
      throw new ArpdError('E_LOG_CORRUPT', `the event log has a gap: ${describeDamage(damage)}. Run 'arpd log verify' to see what --repair would do, then start with --repair`, { ...damage });
    }
    if (file.active) activeFirstSeq = startAt > 0 && from !== undefined ? from.fileFirstSeq : expectedSeq;
    let bad: Damage | undefined;
    let badIsGap = false;
    let lineAfterBad = false;
    let tail: { offset: number; bytes: number } | undefined;
    const scanned = scanFile(file.path, {
      line(buf, start, end, offset, lineNo) {
        if (bad !== undefined) {
          lineAfterBad = true;
          return false;
        }
        const r = decodeLine(buf, start, end);
        if (!r.ok) {
          // the snapshot's place is not the start of a line any more (the log changed under it): replay whole instead
          if (startAt > 0 && lineNo === 1) throw new StaleStartError(`${file.path} has no whole line at the snapshot's place (byte ${startAt})`);
          bad = { file: file.path, line: lineNo, offset, reason: r.reason };
          return true;
        }
        const e = r.event;
        if (e.seq !== expectedSeq && startAt > 0 && lineNo === 1) throw new StaleStartError(`${file.path} has seq ${e.seq} at the snapshot's place, not ${expectedSeq}`);
        if (e.seq !== expectedSeq) {
          bad = { file: file.path, line: lineNo, offset, reason: `seq ${e.seq} where ${expectedSeq} was expected` };
          badIsGap = true;
          return true;
        }
        expectedSeq++;
        const mark = marks.get(e.stream);
        if (mark === undefined) {
          marks.set(e.stream, { rev: e.rev, seq: e.seq });
        } else {
          mark.rev = e.rev;
          mark.seq = e.seq;
        }
        if (e.type === 'daemon.started') {
          sawStartOfThisBoot = opts.bootId !== undefined && opts.bootId !== '' && e.data.boot_id === opts.bootId;
          sinceSeq = e.seq;
        } else if (e.type === 'daemon.stopped') {
          // a clean stop closed every run log after its last write: nothing before it needs checking
          if (e.data.run_logs_complete === true) sinceSeq = e.seq;
        }
        onEvent?.(e);
        return true;
      },
      tail(offset, bytes) {
        tail = { offset, bytes };
      },
    }, { fromOffset: startAt });

    let cutOffset: number | undefined;
    let reason = '';
    const damage = bad as Damage | undefined;
    if (damage !== undefined) {
      const lastLineOnly = last && !lineAfterBad && !badIsGap;
      if (!lastLineOnly || !mutate) {
        throw new ArpdError(
          'E_LOG_CORRUPT',
          `the event log is damaged before its last line: ${describeDamage(damage)}. Run 'arpd log verify' to see what --repair would do (damaged lines set aside, run events restored from the run logs), then start with --repair`,
          { ...damage },
        );
      }
      cutOffset = damage.offset;
      reason = damage.reason;
    } else if (tail !== undefined) {
      if (!last || !mutate) {
        const d: Damage = { file: file.path, line: scanned.lines + 1, offset: tail.offset, reason: `${tail.bytes} bytes without a final newline` };
        if (!last) {
          throw new ArpdError('E_LOG_CORRUPT', `the event log is damaged: ${describeDamage(d)}. Run 'arpd log verify' to see what --repair would do, then start with --repair`, { ...d });
        }
        if (!mutate) throw new ArpdError('E_LOG_CORRUPT', `the event log has a torn last line: ${describeDamage(d)} (the daemon cuts it off at its next start)`, { ...d, torn_tail: true });
      }
      cutOffset = tail.offset;
      reason = `torn last line (${tail.bytes} bytes without a final newline)`;
    }

    if (cutOffset !== undefined) {
      cut = true;
      const aside = cutAt(file, cutOffset, clock);
      warnings.push({
        message: `cut the event log at byte offset ${cutOffset} of ${file.path}: ${reason}; the cut bytes are kept as ${aside}`,
        details: { file: file.path, offset: cutOffset, reason, copy: aside },
      });
    }
    if (file.active) activeBytes = cutOffset ?? statSync(file.path).size;
  }
  if (activeFirstSeq === 0) activeFirstSeq = expectedSeq;
  const streamRevs = new Map<string, number>();
  const runsSinceStart = sinceSeq === undefined ? undefined : new Set<string>();
  for (const [stream, mark] of marks) {
    streamRevs.set(stream, mark.rev);
    if (runsSinceStart !== undefined && mark.seq > (sinceSeq as number) && stream.startsWith('run:')) runsSinceStart.add(stream.slice(4));
  }
  return {
    lastSeq: expectedSeq - 1,
    activeFirstSeq,
    activeBytes,
    streamRevs,
    // after a snapshot only the runs of the tail are checked (the daemon replays whole after an OS crash)
    runsToReconcile: from !== undefined ? tailRuns(streamRevs) : sawStartOfThisBoot && !cut ? runsSinceStart : undefined,
    warnings,
  };
}

function tailRuns(streamRevs: Map<string, number>): Set<string> {
  const out = new Set<string>();
  for (const stream of streamRevs.keys()) if (stream.startsWith('run:')) out.add(stream.slice(4));
  return out;
}
