import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { ArpdError } from '../errors/index.js';
import { jsonTextTooDeep } from '../policy/json-limits.js';
import { validationProblem, type SchemaName } from '../schemas/index.js';
import type { Health, RunResult, RunStatus, VersionInfo } from '../schemas/index.js';

/**
 * The client of the ARP Runtime API v1 (what a runtime instance serves): health, version, runs,
 * cancel. Runtimes are checked, not trusted: every answer is bounded in size and nesting and
 * validated against the ARP schema of what was asked; an answer of another shape is E_BAD_RUNTIME
 * naming what was wrong. An unreachable runtime is E_RUNTIME_LOST, one that answers with an error
 * status is E_RUNTIME_ERROR (its ErrorEnvelope kept in `data.runtime_error`).
 *
 * Connections are kept alive and reused (one agent per daemon): a run's create, status and result
 * calls cost one round trip each, not a TCP handshake each.
 */

export type JsonRecord = Record<string, unknown>;

export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
  /** W3C trace context passed on to the runtime. */
  traceparent?: string;
}

/** Largest answer read from a runtime (a result can carry output). */
export const MAX_RUNTIME_ANSWER_BYTES = 16 * 1024 * 1024;
/** Nesting limit of a runtime's JSON answers. */
export const MAX_RUNTIME_ANSWER_DEPTH = 64;

function join(endpoint: string, path: string): string {
  return `${endpoint.replace(/\/+$/, '')}${path}`;
}

function describeCause(err: unknown): string {
  const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
  return e.code ?? e.cause?.code ?? e.message ?? String(err);
}

export class RuntimeClient {
  private readonly http = new HttpAgent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000 });
  private readonly https = new HttpsAgent({ keepAlive: true, maxSockets: 256, keepAliveMsecs: 1000 });

  /** Opens a request; resolves with the response once its head arrived. */
  open(method: string, url: string, opts: CallOptions & { body?: string; accept: string; headers?: Record<string, string> }): Promise<IncomingMessage> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      let u: URL;
      try {
        u = new URL(url);
      } catch {
        reject(new ArpdError('E_RUNTIME_LOST', `runtime endpoint ${url} is not a URL`, { url }));
        return;
      }
      const headers: Record<string, string> = { accept: opts.accept, ...(opts.headers ?? {}) };
      if (opts.body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(opts.body));
      }
      if (opts.traceparent !== undefined) headers['traceparent'] = opts.traceparent;
      const isHttps = u.protocol === 'https:';
      const req = (isHttps ? httpsRequest : httpRequest)(u, { method, headers, agent: isHttps ? this.https : this.http, ...(opts.signal === undefined ? {} : { signal: opts.signal }) });
      const timer = timeoutMs > 0 ? setTimeout(() => {
        req.destroy(new ArpdError('E_RUNTIME_LOST', `runtime at ${u.origin} did not answer ${method} ${u.pathname} within ${timeoutMs} ms`, { endpoint: u.origin, path: u.pathname }));
      }, timeoutMs) : undefined;
      req.once('response', (res) => {
        if (timer !== undefined) clearTimeout(timer);
        resolve(res);
      });
      req.once('error', (err) => {
        if (timer !== undefined) clearTimeout(timer);
        if (err instanceof ArpdError) reject(err);
        else if ((err as Error).name === 'AbortError') reject(new ArpdError('E_CANCELED', `request to ${u.origin}${u.pathname} was canceled`, { endpoint: u.origin }, { cause: err }));
        else reject(new ArpdError('E_RUNTIME_LOST', `runtime at ${u.origin} is unreachable (${describeCause(err)})`, { endpoint: u.origin, path: u.pathname }, { cause: err }));
      });
      req.end(opts.body);
    });
  }

  /**
   * One JSON call: the answer, read up to the size limit within the time limit (head and body: a runtime that sends
   * its head and then stalls is not waited for), parsed, and checked against `schema`.
   */
  async call<T>(endpoint: string, method: string, path: string, schema: SchemaName | undefined, opts: CallOptions & { body?: unknown } = {}): Promise<T> {
    const { body: payload, ...rest } = opts;
    const timeoutMs = rest.timeoutMs ?? 10_000;
    const started = Date.now();
    const res = await this.open(method, join(endpoint, path), { ...rest, timeoutMs, accept: 'application/json', ...(payload === undefined ? {} : { body: JSON.stringify(payload) }) });
    const text = await readBody(res, MAX_RUNTIME_ANSWER_BYTES, endpoint, `${method} ${path}`, timeoutMs > 0 ? { limitMs: timeoutMs, leftMs: Math.max(1, timeoutMs - (Date.now() - started)) } : undefined);
    const status = res.statusCode ?? 0;
    let body: unknown;
    let parsed = false;
    if (text !== '' && !jsonTextTooDeep(text, MAX_RUNTIME_ANSWER_DEPTH)) {
      try {
        body = JSON.parse(text);
        parsed = true;
      } catch { /* not JSON */ }
    }
    if (status >= 200 && status < 300) {
      if (!parsed) throw new ArpdError('E_BAD_RUNTIME', `runtime at ${endpoint} answered ${method} ${path} with ${text === '' ? 'an empty body' : 'something that is not JSON'}: is it an ARP runtime?`, { endpoint, path, http_status: status });
      if (schema !== undefined) {
        const problem = validationProblem(schema, body);
        if (problem !== undefined) {
          throw new ArpdError('E_BAD_RUNTIME', `runtime at ${endpoint} answered ${method} ${path} with a body that is not an ARP ${schema}: ${problem.message}`, { endpoint, path, http_status: status, schema });
        }
      }
      return body as T;
    }
    const envelope = (parsed ? (body as { error?: { code?: unknown; message?: unknown } } | null)?.error : undefined);
    const location = res.headers.location;
    const message = status >= 300 && status < 400
      ? `a redirect${location === undefined ? '' : ` to ${location.slice(0, 300)}`}, which arpd does not follow (runs and inputs go only to the endpoint registered): register the runtime at the address it serves`
      : typeof envelope?.message === 'string' ? envelope.message.slice(0, 2000) : `HTTP ${status}`;
    throw new ArpdError('E_RUNTIME_ERROR', `runtime at ${endpoint} answered ${method} ${path} with ${status}: ${message}`, {
      endpoint, path, http_status: status, ...(envelope === undefined ? { body: text.slice(0, 500) } : { runtime_error: envelope as never }),
    });
  }

  health(endpoint: string, timeoutMs = 2000): Promise<Health> {
    return this.call<Health>(endpoint, 'GET', '/v1/health', 'Health', { timeoutMs });
  }

  version(endpoint: string, timeoutMs = 2000): Promise<VersionInfo> {
    return this.call<VersionInfo>(endpoint, 'GET', '/v1/version', 'VersionInfo', { timeoutMs });
  }

  async createRun(endpoint: string, request: unknown, opts: CallOptions = {}): Promise<RunStatus> {
    const runId = (request as { run_id?: unknown }).run_id;
    const status = await this.call<RunStatus>(endpoint, 'POST', '/v1/runs', 'RunStatus', { timeoutMs: 30_000, ...opts, body: request });
    checkRunId(status, runId, endpoint, 'POST /v1/runs');
    return status;
  }

  async getRun(endpoint: string, runId: string, opts: CallOptions = {}): Promise<RunStatus> {
    const status = await this.call<RunStatus>(endpoint, 'GET', `/v1/runs/${encodeURIComponent(runId)}`, 'RunStatus', opts);
    checkRunId(status, runId, endpoint, 'GET /v1/runs/{id}');
    return status;
  }

  async getResult(endpoint: string, runId: string, opts: CallOptions = {}): Promise<RunResult> {
    const result = await this.call<RunResult>(endpoint, 'GET', `/v1/runs/${encodeURIComponent(runId)}/result`, 'RunResult', opts);
    checkRunId(result, runId, endpoint, 'GET /v1/runs/{id}/result');
    return result;
  }

  cancelRun(endpoint: string, runId: string, opts: CallOptions = {}): Promise<unknown> {
    // some runtimes answer a cancel with the status, some with nothing: the answer's shape is not checked
    return this.call<unknown>(endpoint, 'POST', `/v1/runs/${encodeURIComponent(runId)}:cancel`, undefined, opts).catch((err: unknown) => {
      if (err instanceof ArpdError && err.code === 'E_BAD_RUNTIME') return undefined;
      throw err;
    });
  }

  /** Closes idle kept-alive connections (shutdown). */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

