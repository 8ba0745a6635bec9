import { closeSync, existsSync, fsyncSync, openSync, readSync, statSync, truncateSync, writeSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from './envelope.js';
import { listLogFiles, type LogFile } from './log-files.js';
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

export interface RecoveryOptions {
  /** When false, nothing is changed on disk: damage of any kind is reported (used by `log verify`). */
  mutate?: boolean;
  bootId?: string;
  clock?: () => Date;
  onEvent?: (event: StoredEvent) => void;
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
  const streamRevs = new Map<string, number>();
  const warnings: RecoveryResult['warnings'] = [];
  let expectedSeq = 1;
  let runsSinceStart: Set<string> | undefined = new Set();
  let sawStartOfThisBoot = false;
  const onEvent = opts.onEvent;
  let activeFirstSeq = 0;
  let activeBytes = 0;
  /** Anything cut means a run log may be ahead of the log: every run log is checked then. */
  let cut = false;

  for (let i = 0; i < files.length; i++) {
    const file = files[i] as LogFile;
    const last = i === files.length - 1;
    if (!existsSync(file.path)) continue;
    if (file.firstSeq !== undefined && file.firstSeq !== expectedSeq) {
      const damage: Damage = { file: file.path, line: 1, offset: 0, reason: `segment name promises seq ${file.firstSeq} but seq ${expectedSeq} comes next` };
      throw new ArpdError('E_LOG_CORRUPT', `the event log has a gap: ${describeDamage(damage)}. Run 'arpd log verify' to see what --repair would do, then start with --repair`, { ...damage });
    }
    if (file.active) activeFirstSeq = expectedSeq;
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
          bad = { file: file.path, line: lineNo, offset, reason: r.reason };
          return true;
        }
        const e = r.event;
        if (e.seq !== expectedSeq) {
          bad = { file: file.path, line: lineNo, offset, reason: `seq ${e.seq} where ${expectedSeq} was expected` };
          badIsGap = true;
          return true;
        }
        expectedSeq++;
        streamRevs.set(e.stream, e.rev);
        if (e.type === 'daemon.started') {
          sawStartOfThisBoot = opts.bootId !== undefined && opts.bootId !== '' && e.data.boot_id === opts.bootId;
          runsSinceStart = new Set();
        } else if (e.type === 'daemon.stopped') {
          // a clean stop closed every run log after its last write: nothing before it needs checking
          if (e.data.run_logs_complete === true) runsSinceStart = new Set();
        } else if (e.stream.charCodeAt(0) === 0x72 /* r */ && e.stream.startsWith('run:')) {
          runsSinceStart?.add(e.stream.slice(4));
        }
        onEvent?.(e);
        return true;
      },
      tail(offset, bytes) {
        tail = { offset, bytes };
      },
    });

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
  return {
    lastSeq: expectedSeq - 1,
    activeFirstSeq,
    activeBytes,
    streamRevs,
    runsToReconcile: sawStartOfThisBoot && !cut ? runsSinceStart : undefined,
    warnings,
  };
}
