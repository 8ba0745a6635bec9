/**
 * The API the dashboard needs beyond the ARP routes (arpd additions, same auth as every route, ErrorEnvelope
 * errors):
 *
 * - `GET /v1/admin/replay?until=<seq|ISO time>&runs_limit=N&instances_limit=N` — the registry as it was at that
 *   point of the log (the fold of `arpd log replay --until`), bounded: newest runs first, at most `runs_limit`.
 * - `GET /v1/instances/{instance_id}/logs?stream=stdout|stderr&tail=N&follow=true` — the last N lines of a managed
 *   instance's output as text, or with `follow` as Server-Sent Events (`log` events, id = byte offset; resume
 *   with Last-Event-ID or `from_offset`).
 *
 * The replay itself is an option (the daemon wires a function that folds the log off the event loop).
 */
import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ArpdError } from '../errors/index.js';
import { checkId } from '../ids/id-rules.js';
import { parseIsoTime } from '../ids/iso-time.js';
import { envelope, toHttpError } from './http-errors.js';
import { lastEventId, openSse, type SseRegistry } from './http-sse.js';

/** Where to stop the fold: after this seq, or after the last event at or before this time. */
export type ReplayUntil = { seq: number } | { time: string } | { head: true };

export interface ReplayLimits {
  runs: number;
  instances: number;
  profiles: number;
}

export interface HttpUiApiOptions {
  /** Folds the log up to `until`; answers the bounded registry (see src/features/registry-replay.ts). */
  replay(until: ReplayUntil, limits: ReplayLimits, signal: AbortSignal): Promise<object>;
  /** `<data-dir>/instances`: the instances' `<id>/{stdout,stderr}.log`. */
  instancesDir: string;
  /** The app's open streams (ended when the server closes). */
  streams: SseRegistry;
  /** How often a followed log is checked for new bytes (default 250 ms). */
  logPollMs?: number;
  /** An unexpected failure inside a stream, for the daemon log. */
  streamFailed?(err: unknown, info: { url: string }): void;
}

export const REPLAY_RUNS_LIMIT = { default: 200, max: 5000 } as const;
export const REPLAY_INSTANCES_LIMIT = { default: 500, max: 5000 } as const;
export const LOG_TAIL_LINES = { default: 200, max: 10_000 } as const;
/** A tail never reads more than this from the end of a file. */
export const LOG_TAIL_MAX_BYTES = 1024 * 1024;
/** A followed log sends at most this much per event. */
const LOG_CHUNK_BYTES = 256 * 1024;

// ---- parsing at the edge ------------------------------------------------------------------------

type Query = Record<string, string>;

function queryOf(req: FastifyRequest, allowed: readonly string[]): Query {
  const out: Query = {};
  for (const [k, v] of Object.entries((req.query ?? {}) as Record<string, unknown>)) {
    if (!allowed.includes(k)) throw new ArpdError('E_VALIDATION', `query parameter '${k.slice(0, 60)}' is not known here: it takes ${allowed.join(', ')}`, { field: k.slice(0, 60), rule: 'additionalProperties' });
    if (typeof v !== 'string') throw new ArpdError('E_VALIDATION', `query parameter '${k}' is given more than once: give it once`, { field: k, rule: 'type' });
    out[k] = v;
  }
  return out;
}

function intOf(q: Query, key: string, min: number, max: number): number | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ArpdError('E_VALIDATION', `${key} must be a whole number from ${min} to ${max}, not '${v.slice(0, 40)}'`, { field: key, rule: 'integer' });
  }
  return n;
}

function boolOf(q: Query, key: string): boolean | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ArpdError('E_VALIDATION', `${key} must be true or false, not '${v.slice(0, 40)}'`, { field: key, rule: 'boolean' });
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** `until` is a seq (digits) or an ISO-8601 time with a zone; absent or empty is the head of the log. */
export function parseUntil(value: string | undefined): ReplayUntil {
  if (value === undefined || value === '') return { head: true };
  if (/^\d{1,16}$/.test(value)) {
    const seq = Number(value);
    if (Number.isSafeInteger(seq)) return { seq };
  }
  // a date and time that exist (parseIsoTime): Date.parse rolls 2026-02-30 over to March 2 and 24:00 to the next day
  const t = ISO_TIME.test(value) ? parseIsoTime(value) : undefined;
  if (t !== undefined) return { time: new Date(t).toISOString() };
  throw new ArpdError('E_VALIDATION', `until takes a seq number or an ISO-8601 time with a zone (e.g. 2026-01-31T12:00:00Z), not '${value.slice(0, 60)}'`, { field: 'until', rule: 'seq|date-time' });
}

