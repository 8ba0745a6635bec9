/**
 * The typed client's HTTP transport: the daemon's ARP Daemon API v1 (`--daemon-url`, `connect({ url })`).
 * Each socket method is mapped onto its route, so answers have the socket's shapes; streams read the
 * Server-Sent Events routes (`/v1/runs/{id}/events`, `/v1/events`). ErrorEnvelopes come back as the
 * ArpdError the daemon raised (its code is in `details.arpd_code`).
 *
 * Length: over 300 lines because it is one mapping table, an entry per socket method, plus the SSE reader.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ArpdError, isErrorCode, type ErrorCode } from '../errors/index.js';
import { checkId, type IdKind } from '../ids/id-rules.js';
import type { RunStatus, TraceEvent } from '../schemas/types.js';
import type { EventFilter, EventPage, InstanceProgress, LogEvent } from './client-types.js';
import { readSse } from './sse-reader.js';
import { checkTimeLimit, SDK_TIMEOUT_HINT } from './rpc-client.js';
import type { Transport, TransportCallOptions } from './transport.js';

const DEFAULT_HTTP_TIMEOUT_MS = 30_000;
/**
 * How long an open stream may bring nothing at all before it is given up: the daemon sends a heartbeat comment every
 * 15 s (HEARTBEAT_MS in src/server/http-sse.ts), so three missed heartbeats mean it, or the network to it, is gone.
 */
const DEFAULT_STREAM_IDLE_MS = 45_000;
/** The largest JSON answer read into memory. */
const MAX_HTTP_BODY_BYTES = 64 * 1024 * 1024;

export interface HttpTransportOptions {
  /** The bearer token (arpd token or a JWT); none sends no Authorization header. */
  token?: string | undefined;
  /** Default time limit of a request; 0 means none. Default 30 s. */
  timeoutMs?: number | undefined;
  /** Longest silence (not even a heartbeat) on an open stream before it rejects E_UNAVAILABLE; 0 means none. Default 45 s. */
  streamIdleMs?: number | undefined;
  /** How an E_TIMEOUT message says to allow more time. Default: the SDK's timeoutMs option (SDK_TIMEOUT_HINT). */
  timeoutHint?: string | undefined;
}

type Json = Record<string, unknown>;
type Verb = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Status -> code, for an error answer that is not an arpd ErrorEnvelope (a proxy, another server). */
const BY_STATUS: Record<number, ErrorCode> = {
  400: 'E_VALIDATION', 401: 'E_UNAUTHORIZED', 403: 'E_FORBIDDEN', 404: 'E_NOT_FOUND', 405: 'E_METHOD_NOT_ALLOWED',
  409: 'E_CONFLICT', 413: 'E_TOO_LARGE', 415: 'E_UNSUPPORTED_MEDIA', 502: 'E_RUNTIME_ERROR', 503: 'E_UNAVAILABLE', 504: 'E_TIMEOUT',
};

/** Parses a daemon URL: http(s) only. */
function parseDaemonUrl(value: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ArpdError('E_VALIDATION', `--daemon-url '${value}' is not a URL: give the daemon's HTTP address, e.g. http://127.0.0.1:8082`, { field: '--daemon-url', usage: true });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArpdError('E_VALIDATION', `--daemon-url must be an http:// or https:// URL, not '${value}'`, { field: '--daemon-url', usage: true });
  }
  return url;
}

const enc = encodeURIComponent;

const ID_KINDS = { run_id: 'run id', instance_id: 'instance id', runtime_profile: 'profile name' } as const satisfies Record<string, IdKind>;

/**
 * The id of a path segment, checked by the daemon's own rule first (so '.' or '..' never walks the URL to another
 * route, and a bad id is refused with the socket's message and data).
 */
function str(p: Json, key: keyof typeof ID_KINDS): string {
  const v = p[key];
  if (typeof v !== 'string') throw new ArpdError('E_VALIDATION', `field '${key}' is required`, { field: key });
  return checkId(ID_KINDS[key], v, key);
}

