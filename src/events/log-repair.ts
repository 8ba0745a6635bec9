import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isValidId } from '../ids/id-rules.js';
import type { StoredEvent } from './envelope.js';
import { CURRENT_VERSION } from './event-types.js';
import { createEventIdFactory } from './event-id.js';
import { decodeLine, encodeLine } from './line-codec.js';
import { listLogFiles, segmentName, type LogFile } from './log-files.js';
import { fsyncPath } from './log-recovery.js';
import { scanFile } from './log-scan.js';
import { eventFromTraceLine, type TraceLine } from './trace-line.js';

/**
 * Repairing a damaged log without losing more than the damage, and without ever running a run twice.
 *
 * Every line has its own checksum, so a damaged line is found exactly and the lines around it are kept. Every event
 * of a run also lives in its run log (`runs/<id>/trace.jsonl`, with the global seq, id and type of the event), so a
 * damaged line that held a run event is restored from there. What cannot be restored keeps its seq as a
 * `log.line_lost` event (the log stays a gap-free sequence; the lost bytes are copied aside). Then every run that the
 * surviving evidence shows was routed or started but has no end, and every run whose own history has a hole, is to
 * be failed with E_LOG_REPAIRED by the daemon (never dispatched again).
 *
 * `planRepair` only reads (`arpd log verify` prints it); `applyRepair` does it (`arpd serve --repair`).
 */

export interface DamagedSpan {
  file: string;
  /** 1-based line of the first damaged line, and byte range of the damaged bytes. */
  line: number;
  offset: number;
  bytes: number;
  reason: string;
  /** The seqs the damaged bytes held (from the good lines around them). */
  seqs: number[];
}

export interface RestoredEvent { seq: number; stream: string; rev: number; type: string; from: string }
export interface LostEvent { seq: number; file: string; reason: string }
export interface RunToFail { run_id: string; why: string }

export interface RepairPlan {
  /** Nothing to repair before the last line (a torn last line alone is cut at every start, without --repair). */
  clean: boolean;
  damaged: DamagedSpan[];
  restored: RestoredEvent[];
  lost: LostEvent[];
  runsToFail: RunToFail[];
  /** The seq of the last event once repaired. */
  lastSeq: number;
  /** The revision of the `log` stream before the repair (its new `log.line_lost` events come after). */
  logRev: number;
}

interface Item { seq: number; event?: StoredEvent; raw?: { start: number; end: number } }

/** The good events and the damaged spans of one file, in file order (a torn last line of the active file is left alone). */
function scanForDamage(file: LogFile, expectedFirst: number, isLast: boolean): { items: Item[]; spans: DamagedSpan[]; nextSeq: number; tornTail: boolean } {
  const items: Item[] = [];
  const spans: DamagedSpan[] = [];
  let expected = expectedFirst;
  let pending: { line: number; offset: number; end: number; reason: string } | undefined;
  const close = (nextGoodSeq: number): void => {
    if (pending === undefined) return;
    const seqs: number[] = [];
    for (let s = expected; s < nextGoodSeq; s++) seqs.push(s);
    spans.push({ file: file.path, line: pending.line, offset: pending.offset, bytes: pending.end - pending.offset, reason: pending.reason, seqs });
    for (const s of seqs) items.push({ seq: s, raw: { start: pending.offset, end: pending.end } });
    expected = nextGoodSeq;
    pending = undefined;
  };
  let tornTail = false;
  scanFile(file.path, {
    line(buf, start, end, offset, lineNo) {
      const r = decodeLine(buf, start, end);
      if (!r.ok || r.event.seq < expected) {
        const reason = r.ok ? `seq ${r.event.seq} where ${expected} or later was expected` : r.reason;
        if (pending === undefined) pending = { line: lineNo, offset, end: offset + (end - start) + 1, reason };
        else pending.end = offset + (end - start) + 1;
        return true;
      }
      if (pending !== undefined || r.event.seq > expected) {
        if (pending === undefined) pending = { line: lineNo, offset, end: offset, reason: `seq ${r.event.seq} where ${expected} was expected (lines are missing)` };
        close(r.event.seq);
      }
      items.push({ seq: r.event.seq, event: r.event });
      expected = r.event.seq + 1;
      return true;
    },
    tail(offset, bytes) {
      if (isLast) { tornTail = true; return; }
      pending = pending === undefined ? { line: 0, offset, end: offset + bytes, reason: `${bytes} bytes without a final newline` } : { ...pending, end: offset + bytes };
    },
  });
  if (pending !== undefined) {
    // damage at the end of a file: the seqs it held are known only from the next file's first seq (or unknown at the very end)
    const p = pending as { line: number; offset: number; end: number; reason: string };
    spans.push({ file: file.path, line: p.line, offset: p.offset, bytes: p.end - p.offset, reason: p.reason, seqs: [] });
  }
  return { items, spans, nextSeq: expected, tornTail };
}

