import { spawn } from 'node:child_process';
import { closeSync, fdatasyncSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataPaths } from '../config/data-dir.js';
import { ArpdError, isErrorCode, storageErrno } from '../errors/index.js';
import { checkSocketPath } from '../protocol/socket-path.js';
import type { DaemonStatus } from './client-types.js';
import { probeStatus } from './probe-status.js';

/** The exit status a daemon uses when another one holds the lock (see src/daemon/daemon.ts). */
const EXIT_LOCKED = 75;
/** The most of the boot log read back to explain a failed start. */
const BOOT_LOG_TAIL_BYTES = 64 * 1024;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface StartOptions {
  paths: DataPaths;
  timeoutMs: number;
  /** Extra `arpd serve` flags (idle timeout, HTTP options, …). */
  serveArgs?: string[];
}

export interface StartResult {
  alreadyRunning: boolean;
  status: DaemonStatus;
}

/**
 * The command that starts `arpd serve`: this same node, running arpd's own CLI entry point (found
 * beside this file: `dist/bin/arpd.js`, or `bin/arpd.ts` when arpd runs from its sources under a
 * TypeScript loader, whose flags are then passed on).
 */
function daemonCommand(): { cmd: string; args: string[] } {
  const fromSources = import.meta.url.endsWith('.ts');
  const entry = fileURLToPath(new URL(fromSources ? '../../bin/arpd.ts' : '../../bin/arpd.js', import.meta.url));
  return { cmd: process.execPath, args: [...(fromSources ? process.execArgv : []), entry] };
}

function sizeOf(path: string): number {
  try { return statSync(path).size; } catch { return 0; }
}

/** What a file gained since `from` (at most the last BOOT_LOG_TAIL_BYTES of it). */
function readSince(path: string, from: number): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = statSync(path).size;
    const start = Math.max(from, size - BOOT_LOG_TAIL_BYTES);
    const buf = Buffer.alloc(Math.max(0, size - start));
    readSync(fd, buf, 0, buf.length, start);
    return buf.toString('utf8');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const ERROR_LINE = /^arpd: error: (.*) \[(E_[A-Z_]+)\]\s*$/;

/**
 * Why a daemon exited before it was ready, as one ArpdError: the `arpd: error: … [CODE]` line it
 * printed (its code and message, not wrapped in another), else where to look.
 */
export function startFailure(bootText: string, bootLog: string, exit: { code: number | null; signal: NodeJS.Signals | null }): ArpdError {
  const how = exit.signal ?? `exit code ${String(exit.code)}`;
  const lines = bootText.split('\n').map((l) => l.trimEnd()).reverse();
  for (const line of lines) {
    const m = ERROR_LINE.exec(line);
    if (m !== null && isErrorCode(m[2])) {
      return new ArpdError(m[2], `the daemon could not start: ${m[1] ?? ''}`, { exit_code: exit.code, signal: exit.signal, boot_log: bootLog });
    }
  }
  return new ArpdError('E_UNAVAILABLE', `the daemon exited before it was ready (${how}) without an error line: see ${bootLog}`, { exit_code: exit.code, signal: exit.signal, boot_log: bootLog });
}

/** `err` as E_STORAGE when it is a write the data dir cannot take, else undefined. */
function storageFault(dir: string, err: unknown): ArpdError | undefined {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  const known = storageErrno(errno);
  if (known === undefined) return undefined;
  return new ArpdError('E_STORAGE', `the daemon cannot write its data dir ${dir}: ${known.what} (${String(errno)}): ${known.fix}, then start arpd again`, { path: dir, errno }, { cause: err });
}

/**
 * Why the data dir cannot take a write, if it cannot (a probe file written, synced and removed): a daemon that
 * failed there could not write its error line to the boot log either.
 */
function unwritable(dir: string): ArpdError | undefined {
  const probe = join(dir, `.write-probe-${process.pid}`);
  try {
    const fd = openSync(probe, 'w', 0o600);
    try {
      writeSync(fd, Buffer.alloc(4096));
      fdatasyncSync(fd);
    } finally {
      closeSync(fd);
    }
    return undefined;
  } catch (err) {
    return storageFault(dir, err);
  } finally {
    try { rmSync(probe, { force: true }); } catch { /* a read-only dir has no probe to remove */ }
  }
}

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return v !== null && typeof v === 'object' ? v as Record<string, unknown> : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The daemon holding the data dir's lock, when its pid file (the same process: pid and start time) names another
 * socket than ours: a starter waiting for our socket would wait for nothing.
 */
function holderOnOtherSocket(paths: DataPaths): { pid: number; socket: string } | undefined {
  const lock = readJson(paths.lock);
  const pid = readJson(paths.pid);
  if (lock === undefined || pid === undefined || typeof pid['pid'] !== 'number' || typeof pid['socket'] !== 'string') return undefined;
  if (lock['pid'] !== pid['pid'] || lock['start_time'] !== pid['start_time'] || pid['socket'] === paths.socket) return undefined;
  return { pid: pid['pid'], socket: pid['socket'] };
}

/**
 * The flags whose value may hold a password (a store URL, a collector URL with user info), and the variable a
 * detached daemon gets each in instead: a command line is readable by every user of the host (`ps`,
 * /proc/<pid>/cmdline) for as long as the daemon runs; its environment only by its own user. The daemon reads each
 * variable as it reads the flag (serve-options.ts), and `daemon restart` reads them back (daemon-control.ts).
 */
