import { existsSync } from 'node:fs';
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from './envelope.js';
import { listLogFiles } from './log-files.js';
import { scanFile } from './log-scan.js';
import { decodeLine } from './line-codec.js';
import { matchesFilter, type EventFilter } from './event-store.js';

/**
 * Read-only access to the global log for tools and subscribers (`arpd events`, `arpd log replay`,
 * `events.read`, `events.subscribe`). Readers never take the lock and never change a file; a line
 * still being written (no newline yet) is simply not read.
 */

export { matchesFilter, type EventFilter } from './event-store.js';

/** The seq of a line without parsing it all: every line starts with `{"seq":<digits>,`. */
function peekSeq(buf: Buffer, start: number, end: number): number {
  // {"seq":
  if (end - start < 9 || buf[start] !== 0x7b || buf[start + 2] !== 0x73) return -1;
  let n = 0;
  for (let i = start + 7; i < end; i++) {
    const c = buf[i] as number;
    if (c === 0x2c) return n;
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return -1;
}

/** Where a read of the log stopped at a damaged line. */
export interface DamageAt { file: string; line: number; offset: number; afterSeq: number }

/** The error of a tool whose read of the log stopped at a damaged line (never a silent, shorter answer). */
export function damagedRead(at: DamageAt, consequence: string): ArpdError {
  return new ArpdError('E_LOG_CORRUPT', `the event log is damaged after seq ${at.afterSeq} (${at.file} line ${at.line}, byte offset ${at.offset}): ${consequence}; see 'arpd log verify'`, { file: at.file, line: at.line, offset: at.offset, after_seq: at.afterSeq });
}

export interface ForEachOptions {
  fromSeq?: number;
  /** Stop after this seq. */
  toSeq?: number;
  filter?: EventFilter;
  /** Told where the read stopped at a damaged line (the events after it were not read): a tool says so. */
  onDamage?: (at: DamageAt) => void;
}

/**
 * Calls `cb` for each good event from `fromSeq` on, in order. Stops at the first damaged line (the
 * caller may verify separately) or when `cb` returns false. Returns the last seq read.
 */
export function forEachEvent(root: string, cb: (e: StoredEvent) => boolean | void, opts: ForEachOptions = {}): number {
  const from = opts.fromSeq ?? 1;
  const to = opts.toSeq ?? Number.MAX_SAFE_INTEGER;
  const files = listLogFiles(root);
  let last = 0;
  let stop = false;
  for (let i = 0; i < files.length && !stop; i++) {
    const file = files[i];
    if (file === undefined || !existsSync(file.path)) continue;
    const next = files[i + 1];
    if (next?.firstSeq !== undefined && next.firstSeq <= from) continue; // all of this segment is before `from`
    scanFile(file.path, {
      line(buf, start, end, offset, lineNo) {
        const seq = peekSeq(buf, start, end);
        if (seq !== -1 && seq < from) return true;
        if (seq > to) { stop = true; return false; }
        const r = decodeLine(buf, start, end);
        if (!r.ok) { stop = true; opts.onDamage?.({ file: file.path, line: lineNo, offset, afterSeq: Math.max(last, from - 1) }); return false; }
        last = r.event.seq;
        if (opts.filter !== undefined && !matchesFilter(r.event, opts.filter)) return true;
        if (cb(r.event) === false) { stop = true; return false; }
        return true;
      },
    });
  }
  return last;
}

/** Reads up to `limit` matching events from `fromSeq`. `nextSeq` is where the next page starts. */
export function readEvents(root: string, opts: ForEachOptions & { limit?: number }): { events: StoredEvent[]; nextSeq: number } {
  const limit = opts.limit ?? 1000;
  const events: StoredEvent[] = [];
  let lastSeen = (opts.fromSeq ?? 1) - 1;
  const lastRead = forEachEvent(root, (e) => {
    events.push(e);
    lastSeen = e.seq;
    return events.length < limit;
  }, opts);
  const nextSeq = events.length >= limit ? lastSeen + 1 : Math.max(lastRead, lastSeen) + 1;
  return { events, nextSeq };
}
