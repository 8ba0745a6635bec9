import { lstatSync, readFileSync, rmSync } from 'node:fs';
import { connect } from '../client/rpc-client.js';
import { SECRET_FLAGS } from '../client/daemon-start.js';
import type { DataPaths } from '../config/data-dir.js';
import { ArpdError } from '../errors/index.js';
import { readPidFile, type PidInfo } from '../daemon/pid-file.js';
import { isSameProcess } from '../system/process-identity.js';
import { flagSpec } from './argv-check.js';
import { GLOBAL_OPTIONS } from './global-options.js';
import { storeValuesOf } from './serve-options.js';

/** Starting lives in the client (`src/client/daemon-start.ts`), shared with `connect({ autostart })`. */
export { probeStatus } from '../client/probe-status.js';
export { startDetached } from '../client/daemon-start.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

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
    const client = await connect(paths.socket, { connectTimeoutMs: 2000, timeoutMs: 5000, retries: 0 });
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
  if (isSocket(paths.socket)) rmSync(paths.socket, { force: true });
}

/** A socket file with no daemon behind it (after a kill -9) is removed by the next start anyway; stop tidies it too. */
function cleanStaleSocket(paths: DataPaths): void {
  const info = readPidFile(paths.pid);
  if (info !== undefined && !gone(info)) return;
  if (isSocket(paths.socket)) rmSync(paths.socket, { force: true });
}

/** Only a socket is ever removed at the socket path: a file there is the user's (`--socket` pointing at it by mistake). */
export function isSocket(path: string): boolean {
  try { return lstatSync(path).isSocket(); } catch { return false; }
}

/**
 * Options of the CLI, not of the daemon, by spelling (true: takes a value): every global option (from the one list,
 * `GLOBAL_OPTIONS`) and `serve`'s internal `--detached-child` (added by `arpd daemon start`). A foreground `arpd serve`
 * may have been given them; a restart leaves them out.
 */
export const CLI_ONLY_FLAGS: ReadonlyMap<string, boolean> = new Map([
  ['--detached-child', false],
  ...GLOBAL_OPTIONS.map((o) => flagSpec(o.flag, [])).flatMap((f) => f.spellings.map((s) => [s, f.takesValue] as const)),
]);

/**
 * The `arpd serve` flags the running daemon of `paths` was started with, read from its command line
 * (`/proc/<pid>/cmdline`, the process recorded in the pid file: pid and start time), without the options of the CLI
 * itself (`--data-dir` and `--socket` a start adds again). Undefined when no daemon runs or its command line cannot be read.
 */
export function runningServeArgs(paths: DataPaths): string[] | undefined {
  const info = readPidFile(paths.pid);
  if (info === undefined || gone(info)) return undefined;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${info.pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
  if (argv[argv.length - 1] === '') argv.pop();
  // a detached daemon gets its --store URL (and a collector URL with a password) in its environment, not on its
  // command line (SECRET_FLAGS, daemon-start.ts): they are its flags all the same (a restart from a shell without
  // those variables keeps them)
  let environ: Map<string, string> | undefined;
  try {
    environ = new Map(readFileSync(`/proc/${info.pid}/environ`, 'utf8').split('\0').map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  } catch {
    // another user's daemon: its environment is not ours to read
  }
  if (gone(info)) return undefined; // what was read may be the command line of a pid reused meanwhile
  // `node …/arpd.js serve FLAGS` (a start, or a foreground serve), or JARVIS's server mode `node …/arpd.js --host H --port P`
  const entry = argv.findIndex((a) => /(^|\/)arpd(\.[jt]s)?$/.test(a));
  if (entry === -1) return undefined;
  const out: string[] = [];
  let command = false;
  for (let i = entry + 1; i < argv.length; i++) {
    const a = argv[i] as string;
    const name = a.includes('=') ? a.slice(0, a.indexOf('=')) : a;
    const takesValue = CLI_ONLY_FLAGS.get(name);
    if (takesValue === true && !a.includes('=')) i++;
    else if (takesValue === undefined && !command && a === 'serve') command = true;
    else if (takesValue === undefined) out.push(a);
  }
  return environ === undefined ? out : withSecretVariables(out, (variable) => environ.get(variable));
}

/**
 * `args` with each flag of SECRET_FLAGS that it does not give taken from its variable (when set and not empty): the
 * flags a daemon runs with, whether given on its command line or in its environment.
 */
export function withSecretVariables(args: readonly string[], variable: (name: string) => string | undefined): string[] {
  const out = [...args];
  for (const [flag, name] of SECRET_FLAGS) {
    const value = variable(name);
    if (value === undefined || value === '') continue;
    const given = flag === '--store' ? storeValuesOf(out).length > 0 : out.some((a) => a === flag || a.startsWith(`${flag}=`));
    if (!given) out.push(flag, value);
  }
  return out;
}
