import type { StoredEvent } from '../../src/events/envelope.js';
import { createEventIdFactory } from '../../src/events/event-id.js';
import { encodeUnsealedLine, sealLines } from '../../src/events/line-codec.js';
import { encodeTraceLine } from '../../src/events/trace-line.js';
import { jsonTextTooDeep } from '../../src/policy/json-limits.js';
import { validationProblem } from '../../src/schemas/index.js';

/**
 * The floor of the trace-lag goal: what each runtime event costs with only the steps arpd's contract asks of it,
 * in a tight loop, against the same loop doing what the bare follower does. No daemon, no I/O, no projections, no
 * reactors: CPU time of this process, the same SSE text framed the same way on both sides.
 *
 * - both: split the runtime's SSE text into events, `JSON.parse` each event's data;
 * - bare follower: `JSON.stringify` the event and batch the line (what `bareLag` in runs.ts appends);
 * - the contract's floor (arpd's own functions): the runtime is checked, not trusted (nesting limit on the text,
 *   the ARP RunEvent schema, the line size counted against the trace limits); the event becomes one line of the
 *   global log (an envelope with a seq, an id and a time, checksummed with CRC-32 once the batch is bytes), and one
 *   TraceEvent line of the run's `trace.jsonl`.
 *
 * A lag ratio is a ratio of drain times, so of per-line costs: if this floor is over the goal's ratio, no build of
 * this design reaches the goal on this machine.
 */

export interface TraceFloor {
  lines: number;
  bareUs: number;
  floorUs: number;
  ratio: number;
}

const BATCH = 256;
const MAX_DEPTH = 64;
const MAX_LINE_BYTES = 1024 * 1024;
const MAX_RUN_BYTES = 1024 ** 4;

/** SSE text of `lines` token events, as the burst runtime writes them. */
export function sseText(lines: number): string {
  const parts: string[] = [];
  const t0 = Date.now();
  for (let seq = 1; seq <= lines; seq++) {
    const ms = t0 + seq / 7;
    const event = { run_id: 'burst-floor', seq, type: 'token', time: new Date(ms).toISOString(), data: { text: `token ${seq}`, emit_ms: ms } };
    parts.push(`id: ${seq}\ndata: ${JSON.stringify(event)}\n\n`);
  }
  return parts.join('');
}

/** The `data:` payloads of SSE text, as the followers read them. */
function* dataOf(text: string): Generator<string> {
  let at = 0;
  for (let nl = text.indexOf('\n', at); nl !== -1; nl = text.indexOf('\n', at)) {
    if (text.startsWith('data: ', at)) yield text.slice(at + 6, nl);
    at = nl + 1;
  }
}

function bare(text: string): number {
  let batch: string[] = [];
  let bytes = 0;
  for (const data of dataOf(text)) {
    const ev = JSON.parse(data) as unknown;
    batch.push(`${JSON.stringify(ev)}\n`);
    if (batch.length === BATCH) { bytes += Buffer.from(batch.join(''), 'utf8').length; batch = []; }
  }
  return bytes + Buffer.from(batch.join(''), 'utf8').length;
}

/** The contract's steps for each event of `text`; `keep` receives each commit's sealed log bytes and trace lines. */
export function floorLoop(text: string, keep?: (log: Buffer, trace: string) => void): number {
  const nextId = createEventIdFactory();
  let seq = 0;
  let rev = 0;
  let runBytes = 0;
  let log: string[] = [];
  let trace: string[] = [];
  let bytes = 0;
  const flush = (): void => {
    const buf = Buffer.from(log.join(''), 'utf8');
    sealLines(buf);
    const lines = trace.join('');
    bytes += buf.length + Buffer.byteLength(lines);
    keep?.(buf, lines);
    log = [];
    trace = [];
  };
  for (const data of dataOf(text)) {
    if (jsonTextTooDeep(data, MAX_DEPTH)) throw new Error('a runtime event nests too deep');
    const ev = JSON.parse(data) as { run_id: string; type: string; time?: string; data?: Record<string, unknown> };
    const problem = validationProblem('RunEvent', ev);
    if (problem !== undefined) throw problem;
    const payload = ev.data ?? {};
    const size = Buffer.byteLength(JSON.stringify(payload));
    runBytes += size;
    if (size > MAX_LINE_BYTES || runBytes > MAX_RUN_BYTES) throw new Error('over the trace limits');
    const stored = {
      seq: ++seq, id: nextId(), ts: new Date().toISOString(), stream: `run:${ev.run_id}`, rev: ++rev, type: 'run.trace', v: 1,
      data: { run_id: ev.run_id, level: 'info', type: ev.type, data: payload, ...(ev.time === undefined ? {} : { time: ev.time }), bytes: size },
      meta: {},
    } as unknown as StoredEvent;
    log.push(encodeUnsealedLine(stored));
    trace.push(encodeTraceLine(stored, ev.run_id));
    if (log.length === BATCH) flush();
  }
  flush();
  return bytes;
}

function cpuUs(fn: () => number): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return c.user + c.system;
}

/** Alternating rounds of both loops over `lines` events (after one unmeasured round each); medians per line. */
export function measureTraceFloor(lines = 20_000, rounds = 7): TraceFloor {
  const text = sseText(lines);
  bare(text);
  floorLoop(text);
  const b: number[] = [];
  const f: number[] = [];
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) { b.push(cpuUs(() => bare(text))); f.push(cpuUs(() => floorLoop(text))); }
    else { f.push(cpuUs(() => floorLoop(text))); b.push(cpuUs(() => bare(text))); }
  }
  const med = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)] as number;
  const bareUs = med(b) / lines;
  const floorUs = med(f) / lines;
  return { lines, bareUs, floorUs, ratio: floorUs / bareUs };
}
