// The install cache shared by the pip and npm drivers: one directory per (profile, spec, install options), installed
// once, published atomically, reused until deleted.
//
// Layout under `root` (e.g. <dataDir>/venvs/<profile>):
//   <key>                   a symlink (a junction on Windows) to the finished install; what callers use
//   <key>.d-<pid>-<hex>/    the real directory; installed in place and never renamed afterwards, because a venv's
//                           console scripts carry its absolute path in their #! line
//   <key>/.arpd-installed   the marker (JSON), written last; a cache hit requires it
//   <key>.install.log       the full output of the latest install attempt
//
// An install happens in a fresh <key>.d-* directory; only when it is complete (marker written) does the <key> link
// appear, with one symlink(2), so a crash mid-install never leaves something that looks ready. A failed or aborted
// install removes its directory. Leftovers of crashed installs (their pid is gone) are removed before the next install.
// In one process, concurrent callers share one install; across processes the link is the arbiter: whoever creates it
// first wins, the other removes its own directory and uses the winner's.
//
// Length: over 300 lines because the layout above is one protocol (claim, install, mark, publish, reap) whose steps
// must agree on names and order; it reads best in one place.
import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, readlink, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ArpdError } from '../errors/index.js';
import { canonicalJson } from '../ids/canonical-json.js';
import { InstallLog } from './exec-driver-step.js';

export const MARKER_FILE = '.arpd-installed';

export interface InstallMarker {
  v: 1;
  driver: 'pip' | 'npm';
  spec: string;
  key: string;
  options: Record<string, unknown>;
  installed_at: string;
  duration_ms: number;
  /** What the driver recorded: interpreter and tool versions, installed packages. */
  versions: Record<string, unknown>;
}

export interface InstallIo {
  log: InstallLog;
  /** Aborted when every caller waiting for this install has given up. */
  signal: AbortSignal;
  /** A short plain line for whoever waits ("pip install x==1…"). */
  progress(line: string): void;
}

export interface InstallPlan {
  driver: 'pip' | 'npm';
  spec: string;
  /** The directory holding this profile's installs. */
  root: string;
  /** From `installKey`: covers the spec and every option that changes what gets installed. */
  key: string;
  /** Recorded in the marker. */
  options: Record<string, unknown>;
  /** Installs into `dir` (created, empty); returns the marker's `versions`. */
  install(dir: string, io: InstallIo): Promise<Record<string, unknown>>;
}

export interface InstallOutcome {
  /** The published path, `<root>/<key>`. */
  dir: string;
  log: string;
  marker: InstallMarker;
  /** True when nothing was installed by this call: the marker was already there. */
  cached: boolean;
}

export interface EnsureOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((line: string) => void) | undefined;
}

/** The first 16 hex digits of the sha256 of the parts as canonical JSON (keys sorted, undefined dropped). */
export function installKey(parts: Record<string, unknown>): string {
  return createHash('sha256').update(canonicalJson(parts)).digest('hex').slice(0, 16);
}

export function installPaths(root: string, key: string): { dir: string; log: string } {
  return { dir: join(root, key), log: join(root, `${key}.install.log`) };
}

async function readMarkerAt(dir: string, plan: InstallPlan): Promise<InstallMarker | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, MARKER_FILE), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const m = JSON.parse(text) as Partial<InstallMarker>;
    if (m.v === 1 && m.driver === plan.driver && m.spec === plan.spec && m.key === plan.key) return m as InstallMarker;
  } catch {
    // a torn or foreign marker is no marker
  }
  return undefined;
}

/** The marker of a finished install of `plan`, or undefined. */
export function readInstalled(plan: InstallPlan): Promise<InstallMarker | undefined> {
  return readMarkerAt(installPaths(plan.root, plan.key).dir, plan);
}

/** Read through a call: TypeScript would otherwise keep an earlier narrowing of `aborted` across an await. */
function isAborted(signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true;
}