/** The run-log lines that carry one of `seqs` (their global seq is in `extensions["arpd.event"]`). */
function findInRunLogs(root: string, seqs: ReadonlySet<number>): Map<number, { line: TraceLine; path: string }> {
  const found = new Map<number, { line: TraceLine; path: string }>();
  if (seqs.size === 0) return found;
  const runsDir = join(root, 'runs');
  let names: string[];
  try { names = readdirSync(runsDir); } catch { return found; }
  for (const runId of names) {
    if (!isValidId(runId)) continue;
    const path = join(runsDir, runId, 'trace.jsonl');
    if (!existsSync(path)) continue;
    for (const text of readFileSync(path, 'utf8').split('\n')) {
      if (text === '') continue;
      try {
        const line = JSON.parse(text) as TraceLine;
        const g = line.extensions?.['arpd.event']?.seq;
        if (typeof g === 'number' && seqs.has(g) && line.run_id === runId) found.set(g, { line, path });
      } catch { /* a damaged run log line restores nothing */ }
    }
  }
  return found;
}

/** What `--repair` would do: read only. */
export function planRepair(root: string): RepairPlan {
  const files = listLogFiles(root).filter((f) => existsSync(f.path));
  const damaged: DamagedSpan[] = [];
  const all: Item[] = [];
  let expected = 1;
  for (let i = 0; i < files.length; i++) {
    const file = files[i] as LogFile;
    if (file.firstSeq !== undefined && file.firstSeq > expected) {
      // a segment that starts later than the seq that comes next: the seqs between are missing
      const seqs: number[] = [];
      for (let s = expected; s < file.firstSeq; s++) seqs.push(s);
      damaged.push({ file: file.path, line: 0, offset: 0, bytes: 0, reason: `segment name promises seq ${file.firstSeq} but seq ${expected} comes next`, seqs });
      for (const s of seqs) all.push({ seq: s });
      expected = file.firstSeq;
    }
    const r = scanForDamage(file, expected, i === files.length - 1);
    damaged.push(...r.spans);
    all.push(...r.items);
    expected = r.nextSeq;
  }
  // damage at the very end of the log: how many seqs it held is known only from the run logs (events acknowledged
  // and written to a run log before the damage); the seqs they show are restored, the ones between them lost
  const tail = damaged.at(-1);
  if (tail !== undefined && tail.seqs.length === 0 && tail.bytes > 0) {
    const after = new Set<number>();
    for (let s = expected; s < expected + 100_000; s++) after.add(s);
    const found = [...findInRunLogs(root, after).keys()];
    if (found.length > 0) {
      const max = Math.max(...found);
      for (let s = expected; s <= max; s++) { tail.seqs.push(s); all.push({ seq: s }); }
      expected = max + 1;
    }
  }
  const missing = new Set(all.filter((x) => x.event === undefined).map((x) => x.seq));
  const fromRunLogs = findInRunLogs(root, missing);
  const restored: RestoredEvent[] = [];
  const lost: LostEvent[] = [];
  const events: StoredEvent[] = [];
  for (const item of all) {
    if (item.event !== undefined) { events.push(item.event); continue; }
    const hit = fromRunLogs.get(item.seq);
    const e = hit === undefined ? undefined : eventFromTraceLine(hit.line);
    if (e !== undefined && hit !== undefined) {
      restored.push({ seq: e.seq, stream: e.stream, rev: e.rev, type: e.type, from: hit.path });
      events.push(e);
    } else {
      const span = damaged.find((d) => d.seqs.includes(item.seq));
      lost.push({ seq: item.seq, file: span?.file ?? '?', reason: hit === undefined ? 'no run log holds it (it was not a run event, or its run log was behind)' : 'its run log line is not an event arpd can rebuild' });
    }
  }
  let logRev = 0;
  for (const e of events) if (e.stream === 'log' && e.rev > logRev) logRev = e.rev;
  return { clean: damaged.length === 0, damaged, restored, lost, runsToFail: runsToFail(events), lastSeq: expected - 1, logRev };
}

/**
 * Runs that must not be dispatched after a repair: those the evidence shows were routed or started and have no end,
 * and those whose own history has a hole (a lost event of theirs: what happened to them cannot be known).
 */
