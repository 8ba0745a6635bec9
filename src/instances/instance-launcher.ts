import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { instanceDir, type DataPaths } from '../config/data-dir.js';
import { ArpdError } from '../errors/index.js';
import type { JsonObject } from '../events/event-types.js';
import type { InstanceView } from '../projections/registry-types.js';
import type { RuntimeClient } from '../runtime-client/runtime-client.js';
import type { VersionInfo } from '../schemas/index.js';
import { bootId, processStartTime, type ProcessIdentity } from '../system/process-identity.js';
import { execBytes, parseArpdRuntimeOptions, parseExecConfig, type ArpdRuntimeOptions } from './exec-config.js';
import { prepareLaunch, type NpmInstallOptions, type PipInstallOptions } from './exec-driver.js';
import { InstanceProcess, tailOf } from './instance-process.js';
import { findListeningUrl, resolveLaunch } from './launch.js';

/**
 * Starting one managed runtime process: install what its driver needs, work out the exact argv and
 * environment, spawn it without a shell in a process group of its own with its output going to
 * size-capped files, and wait until it answers its health and version checks as an ARP runtime.
 */

export interface LaunchDeps {
  paths: DataPaths;
  host: string;
  client: RuntimeClient;
  pip?: PipInstallOptions | undefined;
  npm?: NpmInstallOptions | undefined;
  onProgress?: ((line: string) => void) | undefined;
}

export interface Spawned {
  proc: InstanceProcess;
  pid: number;
  identity: ProcessIdentity;
  argv: string[];
  /** Known before it listens when its command has {port}. */
  endpoint: string | undefined;
  outStart: number;
  rt: ArpdRuntimeOptions;
}

/** Profile to run for an instance started from a profile that is not on the safe list (--allow-unsafe-runtime-profiles): the reference runtime, never a caller's command. */
const UNSAFE_PROFILE: JsonObject = { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0'] } } };

export function profileToRun(inst: InstanceView, safeList: ReadonlyMap<string, { profile: JsonObject }>): JsonObject | undefined {
  if (inst.unsafe === true) return UNSAFE_PROFILE;
  return inst.runtime_profile === undefined ? undefined : safeList.get(inst.runtime_profile)?.profile;
}

/**
 * Installs (when the driver needs it) and spawns the runtime of a requested instance. Throws an
 * ArpdError to record as the instance's failure (bad exec config, failed install, spawn error).
 */
export async function spawnInstance(deps: LaunchDeps, inst: InstanceView, profile: JsonObject, signal: AbortSignal, onExit: (proc: InstanceProcess, code: number | null, signal: string | null) => void): Promise<Spawned> {
  const id = inst.instance_id;
  const profileName = inst.runtime_profile ?? 'default';
  const extensions = profile['extensions'];
  const exec = parseExecConfig(extensions, profileName);
  const rt = parseArpdRuntimeOptions(extensions);
  const launch = await prepareLaunch(exec, {
    dataDir: deps.paths.root,
    profile: profileName,
    ...(deps.pip === undefined ? {} : { pip: deps.pip }),
    ...(deps.npm === undefined ? {} : { npm: deps.npm }),
    onProgress: deps.onProgress,
    signal,
  });
  if (signal.aborted) throw new ArpdError('E_CANCELED', 'the instance was deleted while it was being installed');
  const plan = await resolveLaunch({
    launch,
    exec,
    defaults: profile['defaults'],
    overrides: inst.overrides,
    host: deps.host,
    runtimeTraceDir: deps.paths.runtimeTraces,
    runsDir: deps.paths.runs,
    instanceId: id,
  });
  const { argv, env, endpoint } = plan;

  const dir = instanceDir(deps.paths, id);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const outPath = join(dir, 'stdout.log');
  const errPath = join(dir, 'stderr.log');
  const outFd = openSync(outPath, 'a', 0o600);
  const errFd = openSync(errPath, 'a', 0o600);
  const outStart = statSync(outPath).size;
  let child: ChildProcess;
  try {
    child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ['ignore', outFd, errFd], env, ...(plan.cwd === undefined ? {} : { cwd: plan.cwd }), shell: false });
  } catch (err) {
    // node throws some exec errors (E2BIG among them) here instead of emitting 'error'
    if (typeof (err as NodeJS.ErrnoException).code !== 'string') throw err;
    throw spawnFailure(argv, env, err as NodeJS.ErrnoException);
  } finally {
    closeSync(outFd);
    closeSync(errFd);
  }
  const spawnError = await new Promise<Error | undefined>((resolve) => {
    child.once('spawn', () => resolve(undefined));
    child.once('error', (err) => resolve(err));
  });
  if (spawnError !== undefined || child.pid === undefined) throw spawnFailure(argv, env, spawnError);
  const pid = child.pid;
  const identity: ProcessIdentity = { pid, start_time: processStartTime(pid) ?? '', boot_id: bootId() };
  const proc = new InstanceProcess(id, identity, outPath, errPath);
  proc.attach(child, identity, (code, sig) => onExit(proc, code, sig));
  return { proc, pid, identity, argv, endpoint, outStart, rt };
}