function checkRunId(body: { run_id: string }, expected: unknown, endpoint: string, what: string): void {
  if (typeof expected === 'string' && body.run_id !== expected) {
    throw new ArpdError('E_BAD_RUNTIME', `runtime at ${endpoint} answered ${what} about run '${body.run_id.slice(0, 130)}', not '${expected}'`, { endpoint });
  }
}

/**
 * The body as text, refusing more than `max` bytes, and, given `time`, a body that has not ended `leftMs` from now
 * (`limitMs` is the call's whole limit, for the message).
 */
export function readBody(res: IncomingMessage, max: number, endpoint: string, what: string, time?: { limitMs: number; leftMs: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = time === undefined ? undefined : setTimeout(() => {
      // rejected before the destroy, which says 'aborted' at once
      reject(new ArpdError('E_RUNTIME_LOST', `runtime at ${endpoint} did not finish its answer to ${what} within ${time.limitMs} ms (it sent ${size} bytes and then stalled): is it overloaded or not an ARP runtime?`, { endpoint, limit_ms: time.limitMs, bytes: size }));
      res.destroy();
    }, time.leftMs);
    const settle = (): void => { if (timer !== undefined) clearTimeout(timer); };
    res.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        settle();
        res.destroy();
        reject(new ArpdError('E_BAD_RUNTIME', `runtime at ${endpoint} answered ${what} with more than ${max} bytes`, { endpoint, limit: max }));
        return;
      }
      chunks.push(c);
    });
    res.once('end', () => { settle(); resolve(Buffer.concat(chunks).toString('utf8')); });
    res.once('error', (err) => { settle(); reject(new ArpdError('E_RUNTIME_LOST', `runtime at ${endpoint} broke off its answer to ${what} (${describeCause(err)})`, { endpoint }, { cause: err })); });
    res.once('aborted', () => { settle(); reject(new ArpdError('E_RUNTIME_LOST', `runtime at ${endpoint} broke off its answer to ${what}`, { endpoint })); });
  });
}
