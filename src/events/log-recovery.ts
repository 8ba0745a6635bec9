import { closeSync, copyFileSync, existsSync, fsyncSync, openSync, renameSync, statSync, truncateSync, constants } from 'node:fs';
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
 * - damage BEFORE the last line, or a gap in seq, refuses the start with file, line and offset, unless
 *   `repair` is set: then the file is copied aside and cut at the first bad line (and later segments
 *   are moved aside).
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
  repair?: boolean;
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

function cutAt(file: LogFile, offset: number, clock: () => Date): string {
  const aside = `${file.path}.broken-${stampOf(clock)}`;
  copyFileSync(file.path, aside);
  fsyncPath(aside);
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
      if (!(opts.repair ?? false) || !mutate) {
        throw new ArpdError('E_LOG_CORRUPT', `the event log has a gap: ${describeDamage(damage)}. Run 'arpd log verify' to see it; start with --repair to cut the log there (the files are copied aside first)`, { ...damage });
      }
      // repair: the log ends before the gap; this file and every later one are moved aside
      for (let j = i; j < files.length; j++) {
        const later = files[j] as LogFile;
        if (!existsSync(later.path)) continue;
        const aside = `${later.path}.broken-${stampOf(clock)}`;
        renameSync(later.path, aside);
        warnings.push({ message: `moved ${later.path} aside as ${aside}: ${damage.reason}`, details: { file: later.path, copy: aside, reason: damage.reason } });
      }
      fsyncPath(root, true);
      cut = true;
      activeFirstSeq = expectedSeq;
      activeBytes = 0;
      break;
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
        if (!(opts.repair ?? false) || !mutate) {
          throw new ArpdError(
            'E_LOG_CORRUPT',
            `the event log is damaged before its last line: ${describeDamage(damage)}. Run 'arpd log verify' to see it; start with --repair to cut the log at that line (the file is copied aside first)`,
            { ...damage },
          );
        }
      }
      cutOffset = damage.offset;
      reason = damage.reason;
    } else if (tail !== undefined) {
      if (!last || !mutate) {
        const d: Damage = { file: file.path, line: scanned.lines + 1, offset: tail.offset, reason: `${tail.bytes} bytes without a final newline` };
        if (!last && !(opts.repair ?? false)) {
          throw new ArpdError('E_LOG_CORRUPT', `the event log is damaged: ${describeDamage(d)}. Run 'arpd log verify'; start with --repair to cut it there`, { ...d });
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
        message: `cut the event log at byte offset ${cutOffset} of ${file.path}: ${reason}; the original is kept as ${aside}`,
        details: { file: file.path, offset: cutOffset, reason, copy: aside },
      });
      // anything after a repaired segment would leave a gap: move it aside too
      for (let j = i + 1; j < files.length; j++) {
        const later = files[j] as LogFile;
        if (existsSync(later.path)) {
          const laterAside = `${later.path}.broken-${stampOf(clock)}`;
          renameSync(later.path, laterAside);
          warnings.push({ message: `moved ${later.path} aside as ${laterAside} after repairing an earlier segment`, details: { file: later.path, copy: laterAside } });
        }
      }
      if (!last) {
        // the repaired segment becomes the end of the log: the next append starts a new active file
        activeFirstSeq = expectedSeq;
        activeBytes = 0;
        break;
      }
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
