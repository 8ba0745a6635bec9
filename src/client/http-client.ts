/**
 * The CLI's client for a daemon reached over its HTTP API (`--daemon-url` / `ARP_DAEMON_URL`): the same surface
 * as the socket `RpcClient` (`call(method, params)`, `onNotification`, `close`), with each socket method mapped
 * to its HTTP route. `runs.follow` and `runs.wait` read the run's Server-Sent Events stream; `runs.follow` emits
 * each trace line as a `runs.trace` notification, as the socket does. ErrorEnvelopes come back as the ArpdError
 * the daemon raised (its code is in `details.arpd_code`), so the CLI prints the same and exits the same.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { Subject, filter, type Observable } from 'rxjs';
import { ArpdError, isErrorCode, type ErrorCode } from '../errors/index.js';
import type { CallOptions, RpcClient, RpcNotification, RpcParams } from './rpc-client.js';

export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;

export interface HttpClientOptions {
  /** The bearer token (arpd token or a JWT); none sends no Authorization header. */
  token?: string | undefined;
  /** Default time limit of a call; 0 means none. Default 30 s. */
  timeoutMs?: number;
}

type Json = Record<string, unknown>;
type Verb = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Status -> code, for an error answer that is not an arpd ErrorEnvelope (a proxy, another server). */
const BY_STATUS: Record<number, ErrorCode> = {
  400: 'E_VALIDATION', 401: 'E_UNAUTHORIZED', 403: 'E_FORBIDDEN', 404: 'E_NOT_FOUND', 405: 'E_METHOD_NOT_ALLOWED',
  409: 'E_CONFLICT', 413: 'E_TOO_LARGE', 415: 'E_UNSUPPORTED_MEDIA', 502: 'E_RUNTIME_ERROR', 503: 'E_UNAVAILABLE', 504: 'E_TIMEOUT',
};

/** Parses a URL given on the command line: http(s) only, no path beyond '/'. */
export function parseDaemonUrl(value: string): URL {
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

function str(p: Json, key: string): string {
  const v = p[key];
  if (typeof v !== 'string' || v === '') throw new ArpdError('E_VALIDATION', `field '${key}' is required`, { field: key });
  return v;
}

function query(entries: Record<string, unknown>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(entries)) if (v !== undefined && v !== null && v !== false) q.set(k, String(v));
  const s = q.toString();
  return s === '' ? '' : `?${s}`;
}

/** What the server sent as an error, as the ArpdError it was. */
export function errorFromEnvelope(status: number, body: unknown, method: string): ArpdError {
  const err = (body as { error?: unknown } | null)?.error as Json | undefined;
  if (err !== undefined && typeof err === 'object' && typeof err['message'] === 'string') {
    const details = (err['details'] !== null && typeof err['details'] === 'object' ? err['details'] : {}) as Json;
    const { arpd_code: arpdCode, ...data } = details;
    const code: ErrorCode = isErrorCode(arpdCode) ? arpdCode : BY_STATUS[status] ?? (status >= 500 ? 'E_INTERNAL' : 'E_VALIDATION');
    const envelopeCode = err['code'];
    if (typeof envelopeCode === 'string' && envelopeCode !== code.slice(2).toLowerCase()) data['arp_code'] = envelopeCode;
    return new ArpdError(code, err['message'], Object.keys(data).length === 0 ? undefined : data);
  }
  const code = BY_STATUS[status] ?? (status >= 500 ? 'E_INTERNAL' : 'E_VALIDATION');
  return new ArpdError(code, `'${method}' failed with HTTP ${status} and an answer that is not an ARP ErrorEnvelope: is --daemon-url an arpd daemon?`, { http_status: status });
}

interface SseEvent { event: string; data: string; id?: string }

