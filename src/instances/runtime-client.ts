import { ArpdError } from '../errors/index.js';

/**
 * A small client for the ARP Runtime API v1 (what a runtime instance serves): health, version,
 * runs, cancel, and the optional SSE event stream. Errors are ArpdErrors: an unreachable runtime is
 * E_RUNTIME_LOST, a runtime that answers with an error is E_RUNTIME_ERROR (its ErrorEnvelope kept in
 * `data.runtime_error`), a route the runtime does not offer is E_METHOD_NOT_FOUND.
 */

export interface RuntimeHealth { status: string; time?: string }
export interface RuntimeVersion { service_name: string; service_version: string; supported_api_versions?: string[] }
export interface RuntimeRunStatus { run_id: string; state: string; started_at?: string; ended_at?: string }
export type JsonRecord = Record<string, unknown>;

function join(endpoint: string, path: string): string {
  return `${endpoint.replace(/\/+$/, '')}${path}`;
}

async function call(endpoint: string, method: string, path: string, opts: { body?: unknown; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<unknown> {
  const signals: AbortSignal[] = [AbortSignal.timeout(opts.timeoutMs ?? 10_000)];
  if (opts.signal !== undefined) signals.push(opts.signal);
  let res: Response;
  try {
    res = await fetch(join(endpoint, path), {
      method,
      headers: opts.body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json', accept: 'application/json' },
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
      signal: AbortSignal.any(signals),
    });
  } catch (err) {
    const name = (err as Error).name;
    if (name === 'TimeoutError') throw new ArpdError('E_RUNTIME_LOST', `runtime at ${endpoint} did not answer ${method} ${path} within ${opts.timeoutMs ?? 10_000} ms`, { endpoint, path }, { cause: err });
    if (name === 'AbortError') throw new ArpdError('E_CANCELED', `request to ${endpoint}${path} was canceled`, { endpoint, path }, { cause: err });
    throw new ArpdError('E_RUNTIME_LOST', `runtime at ${endpoint} is unreachable (${describeCause(err)})`, { endpoint, path }, { cause: err });
  }
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = text.slice(0, 500);
  }
  if (res.ok) return body;
  const envelope = (body as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  const message = typeof envelope?.message === 'string' ? envelope.message : `HTTP ${res.status}`;
  throw new ArpdError('E_RUNTIME_ERROR', `runtime at ${endpoint} answered ${method} ${path} with ${res.status}: ${message}`, {
    endpoint, path, http_status: res.status, ...(envelope === undefined ? { body: body as never } : { runtime_error: envelope as never }),
  });
}

function describeCause(err: unknown): string {
  const c = (err as { cause?: { code?: string; message?: string } }).cause;
  return c?.code ?? c?.message ?? (err as Error).message;
}

export const runtimeClient = {
  health: (endpoint: string, timeoutMs = 2000) => call(endpoint, 'GET', '/v1/health', { timeoutMs }) as Promise<RuntimeHealth>,
  version: (endpoint: string, timeoutMs = 2000) => call(endpoint, 'GET', '/v1/version', { timeoutMs }) as Promise<RuntimeVersion>,
  createRun: (endpoint: string, request: unknown, timeoutMs = 30_000) => call(endpoint, 'POST', '/v1/runs', { body: request, timeoutMs }) as Promise<RuntimeRunStatus>,
  getRun: (endpoint: string, runId: string, timeoutMs = 10_000) => call(endpoint, 'GET', `/v1/runs/${encodeURIComponent(runId)}`, { timeoutMs }) as Promise<RuntimeRunStatus>,
  getResult: (endpoint: string, runId: string, timeoutMs = 10_000) => call(endpoint, 'GET', `/v1/runs/${encodeURIComponent(runId)}/result`, { timeoutMs }) as Promise<JsonRecord>,
  cancelRun: (endpoint: string, runId: string, timeoutMs = 10_000) => call(endpoint, 'POST', `/v1/runs/${encodeURIComponent(runId)}:cancel`, { timeoutMs }) as Promise<RuntimeRunStatus>,
};

export interface SseMessage { id?: string; event?: string; data: string }

/**
 * Follows `GET /v1/runs/{id}/events` (Server-Sent Events). Yields each message; ends when the
 * runtime closes the stream. Throws E_METHOD_NOT_FOUND when the runtime does not offer it (404/405/
 * not an event stream), so the caller can fall back to polling.
 */
export async function* streamRunEvents(endpoint: string, runId: string, opts: { signal?: AbortSignal; lastEventId?: string } = {}): AsyncGenerator<SseMessage> {
  let res: Response;
  try {
    res = await fetch(join(endpoint, `/v1/runs/${encodeURIComponent(runId)}/events`), {
      headers: { accept: 'text/event-stream', ...(opts.lastEventId === undefined ? {} : { 'last-event-id': opts.lastEventId }) },
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') return;
    throw new ArpdError('E_RUNTIME_LOST', `runtime at ${endpoint} is unreachable (${describeCause(err)})`, { endpoint }, { cause: err });
  }
  const type = res.headers.get('content-type') ?? '';
  if (!res.ok || !type.includes('text/event-stream') || res.body === null) {
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 500) throw new ArpdError('E_RUNTIME_ERROR', `runtime at ${endpoint} answered the event stream with ${res.status}`, { endpoint, http_status: res.status });
    throw new ArpdError('E_METHOD_NOT_FOUND', `runtime at ${endpoint} offers no event stream for runs (${res.status})`, { endpoint, http_status: res.status });
  }
  const decoder = new TextDecoder();
  let buf = '';
  let msg: { id?: string; event?: string; data: string[] } = { data: [] };
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        let line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.endsWith('\r')) line = line.slice(0, -1);
        if (line === '') {
          if (msg.data.length > 0) {
            yield { ...(msg.id === undefined ? {} : { id: msg.id }), ...(msg.event === undefined ? {} : { event: msg.event }), data: msg.data.join('\n') };
          }
          msg = { data: [] };
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        let value = colon === -1 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'data') msg.data.push(value);
        else if (field === 'id') msg.id = value;
        else if (field === 'event') msg.event = value;
      }
    }
  } catch (err) {
    if ((err as Error).name === 'AbortError' || opts.signal?.aborted === true) return;
    throw new ArpdError('E_RUNTIME_LOST', `the event stream from ${endpoint} broke (${describeCause(err)})`, { endpoint }, { cause: err });
  }
}
