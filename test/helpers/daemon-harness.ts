/**
 * Runs the built CLI (`dist/bin/arpd.js`) as real processes against real daemons in temp data dirs,
 * and cleans up after itself: every daemon, every child and every temp dir made through a harness is
 * stopped, killed (by pid) or removed in `t.teardown`, and once more when the test process exits. The daemons are
 * found however they were started (arpd-processes.ts): by the harness's dirs, or by the ARPD_TEST_HARNESS mark its
 * processes carry (a daemon they start inherits it); never another run's daemon.
 *
 *   const h = daemonHarness(t);
 *   const dir = h.newDataDir();                 // /tmp/arpd-XXXXXX (short: socket paths stay < 107 bytes)
 *   const { pid } = await h.startDaemon(dir);   // `arpd daemon start --json --no-http`
 *   const r = await h.cli(dir, ['daemon', 'status', '--json']);   // { code, stdout, stderr, ... }
 *
 * Build first (`npm run build`): the tests run against `dist/`, never the sources.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cmdlineOf, environOf, HARNESS_MARK, isRunProcess, runProcesses } from './arpd-processes.js';

const here = dirname(fileURLToPath(import.meta.url));

export const REPO_ROOT = resolve(here, '..', '..');
/** The built CLI entry point. */
export const ARPD_JS = join(REPO_ROOT, 'dist', 'bin', 'arpd.js');
/** What every command run gets at most before it is killed (a hung command fails its test, never the run). */
export const DEFAULT_CLI_TIMEOUT_MS = 60_000;

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the harness killed it at its time limit. */
  timedOut: boolean;
  /** The command line, for messages. */
  argv: string[];
}

export interface CliOptions {
  /** Added to (or, as undefined, removed from) the clean environment. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed. */
  input?: string;
  timeoutMs?: number;
  /** Pass `--data-dir <dir>` (default true). */
  withDataDir?: boolean;
}

/** The part of a tap test the harness needs. */
export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

/**
 * A clean environment for the CLI: nothing from the caller's arpd settings (ARPD_HOME, ARPD_NO_AUTOSTART, ARP_DAEMON_URL,
 * the test switches, …) leaks in, and no colour.
 */
export function cleanEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ARPD_') && !k.startsWith('ARP_') && v !== undefined) env[k] = v;
  env['NO_COLOR'] = '1';
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value other than undefined/false, or throws after `timeoutMs` naming `what`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`gave up waiting (${timeoutMs} ms) for ${what}`);
    await sleep(intervalMs);
  }
}

/** Alive and not a zombie. */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: liveness alone
  }
}

export function waitGone(pid: number, timeoutMs = 30_000): Promise<true> {
  return waitFor(`pid ${pid} to exit`, () => !isRunning(pid), timeoutMs);
}

/**
 * Live arpd processes (daemons, losers of a start race, followers) of `<dir>`: an arpd command line, however started
 * (see arpd-processes.ts), that names the dir as an argument (`--data-dir DIR`, `--data-dir=DIR`) or as `ARPD_HOME`.
 */
export function arpdProcessesFor(dir: string): number[] {
  return runProcesses([dir], undefined).filter(isRunning);
}

/** Live `arpd serve` processes of one data dir. */
export function daemonProcessesFor(dir: string): number[] {
  return arpdProcessesFor(dir).filter((pid) => cmdlineOf(pid)?.includes('serve') === true);
}

/** The pid recorded in `arpd.pid` (or undefined). */
export function pidFilePid(dir: string): number | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, 'arpd.pid'), 'utf8')) as { pid?: unknown };
    return typeof parsed.pid === 'number' ? parsed.pid : undefined;
  } catch {
    return undefined;
  }
}

function lockPid(dir: string): number | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, 'arpd.lock'), 'utf8')) as { pid?: unknown };
    return typeof parsed.pid === 'number' ? parsed.pid : undefined;
  } catch {
    return undefined;
  }
}

/** One event as `arpd events --json` prints it. */
export interface EventLine {
  seq: number;
  id: string;
  ts: string;
  stream: string;
  rev: number;
  type: string;
  v: number;
  data: Record<string, unknown>;
  meta: Record<string, unknown>;
}

/** Parses NDJSON output; throws naming the line that does not parse. */
export function parseNdjson<T = unknown>(text: string): T[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try {
      return JSON.parse(l) as T;
    } catch {
      throw new Error(`line ${i + 1} of the output is not JSON: ${l.slice(0, 200)}`);
    }
  });
}