function query(entries: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(entries)) if (v !== undefined && v !== null && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/** What the server sent as an error, as the ArpdError it was. */
function errorFromEnvelope(status: number, body: unknown, method: string): ArpdError {
  const err = (body as { error?: unknown } | null)?.error as Json | undefined;
  if (err !== undefined && err !== null && typeof err === 'object' && typeof err['message'] === 'string') {
    const details = (err['details'] !== null && typeof err['details'] === 'object' ? err['details'] : {}) as Json;
    const { arpd_code: arpdCode, ...data } = details;
    const code: ErrorCode = isErrorCode(arpdCode) ? arpdCode : BY_STATUS[status] ?? (status >= 500 ? 'E_INTERNAL' : 'E_VALIDATION');
    const envelopeCode = err['code'];
    if (typeof envelopeCode === 'string' && envelopeCode !== code.slice(2).toLowerCase()) data['arp_code'] = envelopeCode;
    return new ArpdError(code, err['message'], Object.keys(data).length === 0 ? undefined : data);
  }
  const code = BY_STATUS[status] ?? (status >= 500 ? 'E_INTERNAL' : 'E_VALIDATION');
  return new ArpdError(code, `'${method}' failed with HTTP ${status} and an answer that is not an ARP ErrorEnvelope: is the URL an arpd daemon?`, { http_status: status });
}

/** The log filter rule of the daemon (`types` entries ending in "." match a family, `stream` ending in ":" a prefix). */
function matches(e: LogEvent, f: EventFilter): boolean {
  if (f.types !== undefined && f.types.length > 0 && !f.types.some((t) => (t.endsWith('.') ? e.type.startsWith(t) : e.type === t))) return false;
  if (f.stream !== undefined && !(f.stream.endsWith(':') ? e.stream.startsWith(f.stream) : e.stream === f.stream)) return false;
  return true;
}

const TYPE_HINT = "give one event type per entry, with no commas or spaces, such as 'run.succeeded', or a family ending in '.' such as 'run.'";

/**
 * The daemon's rule for an event type filter entry (the `eventType` schema in src/schemas/params.ts), refused here with
 * the socket's message and data: the HTTP query carries the list comma-separated, so an entry 'a,b' reached the daemon
 * as two types (one, matching nothing, on the socket), and an empty one as none.
 */
function checkTypes(method: string, types: unknown): void {
  if (!Array.isArray(types)) return;
  types.forEach((type: unknown, i) => {
    if (typeof type !== 'string') return;
    const base = { schema: `${method} params`, field: `types[${i}]` };
    if (type === '') throw new ArpdError('E_VALIDATION', `field 'types[${i}]' must not be empty: ${TYPE_HINT}`, { ...base, rule: 'minLength', limit: 1 });
    if (/[,\s]/u.test(type)) {
      const shown = JSON.stringify(type.length > 40 ? `${type.slice(0, 40)}…` : type).replace(/^"|"$/g, "'");
      throw new ArpdError('E_VALIDATION', `field 'types[${i}]' cannot be ${shown}: ${TYPE_HINT}`, { ...base, rule: 'pattern', pattern: '^[^,\\s]*$' });
    }
  });
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ArpdError('E_PROTOCOL', `the daemon sent ${what} that is not JSON`);
  }
}

export class HttpTransport implements Transport {
  readonly kind = 'http' as const;
  readonly target: string;
  private readonly inflight = new Set<AbortController>();
  private closed = false;