function canceled(spec: string): ArpdError {
  return new ArpdError('E_CANCELED', `the install of ${spec} was canceled`, { reason: 'aborted' });
}

interface Flight {
  promise: Promise<InstallOutcome>;
  controller: AbortController;
  waiters: number;
  listeners: Set<(line: string) => void>;
}

/** In-flight installs of this process, by published path. */
const flights = new Map<string, Flight>();
/** Install directories this process is writing now; never removed as leftovers. */
const ownedDirs = new Set<string>();

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function currentTarget(dir: string): Promise<string | undefined> {
  try {
    return basename(await readlink(dir));
  } catch {
    return undefined;
  }
}

/** Removes `<key>.d-*` / `<key>.link-*` left by installs whose process is gone (or by this process, but not in use). */
async function removeLeftovers(plan: InstallPlan): Promise<void> {
  const { dir } = installPaths(plan.root, plan.key);
  const target = await currentTarget(dir);
  const pattern = new RegExp(`^${plan.key}\\.(?:d|link)-(\\d+)-[0-9a-f]+$`);
  for (const name of await readdir(plan.root)) {
    const m = pattern.exec(name);
    if (m === null || name === target) continue;
    const full = join(plan.root, name);
    if (ownedDirs.has(full)) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && isAlive(pid)) continue;
    await rm(full, { recursive: true, force: true });
  }
}

function linkType(): 'junction' | 'dir' {
  return process.platform === 'win32' ? 'junction' : 'dir';
}