/** A CLI process that keeps running (a foreground `arpd serve`, `arpd events --follow`, …). */
export interface RunningCli {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout+stderr satisfy `pred` (rejects if the process exits first or after `timeoutMs`). */
  waitForOutput(what: string, pred: (stdout: string, stderr: string) => boolean, timeoutMs?: number): Promise<void>;
  /** Resolves when it exits (killed at the harness's time limit). */
  readonly exited: Promise<CliResult>;
  kill(signal?: NodeJS.Signals): void;
}

export interface StartedDaemon {
  pid: number;
  status: Record<string, unknown>;
  result: CliResult;
}

export class DaemonHarness {
  private readonly dirs = new Set<string>();
  private readonly children = new Set<ChildProcess>();
  private readonly daemonPids = new Set<number>();
  private cleaned = false;
  /** Given to every process this harness spawns as ARPD_TEST_HARNESS, and inherited by the daemons they start. */
  readonly mark = `${process.pid}-${randomUUID()}`;
  private readonly onExit = (): void => this.killEverythingNow();

  constructor(t: TeardownHost) {
    t.teardown(() => this.cleanup());
    process.once('exit', this.onExit);
  }

  /** A new empty data dir with a short path (mode 0700, as mkdtemp makes it). Removed at teardown. */
  newDataDir(): string {
    const dir = mkdtempSync('/tmp/arpd-');
    this.dirs.add(dir);
    return dir;
  }

  /** A data dir path that does not exist yet, inside a tracked temp dir. */
  freshDataDirPath(name = 'data'): string {
    return join(this.newDataDir(), name);
  }

  /** Remembers a pid to kill at teardown (if it is still an arpd process by then). */
  trackPid(pid: number): void {
    this.daemonPids.add(pid);
  }

  private argvOf(dir: string, args: readonly string[], opts: CliOptions): string[] {
    return [ARPD_JS, ...(opts.withDataDir === false ? [] : ['--data-dir', dir]), ...args];
  }