  constructor(url: string, private readonly options: HttpTransportOptions = {}) {
    this.target = parseDaemonUrl(url).href.replace(/\/+$/, '');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ac of this.inflight) ac.abort(new ArpdError('E_CANCELED', 'the request was canceled: the client was closed'));
  }

  call<T>(method: string, params: Record<string, unknown>, options: TransportCallOptions = {}): Promise<T> {
    return this.withDeadline(method, options, (signal) => this.dispatch(method, params, signal)) as Promise<T>;
  }

  createInstances(params: Record<string, unknown>, _onProgress: ((p: InstanceProgress) => void) | undefined, options: TransportCallOptions): Promise<unknown> {
    return this.call('instances.create', params, options);
  }

  async *followRun(runId: string, fromSeq: number, signal: AbortSignal): AsyncGenerator<TraceEvent, RunStatus, undefined> {
    return yield* this.runEvents(checkId('run id', runId, 'run_id'), fromSeq, signal);
  }

  /** GET /v1/runs/{id}/events: the trace lines, then the `end` status. `signal` aborts the request. */
  private async *runEvents(runId: string, fromSeq: number, signal?: AbortSignal, again = 'follow again from the last seq'): AsyncGenerator<TraceEvent, RunStatus, undefined> {
    const method = 'runs.follow';
    const ac = this.track(signal);
    const idle = this.idleLimit(ac, `the trace stream of run '${runId}'`, again);
    try {
      const res = await idle.during(this.request(method, 'GET', `/v1/runs/${enc(runId)}/events${query({ from_seq: fromSeq > 1 ? fromSeq : undefined })}`, ac.signal, undefined, 'text/event-stream'));
      const status = res.statusCode ?? 0;
      if (status !== 200) throw errorFromEnvelope(status, await this.readBody(res, method), method);
      for await (const m of readSse(idle.body(res))) {
        if (m.event === 'trace') yield parseJson(m.data, 'a trace event') as TraceEvent;
        else if (m.event === 'end') return parseJson(m.data, 'a run status') as RunStatus;
        else if (m.event === 'error') throw errorFromEnvelope(500, parseJson(m.data, 'an error'), method);
      }
      throw new ArpdError('E_UNAVAILABLE', `the daemon at ${this.target} closed the trace stream of run '${runId}' before the run ended: it may be stopping; follow again from the last seq`, { run_id: runId });
    } catch (err) {
      throw this.reason(ac, err, method);
    } finally {
      this.untrack(ac);
    }
  }

  async *subscribeEvents(q: EventFilter & { fromSeq?: number | undefined }, signal: AbortSignal): AsyncGenerator<LogEvent, void, undefined> {
    const method = 'events.subscribe';
    const ac = this.track(signal);
    const idle = this.idleLimit(ac, 'the event stream', 'subscribe again from the last seq');
    try {
      // no types (or none listed) is no filter; the list goes comma-separated, so an entry is checked here first
      checkTypes(method, q.types);
      const types = q.types === undefined || q.types.length === 0 ? undefined : q.types.join(',');
      const path = `/v1/events${query({ from_seq: q.fromSeq, types, stream: q.stream })}`;
      const res = await idle.during(this.request(method, 'GET', path, ac.signal, undefined, 'text/event-stream'));
      const status = res.statusCode ?? 0;
      if (status !== 200) throw errorFromEnvelope(status, await this.readBody(res, method), method);
      for await (const m of readSse(idle.body(res))) {
        if (m.event === 'event') yield parseJson(m.data, 'a log event') as LogEvent;
        else if (m.event === 'error') throw errorFromEnvelope(500, parseJson(m.data, 'an error'), method);
      }
      throw new ArpdError('E_UNAVAILABLE', `the daemon at ${this.target} closed the event stream: it may be stopping; subscribe again from the last seq`);
    } catch (err) {
      throw this.reason(ac, err, method);
    } finally {
      this.untrack(ac);
    }
  }

  /** The socket method, as its HTTP route. */
  private async dispatch(method: string, p: Json, signal: AbortSignal): Promise<unknown> {
    switch (method) {
      case 'daemon.status': return this.json(method, 'GET', '/v1/admin/status', signal);
      case 'profiles.list': return this.json(method, 'GET', '/v1/admin/runtime-profiles', signal);
      case 'profiles.get': return this.json(method, 'GET', `/v1/admin/runtime-profiles/${enc(str(p, 'runtime_profile'))}`, signal);
      case 'profiles.upsert': return this.json(method, 'PUT', `/v1/admin/runtime-profiles/${enc(str(p, 'runtime_profile'))}`, signal, p['request'] ?? {});
      case 'profiles.delete': {
        const name = str(p, 'runtime_profile');
        await this.json(method, 'DELETE', `/v1/admin/runtime-profiles/${enc(name)}${query({ force: p['force'] === true })}`, signal);
        return { deleted: name };
      }
      case 'instances.list': return this.json(method, 'GET', `/v1/instances${query({ all: p['all'] === true, runtime_profile: p['runtime_profile'], state: p['state'] })}`, signal);
      case 'instances.get': return this.json(method, 'GET', `/v1/instances/${enc(str(p, 'instance_id'))}`, signal);
      case 'instances.create': return this.json(method, 'POST', `/v1/instances${query({ wait: p['wait'] === true })}`, signal, p['request']);
      case 'instances.register': return this.json(method, 'POST', '/v1/instances:register', signal, p['request']);
      case 'instances.delete': {
        const id = str(p, 'instance_id');
        await this.json(method, 'DELETE', `/v1/instances/${enc(id)}`, signal);
        const after = await this.json(method, 'GET', `/v1/instances/${enc(id)}`, signal).catch(() => undefined) as Json | undefined;
        return { deleted: id, state: typeof after?.['state'] === 'string' ? after['state'] : 'stopped' };
      }
      case 'runs.submit': return this.json(method, 'POST', '/v1/runs', signal, p['request']);
      case 'runs.get': return this.json(method, 'GET', `/v1/runs/${enc(str(p, 'run_id'))}`, signal);
      case 'runs.result': return this.json(method, 'GET', `/v1/runs/${enc(str(p, 'run_id'))}/result`, signal);
      case 'runs.list': return this.json(method, 'GET', `/v1/runs${query({
        page_size: p['page_size'], page_token: p['page_token'], state: p['state'],
        runtime_profile: p['runtime_profile'], instance_id: p['instance_id'], q: p['q'], order: p['order'],
      })}`, signal);
      case 'runs.cancel': return this.json(method, 'POST', `/v1/runs/${enc(str(p, 'run_id'))}:cancel`, signal);
      case 'runs.trace': return this.json(method, 'GET', `/v1/runs/${enc(str(p, 'run_id'))}/trace${query({ from_seq: p['from_seq'], limit: p['limit'] })}`, signal);
      case 'runs.wait': return this.wait(str(p, 'run_id'), typeof p['timeout_ms'] === 'number' ? p['timeout_ms'] : undefined, signal);
      case 'events.read': return this.readEvents(p, signal);
      case 'daemon.shutdown':
        throw new ArpdError('E_METHOD_NOT_FOUND', `the daemon's HTTP API has no shutdown route: stop it on its own machine with 'arpd daemon stop'`, { method });
      default:
        throw new ArpdError('E_METHOD_NOT_FOUND', `'${method}' is not available over HTTP: use the local daemon's socket (without --daemon-url)`, { method });
    }
  }

  /** Runs `work` under the request's time limit and the caller's signal, and cancels it on close(). */
  private async withDeadline<T>(method: string, options: TransportCallOptions, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.closed) throw new ArpdError('E_UNAVAILABLE', `cannot call '${method}': this client is closed; connect again`);
    checkTimeLimit('timeoutMs', options.timeoutMs);
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
    const ac = this.track();
    const hint = this.options.timeoutHint ?? SDK_TIMEOUT_HINT;
    const timer = timeoutMs > 0
      ? setTimeout(() => ac.abort(new ArpdError('E_TIMEOUT', `'${method}' got no answer within ${timeoutMs} ms: the daemon may be busy; try again or allow more time with ${hint}`, { method, timeoutMs })), timeoutMs)
      : undefined;
    const onUserAbort = (): void => ac.abort(new ArpdError('E_CANCELED', `'${method}' was canceled by the caller`, { method }));
    if (options.signal?.aborted === true) onUserAbort();
    options.signal?.addEventListener('abort', onUserAbort, { once: true });
    try {
      return await work(ac.signal);
    } catch (err) {
      throw this.reason(ac, err, method);
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onUserAbort);
      this.untrack(ac);
    }
  }

  /**
   * The idle limit of one stream: while the transport waits for the daemon (the answer's head, then each chunk; not
   * while the reader is busy with what came), nothing arriving for streamIdleMs aborts `ac` with E_UNAVAILABLE. A
   * daemon gone without closing the connection (a host down, a network cut) sends no heartbeat, and no FIN or RST
   * either, so without it the stream waited forever.
   */
  private idleLimit(ac: AbortController, what: string, then: string): { during<T>(p: Promise<T>): Promise<T>; body(res: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array, void, undefined> } {
    const idleMs = this.options.streamIdleMs ?? DEFAULT_STREAM_IDLE_MS;
    const during = async <T>(p: Promise<T>): Promise<T> => {
      if (idleMs === 0) return p;
      const timer = setTimeout(() => ac.abort(new ArpdError(
        'E_UNAVAILABLE',
        `the daemon at ${this.target} stopped answering: nothing came on ${what} for ${idleMs} ms, not even its heartbeat (every 15 s); it or the network to it may be down: check 'arpd daemon status' there, then ${then}`,
        { url: this.target, idle_ms: idleMs },
      )), idleMs);
      try {
        return await p;
      } finally {
        clearTimeout(timer);
      }
    };
    return {
      during,
      async *body(res) {
        const it = res[Symbol.asyncIterator]();
        try {
          for (;;) {
            const r = await during(it.next());
            if (r.done === true) return;
            yield r.value;
          }
        } finally {
          await it.return?.();
        }
      },
    };
  }

  /** A controller for one request, aborted by close() and by `linked` (if given). */
  private track(linked?: AbortSignal): AbortController {
    const ac = new AbortController();
    if (this.closed) ac.abort(new ArpdError('E_UNAVAILABLE', 'this client is closed; connect again'));
    if (linked !== undefined) {
      if (linked.aborted) ac.abort(linked.reason);
      else linked.addEventListener('abort', () => ac.abort(linked.reason), { once: true, signal: ac.signal });
    }
    this.inflight.add(ac);
    return ac;
  }

  private untrack(ac: AbortController): void {
    this.inflight.delete(ac);
    if (!ac.signal.aborted) ac.abort(new ArpdError('E_CANCELED', 'the request is over'));
  }

  /**
   * What a request failed with, as an ArpdError: an abort's own reason (timeout, cancel, close) rather than the socket
   * error it caused; a connection cut mid-answer (node's `Error: aborted`, ECONNRESET) as E_UNAVAILABLE.
   */
  private reason(ac: AbortController, err: unknown, method: string): ArpdError {
    if (ac.signal.aborted && ac.signal.reason instanceof ArpdError) return ac.signal.reason;
    if (err instanceof ArpdError) return err;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (typeof code === 'string') {
      return new ArpdError('E_UNAVAILABLE', `the connection to the daemon at ${this.target} was lost during '${method}' (${code}): it may have stopped; check 'arpd daemon status' there and try again`, { url: this.target, method }, { cause: err });
    }
    return new ArpdError('E_INTERNAL', `'${method}' failed in the client`, { method }, { cause: err });
  }

  /** One HTTP exchange (node:http, not fetch: fetch refuses some ports and hides the socket error). */
  private request(method: string, verb: Verb, path: string, signal: AbortSignal, body?: unknown, accept = 'application/json'): Promise<IncomingMessage> {
    const headers: Record<string, string> = { accept };
    if (this.options.token !== undefined && this.options.token !== '') headers['authorization'] = `Bearer ${this.options.token}`;
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body), 'utf8');
    if (payload !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = String(payload.length);
    }
    const url = new URL(`${this.target}${path}`);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (signal.aborted) { reject(signal.reason); return; }
      const req = send(url, { method: verb, headers, signal }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (signal.aborted) { reject(signal.reason); return; }
        const code = err.code;
        if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') {
          reject(new ArpdError('E_DAEMON_NOT_RUNNING', `no arpd daemon answers at ${this.target} (${code}): check the URL, or start the daemon there`, { url: this.target }, { cause: err }));
          return;
        }
        reject(new ArpdError('E_UNAVAILABLE', `the connection to the daemon at ${this.target} failed during '${method}' (${code ?? err.message}): check 'arpd daemon status' there and try again`, { url: this.target, method }, { cause: err }));
      });
      req.end(payload);
    });
  }

  /** The answer's JSON body (at most MAX_HTTP_BODY_BYTES), or undefined if it is empty or not JSON. */
  private async readBody(res: IncomingMessage, method: string): Promise<unknown> {
    const chunks: Buffer[] = [];
    let bytes = 0;
    for await (const chunk of res) {
      bytes += (chunk as Buffer).length;
      if (bytes > MAX_HTTP_BODY_BYTES) {
        res.destroy();
        throw new ArpdError('E_TOO_LARGE', `the daemon's answer to '${method}' is over ${MAX_HTTP_BODY_BYTES} bytes: ask for less (a smaller page or limit)`, { limit: MAX_HTTP_BODY_BYTES });
      }
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      return text === '' ? undefined : JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }

  private async json(method: string, verb: Verb, path: string, signal: AbortSignal, body?: unknown): Promise<unknown> {
    const res = await this.request(method, verb, path, signal, body);
    const parsed = await this.readBody(res, method);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw errorFromEnvelope(status, parsed, method);
    return parsed ?? {};
  }

  /** Like the socket's runs.wait: the status once the run has ended, or as it is when the time is up. */
  private async wait(runId: string, timeoutMs: number | undefined, signal: AbortSignal): Promise<RunStatus> {
    const limit = new AbortController();
    const onAbort = (): void => limit.abort(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => limit.abort(new ArpdError('E_TIMEOUT', 'wait time is up')), timeoutMs);
    const follow = this.runEvents(runId, 1, limit.signal, 'wait again');
    try {
      for (;;) {
        const r = await follow.next();
        if (r.done === true) return r.value;
      }
    } catch (err) {
      if (!signal.aborted && limit.signal.aborted) return this.json('runs.wait', 'GET', `/v1/runs/${enc(runId)}`, signal) as Promise<RunStatus>;
      throw err;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * `events.read` has no route of its own: the page is read from the `/v1/events` stream, from `from_seq`
   * up to the log's head when asked (from `/v1/admin/status`), with the daemon's filter rule applied here.
   */
  private async readEvents(p: Json, signal: AbortSignal): Promise<EventPage> {
    const method = 'events.read';
    // the socket method's own rules (the 'events.read params' schema in src/schemas/params.ts), refused with the
    // same message and data as the socket's validator gives, so both transports refuse the same
    const whole = (field: string, fallback: number, max: number): number => {
      const v = p[field] ?? fallback;
      const base = { schema: `${method} params`, field };
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
        throw new ArpdError('E_VALIDATION', `field '${field}' must be an integer, not ${JSON.stringify(v)}`, { ...base, rule: 'type', expected: 'integer' });
      }
      if (v < 1) throw new ArpdError('E_VALIDATION', `field '${field}' must be at least 1, not ${v}`, { ...base, rule: 'minimum', limit: 1 });
      if (v > max) throw new ArpdError('E_VALIDATION', `field '${field}' must be at most ${max}, not ${v}`, { ...base, rule: 'maximum', limit: max });
      return v;
    };
    checkTypes(method, p['types']);
    const from = whole('from_seq', 1, Number.MAX_SAFE_INTEGER);
    const limit = whole('limit', 1000, 10_000);
    const filter: EventFilter = {
      ...(Array.isArray(p['types']) ? { types: p['types'] as string[] } : {}),
      ...(typeof p['stream'] === 'string' ? { stream: p['stream'] } : {}),
    };
    // the page is read from a stream, so it has a stream's idle limit (the head's request too): with timeoutMs 0 a
    // daemon gone silent (a host down, no FIN) left the read waiting forever
    const ac = this.track(signal);
    const idle = this.idleLimit(ac, 'the event stream', 'read again');
    try {
      const head = Number((await idle.during(this.json(method, 'GET', '/v1/admin/status', ac.signal)) as Json)['last_seq'] ?? 0);
      const events: LogEvent[] = [];
      let next = from;
      if (from <= head) {
        const res = await idle.during(this.request(method, 'GET', `/v1/events${query({ from_seq: from })}`, ac.signal, undefined, 'text/event-stream'));
        try {
          const status = res.statusCode ?? 0;
          if (status !== 200) throw errorFromEnvelope(status, await idle.during(this.readBody(res, method)), method);
          for await (const m of readSse(idle.body(res))) {
            if (m.event === 'error') throw errorFromEnvelope(500, parseJson(m.data, 'an error'), method);
            if (m.event !== 'event') continue;
            const e = parseJson(m.data, 'a log event') as LogEvent;
            if (e.seq > head) break;
            next = e.seq + 1;
            if (matches(e, filter)) events.push(e);
            if (events.length >= limit || e.seq >= head) break;
          }
        } finally {
          res.destroy();
        }
      }
      return { events, next_seq: Math.min(next, head + 1), head_seq: head };
    } catch (err) {
      throw this.reason(ac, err, method);
    } finally {
      this.untrack(ac);
    }
  }
}
