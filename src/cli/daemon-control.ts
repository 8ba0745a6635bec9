import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { connect, type RpcClient } from '../client/index.js';
import type { DataPaths } from '../config/data-dir.js';
import { ArpdError } from '../errors/index.js';
import { readPidFile, type PidInfo } from '../daemon/pid-file.js';
import { checkSocketPath } from '../server/socket-server.js';
import { isSameProcess } from '../system/process-identity.js';

/** The exit status a daemon uses when another one holds the lock (see src/daemon/daemon.ts). */
const EXIT_LOCKED = 75;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface StartOptions {
  paths: DataPaths;
  timeoutMs: number;
  /** Extra `arpd serve` flags (idle timeout, HTTP options, …). */
  serveArgs?: string[];
}

export interface StartResult {
  alreadyRunning: boolean;
  status: Record<string, unknown>;
}

function tail(path: string, fromOffset: number, maxLines = 20): string {
  try {
    const text = readFileSync(path, 'utf8').slice(fromOffset);
    return text.split('\n').filter((l) => l.trim() !== '').slice(-maxLines).join('\n');
  } catch {
    return '';
  }
}

function sizeOf(path: string): number {
  try { return statSync(path).size; } catch { return 0; }
}

/** Asks the daemon on the socket for its status, or undefined if nothing answers. */
export async function probeStatus(paths: DataPaths, timeoutMs = 2000): Promise<Record<string, unknown> | undefined> {
  let client: RpcClient | undefined;
  try {
    client = await connect(paths.socket, { connectTimeoutMs: timeoutMs, timeoutMs });
    return await client.call<Record<string, unknown>>('daemon.status', {});
  } catch {
    return undefined;
  } finally {
    await client?.close().catch(() => undefined);
  }
}

/** The command that runs this CLI again (same node, same flags such as a TypeScript loader). */
function selfCommand(): { cmd: string; args: string[] } {
  const script = process.argv[1];
  if (script === undefined) throw new ArpdError('E_INTERNAL', 'cannot find the arpd entry script to start the daemon');
  return { cmd: process.execPath, args: [...process.execArgv, script] };
}

/**
 * Starts the daemon detached (own session, stdio to `logs/boot.log`) and returns once it is ready
 * (lock held, log replayed, socket answering). Several starters at once yield one daemon: the losers'
 * daemons exit with EXIT_LOCKED and their starters wait for the winner's socket.
 */
export async function startDetached(o: StartOptions): Promise<StartResult> {
  checkSocketPath(o.paths.socket);
  const existing = await probeStatus(o.paths);
  if (existing !== undefined) return { alreadyRunning: true, status: existing };
  mkdirSync(o.paths.logs, { recursive: true, mode: 0o700 });
  const bootLog = `${o.paths.logs}/boot.log`;
  const bootFrom = sizeOf(bootLog);
  const daemonLogFrom = sizeOf(o.paths.daemonLog);
  const fd = openSync(bootLog, 'a', 0o600);
  const self = selfCommand();
  const args = [...self.args, 'serve', '--detached-child', '--data-dir', o.paths.root, '--socket', o.paths.socket, ...(o.serveArgs ?? [])];
  const child = spawn(self.cmd, args, { detached: true, stdio: ['ignore', fd, fd], env: process.env });
  closeSync(fd);
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.once('exit', (code, signal) => { exited = { code, signal }; });
  child.once('error', (err) => { exited = { code: -1, signal: null }; void err; });
  child.unref();
  const deadline = Date.now() + o.timeoutMs;
  let delay = 20;
  while (Date.now() < deadline) {
    const status = await probeStatus(o.paths, 1000);
    if (status !== undefined) return { alreadyRunning: exited !== undefined, status };
    if (exited !== undefined && exited.code !== EXIT_LOCKED) {
      const why = [tail(bootLog, bootFrom), tail(o.paths.daemonLog, daemonLogFrom, 5)].filter((s) => s !== '').join('\n');
      throw new ArpdError('E_UNAVAILABLE', `the daemon exited before it was ready (${exited.signal ?? `exit code ${exited.code}`}):\n${why || '(no output)'}`, { exit_code: exited.code, signal: exited.signal, boot_log: bootLog });
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 200);
  }
  throw new ArpdError('E_TIMEOUT', `the daemon did not become ready within ${Math.round(o.timeoutMs / 1000)}s: see ${bootLog} and ${o.paths.daemonLog}`, { boot_log: bootLog });
}