  /** Starts a CLI process that is expected to keep running; it is killed at teardown. */
  spawnCli(dir: string, args: readonly string[], opts: CliOptions = {}): RunningCli {
    const argv = this.argvOf(dir, args, opts);
    const child = spawn(process.execPath, argv, { env: cleanEnv({ [HARNESS_MARK]: this.mark, ...opts.env }), stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(child);
    let stdout = '';
    let stderr = '';
    const listeners = new Set<() => void>();
    child.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s; for (const l of listeners) l(); });
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; for (const l of listeners) l(); });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
    else child.stdin?.end();
    let timedOut = false;
    const limit = opts.timeoutMs ?? DEFAULT_CLI_TIMEOUT_MS;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, limit);
    let hasExited = false;
    const exited = new Promise<CliResult>((resolveExit) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        hasExited = true;
        clearTimeout(timer);
        this.children.delete(child);
        for (const l of listeners) l();
        resolveExit({ code, signal, stdout, stderr, timedOut, argv });
      };
      child.once('error', () => done(-1, null));
      child.once('close', done);
    });
    if (child.pid === undefined) throw new Error(`could not spawn ${argv.join(' ')}`);
    const pid = child.pid;
    return {
      child,
      pid,
      stdout: () => stdout,
      stderr: () => stderr,
      exited,
      kill: (signal = 'SIGTERM') => { if (!hasExited) child.kill(signal); },
      waitForOutput: (what, pred, timeoutMs = 30_000) => new Promise<void>((resolveWait, rejectWait) => {
        const check = (): void => {
          if (pred(stdout, stderr)) { finish(); resolveWait(); return; }
          if (hasExited) { finish(); rejectWait(new Error(`${argv.slice(1).join(' ')} exited before ${what}:\nstdout: ${stdout}\nstderr: ${stderr}`)); }
        };
        const t = setTimeout(() => { finish(); rejectWait(new Error(`gave up waiting (${timeoutMs} ms) for ${what}:\nstdout: ${stdout}\nstderr: ${stderr}`)); }, timeoutMs);
        const finish = (): void => { clearTimeout(t); listeners.delete(check); };
        listeners.add(check);
        check();
      }),
    };
  }

  /** Runs `node dist/bin/arpd.js --data-dir <dir> ...args` to the end. */
  cli(dir: string, args: readonly string[], opts: CliOptions = {}): Promise<CliResult> {
    return this.spawnCli(dir, args, opts).exited;
  }

  /** `arpd daemon start --json --no-http …flags`; throws (with its output) unless it exits 0. */
  async startDaemon(dir: string, flags: readonly string[] = [], opts: CliOptions = {}): Promise<StartedDaemon> {
    const result = await this.cli(dir, ['daemon', 'start', '--json', '--no-http', ...flags], opts);
    if (result.code !== 0) throw new Error(`arpd daemon start exited with ${String(result.code ?? result.signal)}:\n${result.stdout}\n${result.stderr}`);
    const status = JSON.parse(result.stdout) as Record<string, unknown>;
    const pid = status['pid'];
    if (typeof pid !== 'number') throw new Error(`arpd daemon start printed no pid: ${result.stdout}`);
    this.trackPid(pid);
    return { pid, status, result };
  }

  /** `arpd daemon status --json`: the status when running (exit 0), undefined when not (exit 3). */
  async status(dir: string): Promise<Record<string, unknown> | undefined> {
    const r = await this.cli(dir, ['daemon', 'status', '--json']);
    if (r.code === 3) return undefined;
    if (r.code !== 0) throw new Error(`arpd daemon status exited with ${String(r.code ?? r.signal)}: ${r.stderr}`);
    const status = JSON.parse(r.stdout) as Record<string, unknown>;
    if (typeof status['pid'] === 'number') this.trackPid(status['pid']);
    return status;
  }

  /** Every event of the data dir's log, read from the files (`arpd events --json`, no daemon needed). */
  async events(dir: string, types: readonly string[] = []): Promise<EventLine[]> {
    const r = await this.cli(dir, ['events', '--json', ...types.flatMap((ty) => ['--type', ty])]);
    if (r.code !== 0) throw new Error(`arpd events exited with ${String(r.code ?? r.signal)}: ${r.stderr}`);
    return parseNdjson<EventLine>(r.stdout);
  }

  /** Every pid that may belong to this harness and is still an arpd process of one of its dirs. */
  private leftoverPids(): number[] {
    const pids = new Set<number>(runProcesses([...this.dirs], this.mark).filter(isRunning));
    for (const dir of this.dirs) {
      const fromFiles = [pidFilePid(dir), lockPid(dir)];
      for (const p of fromFiles) if (p !== undefined && this.isOurs(p)) pids.add(p);
    }
    for (const p of this.daemonPids) if (this.isOurs(p)) pids.add(p);
    for (const c of this.children) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) pids.add(c.pid);
    return [...pids];
  }

  /** A pid counts as ours only while its command line names one of our dirs, or it is an arpd process with our mark (a reused pid is left alone). */
  private isOurs(pid: number): boolean {
    if (!isRunning(pid)) return false;
    const argv = cmdlineOf(pid);
    if (argv === undefined) return false;
    return [...this.dirs].some((d) => argv.some((a) => a === d || a.startsWith(`${d}/`))) || isRunProcess(argv, environOf(pid), [], this.mark);
  }

  /** Stops every process (SIGTERM, then SIGKILL after a grace) and removes every temp dir. */
  async cleanup(): Promise<void> {
    if (this.cleaned) return;
    this.cleaned = true;
    const pids = this.leftoverPids();
    for (const pid of pids) {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    }
    const deadline = Date.now() + 3000;
    while (pids.some(isRunning) && Date.now() < deadline) await sleep(50);
    for (const pid of pids) {
      if (isRunning(pid)) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
    const killDeadline = Date.now() + 3000;
    while (pids.some(isRunning) && Date.now() < killDeadline) await sleep(50);
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    process.off('exit', this.onExit);
  }

  /** Last resort when the test process exits without teardown (a timeout): SIGKILL by pid, synchronously. */
  private killEverythingNow(): void {
    if (this.cleaned) return;
    for (const pid of this.leftoverPids()) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    for (const dir of this.dirs) {
      try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort */ }
    }
  }
}

/** A harness whose processes and temp dirs are cleaned up in `t.teardown`. */
export function daemonHarness(t: TeardownHost): DaemonHarness {
  if (!existsSync(ARPD_JS)) throw new Error(`${ARPD_JS} is missing: run 'npm run build' first (the tests run against dist/)`);
  return new DaemonHarness(t);
}
