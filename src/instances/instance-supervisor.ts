import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, readFileSync, readSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { instanceDir } from '../config/data-dir.js';
import type { DaemonContext } from '../daemon/daemon-context.js';
import { ArpdError, toArpdError } from '../errors/index.js';
import type { JsonObject } from '../events/event-types.js';
import type { AppendInput } from '../events/log-store.js';
import { LIVE_INSTANCE_STATES, type InstanceView } from '../projections/registry-types.js';
import { bootId, isSameProcess, processStartTime, type ProcessIdentity } from '../system/process-identity.js';
import { parseArpdRuntimeOptions, parseExecConfig, type ArpdRuntimeOptions } from './exec-config.js';
import { prepareLaunch, type DriverContext } from './exec-driver.js';
import { findListeningUrl, resolveLaunch } from './launch.js';
import { runtimeTraceDirOf } from './launch-plan.js';
import { runtimeClient } from './runtime-client.js';

/**
 * The reactor that owns runtime processes. It starts managed instances (own process group, no shell,
 * output to size-capped files), waits until they are healthy, supervises them (exit → error at once,
 * restart policy), health-checks external instances, stops instances (SIGTERM to the group, grace,
 * SIGKILL; `stopped` only once the process is gone), and adopts live instances after a daemon
 * restart (same pid AND start time AND healthy, else recorded gone; a pid that does not match is
 * never signalled). Everything it sees happen is recorded as an event.
 */

export interface SupervisorOptions {
  host: string;
  allowUnsafe: boolean;
  /** Health check interval for ready instances (managed and external). */
  healthIntervalMs: number;
  /** Overrides the profiles' health timeout when set (tests). */
  healthTimeoutMs?: number | undefined;
  pip?: DriverContext['pip'];
  npm?: DriverContext['npm'];
  /** Per-file cap for an instance's stdout.log / stderr.log. */
  logCapBytes: number;
}

interface Managed {
  id: string;
  child: ChildProcess | undefined;
  identity: ProcessIdentity | undefined;
  exited: { code: number | null; signal: string | null } | undefined;
  exitWaiters: Array<() => void>;
  stopping: boolean;
  abort: AbortController;
  restarts: number;
  restartTimer: NodeJS.Timeout | undefined;
  healthFailures: number;
  lastHealth: number;
  /** Known before spawn when the command has a {port} placeholder. */
  endpoint: string | undefined;
}

