/**
 * Test fixtures for the HTTP API: a REAL daemon process (`node dist/bin/arpd.js serve`, so `npm run build` must have
 * run, as `npm test` does) on a temp data dir with `--http-port 0`, found through `<data-dir>/http.url`, and stopped
 * (SIGTERM, then wait) at teardown even when the test fails; plus a small HTTP helper and an SSE reader.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { oracleFor } from '../schemas/oracle.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const ARPD = join(ROOT, 'dist', 'bin', 'arpd.js');

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function tempDir(t: Teardown, prefix = 'arpd-http-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export interface Exit { code: number | null; signal: NodeJS.Signals | null }

export interface HttpDaemon {
  url: string;
  /** The token of `http.token` ('' when the daemon does not use token auth). */
  token: string;
  /** The admin token of `http.admin-token` (changes to the safe list need it). */
  adminToken: string;
  dataDir: string;
  child: ChildProcess;
  output(): string;
  /** SIGTERM, then wait for the exit (SIGKILL if it does not come). Idempotent. */
  stop(): Promise<Exit>;
}

/** Spawns `arpd serve` and waits until its HTTP API is listening. */
export async function startHttpDaemon(t: Teardown, args: readonly string[] = [], opts: { dataDir?: string; port?: string | null; env?: NodeJS.ProcessEnv } = {}): Promise<HttpDaemon> {
  const dataDir = opts.dataDir ?? tempDir(t);
  const portArgs = opts.port === null ? [] : ['--http-port', opts.port ?? '0'];
  const child = spawn(process.execPath, [ARPD, 'serve', '--data-dir', dataDir, ...portArgs, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ARPD_HOME: '', ARP_DAEMON_URL: '', ARPD_TOKEN: '', ...opts.env },
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { out += s; });
  let exit: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => { exit = { code, signal }; resolve(exit); }));
  let stopping: Promise<Exit> | undefined;
  const stop = (): Promise<Exit> => {
    stopping ??= (async () => {
      if (exit !== undefined) return exit;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const e = await exited;
      clearTimeout(killer);
      return e;
    })();
    return stopping;
  };
  t.teardown(stop);
  const urlFile = join(dataDir, 'http.url');
  const deadline = Date.now() + 120_000;
  while (!existsSync(urlFile)) {
    if (exit !== undefined) throw new Error(`arpd serve exited (${String(exit.code ?? exit.signal)}) before its HTTP API listened:\n${out}`);
    if (Date.now() > deadline) throw new Error(`arpd serve did not write ${urlFile} in time:\n${out}`);
    await sleep(50);
  }
  const url = readFileSync(urlFile, 'utf8').trim();
  const tokenFile = join(dataDir, 'http.token');
  const token = existsSync(tokenFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
  const adminFile = join(dataDir, 'http.admin-token');
  const adminToken = existsSync(adminFile) ? readFileSync(adminFile, 'utf8').trim() : '';
  return { url, token, adminToken, dataDir, child, output: () => out, stop };
}

/** Runs `arpd serve` that is expected to refuse to start; resolves with its exit and output. */
export async function failedStart(t: Teardown, args: readonly string[], opts: { env?: NodeJS.ProcessEnv } = {}): Promise<Exit & { output: string }> {
  const dataDir = tempDir(t);
  const child = spawn(process.execPath, [ARPD, 'serve', '--data-dir', dataDir, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env } });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { out += s; });
  const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
  t.teardown(() => { clearTimeout(killer); if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('exit', (c, s) => r([c, s])));
  clearTimeout(killer);
  return { code, signal, output: out };
}

// ---- HTTP ---------------------------------------------------------------------------------------

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  /** The body as JSON (undefined when empty or not JSON). */
  body: unknown;
}

export interface RequestOptions {
  /** A JSON body (sent with content-type application/json). */
  json?: unknown;
  /** A raw body, sent as is with `contentType`. */
  raw?: string | Uint8Array;
  contentType?: string;
  /** The bearer token; null sends no Authorization header. */
  token?: string | null;
  headers?: Record<string, string>;
}

export async function request(base: string, method: string, path: string, o: RequestOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token !== undefined && o.token !== null) headers['authorization'] = `Bearer ${o.token}`;
  let body: string | Uint8Array | undefined;
  if (o.json !== undefined) { body = JSON.stringify(o.json); headers['content-type'] = 'application/json'; }
  if (o.raw !== undefined) { body = o.raw; if (o.contentType !== undefined) headers['content-type'] = o.contentType; }
  const send = (): Promise<Response> => fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  // A kept-alive connection the daemon closed (its keep-alive timeout) just as it was reused fails with "other side
  // closed" before anything was answered: an idempotent request is sent again once, on a new connection, as HTTP
  // clients do (a daemon that drops a request it was answering fails the retry too).
  const res = await send().catch((err: unknown) => {
    const code = (err as { cause?: { code?: string } }).cause?.code;
    if ((method === 'GET' || method === 'HEAD') && code === 'UND_ERR_SOCKET') return send();
    throw err;
  });
  const text = await res.text();
  let parsed: unknown;
  try { parsed = text === '' ? undefined : JSON.parse(text); } catch { parsed = undefined; }
  return { status: res.status, headers: res.headers, text, body: parsed };
}