/** Makes `<root>/<key>` point at `realDir`; if another process got there first with a good install, uses theirs. */
async function publish(plan: InstallPlan, realDir: string, marker: InstallMarker): Promise<InstallMarker> {
  const { dir } = installPaths(plan.root, plan.key);
  // relative on POSIX so the data dir's own location does not matter to the link; junctions need absolute targets
  const target = process.platform === 'win32' ? realDir : basename(realDir);
  try {
    await symlink(target, dir, linkType());
    return marker;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const theirs = await readMarkerAt(dir, plan);
  if (theirs !== undefined) {
    await rm(realDir, { recursive: true, force: true });
    return theirs;
  }
  // a broken leftover (no marker): replace it
  const st = await lstat(dir);
  if (st.isSymbolicLink()) {
    const old = await currentTarget(dir);
    const tmpLink = join(plan.root, `${plan.key}.link-${process.pid}-${randomBytes(4).toString('hex')}`);
    await symlink(target, tmpLink, linkType());
    await rename(tmpLink, dir);
    if (old !== undefined && old.startsWith(`${plan.key}.d-`)) await rm(join(plan.root, old), { recursive: true, force: true });
  } else {
    await rm(dir, { recursive: true, force: true });
    await symlink(target, dir, linkType());
  }
  return marker;
}

async function runInstall(plan: InstallPlan, signal: AbortSignal, progress: (line: string) => void): Promise<InstallOutcome> {
  const paths = installPaths(plan.root, plan.key);
  const started = Date.now();
  const realDir = join(plan.root, `${plan.key}.d-${process.pid}-${randomBytes(4).toString('hex')}`);
  ownedDirs.add(realDir);
  let log: InstallLog | undefined;
  try {
    await mkdir(plan.root, { recursive: true, mode: 0o700 });
    await removeLeftovers(plan);
    await mkdir(realDir, { mode: 0o700 });
    log = await InstallLog.create(paths.log);
    await log.line(`# arpd ${plan.driver} install of ${plan.spec} (key ${plan.key}) into ${realDir}, started ${new Date(started).toISOString()}`);
    await log.line(`# options ${JSON.stringify(plan.options)}`);
    const versions = await plan.install(realDir, { log, signal, progress });
    if (signal.aborted) throw canceled(plan.spec);
    const durationMs = Date.now() - started;
    const marker: InstallMarker = {
      v: 1,
      driver: plan.driver,
      spec: plan.spec,
      key: plan.key,
      options: plan.options,
      installed_at: new Date().toISOString(),
      duration_ms: durationMs,
      versions,
    };
    const markerTmp = join(realDir, `${MARKER_FILE}.tmp`);
    await writeFile(markerTmp, `${JSON.stringify(marker, null, 2)}\n`, { mode: 0o600 });
    await rename(markerTmp, join(realDir, MARKER_FILE));
    const published = await publish(plan, realDir, marker);
    const seconds = (durationMs / 1000).toFixed(1);
    await log.line(`# installed in ${seconds}s`);
    progress(`installed ${plan.spec} in ${seconds}s`);
    return { dir: paths.dir, log: paths.log, marker: published, cached: false };
  } catch (err) {
    await log?.line(`# install failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`).catch(() => undefined);
    await rm(realDir, { recursive: true, force: true });
    if (err instanceof ArpdError) throw err;
    throw new ArpdError('E_INSTALL_FAILED', `the install of ${plan.spec} failed: ${err instanceof Error ? err.message : String(err)}`, { log: paths.log, exit_code: null, tail: '' }, { cause: err });
  } finally {
    ownedDirs.delete(realDir);
    await log?.close();
  }
}

function startFlight(plan: InstallPlan, dir: string): Flight {
  const controller = new AbortController();
  const listeners = new Set<(line: string) => void>();
  const progress = (line: string): void => {
    for (const listener of listeners) {
      try {
        listener(line);
      } catch {
        // a listener's failure is not the install's
      }
    }
  };
  const promise: Promise<InstallOutcome> = runInstall(plan, controller.signal, progress).finally(() => {
    if (flights.get(dir)?.promise === promise) flights.delete(dir);
  });
  promise.catch(() => undefined);
  const flight: Flight = { promise, controller, waiters: 0, listeners };
  flights.set(dir, flight);
  return flight;
}

/**
 * The finished install of `plan`: the cached one when its marker is there, else a new install (shared with any other
 * caller in this process asking for the same one). `signal` aborts this caller's wait; the install itself is aborted
 * (its child killed, its directory removed) when the last waiting caller aborts, and that caller's E_CANCELED comes
 * after the clean-up.
 */
export async function ensureInstalled(plan: InstallPlan, opts: EnsureOptions = {}): Promise<InstallOutcome> {
  const { signal, onProgress } = opts;
  if (isAborted(signal)) throw canceled(plan.spec);
  const paths = installPaths(plan.root, plan.key);
  const say = (line: string): void => {
    try {
      onProgress?.(line);
    } catch {
      // progress is best effort
    }
  };

  let flight = flights.get(paths.dir);
  if (flight === undefined) {
    const hit = await readInstalled(plan);
    if (hit !== undefined) {
      say(`using the installed ${plan.spec} in ${paths.dir} (installed ${hit.installed_at})`);
      return { dir: paths.dir, log: paths.log, marker: hit, cached: true };
    }
    if (isAborted(signal)) throw canceled(plan.spec);
    flight = flights.get(paths.dir) ?? startFlight(plan, paths.dir);
  } else {
    say(`an install of ${plan.spec} is already running; waiting for it…`);
  }

  flight.waiters += 1;
  if (onProgress !== undefined) flight.listeners.add(say);
  let counted = true;
  try {
    if (signal === undefined) return await flight.promise;
    let onAbort = (): void => undefined;
    const aborted = new Promise<'aborted'>((resolve) => {
      onAbort = () => resolve('aborted');
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const first = await Promise.race([flight.promise.then(() => 'settled' as const, () => 'settled' as const), aborted]);
    signal.removeEventListener('abort', onAbort);
    if (first === 'settled') return await flight.promise;

    flight.waiters -= 1;
    counted = false;
    if (flight.waiters === 0) {
      if (flights.get(paths.dir) === flight) flights.delete(paths.dir);
      flight.controller.abort();
      await flight.promise.catch(() => undefined);
    }
    throw canceled(plan.spec);
  } finally {
    if (counted) flight.waiters -= 1;
    flight.listeners.delete(say);
  }
}
