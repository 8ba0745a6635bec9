/**
 * The daemon's HTTP API as the dashboard calls it: same origin, the session cookie for credentials, the CSRF
 * cookie echoed in `X-CSRF-Token` on every change, ErrorEnvelope answers turned into `ApiError`s.
 */

/** The daemon's default body limit: a bigger request is refused here, before it is sent. */
export const MAX_BODY_BYTES = 1024 * 1024;

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  /** The field the daemon named (e.g. `runtime_name`, `extensions["arp.jarvis.exec"].driver`). */
  get field(): string | undefined {
    const f = this.details['field'];
    return typeof f === 'string' ? f : undefined;
  }
}

let unauthorized: (message: string) => void = () => undefined;

/** Called when the daemon answers 401 (the session ended): the app shows the login form. */
export function onUnauthorized(fn: (message: string) => void): void {
  unauthorized = fn;
}

export function cookie(name: string): string | undefined {
  for (const part of document.cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** Refuses a body larger than the daemon takes, with a message that says so. */
export function checkSize(text: string, what: string): void {
  const bytes = new TextEncoder().encode(text).length;
  if (bytes > MAX_BODY_BYTES) {
    throw new ApiError(413, 'too_large', `${what} is ${formatBytes(bytes)}: the daemon takes at most ${formatBytes(MAX_BODY_BYTES)} per request. Make it smaller.`, { field: '', bytes });
  }
}

async function errorOf(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const env = JSON.parse(text) as { error?: { code?: string; message?: string; details?: Record<string, unknown> } };
    if (env.error?.message !== undefined) return new ApiError(res.status, env.error.code ?? 'error', env.error.message, env.error.details ?? {});
  } catch { /* not JSON */ }
  return new ApiError(res.status, 'http', `the daemon answered HTTP ${res.status}${text === '' ? '' : `: ${text.slice(0, 200)}`}`);
}

export interface CallOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Do not treat a 401 as "the session ended" (the login call). */
  quiet401?: boolean;
  text?: boolean;
}

export async function api<T>(method: string, path: string, o: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: o.text === true ? 'text/plain' : 'application/json' };
  let body: string | undefined;
  if (o.body !== undefined) {
    body = JSON.stringify(o.body);
    checkSize(body, 'the request');
    headers['content-type'] = 'application/json';
  }
  if (method !== 'GET' && method !== 'HEAD') {
    const csrf = cookie('arpd_csrf');
    if (csrf !== undefined) headers['x-csrf-token'] = csrf;
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, credentials: 'same-origin', ...(body === undefined ? {} : { body }), ...(o.signal === undefined ? {} : { signal: o.signal }) });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'unreachable', 'the daemon cannot be reached: is it running? (arpd daemon status)');
  }
  if (!res.ok) {
    const e = await errorOf(res);
    if (res.status === 401 && o.quiet401 !== true) unauthorized(e.message);
    throw e;
  }
  if (res.status === 204) return undefined as T;
  if (o.text === true) return (await res.text()) as T;
  return (await res.json()) as T;
}

export const enc = encodeURIComponent;