/** A client bound to one daemon and its token (the admin token with `admin`: for changes to the safe list). */
export function clientOf(d: { url: string; token: string; adminToken?: string }, opts: { admin?: boolean } = {}) {
  const token = opts.admin === true ? d.adminToken ?? '' : d.token;
  return (method: string, path: string, o: RequestOptions = {}): Promise<Answer> => request(d.url, method, path, { token, ...o });
}

// ---- the spec as the oracle -----------------------------------------------------------------------

/** Schema files (relative to the spec's schemas/) of what each endpoint answers. */
export const SPEC = {
  Health: 'common/health.schema.json',
  VersionInfo: 'common/version_info.schema.json',
  ErrorEnvelope: 'common/error.schema.json',
  InstanceListResponse: 'daemon/instances/instance_list_response.schema.json',
  InstanceCreateResponse: 'daemon/instances/instance_create_response.schema.json',
  InstanceRegisterResponse: 'daemon/instances/instance_register_response.schema.json',
  RuntimeInstance: 'daemon/instances/runtime_instance.schema.json',
  RuntimeProfile: 'daemon/runtime_profiles/runtime_profile.schema.json',
  RuntimeProfileListResponse: 'daemon/runtime_profiles/runtime_profile_list_response.schema.json',
  RunStatus: 'daemon/runs/run_status.schema.json',
  RunListResponse: 'daemon/runs/run_list_response.schema.json',
  RunResult: 'daemon/runs/run_result.schema.json',
  TraceResponse: 'daemon/runs/trace_response.schema.json',
  TraceEvent: 'trace/trace_event.schema.json',
} as const;

/** Why a value breaks the spec schema ('' when it is valid). */
export function specProblems(schema: keyof typeof SPEC, value: unknown): string {
  const fn = oracleFor(SPEC[schema]);
  return fn(value) === true ? '' : JSON.stringify(fn.errors);
}

type Asserts = Pick<Test, 'equal' | 'ok'>;

/** Asserts the status and that the body is valid for the spec schema. */
export function expectAnswer(t: Asserts, a: Answer, status: number, schema: keyof typeof SPEC, what: string): void {
  t.equal(a.status, status, `${what}: HTTP ${status} (got ${a.status}: ${a.text.slice(0, 300)})`);
  t.equal(specProblems(schema, a.body), '', `${what}: the body is a valid ${schema}`);
  t.ok((a.headers.get('content-type') ?? '').startsWith('application/json'), `${what}: JSON`);
}

/** Asserts an ErrorEnvelope with this status and ARP code (and, optionally, the arpd code). */
export function expectError(t: Asserts, a: Answer, status: number, code: string, what: string, arpdCode?: string): void {
  expectAnswer(t, a, status, 'ErrorEnvelope', what);
  const err = (a.body as { error?: { code?: string; details?: { arpd_code?: string } } } | undefined)?.error;
  t.equal(err?.code, code, `${what}: error code ${code}`);
  if (arpdCode !== undefined) t.equal(err?.details?.arpd_code, arpdCode, `${what}: arpd code ${arpdCode}`);
  t.ok(!/\n\s+at /.test(a.text), `${what}: no stack trace`);
}

// ---- Server-Sent Events -------------------------------------------------------------------------

export interface SseMessage { event: string; id?: string; data: unknown }

/**
 * Reads an event stream until `until` says stop (or the server ends it), then closes it.
 * Returns the events read and whether the server ended the stream itself.
 */
export async function readSse(base: string, path: string, o: { token?: string; headers?: Record<string, string>; until?: (m: SseMessage, all: SseMessage[]) => boolean } = {}): Promise<{ status: number; contentType: string; events: SseMessage[]; endedByServer: boolean }> {
  const abort = new AbortController();
  const headers: Record<string, string> = { accept: 'text/event-stream', ...o.headers };
  if (o.token !== undefined) headers['authorization'] = `Bearer ${o.token}`;
  const res = await fetch(`${base}${path}`, { headers, signal: abort.signal });
  const contentType = res.headers.get('content-type') ?? '';
  const events: SseMessage[] = [];
  if (res.status !== 200 || res.body === null) {
    await res.text();
    return { status: res.status, contentType, events, endedByServer: true };
  }
  const decoder = new TextDecoder();
  let buf = '';
  let endedByServer = true;
  const reader = res.body.getReader();
  try {
    outer: while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let at: number;
      while ((at = buf.indexOf('\n\n')) !== -1) {
        const block = buf.slice(0, at);
        buf = buf.slice(at + 2);
        const m: { event: string; id?: string; data: string[] } = { event: 'message', data: [] };
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const c = line.indexOf(':');
          const field = c === -1 ? line : line.slice(0, c);
          const v = c === -1 ? '' : line.slice(c + 1).replace(/^ /, '');
          if (field === 'event') m.event = v;
          else if (field === 'id') m.id = v;
          else if (field === 'data') m.data.push(v);
        }
        if (m.data.length === 0) continue;
        const msg: SseMessage = { event: m.event, data: JSON.parse(m.data.join('\n')) as unknown, ...(m.id === undefined ? {} : { id: m.id }) };
        events.push(msg);
        if (o.until?.(msg, events) === true) { endedByServer = false; break outer; }
      }
    }
  } finally {
    abort.abort();
    await reader.cancel().catch(() => undefined);
  }
  return { status: res.status, contentType, events, endedByServer };
}

/** Polls `fn` until it returns a value (not undefined); fails after `ms` (a guard against hanging, not a timing check). */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined>, ms = 120_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`);
    await sleep(100);
  }
}