export const SECRET_FLAGS: ReadonlyArray<readonly [flag: string, variable: string]> = [
  ['--store', 'ARPD_STORE_URL'],
  ['--otlp-endpoint', 'OTEL_EXPORTER_OTLP_ENDPOINT'],
];

/**
 * Whether a value goes in the environment: a store URL always (a password may also come from a `password=` parameter);
 * a collector URL only with user info (else it stays a flag, and a bad one is named as the flag in the refusal).
 */
function isSecret(variable: string, value: string): boolean {
  return variable === 'ARPD_STORE_URL' || /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*@/i.test(value);
}

/** Those flags taken out of a detached daemon's flags, into its environment; the last one given wins, as for `arpd serve`. */
function secretsOutOfArgs(serveArgs: readonly string[]): { args: string[]; env: Record<string, string> } {
  const args: string[] = [];
  const env: Record<string, string> = {};
  for (let i = 0; i < serveArgs.length; i++) {
    const a = serveArgs[i] as string;
    const secret = SECRET_FLAGS.find(([flag]) => a === flag || a.startsWith(`${flag}=`));
    const value = secret === undefined ? undefined : a === secret[0] ? serveArgs[i + 1] : a.slice(secret[0].length + 1);
    if (secret === undefined || value === undefined || !isSecret(secret[1], value)) { args.push(a); continue; }
    env[secret[1]] = value;
    if (a === secret[0]) i++;
  }
  return { args, env };
}

/**
 * Starts the daemon detached (own session, stdio to `logs/boot.log`) and returns once it is ready
 * (lock held, log replayed, socket answering). Several starters at once yield one daemon: the losers'
 * daemons exit with EXIT_LOCKED and their starters wait for the winner's socket and for that exit; only the starter
 * whose own daemon answers says it started one (`alreadyRunning: false`).
 */
export async function startDetached(o: StartOptions): Promise<StartResult> {
  checkSocketPath(o.paths.socket);
  const existing = await probeStatus(o.paths.socket);
  if (existing !== undefined) return { alreadyRunning: true, status: existing };
  const bootLog = `${o.paths.logs}/boot.log`;
  const bootFrom = sizeOf(bootLog);
  let fd: number;
  try {
    mkdirSync(o.paths.root, { recursive: true, mode: 0o700 });
    mkdirSync(o.paths.logs, { recursive: true, mode: 0o700 });
    fd = openSync(bootLog, 'a', 0o600);
  } catch (err) {
    // a recursive mkdir on a read-only file system fails with ENOENT (Node 20): the probe finds EROFS
    throw storageFault(o.paths.root, err) ?? unwritable(o.paths.root) ?? err;
  }
  const self = daemonCommand();
  const { args: serveArgs, env: secrets } = secretsOutOfArgs(o.serveArgs ?? []);
  const args = [...self.args, 'serve', '--detached-child', '--data-dir', o.paths.root, '--socket', o.paths.socket, ...serveArgs];
  const env = Object.keys(secrets).length === 0 ? process.env : { ...process.env, ...secrets };
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let childPid: number | undefined;
  try {
    const child = spawn(self.cmd, args, { detached: true, stdio: ['ignore', fd, fd], env });
    childPid = child.pid;
    child.once('exit', (code, signal) => { exited = { code, signal }; });
    child.once('error', () => { exited = { code: -1, signal: null }; });
    child.unref();
  } finally {
    closeSync(fd);
  }
  const deadline = Date.now() + o.timeoutMs;
  let delay = 20;
  while (Date.now() < deadline) {
    const status = await probeStatus(o.paths.socket, 1000);
    if (status !== undefined && status.pid === childPid && exited === undefined) return { alreadyRunning: false, status };
    if (status !== undefined) {
      // another starter's daemon answers; ours is still booting: wait for it to find the lock held and exit, else it
      // could take the data dir later, once that daemon stops, and run on with nobody having asked for it
      while (exited === undefined && Date.now() < deadline) await sleep(20);
      return { alreadyRunning: true, status };
    }
    if (exited?.code === EXIT_LOCKED) {
      // the data dir's daemon runs; it answers on our socket unless it was started with another one
      const other = holderOnOtherSocket(o.paths);
      if (other !== undefined) {
        throw new ArpdError('E_LOCKED', `the daemon of ${o.paths.root} (pid ${other.pid}) is already running on socket ${other.socket}, not ${o.paths.socket}: use that socket (--socket ${other.socket}), or stop it first ('arpd --socket ${other.socket} daemon stop')`, { pid: other.pid, socket: other.socket, data_dir: o.paths.root });
      }
    }
    if (exited !== undefined && exited.code !== EXIT_LOCKED) {
      const failure = startFailure(readSince(bootLog, bootFrom), bootLog, exited);
      // no error line may mean it could not write one: a full or read-only data dir says so itself
      throw failure.code === 'E_UNAVAILABLE' ? unwritable(o.paths.root) ?? failure : failure;
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
  throw new ArpdError('E_TIMEOUT', `the daemon did not become ready within ${Math.round(o.timeoutMs / 1000)}s: see ${bootLog} and ${o.paths.daemonLog}`, { boot_log: bootLog });
}