function runsToFail(events: readonly StoredEvent[]): RunToFail[] {
  const runs = new Map<string, { phase: string; ended: boolean; revs: number[] }>();
  for (const e of events) {
    if (!e.stream.startsWith('run:')) continue;
    const id = e.stream.slice(4);
    let r = runs.get(id);
    if (r === undefined) { r = { phase: 'unknown', ended: false, revs: [] }; runs.set(id, r); }
    r.revs.push(e.rev);
    if (e.type === 'run.accepted' || e.type === 'run.queued') { if (r.phase === 'unknown') r.phase = 'queued'; }
    else if (e.type === 'run.routed' || e.type === 'run.started' || e.type === 'run.trace' || e.type === 'run.cancel_requested') r.phase = 'in flight';
    else if (e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.canceled') r.ended = true;
  }
  const out: RunToFail[] = [];
  for (const [id, r] of runs) {
    if (r.ended) continue;
    const sorted = [...r.revs].sort((a, b) => a - b);
    const hole = sorted.some((rev, i) => rev !== i + 1);
    if (hole) out.push({ run_id: id, why: 'events of this run were lost with the damaged lines' });
    else if (r.phase === 'in flight') out.push({ run_id: id, why: 'it was routed to a runtime and its end was not recorded before the damage' });
  }
  return out;
}

/**
 * Does the repair: each damaged file is rewritten (temp file, fsync, rename, directory fsync) with every good line
 * as it was, restored events in place of the lines that held them, and a `log.line_lost` event for each seq that
 * could not be restored; the damaged bytes are copied aside first (`<file>.broken-<time>`, only those bytes).
 */
export function applyRepair(root: string, plan: RepairPlan, clock: () => Date = () => new Date()): { copies: string[] } {
  const copies: string[] = [];
  if (plan.clean) return { copies };
  const stamp = clock().toISOString().replace(/[:.]/g, '-');
  const nextId = createEventIdFactory(() => clock().getTime());
  const restoredBySeq = new Map<number, StoredEvent>();
  if (plan.restored.length > 0) {
    for (const [seq, hit] of findInRunLogs(root, new Set(plan.restored.map((r) => r.seq)))) {
      const e = eventFromTraceLine(hit.line);
      if (e !== undefined) restoredBySeq.set(seq, e);
    }
  }
  let logRev = plan.logRev;
  const lostLine = (seq: number, span: DamagedSpan, copy: string): string => encodeLine({
    seq, id: nextId(), ts: clock().toISOString(), stream: 'log', rev: ++logRev, type: 'log.line_lost', v: CURRENT_VERSION['log.line_lost'],
    data: { seq, file: span.file, offset: span.offset, bytes: span.bytes, reason: span.reason, copy },
    meta: { actor: 'repair' },
  } as StoredEvent);
  const byFile = new Map<string, DamagedSpan[]>();
  for (const d of plan.damaged) byFile.set(d.file, [...(byFile.get(d.file) ?? []), d]);
  for (const [path, spans] of byFile) {
    const gz = path.endsWith('.gz');
    const original = gz ? gunzipSync(readFileSync(path)) : readFileSync(path);
    const aside = `${path}.broken-${stamp}`;
    const damagedBytes = Buffer.concat(spans.map((s) => original.subarray(s.offset, s.offset + s.bytes)));
    writeFileSynced(aside, damagedBytes);
    copies.push(aside);
    const parts: Array<Buffer | string> = [];
    let at = 0;
    // a missing segment start (the first span at offset 0 with no bytes) is filled before the file's first line
    for (const span of [...spans].sort((a, b) => a.offset - b.offset)) {
      parts.push(original.subarray(at, span.offset));
      for (const seq of span.seqs) {
        const e = restoredBySeq.get(seq);
        parts.push(e !== undefined ? encodeLine(e) : lostLine(seq, span, aside));
      }
      at = span.offset + span.bytes;
    }
    parts.push(original.subarray(at));
    const tmp = `${path}.repair-${process.pid}.tmp`;
    writeFileSynced(tmp, Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p))));
    const first = spans.find((s) => s.line === 0 && s.seqs.length > 0);
    // a compressed segment is written back plain (offsets are of its inflated bytes)
    const plain = gz ? path.slice(0, -3) : path;
    const target = first !== undefined && /events-\d+\.jsonl(\.gz)?$/.test(path) ? join(dirname(path), segmentName(first.seqs[0] as number)) : plain;
    renameSync(tmp, target);
    if (target !== path) rmSync(path, { force: true });
    fsyncPath(dirname(path), true);
  }
  return { copies };
}

function writeFileSynced(path: string, data: Buffer): void {
  const fd = openSync(path, 'w', 0o600);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