/** Splits a text/event-stream body into events (comments skipped). */
async function* sseEvents(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buf = '';
  let cur: { event: string; data: string[]; id?: string } = { event: 'message', data: [] };
  for await (const chunk of body) {
    buf += decoder.decode(chunk, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      if (line === '') {
        if (cur.data.length > 0) yield { event: cur.event, data: cur.data.join('\n'), ...(cur.id === undefined ? {} : { id: cur.id }) };
        cur = { event: 'message', data: [] };
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') cur.event = value;
      else if (field === 'data') cur.data.push(value);
      else if (field === 'id') cur.id = value;
    }
  }
}

export class HttpClient implements RpcClient {
  /** The daemon URL (the socket client's `socketPath`, for messages). */
  readonly socketPath: string;
  readonly notifications$: Observable<RpcNotification>;
  readonly disconnects$: Observable<ArpdError>;
  private readonly notificationSubject = new Subject<RpcNotification>();
  private readonly disconnectSubject = new Subject<ArpdError>();
  private readonly base: string;
  private readonly inflight = new Set<AbortController>();
  private closed = false;

  constructor(url: string, private readonly options: HttpClientOptions = {}) {
    this.base = parseDaemonUrl(url).href.replace(/\/+$/, '');
    this.socketPath = this.base;
    this.notifications$ = this.notificationSubject.asObservable();
    this.disconnects$ = this.disconnectSubject.asObservable();
  }

  onNotification(method: string, cb: (params: unknown) => void): () => void {
    const sub = this.notifications$.pipe(filter((n) => n.method === method)).subscribe((n) => cb(n.params));
    return () => sub.unsubscribe();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const ac of this.inflight) ac.abort(new ArpdError('E_CANCELED', 'the call was canceled: the client was closed'));
    this.notificationSubject.complete();
    this.disconnectSubject.complete();
  }

  async call<T = unknown>(method: string, params?: RpcParams, options: CallOptions = {}): Promise<T> {
    if (this.closed) throw new ArpdError('E_UNAVAILABLE', `cannot call '${method}': this client is closed; connect again`);
    const p = (params ?? {}) as Json;
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
    const ac = new AbortController();
    this.inflight.add(ac);
    const timer = timeoutMs > 0
      ? setTimeout(() => ac.abort(new ArpdError('E_TIMEOUT', `'${method}' got no answer within ${timeoutMs} ms: the daemon may be busy; try again or allow more time with --timeout`, { method, timeoutMs })), timeoutMs)
      : undefined;
    const onUserAbort = (): void => ac.abort(new ArpdError('E_CANCELED', `'${method}' was canceled by the caller`, { method }));
    if (options.signal?.aborted === true) onUserAbort();
    options.signal?.addEventListener('abort', onUserAbort, { once: true });
    try {
      return (await this.dispatch(method, p, ac.signal)) as T;
    } catch (err) {
      if (ac.signal.aborted && ac.signal.reason instanceof ArpdError) throw ac.signal.reason;
      throw err;
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onUserAbort);
      this.inflight.delete(ac);
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
      case 'runs.list': return this.json(method, 'GET', `/v1/runs${query({ page_size: p['page_size'], page_token: p['page_token'], state: p['state'] })}`, signal);
      case 'runs.cancel': return this.json(method, 'POST', `/v1/runs/${enc(str(p, 'run_id'))}:cancel`, signal);
      case 'runs.trace': return this.json(method, 'GET', `/v1/runs/${enc(str(p, 'run_id'))}/trace${query({ from_seq: p['from_seq'], limit: p['limit'] })}`, signal);
      case 'runs.follow': return this.follow(method, str(p, 'run_id'), typeof p['from_seq'] === 'number' ? p['from_seq'] : 1, true, signal);
      case 'runs.wait': return this.wait(method, str(p, 'run_id'), typeof p['timeout_ms'] === 'number' ? p['timeout_ms'] : undefined, signal);
      default:
        throw new ArpdError('E_METHOD_NOT_FOUND', `'${method}' is not available over HTTP: run this command against the local daemon (without --daemon-url)`, { method });
    }
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
    const url = new URL(`${this.base}${path}`);
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise<IncomingMessage>((resolve, reject) => {
      if (signal.aborted) { reject(signal.reason); return; }
      const req = send(url, { method: verb, headers, signal }, resolve);
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (signal.aborted) { reject(signal.reason); return; }
        const code = err.code;
        if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EHOSTUNREACH') {
          reject(new ArpdError('E_DAEMON_NOT_RUNNING', `no arpd daemon answers at ${this.base} (${code}): check the URL, or start the daemon there`, { url: this.base }, { cause: err }));
          return;
        }
        reject(new ArpdError('E_UNAVAILABLE', `the connection to the daemon at ${this.base} failed during '${method}' (${code ?? err.message}): check 'arpd daemon status' there and try again`, { url: this.base, method }, { cause: err }));
      });
      req.end(payload);
    });
  }

  private async readAll(res: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      return text === '' ? undefined : JSON.parse(text) as unknown;
    } catch {
      return undefined;
    }
  }

  private async json(method: string, verb: Verb, path: string, signal: AbortSignal, body?: unknown): Promise<unknown> {
    const res = await this.request(method, verb, path, signal, body);
    const parsed = await this.readAll(res);
    const status = res.statusCode ?? 0;
    if (status < 200 || status > 299) throw errorFromEnvelope(status, parsed, method);
    return parsed ?? {};
  }

  /** Reads GET /v1/runs/{id}/events to its end; `notify` sends each trace line as a `runs.trace` notification. */
  private async follow(method: string, runId: string, fromSeq: number, notify: boolean, signal: AbortSignal): Promise<Json> {
    const res = await this.request(method, 'GET', `/v1/runs/${enc(runId)}/events${query({ from_seq: fromSeq > 1 ? fromSeq : undefined })}`, signal, undefined, 'text/event-stream');
    const status = res.statusCode ?? 0;
    if (status !== 200) throw errorFromEnvelope(status, await this.readAll(res), method);
    for await (const ev of sseEvents(res)) {
      if (ev.event === 'trace') {
        if (notify) this.notificationSubject.next({ method: 'runs.trace', params: { run_id: runId, line: JSON.parse(ev.data) as unknown } });
      } else if (ev.event === 'end') {
        return JSON.parse(ev.data) as Json;
      } else if (ev.event === 'error') {
        throw errorFromEnvelope(500, JSON.parse(ev.data) as unknown, method);
      }
    }
    throw new ArpdError('E_UNAVAILABLE', `the daemon at ${this.base} closed the event stream of run '${runId}' before it ended: it may be stopping; try again`, { run_id: runId });
  }

  /** Like the socket's runs.wait: the status once the run has ended, or as it is when the time is up. */
  private async wait(method: string, runId: string, timeoutMs: number | undefined, signal: AbortSignal): Promise<Json> {
    if (timeoutMs === undefined) return this.follow(method, runId, 1, false, signal);
    const limit = new AbortController();
    const onAbort = (): void => limit.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => limit.abort(new ArpdError('E_TIMEOUT', 'wait time is up')), timeoutMs);
    try {
      return await this.follow(method, runId, 1, false, limit.signal);
    } catch (err) {
      if (!signal.aborted && limit.signal.aborted) return this.json(method, 'GET', `/v1/runs/${enc(runId)}`, signal) as Promise<Json>;
      throw err;
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }
}