export interface StopResult {
  wasRunning: boolean;
  how: 'request' | 'SIGTERM' | 'SIGKILL' | 'not-running';
  pid?: number;
}

function gone(info: PidInfo): boolean {
  return !isSameProcess(info);
}

async function waitGone(info: PidInfo, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (gone(info)) return true;
    await sleep(50);
  }
  return gone(info);
}

/**
 * Stops the daemon: ask over the socket, wait for the process to exit, then SIGTERM, then SIGKILL,
 * each only after checking the pid still belongs to the daemon recorded (pid + start time), so a
 * reused pid is never signalled. Pid file and socket are removed only once the process is gone.
 */
export async function stopDaemon(paths: DataPaths, opts: { graceMs?: number; termMs?: number; keepInstances?: boolean; reason?: string } = {}): Promise<StopResult> {
  const grace = opts.graceMs ?? 15_000;
  const termWait = opts.termMs ?? 5_000;
  let info = readPidFile(paths.pid);
  let asked = false;
  try {
    const client = await connect(paths.socket, { connectTimeoutMs: 2000, timeoutMs: 5000 });
    try {
      const status = await client.call<{ pid?: number }>('daemon.status', {});
      await client.call('daemon.shutdown', { reason: opts.reason ?? 'arpd daemon stop', ...(opts.keepInstances === true ? { keep_instances: true } : {}) });
      asked = true;
      if (info === undefined || info.pid !== status.pid) info = readPidFile(paths.pid) ?? info;
    } finally {
      await client.close().catch(() => undefined);
    }
  } catch (err) {
    if (!(err instanceof ArpdError) || (err.code !== 'E_DAEMON_NOT_RUNNING' && err.code !== 'E_UNAVAILABLE' && err.code !== 'E_TIMEOUT')) throw err;
  }
  if (info === undefined || gone(info)) {
    if (info !== undefined) rmSync(paths.pid, { force: true });
    if (!asked) {
      cleanStaleSocket(paths);
      return { wasRunning: false, how: 'not-running' };
    }
    return { wasRunning: true, how: 'request', ...(info === undefined ? {} : { pid: info.pid }) };
  }
  if (asked && await waitGone(info, grace)) return { wasRunning: true, how: 'request', pid: info.pid };
  if (!gone(info)) {
    try { process.kill(info.pid, 'SIGTERM'); } catch { /* gone meanwhile */ }
    if (await waitGone(info, termWait)) { cleanup(paths, info); return { wasRunning: true, how: 'SIGTERM', pid: info.pid }; }
  }
  if (!gone(info)) {
    try { process.kill(info.pid, 'SIGKILL'); } catch { /* gone meanwhile */ }
    if (await waitGone(info, 5000)) { cleanup(paths, info); return { wasRunning: true, how: 'SIGKILL', pid: info.pid }; }
  }
  throw new ArpdError('E_UNAVAILABLE', `could not stop the daemon (pid ${info.pid}): it survived SIGKILL; check the process by hand`, { pid: info.pid });
}

function cleanup(paths: DataPaths, info: PidInfo): void {
  const now = readPidFile(paths.pid);
  if (now === undefined || now.pid === info.pid) rmSync(paths.pid, { force: true });
  rmSync(paths.socket, { force: true });
}

/** A socket file with no daemon behind it (after a kill -9) is removed by the next start anyway; stop tidies it too. */
function cleanStaleSocket(paths: DataPaths): void {
  const info = readPidFile(paths.pid);
  if (info !== undefined && !gone(info)) return;
  if (existsSync(paths.socket)) rmSync(paths.socket, { force: true });
}
