/**
 * Runtimes on top of the daemon harness: real daemons (dist/), their managed runtime processes, and
 * external reference runtimes started here as children. Everything is stopped in `t.teardown`:
 * first the daemons (daemon-harness), then every runtime process left over, found by the data dir
 * in its environment (`ARP_TRACE_DIR=<dir>/runtime-traces`, which the supervisor sets for each managed runtime),
 * so runtimes orphaned by a `kill -9` of their daemon go too. Nothing is killed by name.
 *
 *   const r = runtimeHarness(t);
 *   const dir = r.newDataDir();
 *   await r.startDaemon(dir, ['--health-interval', '200']);
 *   const [inst] = await r.startInstances(dir, 'default', 1);
 *   const run = await r.call(dir, 'runs.submit', { request: { input: { goal: '1+1' } } });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { callOnce } from '../../src/client/rpc-client.js';
import type { ArpdError } from '../../src/errors/index.js';
import type { Test } from 'tap';
import type { SchemaName } from '../../src/schemas/index.js';
import { ORACLE_FILE, oracleFor } from '../schemas/oracle.js';
import {
  ARPD_JS,
  cleanEnv,
  daemonHarness,
  isRunning,
  parseNdjson,
  waitFor,
  type CliOptions,
  type CliResult,
  type DaemonHarness,
  type EventLine,
  type StartedDaemon,
  type TeardownHost,
} from './daemon-harness.js';

export { ARPD_JS, isRunning, parseNdjson, waitFor, type CliResult, type EventLine };

export type Json = Record<string, unknown>;

/** The `default` profile's command: the bundled reference runtime (for profiles that add options to it). */
export const REFERENCE_COMMAND: readonly string[] = ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0'];

/** The part of a tap test the oracle check needs. */
export type Asserter = Pick<Test, 'ok'>;

/** Why a value does not validate against the oracle (the ARP spec's) schema, or undefined when it does. */
export function oracleErrors(name: SchemaName, value: unknown): string | undefined {
  const fn = oracleFor(ORACLE_FILE[name]);
  return fn(value) === true ? undefined : JSON.stringify(fn.errors);
}

/** Asserts that a value validates against the oracle schema, showing ajv's errors when it does not. */
export function oracleCheck(t: Asserter, name: SchemaName, value: unknown, what: string): boolean {
  const errors = oracleErrors(name, value);
  t.ok(errors === undefined, `${what} validates against the oracle ${name}`, errors === undefined ? {} : { errors, value });
  return errors === undefined;
}

/**
 * Like oracleCheck, but the fields in `absent` must be missing (and their absence is the only thing the oracle may
 * object to): an instance that never listened has no endpoint, and arpd never makes one up.
 */
export function oracleCheckWithout(t: Asserter, name: SchemaName, value: Record<string, unknown>, absent: readonly string[], what: string): boolean {
  for (const f of absent) t.ok(!(f in value), `${what} has no ${f}`);
  const text = oracleErrors(name, value);
  const errors = (text === undefined ? [] : JSON.parse(text)) as Array<{ keyword?: string; params?: { missingProperty?: string } }>;
  const others = errors.filter((e) => !(e.keyword === 'required' && absent.includes(e.params?.missingProperty ?? '')));
  t.ok(others.length === 0, `${what} validates against the oracle ${name} but for ${absent.join(', ')}`, others.length === 0 ? {} : { errors: others, value });
  return others.length === 0;
}

/** Is the process group gone (`kill(-pgid, 0)` says ESRCH)? */
export function groupGone(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function environOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/**
 * Live processes whose environment says they are runtimes of this data dir: a trace dir inside it (the supervisor
 * sets `<dir>/runtime-traces` for each managed runtime; tests that set their own put it inside the data dir too).
 */
export function runtimeProcessesOf(dir: string): number[] {
  const markers = ['ARP_TRACE_DIR=', 'JARVIS_TRACE_DIR='].map((v) => `${v}${dir}/`);
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const env = environOf(pid);
    if (env?.some((e) => markers.some((m) => e.startsWith(m))) === true && isRunning(pid)) out.push(pid);
  }
  return out;
}

/** The managed instance details arpd keeps in `extensions["arpd.instance"]`. */
export function instanceDetails(inst: Json): Json {
  return (((inst['extensions'] as Json | undefined)?.['arpd.instance']) ?? {}) as Json;
}

export function instancePid(inst: Json): number {
  const pid = instanceDetails(inst)['pid'];
  if (typeof pid !== 'number') throw new Error(`instance ${String(inst['instance_id'])} has no pid: ${JSON.stringify(inst)}`);
  return pid;
}