// ---- instance logs ------------------------------------------------------------------------------

/** The last `lines` lines of the file (reading at most LOG_TAIL_MAX_BYTES from its end) and its size. */
export function tailFile(path: string, lines: number): { text: string; size: number } {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { text: '', size: 0 };
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - LOG_TAIL_MAX_BYTES);
    const buf = Buffer.alloc(size - start);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    let text = buf.subarray(0, got).toString('utf8');
    // a cut first line (we started mid-file) is dropped, unless it is all there is
    if (start > 0) {
      const nl = text.indexOf('\n');
      if (nl !== -1 && nl < text.length - 1) text = text.slice(nl + 1);
    }
    const parts = text.split('\n');
    const endsWithNewline = parts[parts.length - 1] === '';
    if (endsWithNewline) parts.pop();
    // slice(-0) is the whole array: tail=0 (follow only what comes next, like `tail -n 0 -f`) is no line
    const kept = lines === 0 ? [] : parts.slice(-lines);
    return { text: kept.length === 0 ? '' : `${kept.join('\n')}${endsWithNewline ? '\n' : ''}`, size: start + got };
  } finally {
    closeSync(fd);
  }
}

function readRange(path: string, from: number, to: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, from + got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Bytes up to the last newline (a line still being written waits for its end), unless it is too long to wait. */
function completeLines(buf: Buffer): Buffer {
  if (buf.length >= LOG_CHUNK_BYTES) return buf;
  const nl = buf.lastIndexOf(0x0a);
  return nl === -1 ? buf.subarray(0, 0) : buf.subarray(0, nl + 1);
}

// ---- the plugin -----------------------------------------------------------------------------------

const idParam = (name: string) => ({ type: 'object', required: [name], properties: { [name]: { type: 'string', description: "letters, digits, '.', '_', '-' (max 128)" } } });
const errors = { default: { description: 'Error (ErrorEnvelope)', $ref: 'ErrorEnvelope#' } };

export async function httpUiApi(app: FastifyInstance, o: HttpUiApiOptions): Promise<void> {
  const pollMs = o.logPollMs ?? 250;

  app.get('/v1/admin/replay', {
    schema: {
      tags: ['admin'],
      operationId: 'replay_registry',
      summary: 'The registry as it was at a point of the log (arpd)',
      description: 'The fold of `arpd log replay --until`: profiles, instances and runs as they were after the event `until` (a seq) or the last event at or before `until` (an ISO time). Runs newest first, at most `runs_limit`; `runs_total` says how many there were.',
      querystring: {
        type: 'object',
        properties: {
          until: { type: 'string', description: 'a seq number or an ISO-8601 time; absent: the whole log' },
          runs_limit: { type: 'integer', minimum: 0, maximum: REPLAY_RUNS_LIMIT.max, default: REPLAY_RUNS_LIMIT.default },
          instances_limit: { type: 'integer', minimum: 0, maximum: REPLAY_INSTANCES_LIMIT.max, default: REPLAY_INSTANCES_LIMIT.default },
        },
      },
      response: { 200: { description: 'The registry at that point', type: 'object', additionalProperties: true }, ...errors },
    },
  }, async (req, reply) => {
    const q = queryOf(req, ['until', 'runs_limit', 'instances_limit']);
    const until = parseUntil(q['until']);
    const runs = intOf(q, 'runs_limit', 0, REPLAY_RUNS_LIMIT.max) ?? REPLAY_RUNS_LIMIT.default;
    const instances = intOf(q, 'instances_limit', 0, REPLAY_INSTANCES_LIMIT.max) ?? REPLAY_INSTANCES_LIMIT.default;
    const abort = new AbortController();
    // the client went away (the slider moved on): stop folding for it
    reply.raw.once('close', () => { if (!reply.raw.writableFinished) abort.abort(); });
    return o.replay(until, { runs, instances, profiles: instances }, abort.signal);
  });

  app.get('/v1/instances/:instance_id/logs', {
    schema: {
      tags: ['instances'],
      operationId: 'instance_logs',
      summary: "A managed instance's stdout or stderr (arpd)",
      description: 'The last `tail` lines as text/plain; with `follow=true` a text/event-stream of `log` events (`{"text","offset"}`, id: the byte offset after the text; resume with Last-Event-ID).',
      params: idParam('instance_id'),
      querystring: {
        type: 'object',
        properties: {
          stream: { type: 'string', enum: ['stdout', 'stderr'], default: 'stdout' },
          tail: { type: 'integer', minimum: 0, maximum: LOG_TAIL_LINES.max, default: LOG_TAIL_LINES.default },
          follow: { type: 'boolean' },
          from_offset: { type: 'integer', minimum: 0, description: 'with follow: resume at this byte offset (the id of the last event received), as Last-Event-ID does' },
        },
      },
      response: { 200: { description: 'The lines (text/plain), or a text/event-stream with follow', content: { 'text/plain': { schema: { type: 'string' } }, 'text/event-stream': { schema: { type: 'string' } } } }, ...errors },
    },
  }, async (req: FastifyRequest, reply: FastifyReply) => {
    const q = queryOf(req, ['stream', 'tail', 'follow', 'from_offset']);
    const id = checkId('instance id', String((req.params as { instance_id?: unknown }).instance_id ?? ''), 'instance_id');
    const stream = q['stream'] ?? 'stdout';
    if (stream !== 'stdout' && stream !== 'stderr') throw new ArpdError('E_VALIDATION', `stream must be stdout or stderr, not '${stream.slice(0, 40)}'`, { field: 'stream', rule: 'stdout|stderr' });
    const tail = intOf(q, 'tail', 0, LOG_TAIL_LINES.max) ?? LOG_TAIL_LINES.default;
    const follow = boolOf(q, 'follow') ?? false;
    const dir = join(o.instancesDir, id);
    if (!existsSync(dir)) {
      throw new ArpdError('E_NOT_FOUND', `no logs for instance '${id}': only managed instances started by this daemon have logs (see GET /v1/instances?all=true)`, { instance_id: id, arp_code: 'instances.not_found' });
    }
    const path = join(dir, `${stream}.log`);
    // where to resume: the id of the last event received (Last-Event-ID), or from_offset for a new connection
    const header = lastEventId(req.headers['last-event-id']);
    const after = header ?? intOf(q, 'from_offset', 0, Number.MAX_SAFE_INTEGER);
    if (!follow) {
      if (after !== undefined) throw new ArpdError('E_VALIDATION', `${header === undefined ? 'from_offset' : 'Last-Event-ID'} is for follow=true: leave it out, or add follow=true`, { field: header === undefined ? 'from_offset' : 'Last-Event-ID' });
      const { text } = tailFile(path, tail);
      return reply.type('text/plain; charset=utf-8').header('cache-control', 'no-store').send(text);
    }
    const sse = openSse(reply, o.streams, `${stream} of instance ${id}`);
    let offset: number;
    if (after !== undefined && after <= sizeOf(path)) {
      offset = after;
    } else {
      const first = tailFile(path, tail);
      offset = first.size;
      if (first.text !== '') sse.send('log', { text: first.text, offset }, offset);
    }
    let timer: NodeJS.Timeout | undefined;
    const check = (): void => {
      if (sse.closed) return;
      try {
        const size = sizeOf(path);
        if (size < offset) {
          // the file was capped and started over
          offset = 0;
          sse.send('truncated', { offset: 0 }, 0);
        }
        while (size > offset && !sse.closed) {
          const chunk = completeLines(readRange(path, offset, Math.min(size, offset + LOG_CHUNK_BYTES)));
          if (chunk.length === 0) break;
          offset += chunk.length;
          if (!sse.send('log', { text: chunk.toString('utf8'), offset }, offset)) return;
        }
      } catch (err) {
        const e = toHttpError(err, 0);
        if (e.code === 'E_INTERNAL') o.streamFailed?.(e.cause ?? err, { url: `/v1/instances/${id}/logs` });
        sse.send('error', envelope(e));
        sse.end();
        return;
      }
      timer = setTimeout(check, pollMs);
    };
    timer = setTimeout(check, pollMs);
    sse.onClose(() => { if (timer !== undefined) clearTimeout(timer); });
  });
}