const UNSAFE_PROFILE: JsonObject = { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0'] } } };

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function tailOf(path: string, lines = 20, maxBytes = 16 * 1024): string {
  try {
    const size = statSync(path).size;
    const fd = openSync(path, 'r');
    try {
      const n = Math.min(size, maxBytes);
      const buf = Buffer.alloc(n);
      readSync(fd, buf, 0, n, size - n);
      return buf.toString('utf8').split('\n').filter((l) => l.trim() !== '').slice(-lines).join('\n');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}


export class InstanceSupervisor {
  private readonly managed = new Map<string, Managed>();
  private readonly external = new Map<string, { failures: number; lastHealth: number; checking: boolean }>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly log: Logger;

  constructor(private readonly ctx: DaemonContext, private readonly opts: SupervisorOptions) {
    this.log = ctx.logger.child({ part: 'instances' });
  }

  private get reg() {
    return this.ctx.projection.registry;
  }

  /** Records facts about one instance, serialized with other commands on it. */
  private record(id: string, events: AppendInput[]): Promise<unknown> {
    if (this.ctx.store.failed !== undefined) return Promise.resolve();
    // Decided when it is written: nothing more is recorded about an instance that is stopped (a late
    // health check or exit never revives a deleted instance).
    return this.ctx.bus.execute([`instance:${id}`], (reg) => {
      const state = reg.instances.get(id)?.state;
      const keep = state !== undefined && state !== 'stopped' && !(state === 'stopping' && events.some((e) => e.type === 'instance.failed' || e.type === 'instance.ready'));
      return { events: keep ? events : [], result: () => undefined };
    }, { actor: 'supervisor' }).catch((err: unknown) => {
      this.log.error({ err, instance_id: id }, 'could not record an instance event');
    });
  }

  profileOptions(inst: Pick<InstanceView, 'runtime_profile' | 'unsafe'>): ArpdRuntimeOptions {
    const p = inst.runtime_profile === undefined ? undefined : this.reg.profiles.get(inst.runtime_profile);
    try {
      return parseArpdRuntimeOptions(p?.profile['extensions']);
    } catch {
      return parseArpdRuntimeOptions(undefined);
    }
  }

  // ---- boot ---------------------------------------------------------------------------------------

  async start(): Promise<void> {
    const live = [...this.reg.instances.values()].filter((i) => LIVE_INSTANCE_STATES.has(i.state) || (!i.managed && i.state === 'error'));
    await Promise.all(live.map((inst) => (inst.managed ? this.adopt(inst) : this.probeExternal(inst.instance_id, true))));
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(1000, this.opts.healthIntervalMs)));
    this.timer.unref();
  }

  private async adopt(inst: InstanceView): Promise<void> {
    const id = inst.instance_id;
    const identity: ProcessIdentity | undefined = inst.pid === undefined ? undefined : { pid: inst.pid, start_time: inst.pid_start_time ?? '', boot_id: inst.boot_id ?? '' };
    const alive = identity !== undefined && isSameProcess(identity);
    if (!alive) {
      if (inst.state === 'stopping') await this.record(id, [{ type: 'instance.stopped', data: { instance_id: id, reason: 'the process was gone when arpd restarted' } }]);
      else await this.record(id, [{ type: 'instance.failed', data: { instance_id: id, code: 'E_RUNTIME_LOST', reason: inst.pid === undefined ? 'arpd restarted before the instance had a process' : `runtime process ${inst.pid} was gone when arpd restarted` } }]);
      return;
    }
    const m = this.track(id);
    m.identity = identity;
    if (inst.state === 'stopping') {
      void this.stopProcess(id, inst.reason ?? 'stopping when arpd restarted');
      return;
    }
    let healthy = false;
    if (inst.runtime_api_endpoint !== undefined) {
      try {
        await runtimeClient.health(inst.runtime_api_endpoint, 2000);
        healthy = true;
      } catch { /* not healthy */ }
    }
    if (healthy && inst.runtime_api_endpoint !== undefined) {
      this.log.info({ instance_id: id, pid: identity.pid }, 'adopted a live instance');
      await this.record(id, [{ type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: inst.runtime_api_endpoint, adopted: true } }]);
      return;
    }
    // Ours (same pid and start time) but not answering: stop it rather than leave an orphan.
    await this.record(id, [{ type: 'instance.failed', data: { instance_id: id, code: 'E_RUNTIME_LOST', reason: 'runtime process was alive but not healthy when arpd restarted; it was stopped' } }]);
    this.signalGroup(identity, 'SIGTERM');
    this.managed.delete(id);
  }

  private track(id: string): Managed {
    let m = this.managed.get(id);
    if (m === undefined) {
      m = { id, child: undefined, identity: undefined, exited: undefined, exitWaiters: [], stopping: false, abort: new AbortController(), restarts: 0, restartTimer: undefined, healthFailures: 0, lastHealth: Date.now(), endpoint: undefined };
      this.managed.set(id, m);
    }
    return m;
  }

  // ---- launching ------------------------------------------------------------------------------------

  /** Starts the process of a requested instance (called after `instance.requested` is durable). */
  launch(id: string, onProgress?: (line: string) => void): void {
    const m = this.track(id);
    m.stopping = false;
    m.exited = undefined;
    m.abort = new AbortController();
    m.healthFailures = 0;
    void this.launchAttempt(m, onProgress).catch((err: unknown) => {
      this.log.error({ err, instance_id: id }, 'launch failed unexpectedly');
    });
  }

  private async launchAttempt(m: Managed, onProgress?: (line: string) => void): Promise<void> {
    const id = m.id;
    const inst = this.reg.instances.get(id);
    if (inst === undefined || this.closed) return;
    const profileName = inst.runtime_profile ?? 'default';
    // An unsafe (not safe-listed) profile runs the bundled reference runtime, never a command of the caller's.
    const profile: JsonObject | undefined = inst.unsafe === true ? UNSAFE_PROFILE : this.reg.profiles.get(profileName)?.profile;
    const fail = (code: string, reason: string, extra: Partial<{ exit_code: number | null; signal: string | null; stderr_tail: string }> = {}): Promise<unknown> =>
      this.record(id, [{ type: 'instance.failed', data: { instance_id: id, code, reason, ...extra } }]);
    if (profile === undefined) {
      await fail('E_NOT_FOUND', `runtime profile '${profileName}' was deleted before the instance started`);
      return;
    }
    let rt: ArpdRuntimeOptions;
    let argv: string[];
    let env: Record<string, string>;
    let cwd: string | undefined;
    try {
      const extensions = profile['extensions'];
      const exec = parseExecConfig(extensions, profileName);
      rt = parseArpdRuntimeOptions(extensions);
      const launch = await prepareLaunch(exec, {
        dataDir: this.ctx.paths.root,
        profile: profileName,
        ...(this.opts.pip === undefined ? {} : { pip: this.opts.pip }),
        ...(this.opts.npm === undefined ? {} : { npm: this.opts.npm }),
        onProgress: (line: string) => { this.log.info({ instance_id: id }, line); onProgress?.(line); },
        signal: m.abort.signal,
      });
      const plan = await resolveLaunch({
        launch,
        exec,
        defaults: profile['defaults'],
        overrides: inst.overrides,
        host: this.opts.host,
        runtimeTraceDir: runtimeTraceDirOf(this.ctx.paths.root),
        runsDir: this.ctx.paths.runs,
        instanceId: id,
      });
      ({ argv, env, cwd } = plan);
      m.endpoint = plan.endpoint;
    } catch (err) {
      if (m.stopping || this.closed) return; // deleted during the install: the stopper records what happened
      const e = toArpdError(err);
      await fail(e.code, e.message, e.data?.['tail'] === undefined ? {} : { stderr_tail: String(e.data['tail']) });
      return;
    }
    if (m.stopping || this.closed) return;

    const dir = instanceDir(this.ctx.paths, id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const outPath = join(dir, 'stdout.log');
    const errPath = join(dir, 'stderr.log');
    const outFd = openSync(outPath, 'a', 0o600);
    const errFd = openSync(errPath, 'a', 0o600);
    const outStart = statSync(outPath).size;
    let child: ChildProcess;
    try {
      child = spawn(argv[0] as string, argv.slice(1), { detached: true, stdio: ['ignore', outFd, errFd], env, ...(cwd === undefined ? {} : { cwd }), shell: false });
    } finally {
      closeSync(outFd);
      closeSync(errFd);
    }
    const spawnError = await new Promise<Error | undefined>((resolve) => {
      child.once('spawn', () => resolve(undefined));
      child.once('error', (err) => resolve(err));
    });
    if (spawnError !== undefined || child.pid === undefined) {
      await fail('E_RUNTIME_LOST', `could not start '${argv[0] ?? ''}': ${(spawnError as NodeJS.ErrnoException | undefined)?.code ?? spawnError?.message ?? 'no pid'}: check the profile's command`);
      return;
    }
    const pid = child.pid;
    m.child = child;
    m.identity = { pid, start_time: processStartTime(pid) ?? '', boot_id: bootId() };
    child.on('exit', (code, signal) => {
      m.exited = { code, signal };
      m.child = undefined;
      for (const w of m.exitWaiters.splice(0)) w();
      if (!m.stopping && !this.closed) void this.onUnexpectedExit(m, code, signal, errPath);
    });
    const attempt = (inst.attempt ?? 0) + 1;
    await this.record(id, [{ type: 'instance.starting', data: { instance_id: id, pid, pid_start_time: m.identity.start_time, boot_id: m.identity.boot_id, argv, attempt } }]);

    // Wait until it is healthy.
    const timeoutMs = this.opts.healthTimeoutMs ?? rt.healthTimeoutMs;
    const deadline = Date.now() + timeoutMs;
    let endpoint = m.endpoint;
    let version: { service_name?: string; service_version?: string } | undefined;
    let delay = 10;
    while (Date.now() < deadline && m.exited === undefined && !m.stopping && !this.closed) {
      if (endpoint === undefined) {
        try {
          endpoint = findListeningUrl(readFileSync(outPath, 'utf8').slice(outStart));
        } catch { /* not yet */ }
      }
      if (endpoint !== undefined) {
        try {
          await runtimeClient.health(endpoint, 1000);
          version = await runtimeClient.version(endpoint, 2000).catch(() => undefined);
          break;
        } catch { /* not yet */ }
      }
      await sleep(delay);
      delay = Math.min(delay * 2, 25); // short: readiness is noticed within 25 ms
    }
    if (m.exited !== undefined || m.stopping || this.closed) return; // the exit handler or the stopper records what happened
    if (version === undefined || endpoint === undefined) {
      const why = endpoint === undefined ? 'it never printed a listening line with its URL (or use {port} in its command)' : `GET ${endpoint}/v1/health never answered`;
      m.stopping = true; // this kill is ours, not a crash
      await fail('E_TIMEOUT', `runtime did not become healthy within ${timeoutMs / 1000}s: ${why}`, { stderr_tail: tailOf(errPath) });
      await this.killAndWait(m, rt.stopGraceMs);
      this.maybeRestart(m, rt);
      return;
    }
    m.healthFailures = 0;
    m.lastHealth = Date.now();
    await this.record(id, [{
      type: 'instance.ready',
      data: { instance_id: id, runtime_api_endpoint: endpoint, ...(version.service_name === undefined ? {} : { runtime_name: version.service_name }), ...(version.service_version === undefined ? {} : { runtime_version: version.service_version }) },
    }]);
  }

  private async onUnexpectedExit(m: Managed, code: number | null, signal: string | null, errPath: string): Promise<void> {
    const reason = signal !== null ? `runtime process was killed by ${signal}` : `runtime process exited with code ${code ?? '?'}`;
    this.log.warn({ instance_id: m.id, code, signal }, reason);
    await this.record(m.id, [{ type: 'instance.failed', data: { instance_id: m.id, code: 'E_RUNTIME_LOST', reason, exit_code: code, signal, stderr_tail: tailOf(errPath) } }]);
    const inst = this.reg.instances.get(m.id);
    if (inst !== undefined) this.maybeRestart(m, this.profileOptions(inst));
  }

  private maybeRestart(m: Managed, rt: ArpdRuntimeOptions): void {
    if (rt.restart !== 'on-failure' || this.closed) return;
    if (m.restarts >= rt.restartMax) {
      this.log.warn({ instance_id: m.id, restarts: m.restarts }, 'restart limit reached: the instance stays in error');
      return;
    }
    const delay = rt.restartBackoffMs * 2 ** m.restarts;
    m.restarts++;
    this.log.info({ instance_id: m.id, attempt: m.restarts, delay_ms: delay }, 'restarting after failure');
    m.restartTimer = setTimeout(() => {
      m.restartTimer = undefined;
      const inst = this.reg.instances.get(m.id);
      if (inst === undefined || inst.state !== 'error' || m.stopping || this.closed) return;
      this.launch(m.id);
    }, delay);
    m.restartTimer.unref();
  }

  // ---- stopping -------------------------------------------------------------------------------------

  private signalGroup(identity: ProcessIdentity, signal: NodeJS.Signals): boolean {
    if (!isSameProcess(identity)) return false;
    try {
      process.kill(-identity.pid, signal);
      return true;
    } catch {
      try { process.kill(identity.pid, signal); return true; } catch { return false; }
    }
  }

  private async waitExit(m: Managed, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    if (m.child !== undefined) {
      if (m.exited !== undefined) return true;
      await Promise.race([new Promise<void>((r) => m.exitWaiters.push(r)), sleep(ms)]);
      return m.exited !== undefined;
    }
    while (Date.now() < deadline) {
      if (m.identity === undefined || !isSameProcess(m.identity)) return true;
      await sleep(25);
    }
    return m.identity === undefined || !isSameProcess(m.identity);
  }

  private async killAndWait(m: Managed, graceMs: number): Promise<{ code: number | null; signal: string | null }> {
    if (m.identity !== undefined && (m.child !== undefined || isSameProcess(m.identity))) {
      this.signalGroup(m.identity, 'SIGTERM');
      if (!(await this.waitExit(m, graceMs))) {
        this.signalGroup(m.identity, 'SIGKILL');
        await this.waitExit(m, 5000);
      }
      // leftovers of the group (grandchildren) go too
      try { process.kill(-m.identity.pid, 'SIGKILL'); } catch { /* group gone */ }
    }
    return m.exited ?? { code: null, signal: null };
  }

  /** Stops the process of an instance whose `instance.stopping` is recorded, then records `stopped`. */
  async stopProcess(id: string, reason: string): Promise<void> {
    const m = this.track(id);
    m.stopping = true;
    m.abort.abort();
    if (m.restartTimer !== undefined) clearTimeout(m.restartTimer);
    const inst = this.reg.instances.get(id);
    const rt = inst === undefined ? parseArpdRuntimeOptions(undefined) : this.profileOptions(inst);
    if (m.identity === undefined && inst?.pid !== undefined) m.identity = { pid: inst.pid, start_time: inst.pid_start_time ?? '', boot_id: inst.boot_id ?? '' };
    const exit = await this.killAndWait(m, rt.stopGraceMs);
    this.managed.delete(id);
    await this.record(id, [{ type: 'instance.stopped', data: { instance_id: id, reason, exit_code: exit.code, signal: exit.signal } }]);
  }

  // ---- health ---------------------------------------------------------------------------------------

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    for (const inst of this.reg.instances.values()) {
      if (inst.managed) {
        if (inst.state !== 'ready' && inst.state !== 'busy') continue;
        const m = this.managed.get(inst.instance_id);
        if (m === undefined || m.stopping || now - m.lastHealth < this.opts.healthIntervalMs) continue;
        m.lastHealth = now;
        void this.checkManaged(m, inst);
      } else if (LIVE_INSTANCE_STATES.has(inst.state) || inst.state === 'error') {
        let e = this.external.get(inst.instance_id);
        if (e === undefined) { e = { failures: 0, lastHealth: 0, checking: false }; this.external.set(inst.instance_id, e); }
        if (e.checking || now - e.lastHealth < this.opts.healthIntervalMs) continue;
        e.lastHealth = now;
        void this.probeExternal(inst.instance_id, false);
      }
    }
    this.capLogs();
  }

  private async checkManaged(m: Managed, inst: InstanceView): Promise<void> {
    if (m.child === undefined && m.identity !== undefined && !isSameProcess(m.identity)) {
      // an adopted process (not our child) that went away
      m.stopping = true;
      this.managed.delete(m.id);
      await this.record(m.id, [{ type: 'instance.failed', data: { instance_id: m.id, code: 'E_RUNTIME_LOST', reason: `runtime process ${m.identity.pid} is gone` } }]);
      this.maybeRestart(m, this.profileOptions(inst));
      return;
    }
    if (inst.runtime_api_endpoint === undefined) return;
    try {
      await runtimeClient.health(inst.runtime_api_endpoint, 2000);
      m.healthFailures = 0;
    } catch {
      m.healthFailures++;
      if (m.healthFailures >= 3 && !m.stopping) {
        m.stopping = true;
        await this.record(m.id, [{ type: 'instance.failed', data: { instance_id: m.id, code: 'E_RUNTIME_LOST', reason: `health check failed ${m.healthFailures} times in a row; the process was stopped` } }]);
        await this.killAndWait(m, this.profileOptions(inst).stopGraceMs);
        m.stopping = false;
        this.maybeRestart(m, this.profileOptions(inst));
      }
    }
  }

  /** External instances: ready while healthy, error after two failed checks (or one at registration). */
  async probeExternal(id: string, first: boolean): Promise<void> {
    const inst = this.reg.instances.get(id);
    if (inst === undefined || inst.managed || inst.runtime_api_endpoint === undefined) return;
    let e = this.external.get(id);
    if (e === undefined) { e = { failures: 0, lastHealth: Date.now(), checking: false }; this.external.set(id, e); }
    e.checking = true;
    try {
      await runtimeClient.health(inst.runtime_api_endpoint, 2000);
      e.failures = 0;
      if (inst.state !== 'ready' && inst.state !== 'busy') {
        const v = await runtimeClient.version(inst.runtime_api_endpoint, 2000).catch(() => undefined);
        await this.record(id, [{
          type: 'instance.ready',
          data: {
            instance_id: id, runtime_api_endpoint: inst.runtime_api_endpoint,
            ...(v?.service_name === undefined || inst.runtime_name !== undefined ? {} : { runtime_name: v.service_name }),
            ...(v?.service_version === undefined ? {} : { runtime_version: v.service_version }),
          },
        }]);
      }
    } catch (err) {
      e.failures++;
      const now = this.reg.instances.get(id);
      if (now !== undefined && now.state !== 'error' && now.state !== 'stopped' && (first || e.failures >= 2)) {
        await this.record(id, [{ type: 'instance.failed', data: { instance_id: id, code: 'E_RUNTIME_LOST', reason: `health check of ${inst.runtime_api_endpoint} failed: ${toArpdError(err).message}` } }]);
      }
    } finally {
      e.checking = false;
    }
  }

  private capLogs(): void {
    for (const m of this.managed.values()) {
      for (const name of ['stdout.log', 'stderr.log']) {
        const path = join(this.ctx.paths.instances, m.id, name);
        try {
          if (statSync(path).size > this.opts.logCapBytes) {
            copyFileSync(path, `${path}.1`);
            truncateSync(path, 0); // the child writes with O_APPEND: it goes on at the new end
          }
        } catch { /* no file yet */ }
      }
    }
  }

  // ---- shutdown -------------------------------------------------------------------------------------

  liveManaged(): string[] {
    return [...this.reg.instances.values()].filter((i) => i.managed && LIVE_INSTANCE_STATES.has(i.state)).map((i) => i.instance_id);
  }

  /** At daemon shutdown: stop every managed instance, or leave them running for the next start to adopt. */
  async shutdown(keep: boolean): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer);
    for (const m of this.managed.values()) if (m.restartTimer !== undefined) clearTimeout(m.restartTimer);
    if (keep) {
      this.closed = true;
      for (const m of this.managed.values()) m.child?.unref();
      return;
    }
    const ids = this.liveManaged();
    await Promise.all(ids.map(async (id) => {
      await this.record(id, [{ type: 'instance.stopping', data: { instance_id: id, reason: 'arpd is shutting down' } }]);
      await this.stopProcess(id, 'arpd shut down');
    }));
    this.closed = true;
  }

  assertOpen(): void {
    if (this.closed) throw new ArpdError('E_UNAVAILABLE', 'the daemon is shutting down: try again once it has restarted');
  }

  snapshotExtras(inst: InstanceView): JsonObject {
    const m = this.managed.get(inst.instance_id);
    return { supervised: m !== undefined, ...(m?.restarts ? { restarts: m.restarts } : {}) };
  }
}
