/**
 * A live Server-Sent Events stream of the daemon that resumes where it left off: every event carries its seq
 * as its SSE id; events at or below the last seq seen are dropped (no duplicates), and a reconnection asks for
 * what follows the last seq (no gaps): the browser's own retry sends `Last-Event-ID`, and when the browser gives
 * up (the daemon restarted, a proxy answered) a new connection is opened with `from_seq=<last + 1>`.
 * EventSource sends the session cookie, which is how the stream is authorised.
 */
import { api, ApiError } from './api.js';

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed';

export interface LiveStreamOptions {
  /** Path and query without from_seq, e.g. `/v1/events?types=run.`. */
  path: string;
  /** The SSE event names carrying a seq id (e.g. `trace`, `event`, `log`). */
  kinds: readonly string[];
  /** Start after this seq (0: from the start; undefined: what the server sends by default). */
  after?: number;
  onEvent(kind: string, data: unknown, seq: number | undefined): void;
  /** The stream's last event (`end` of a run): the stream is over. */
  onEnd?(data: unknown): void;
  onState?(state: StreamState, detail?: string): void;
  /** The query that resumes after `last` (default `from_seq=<last + 1>`; a log follows by byte offset). */
  resume?(last: number): string;
  /** Event names whose id restarts the count (a log file that was capped and started over). */
  resets?: readonly string[];
}

export interface LiveStream {
  close(): void;
  /** The last seq received. */
  readonly lastSeq: number | undefined;
}

const RETRY_MS = [500, 1000, 2000, 5000, 10_000];

export function liveStream(o: LiveStreamOptions): LiveStream {
  let last = o.after;
  let es: EventSource | undefined;
  let closed = false;
  let attempt = 0;
  let timer: number | undefined;

  const urlOf = (): string => {
    if (last === undefined) return o.path;
    return `${o.path}${o.path.includes('?') ? '&' : '?'}${o.resume === undefined ? `from_seq=${last + 1}` : o.resume(last)}`;
  };

  const state = (s: StreamState, detail?: string): void => o.onState?.(s, detail);

  const close = (): void => {
    closed = true;
    if (timer !== undefined) window.clearTimeout(timer);
    es?.close();
    es = undefined;
  };

  const retryLater = (why: string): void => {
    es?.close();
    es = undefined;
    if (closed) return;
    const wait = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)] as number;
    attempt++;
    state('reconnecting', why);
    timer = window.setTimeout(() => {
      // find out why the browser gave up: an ended session goes to the login form, a gone resource stops here
      api('GET', '/v1/admin/status').then(open, (err: unknown) => {
        if (err instanceof ApiError && err.status === 401) { close(); state('failed', err.message); return; }
        retryLater(err instanceof Error ? err.message : String(err));
      });
    }, wait);
  };

  const open = (): void => {
    if (closed) return;
    state(attempt === 0 ? 'connecting' : 'reconnecting');
    const source = new EventSource(urlOf(), { withCredentials: true });
    es = source;
    source.onopen = () => { attempt = 0; state('live'); };
    for (const kind of o.kinds) {
      source.addEventListener(kind, (ev) => {
        const m = ev as MessageEvent<string>;
        const seq = m.lastEventId === '' ? undefined : Number(m.lastEventId);
        if (seq !== undefined && last !== undefined && seq <= last && o.resets?.includes(kind) !== true) return;
        if (seq !== undefined) last = seq;
        o.onEvent(kind, JSON.parse(m.data) as unknown, seq);
      });
    }
    source.addEventListener('end', (ev) => {
      const data = JSON.parse((ev as MessageEvent<string>).data) as unknown;
      close();
      state('ended');
      o.onEnd?.(data);
    });
    source.addEventListener('error', (ev) => {
      if (closed) return;
      if (ev instanceof MessageEvent && typeof ev.data === 'string') {
        // the server's own `error` event: an envelope
        let env: { error?: { message?: string; retryable?: boolean } } = {};
        try { env = JSON.parse(ev.data) as typeof env; } catch { /* keep empty */ }
        if (env.error?.retryable === true) { retryLater(env.error.message ?? 'the stream was dropped'); return; }
        close();
        state('failed', env.error?.message ?? 'the stream failed');
        return;
      }
      // a network error or a refusal: reconnect ourselves (after a check of the session), from the last seq;
      // the browser's own retry is stopped so that there is one way back, the one tested
      retryLater(source.readyState === EventSource.CLOSED ? 'the connection was refused' : 'the connection was lost');
    });
  };

  open();
  return { close, get lastSeq() { return last; } };
}