/** Why the runtime's process could not be started (E_RUNTIME_LOST with the errno in `data.errno`), saying what to do. */
export function spawnFailure(argv: readonly string[], env: Readonly<Record<string, string>>, err: NodeJS.ErrnoException | Error | undefined): ArpdError {
  const program = argv[0] ?? '';
  const errno = (err as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'E2BIG') {
    const total = execBytes(argv, env);
    return new ArpdError('E_RUNTIME_LOST', `could not start '${program}': E2BIG: its arguments and environment (${total} bytes, ${execBytes([], env)} of them environment, the daemon's own included) are more than the operating system accepts for one program (about 2 MiB on Linux): shorten the profile's arguments and env (its defaults, the instance's overrides), or the daemon's environment, or put large data in a file and pass its path`, { errno, total_bytes: total }, { cause: err });
  }
  const cause = errno ?? err?.message ?? 'no pid';
  return new ArpdError('E_RUNTIME_LOST', `could not start '${program}': ${cause}: check the profile's command`, errno === undefined ? undefined : { errno }, { cause: err });
}

export type Readiness =
  | { ready: true; endpoint: string; version: VersionInfo }
  | { ready: false; reason: string; code: string; stderr_tail: string };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Waits until the spawned runtime answers GET /v1/health and /v1/version as an ARP runtime (checked
 * against the schemas). Its URL is known from {port}, or read from its "listening" stdout line.
 * Gives up when the process exits, is being stopped, or the timeout passes.
 */
export async function waitUntilReady(deps: LaunchDeps, s: Spawned, timeoutMs: number): Promise<Readiness | undefined> {
  const deadline = Date.now() + timeoutMs;
  let endpoint = s.endpoint;
  let lastProblem: string | undefined;
  let delay = 10;
  while (Date.now() < deadline && s.proc.exited === undefined && !s.proc.stopping) {
    if (endpoint === undefined) {
      try {
        endpoint = findListeningUrl(readFileSync(s.proc.outPath, 'utf8').slice(s.outStart));
      } catch { /* not yet */ }
    }
    if (endpoint !== undefined) {
      try {
        const health = await deps.client.health(endpoint, 1000);
        if (health.status === 'down') throw new ArpdError('E_NOT_READY', `its health says down${health.checks?.[0]?.message === undefined ? '' : `: ${health.checks[0].message}`}`);
        const version = await deps.client.version(endpoint, 2000);
        return { ready: true, endpoint, version };
      } catch (err) {
        if (err instanceof ArpdError && (err.code === 'E_BAD_RUNTIME' || err.code === 'E_NOT_READY' || err.code === 'E_RUNTIME_ERROR')) lastProblem = err.message;
      }
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 25); // short: readiness is noticed within 25 ms
  }
  if (s.proc.exited !== undefined || s.proc.stopping) return undefined; // the exit handler or the stopper records what happened
  const why = endpoint === undefined
    ? 'it never printed a listening line with its URL (or use {port} in its command)'
    : lastProblem !== undefined ? `it does not answer as an ARP runtime: ${lastProblem}` : `GET ${endpoint}/v1/health never answered`;
  return { ready: false, code: lastProblem !== undefined ? 'E_BAD_RUNTIME' : 'E_TIMEOUT', reason: `runtime did not become healthy within ${timeoutMs / 1000}s: ${why}`, stderr_tail: tailOf(s.proc.errPath) };
}
