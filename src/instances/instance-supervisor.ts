import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Command, CommandDataMap, CommandType } from '../commands/command-types.js';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import { toArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { LIVE_INSTANCE_STATES, type InstanceView } from '../projections/registry-types.js';
import { actsOnInstance } from '../policy/ownership.js';
import { restartDecision } from '../policy/restart-policy.js';
import { optionsOfInstance } from '../policy/runtime-options.js';
import { isSameProcess, type ProcessIdentity } from '../system/process-identity.js';
import { instanceDir } from '../config/data-dir.js';
import { join } from 'node:path';
import { InstanceProcess, tailOf } from './instance-process.js';
import { profileToRun, spawnInstance, waitUntilReady, type LaunchDeps } from './instance-launcher.js';

/**
 * The reactor that owns the runtime processes of this host. It acts on events, never on calls:
 * `instance.requested` / `instance.restarting` → install, spawn and wait until ready;
 * `instance.stopping` → SIGTERM the process group, grace, SIGKILL, then record it stopped;
 * `instance.failed` → the restart policy (pure, src/policy) may schedule a `RestartInstance`.
 * A process that exits on its own is recorded as failed at once. At start it adopts the processes a
 * previous daemon left running (same pid AND start time AND healthy), and records the others gone.
 * Everything it sees happen goes through the command bus; the only state of its own is the process
 * handles, which cannot live anywhere else. When daemons share a store it acts only on the managed instances of
 * its own node (`instance.requested` names the node that spawns it).
 *
 * Length: just over 300 lines because install, spawn, readiness, stop escalation and adoption share the process
 * handles; the process itself is instance-process.ts, the launch instance-launcher.ts.
 */
export class InstanceSupervisor implements Component {
  readonly name = 'instances';
  private readonly procs = new Map<string, InstanceProcess>();
  private readonly launching = new Map<string, AbortController>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly stoppingNow = new Map<string, Promise<void>>();
  private sub: Subscription | undefined;
  private capTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly log: Logger;
  private readonly deps: LaunchDeps;

  constructor(private readonly ctx: DaemonContext) {
    this.log = ctx.logger.child({ part: 'instances' });
    const o = ctx.options.instances ?? {};
    this.deps = {
      paths: ctx.paths,
      host: o.host ?? '127.0.0.1',
      client: ctx.client,
      ...(o.pip === undefined ? {} : { pip: o.pip }),
      ...(o.npm === undefined ? {} : { npm: o.npm }),
    };
  }

  private get state() {
    return this.ctx.state;
  }

  /** Is this managed instance this node's (always, with a single daemon)? */
  private mine(inst: InstanceView): boolean {
    return inst.managed && actsOnInstance(this.state, this.ctx.node?.id, inst);
  }

  private record(cmd: Command): Promise<void> {
    return this.ctx.executeRetrying(cmd).then(() => undefined, (err: unknown) => {
      const e = toArpdError(err);
      if (e.code !== 'E_UNAVAILABLE' && e.code !== 'E_STORAGE') this.log.error({ err, command: cmd.type }, 'could not record what an instance did');
    });
  }

  private cmd<K extends CommandType>(type: K, data: CommandDataMap[K]): Extract<Command, { type: K }> {
    return this.ctx.command(type, data, 'supervisor');
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  async start(): Promise<void> {
    this.sub = this.ctx.events$.subscribe((e) => this.onEvent(e));
    const mine = [...this.state.instances.values()].filter((i) => this.mine(i) && (LIVE_INSTANCE_STATES.has(i.state) || i.state === 'error'));
    await Promise.all(mine.map((inst) => (inst.state === 'error' ? this.afterFailureAtStart(inst) : this.adopt(inst))));
    const cap = this.ctx.options.instances?.logCapBytes ?? 10 * 1024 * 1024;
    this.capTimer = setInterval(() => { for (const p of this.procs.values()) p.capLogs(cap); }, 1000);
    this.capTimer.unref();
  }

  /** At shutdown: stop every managed process (recorded stopping, then stopped), or leave them for the next daemon to adopt. */
  async stop({ keepInstances }: { keepInstances: boolean }): Promise<void> {
    this.sub?.unsubscribe();
    if (this.capTimer !== undefined) clearInterval(this.capTimer);
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    if (keepInstances) {
      this.closed = true;
      for (const a of this.launching.values()) a.abort();
      for (const p of this.procs.values()) p.child?.unref();
      return;
    }
    const live = [...this.state.instances.values()].filter((i) => this.mine(i) && LIVE_INSTANCE_STATES.has(i.state));
    await Promise.all(live.map(async (inst) => {
      await this.record(this.cmd('StopInstance', { id: inst.instance_id, reason: 'arpd is shutting down' }));
      await this.stopOne(inst.instance_id, 'arpd shut down');
    }));
    await Promise.all(this.stoppingNow.values());
    this.closed = true;
  }

  busy(): boolean {
    return this.launching.size > 0 || this.stoppingNow.size > 0;
  }

  status(): Record<string, unknown> {
    return { processes: this.procs.size, installing: this.launching.size };
  }

  private onEvent(e: StoredEvent): void {
    if (this.closed) return;
    switch (e.type) {
      case 'instance.requested':
      case 'instance.restarting':
        void this.launch(e.data.instance_id);
        return;
      case 'instance.stopping':
        void this.stopOne(e.data.instance_id, e.data.reason);
        return;
      case 'instance.failed': {
        const inst = this.state.instances.get(e.data.instance_id);
        if (inst !== undefined && this.mine(inst)) void this.afterFailure(inst);
        return;
      }
      case 'profile.upserted':
        // a fixed profile may revive instances whose restart was refused for a missing profile
        return;
      default:
        return;
    }
  }

  // ---- starting -----------------------------------------------------------------------------------

  private async launch(id: string): Promise<void> {
    const inst = this.state.instances.get(id);
    if (inst === undefined || !this.mine(inst) || inst.state !== 'starting' || this.launching.has(id) || this.procs.get(id)?.alive() === true) return;
    const profile = profileToRun(inst, this.state.profiles);
    if (profile === undefined) {
      await this.record(this.cmd('RecordInstanceFailure', { instance_id: id, code: 'E_NOT_FOUND', reason: `runtime profile '${inst.runtime_profile ?? '?'}' was deleted before the instance started` }));
      return;
    }
    const abort = new AbortController();
    this.launching.set(id, abort);
    try {
      let spawned;
      try {
        spawned = await spawnInstance(
          { ...this.deps, onProgress: (line) => { this.log.info({ instance_id: id }, line); this.ctx.notifications.emit('instance.progress', id, line); } },
          inst, profile, abort.signal,
          (proc, code, signal) => { void this.onExit(proc, code, signal); },
        );
      } catch (err) {
        if (abort.signal.aborted || this.closed) return; // deleted during the install: the stopper records what happened
        const e = toArpdError(err);
        // the instance's reason is short; the log keeps the whole error (an E_INTERNAL one says to look here)
        if (e.code === 'E_INTERNAL') this.log.error({ instance_id: id, err }, 'could not start the instance');
        else this.log.warn({ instance_id: id, code: e.code, ...(e.data?.['errno'] === undefined ? {} : { errno: e.data['errno'] }) }, `could not start the instance: ${e.message}`);
        await this.record(this.cmd('RecordInstanceFailure', { instance_id: id, code: e.code, reason: e.message, ...(e.data?.['tail'] === undefined ? {} : { stderr_tail: String(e.data['tail']) }) }));
        return;
      }
      if (abort.signal.aborted || this.closed) {
        await spawned.proc.stop(spawned.rt.stopGraceMs);
        return;
      }
      this.procs.set(id, spawned.proc);
      await this.record(this.cmd('RecordInstanceStarting', {
        instance_id: id, pid: spawned.pid, pid_start_time: spawned.identity.start_time, boot_id: spawned.identity.boot_id, argv: spawned.argv, attempt: inst.attempt + 1,
        ...(spawned.endpoint === undefined ? {} : { endpoint: spawned.endpoint }),
      }));
      const timeoutMs = this.ctx.options.instances?.healthTimeoutMs ?? spawned.rt.healthTimeoutMs;
      const r = await waitUntilReady(this.deps, spawned, timeoutMs);
      if (r === undefined) return;
      if (r.ready) {
        await this.record(this.cmd('MarkInstanceReady', {
          instance_id: id, endpoint: r.endpoint,
          ...(r.version.service_name === undefined ? {} : { runtime_name: r.version.service_name }),
          ...(r.version.service_version === undefined ? {} : { runtime_version: r.version.service_version }),
        }));
        return;
      }
      spawned.proc.stopping = true; // this kill is ours, not a crash
      this.log.warn({ instance_id: id, code: r.code }, r.reason);
      await this.record(this.cmd('RecordInstanceFailure', { instance_id: id, code: r.code, reason: r.reason, stderr_tail: r.stderr_tail }));
      await spawned.proc.stop(spawned.rt.stopGraceMs);
      this.procs.delete(id);
    } finally {
      this.launching.delete(id);
    }
  }

  private async onExit(proc: InstanceProcess, code: number | null, signal: string | null): Promise<void> {
    if (proc.stopping || this.closed) return;
    if (this.procs.get(proc.id) === proc) this.procs.delete(proc.id);
    const reason = signal !== null ? `runtime process was killed by ${signal}` : `runtime process exited with code ${code ?? '?'}`;
    this.log.warn({ instance_id: proc.id, code, signal }, reason);
    await this.record(this.cmd('RecordInstanceFailure', { instance_id: proc.id, code: 'E_RUNTIME_LOST', reason, exit_code: code, signal, stderr_tail: tailOf(proc.errPath) }));
  }

  /** A failed instance whose process still runs (it stopped answering its health checks) is killed, then the restart policy decides. */
  private async afterFailure(inst: InstanceView): Promise<void> {
    const proc = this.procs.get(inst.instance_id);
    if (proc !== undefined && proc.alive() && !proc.stopping) {
      await proc.stop(optionsOfInstance(this.state, inst).stopGraceMs);
      this.procs.delete(inst.instance_id);
    }
    const now = this.state.instances.get(inst.instance_id);
    if (now !== undefined) await this.considerRestart(now);
  }

  /**
   * A failed instance found at start: a process of it that still runs (its failure was recorded while this daemon
   * was away, e.g. by another node that recorded this one lost) is stopped, then the restart policy decides.
   */
  private async afterFailureAtStart(inst: InstanceView): Promise<void> {
    if (inst.pid !== undefined) {
      const identity = { pid: inst.pid, start_time: inst.pid_start_time ?? '', boot_id: inst.boot_id ?? '' };
      if (isSameProcess(identity)) {
        const dir = instanceDir(this.ctx.paths, inst.instance_id);
        this.log.warn({ instance_id: inst.instance_id, pid: inst.pid }, 'stopping the process of an instance recorded failed while arpd was away');
        const proc = new InstanceProcess(inst.instance_id, identity, join(dir, 'stdout.log'), join(dir, 'stderr.log'));
        proc.stopping = true;
        await proc.stop(optionsOfInstance(this.state, inst).stopGraceMs);
      }
    }
    await this.considerRestart(inst);
  }

  private async considerRestart(inst: InstanceView): Promise<void> {
    if (this.closed || this.restartTimers.has(inst.instance_id)) return;
    const r = restartDecision(inst, optionsOfInstance(this.state, inst));
    if (!r.restart) {
      if (inst.state === 'error' && inst.restarts > 0) this.log.warn({ instance_id: inst.instance_id, restarts: inst.restarts }, `not restarting: ${r.why}`);
      return;
    }
    // the backoff runs from the failure, so a daemon restart does not restart it early
    const wait = Math.max(0, Date.parse(inst.updated_at) + r.delayMs - this.ctx.now().getTime());
    this.log.info({ instance_id: inst.instance_id, attempt: r.attempt, delay_ms: wait }, 'restarting after failure');
    const t = setTimeout(() => {
      this.restartTimers.delete(inst.instance_id);
      if (!this.closed) void this.record(this.cmd('RestartInstance', { instance_id: inst.instance_id }));
    }, wait);
    t.unref();
    this.restartTimers.set(inst.instance_id, t);
  }

  // ---- adopting ---------------------------------------------------------------------------------

  private async adopt(inst: InstanceView): Promise<void> {
    const id = inst.instance_id;
    const identity: ProcessIdentity | undefined = inst.pid === undefined ? undefined : { pid: inst.pid, start_time: inst.pid_start_time ?? '', boot_id: inst.boot_id ?? '' };
    if (identity === undefined || !isSameProcess(identity)) {
      if (inst.state === 'stopping') await this.record(this.cmd('RecordInstanceStopped', { instance_id: id, reason: 'the process was gone when arpd restarted' }));
      else await this.record(this.cmd('RecordInstanceFailure', { instance_id: id, code: 'E_RUNTIME_LOST', reason: inst.pid === undefined ? 'arpd restarted before the instance had a process' : `runtime process ${inst.pid} was gone when arpd restarted` }));
      return;
    }
    const dir = instanceDir(this.ctx.paths, id);
    const proc = new InstanceProcess(id, identity, join(dir, 'stdout.log'), join(dir, 'stderr.log'));
    this.procs.set(id, proc);
    if (inst.state === 'stopping') {
      void this.stopOne(id, inst.reason ?? 'stopping when arpd restarted');
      return;
    }
    if (inst.runtime_api_endpoint !== undefined) {
      try {
        await this.ctx.client.health(inst.runtime_api_endpoint, 2000);
        this.log.info({ instance_id: id, pid: identity.pid }, 'adopted a live instance');
        await this.record(this.cmd('MarkInstanceReady', { instance_id: id, endpoint: inst.runtime_api_endpoint, adopted: true }));
        return;
      } catch { /* not healthy */ }
    }
    // Ours (same pid and start time) but not answering: stop it rather than leave an orphan.
    proc.stopping = true;
    await this.record(this.cmd('RecordInstanceFailure', { instance_id: id, code: 'E_RUNTIME_LOST', reason: 'runtime process was alive but not healthy when arpd restarted; it was stopped' }));
    await proc.stop(optionsOfInstance(this.state, inst).stopGraceMs);
    this.procs.delete(id);
  }

  // ---- stopping ---------------------------------------------------------------------------------

  /** Stops the process of an instance whose `instance.stopping` is recorded, then records `stopped`. */
  private stopOne(id: string, reason: string): Promise<void> {
    const running = this.stoppingNow.get(id);
    if (running !== undefined) return running;
    const p = this.doStop(id, reason).finally(() => this.stoppingNow.delete(id));
    this.stoppingNow.set(id, p);
    return p;
  }

  private async doStop(id: string, reason: string): Promise<void> {
    const inst = this.state.instances.get(id);
    if (inst === undefined || !this.mine(inst)) return;
    this.launching.get(id)?.abort();
    const t = this.restartTimers.get(id);
    if (t !== undefined) { clearTimeout(t); this.restartTimers.delete(id); }
    let proc = this.procs.get(id);
    if (proc === undefined && inst.pid !== undefined) {
      const dir = instanceDir(this.ctx.paths, id);
      proc = new InstanceProcess(id, { pid: inst.pid, start_time: inst.pid_start_time ?? '', boot_id: inst.boot_id ?? '' }, join(dir, 'stdout.log'), join(dir, 'stderr.log'));
    }
    const exit = proc === undefined ? { code: null, signal: null } : await proc.stop(optionsOfInstance(this.state, inst).stopGraceMs);
    this.procs.delete(id);
    await this.record(this.cmd('RecordInstanceStopped', { instance_id: id, reason, exit_code: exit.code, signal: exit.signal }));
  }
}