/** arpd's own run details in `extensions["arpd.run"]` of a RunStatus. */
export function runDetails(status: Json): Json {
  return (((status['extensions'] as Json | undefined)?.['arpd.run']) ?? {}) as Json;
}

export function runError(status: Json): { code?: string; message?: string; details?: Json } {
  return (runDetails(status)['error'] ?? {}) as { code?: string; message?: string; details?: Json };
}

/** One line of `runs/<id>/trace.jsonl`. */
export interface TraceFileLine {
  run_id: string;
  seq: number;
  time: string;
  level: string;
  type: string;
  data: Json;
  extensions: { 'arpd.event': { seq: number; id: string; type: string } };
}

export interface ExternalRuntime {
  readonly url: string;
  readonly pid: number;
  readonly child: ChildProcess;
  kill(signal?: NodeJS.Signals): void;
  readonly exited: Promise<void>;
}

/** A run as the scripted runtime keeps it. */
export interface ScriptedRun { run_id: string; state: 'running' | 'succeeded' | 'canceled'; cancels: number }

/**
 * A minimal ARP runtime in the test process whose answers the test controls, for races a real runtime
 * answers too fast to hit: health and version; `POST /v1/runs` can be held (`holdCreates`) until
 * `releaseCreates()`, or taken and left unanswered (`dropCreates`: the connection drops); runs stay `running` until canceled (`POST /v1/runs/{id}:cancel`, 404 for a run
 * it does not have) or `finish(id)`; no event stream (arpd polls). Every request is counted in `requests`.
 */
export interface ScriptedRuntime {
  readonly url: string;
  readonly runs: Map<string, ScriptedRun>;
  readonly requests: string[];
  holdCreates: boolean;
  /** `POST /v1/runs` creates the run, then drops the connection without answering. */
  dropCreates: boolean;
  /** How many `POST /v1/runs` are waiting. */
  readonly heldCreates: number;
  releaseCreates(): void;
  finish(runId: string): void;
  close(): Promise<void>;
}

export async function scriptedRuntime(t: TeardownHost): Promise<ScriptedRuntime> {
  const runs = new Map<string, ScriptedRun>();
  const requests: string[] = [];
  const held: Array<() => void> = [];
  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const statusOf = (r: ScriptedRun): Json => ({ run_id: r.run_id, state: r.state });
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    requests.push(`${req.method ?? '?'} ${path}`);
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => { body += c; });
    req.on('end', () => {
      if (req.method === 'GET' && path === '/v1/health') { send(res, 200, { status: 'ok', time: new Date().toISOString() }); return; }
      if (req.method === 'GET' && path === '/v1/version') { send(res, 200, { service_name: 'scripted-runtime', service_version: '1.0.0', supported_api_versions: ['v1'] }); return; }
      if (req.method === 'POST' && path === '/v1/runs') {
        const create = (): void => {
          const runId = String((JSON.parse(body) as { run_id?: unknown }).run_id);
          const run: ScriptedRun = { run_id: runId, state: 'running', cancels: 0 };
          runs.set(runId, run);
          send(res, 201, statusOf(run));
        };
        if (api.dropCreates) {
          // it takes the run, and the connection drops before its answer (a network fault, a crash mid-answer)
          const runId = String((JSON.parse(body) as { run_id?: unknown }).run_id);
          runs.set(runId, { run_id: runId, state: 'running', cancels: 0 });
          req.socket.destroy();
          return;
        }
        if (api.holdCreates) held.push(create);
        else create();
        return;
      }
      const m = /^\/v1\/runs\/([^/:]+)(\/result|\/events|:cancel)?$/.exec(path);
      const run = m === null ? undefined : runs.get(decodeURIComponent(m[1] as string));
      if (m === null || run === undefined) { send(res, 404, { error: { code: m === null ? 'route.not_found' : 'runs.not_found', message: `no ${path}` } }); return; }
      if (m[2] === '/events') { send(res, 404, { error: { code: 'route.not_found', message: 'no event stream here' } }); return; }
      if (m[2] === ':cancel') {
        run.cancels++;
        if (run.state === 'running') run.state = 'canceled';
        send(res, 200, statusOf(run));
        return;
      }
      if (m[2] === '/result') { send(res, 200, { run_id: run.run_id, ok: run.state === 'succeeded', ...(run.state === 'succeeded' ? { output: { text: 'done' } } : { error: { code: 'runtime.canceled', message: 'canceled' } }) }); return; }
      send(res, 200, statusOf(run));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const close = (): Promise<void> => new Promise<void>((resolve) => {
    for (const h of held.splice(0)) h();
    server.closeAllConnections();
    server.close(() => resolve());
  });
  t.teardown(close);
  const api: ScriptedRuntime = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    runs,
    requests,
    holdCreates: false,
    dropCreates: false,
    get heldCreates() { return held.length; },
    releaseCreates: () => { for (const h of held.splice(0)) h(); },
    finish: (runId) => { const r = runs.get(runId); if (r !== undefined && r.state === 'running') r.state = 'succeeded'; },
    close,
  };
  return api;
}

