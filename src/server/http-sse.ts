/**
 * Server-Sent Events on the HTTP API: one writer per hijacked response (`text/event-stream`), with a heartbeat
 * comment so idle streams stay open through proxies, a bound on what may wait in memory for a slow reader, and
 * a registry so that closing the server ends every open stream.
 */
import type { FastifyReply } from 'fastify';
import { ArpdError } from '../errors/index.js';

const HEARTBEAT_MS = 15_000;
/** A reader that lets more than this pile up unsent is dropped (E_SLOW_CONSUMER). */
export const SSE_MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/**
 * At most this many streams are open at once (a dashboard tab opens a few, a follower one): each may hold up to
 * SSE_MAX_BUFFERED_BYTES behind a reader that does not read, so without a cap a token holder could open streams until
 * the daemon runs out of memory. One more is refused, E_UNAVAILABLE (503), and nothing else is.
 */
export const SSE_MAX_STREAMS = 128;

export interface SseStream {
  /** Writes one event; false once the stream is closed (the reader left, was too slow, or the server stops). */
  send(event: string, data: unknown, id?: number): boolean;
  readonly closed: boolean;
  /** Called once when the stream closes for any reason. */
  onClose(fn: () => void): void;
  end(): void;
  /** Room to write more now (the reader keeps up)? Catch-up pauses while not. */
  hasRoom(): boolean;
  /** Resolves once what was written drained (or the stream closed). */
  drained(): Promise<void>;
}

/** The open streams of one app, ended together when it closes. */
export class SseRegistry {
  private readonly open = new Set<SseStream>();

  constructor(readonly maxStreams = SSE_MAX_STREAMS) {}

  add(s: SseStream): void {
    this.open.add(s);
    s.onClose(() => this.open.delete(s));
  }

  get size(): number {
    return this.open.size;
  }

  endAll(): void {
    for (const s of [...this.open]) s.end();
  }
}

/** Takes the response over from fastify and starts an event stream on it. */
export function openSse(reply: FastifyReply, registry: SseRegistry, comment: string): SseStream {
  if (registry.size >= registry.maxStreams) {
    throw new ArpdError('E_UNAVAILABLE', `arpd serves at most ${registry.maxStreams} event streams at once, and that many are open: close streams you no longer read (a dashboard tab, a follower left running), then try again`, { open_streams: registry.size, max_streams: registry.maxStreams });
  }
  void reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  let closed = false;
  const closers: Array<() => void> = [];
  // HEAD: the headers and nothing else. Node drops a HEAD answer's writes, headers included until it ends, so an
  // open stream answered nothing at all and held the connection until the idle timeout.
  const head = reply.request.method === 'HEAD';
  if (!head) res.write(`: ${comment}\n\n`);
  const heartbeat = head ? undefined : setInterval(() => { if (!closed) res.write(': keep-alive\n\n'); }, HEARTBEAT_MS);
  heartbeat?.unref();
  const close = (): void => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    if (!res.writableEnded) res.end();
    for (const fn of closers.splice(0)) fn();
  };
  res.on('close', close);
  if (head) close();
  const stream: SseStream = {
    get closed() { return closed; },
    send(event, data, id) {
      if (closed) return false;
      if (res.writableLength > SSE_MAX_BUFFERED_BYTES) {
        const err = new ArpdError('E_SLOW_CONSUMER', `this stream fell more than ${SSE_MAX_BUFFERED_BYTES} bytes behind and was dropped: reconnect with Last-Event-ID to resume`);
        res.write(`event: error\ndata: ${JSON.stringify({ error: { code: 'slow_consumer', message: err.message, details: { arpd_code: err.code }, retryable: true } })}\n\n`);
        close();
        return false;
      }
      res.write(`${id === undefined ? '' : `id: ${id}\n`}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      return true;
    },
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
    end: close,
    hasRoom: () => !closed && res.writableLength < SSE_MAX_BUFFERED_BYTES / 2,
    drained: () => new Promise<void>((resolve) => {
      if (closed || res.writableLength === 0) { resolve(); return; }
      const done = (): void => { res.off('drain', done); res.off('close', done); resolve(); };
      res.once('drain', done);
      res.once('close', done);
    }),
  };
  registry.add(stream);
  return stream;
}

/** The `Last-Event-ID` header as the last seq the reader has, or undefined. */
export function lastEventId(header: string | string[] | undefined): number | undefined {
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,15}$/.test(value)) {
    throw new ArpdError('E_VALIDATION', `Last-Event-ID '${value.slice(0, 32)}' is not an event seq: send the id of the last event you received, or no header`, { field: 'Last-Event-ID', rule: 'integer' });
  }
  return Number(value);
}