export class RuntimeHarness {
  readonly h: DaemonHarness;
  private readonly dirs = new Set<string>();
  private readonly externals = new Set<ChildProcess>();
  private cleaned = false;
  private readonly onExit = (): void => this.killRuntimesNow();

  constructor(t: TeardownHost) {
    this.h = daemonHarness(t);
    t.teardown(() => this.cleanup());
    process.once('exit', this.onExit);
  }

  /** A new short temp data dir (removed at teardown, after its runtimes are gone). */
  newDataDir(): string {
    const dir = this.h.newDataDir();
    this.dirs.add(dir);
    return dir;
  }

  socketOf(dir: string): string {
    return join(dir, 'arpd.sock');
  }

  /** `arpd daemon start --json --no-http …flags`. */
  startDaemon(dir: string, flags: readonly string[] = []): Promise<StartedDaemon> {
    return this.h.startDaemon(dir, flags);
  }

  cli(dir: string, args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
    return this.h.cli(dir, args, opts);
  }

  /** Runs a command with `--json`; throws with its output unless it exits 0; parses stdout. */
  async cliJson<T = Json>(dir: string, args: readonly string[], opts: CliOptions = {}): Promise<T> {
    const r = await this.h.cli(dir, [...args, '--json'], opts);
    if (r.code !== 0) throw new Error(`arpd ${args.join(' ')} exited with ${String(r.code ?? r.signal)}:\n${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  }

  /** The `{"error":{…}}` line a failed `--json` command prints on stderr. */
  static errorOf(r: CliResult): { code?: string; message?: string; data?: Json } {
    // with --json the CLI prints the error as {"error": …} on stdout (stderr has its one `arpd: error:` line)
    try {
      const parsed = JSON.parse(r.stdout) as { error?: { code?: string; message?: string; data?: Json } };
      if (parsed.error !== undefined) return parsed.error;
    } catch { /* not a JSON error */ }
    return {};
  }

  /** One JSON-RPC call over the data dir's socket (connect, call, close). */
  call<T = Json>(dir: string, method: string, params: Json = {}, timeoutMs = 30_000): Promise<T> {
    return callOnce<T>(this.socketOf(dir), method, params, { timeoutMs, retries: 0 });
  }

  /** The ArpdError a call rejects with (fails the caller if it resolves). */
  async callError(dir: string, method: string, params: Json = {}): Promise<ArpdError> {
    try {
      const r = await this.call(dir, method, params);
      throw new Error(`${method} succeeded but an error was expected: ${JSON.stringify(r)}`);
    } catch (err) {
      if ((err as { name?: string }).name === 'ArpdError') return err as ArpdError;
      throw err;
    }
  }

  /** Writes a JSON file into the data dir (removed with it) and returns its path. */
  writeJson(dir: string, name: string, value: unknown): string {
    const path = join(dir, name);
    writeFileSync(path, JSON.stringify(value));
    return path;
  }

  async upsertProfile(dir: string, name: string, body: Json): Promise<Json> {
    return this.call(dir, 'profiles.upsert', { runtime_profile: name, request: body });
  }

  /** `instances.create` with wait: the instances as they settled (ready, busy, error or stopped). */
  async startInstances(dir: string, profile: string, count = 1): Promise<Json[]> {
    const r = await this.call<{ instances: Json[] }>(dir, 'instances.create', { request: { runtime_profile: profile, count }, wait: true }, 120_000);
    return r.instances;
  }

  /**
   * An instance that stays `starting` (its process never listens; the health timeout is 10 minutes): runs that could
   * go to it wait in the queue (arpd queues a run only when something can take it once it is up or free). Its profile is
   * `never-ready`; runs with no selector wait for it too. The daemon stops it at the end.
   */
  async startNeverReadyInstance(dir: string): Promise<string> {
    await this.upsertProfile(dir, 'never-ready', {
      extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/sleep', '3600'] }, 'arpd.runtime': { health_timeout_ms: 600_000 } },
    });
    const r = await this.call<{ instances: Json[] }>(dir, 'instances.create', { request: { runtime_profile: 'never-ready' } });
    return String(r.instances[0]?.['instance_id']);
  }

  getInstance(dir: string, id: string): Promise<Json> {
    return this.call(dir, 'instances.get', { instance_id: id });
  }

  /** Polls an instance until `pred` holds; returns it. */
  waitInstance(dir: string, id: string, what: string, pred: (inst: Json) => boolean, timeoutMs = 30_000): Promise<Json> {
    return waitFor(`instance ${id} ${what}`, async () => {
      const inst = await this.getInstance(dir, id);
      return pred(inst) ? inst : undefined;
    }, timeoutMs, 50);
  }

  getRun(dir: string, id: string): Promise<Json> {
    return this.call(dir, 'runs.get', { run_id: id });
  }

  /** Polls a run until `pred` holds; returns its status. */
  waitRun(dir: string, id: string, what: string, pred: (status: Json) => boolean, timeoutMs = 30_000): Promise<Json> {
    return waitFor(`run ${id} ${what}`, async () => {
      const s = await this.getRun(dir, id);
      return pred(s) ? s : undefined;
    }, timeoutMs, 50);
  }

  /** Waits (runs.wait) until the run has ended; returns its status. */
  async waitRunEnded(dir: string, id: string, timeoutMs = 60_000): Promise<Json> {
    const s = await this.call<Json>(dir, 'runs.wait', { run_id: id, timeout_ms: timeoutMs }, timeoutMs + 5000);
    if (!['succeeded', 'failed', 'canceled'].includes(String(s['state']))) throw new Error(`run ${id} did not end within ${timeoutMs} ms: ${JSON.stringify(s)}`);
    return s;
  }

  submit(dir: string, request: Json): Promise<Json> {
    return this.call(dir, 'runs.submit', { request });
  }

  /** The run's trace file as parsed lines (empty when missing). */
  traceFile(dir: string, runId: string): TraceFileLine[] {
    const path = join(dir, 'runs', runId, 'trace.jsonl');
    if (!existsSync(path)) return [];
    return parseNdjson<TraceFileLine>(readFileSync(path, 'utf8'));
  }

  /** Every event of the log, read from the files by `arpd events --json` (no daemon needed). */
  events(dir: string, types: readonly string[] = []): Promise<EventLine[]> {
    return this.h.events(dir, types);
  }

  /** Starts `arpd runtime serve --port 0` as a child of the test (an external runtime); resolves with its URL. */
  async startExternalRuntime(): Promise<ExternalRuntime> {
    const child = spawn(process.execPath, [ARPD_JS, 'runtime', 'serve', '--host', '127.0.0.1', '--port', '0'], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    this.externals.add(child);
    const exited = new Promise<void>((resolve) => child.once('exit', () => { this.externals.delete(child); resolve(); }));
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the external runtime printed no listening line within 20 s: ${stderr}`)), 20_000);
      lines.on('line', (line) => {
        try {
          const ev = JSON.parse(line) as { event?: string; url?: string };
          if (ev.event === 'listening' && typeof ev.url === 'string') { clearTimeout(timer); resolve(ev.url); }
        } catch { /* not our line */ }
      });
      void exited.then(() => { clearTimeout(timer); reject(new Error(`the external runtime exited before listening: ${stderr}`)); });
    });
    if (child.pid === undefined) throw new Error('the external runtime has no pid');
    const pid = child.pid;
    return {
      url,
      pid,
      child,
      exited,
      kill: (signal = 'SIGKILL') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
    };
  }

  /** Stops the daemons (daemon harness), then kills every runtime left: ours, and any of our data dirs. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    const dirs = [...this.dirs];
    // runtimes first seen now may be stopped by their daemon's graceful shutdown; remember them anyway
    const before = dirs.flatMap((d) => runtimeProcessesOf(d));
    await this.h.cleanup();
    const pids = new Set<number>([...before, ...dirs.flatMap((d) => runtimeProcessesOf(d))]);
    for (const c of this.externals) if (c.pid !== undefined) pids.add(c.pid);
    for (const pid of pids) {
      if (!isRunning(pid)) continue;
      try { process.kill(-pid, 'SIGKILL'); } catch { /* not a group leader */ }
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await waitFor('leftover runtimes to exit', () => [...pids].every((p) => !isRunning(p)), 5000).catch(() => undefined);
    process.off('exit', this.onExit);
  }

  private killRuntimesNow(): void {
    if (this.cleaned) return;
    const pids = [...this.dirs].flatMap((d) => runtimeProcessesOf(d));
    for (const c of this.externals) if (c.pid !== undefined) pids.push(c.pid);
    for (const pid of pids) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}

/** A harness whose daemons, runtimes and temp dirs are cleaned up in `t.teardown`. */
export function runtimeHarness(t: TeardownHost): RuntimeHarness {
  return new RuntimeHarness(t);
}
