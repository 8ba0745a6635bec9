import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Command } from '../commands/command-types.js';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import { toArpdError } from '../errors/index.js';
import { LIVE_INSTANCE_STATES, SERVING_INSTANCE_STATES, type InstanceView } from '../projections/registry-types.js';
import { actsOnInstance } from '../policy/ownership.js';
import { isSameProcess, parentPid } from '../system/process-identity.js';

/** Told of each health check's latency and outcome (metrics). */
export interface HealthObserver {
  onCheck?(ms: number, ok: boolean): void;
}

/**
 * Health checks, as a reactor: ready managed instances are checked every `health interval` (their
 * process must still be the recorded one, and GET /v1/health must answer as an ARP runtime; three
 * failures in a row record the instance failed, and the supervisor then stops the process); external
 * instances are probed when registered (one failure fails them) and then at the same interval (two
 * failures fail them; a failed one that answers again is ready again). The only state of its own is
 * the count of failures in a row, which is about this process's checks, not about the instance. When daemons share
 * a store, each instance is checked by one node: a managed one by its own node, an external one at a loopback address
 * by the node that registered it only (never adopted: another node's 127.0.0.1 is another machine), any other external
 * one by the node that registered it while that node is joined, else by the joined node with the smallest id
 * (src/policy/ownership.ts).
 */
export class HealthMonitor implements Component {
  readonly name = 'health';
  private readonly streak = new Map<string, number>();
  private readonly lastCheck = new Map<string, number>();
  private readonly checking = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;
  private closed = false;
  private readonly log: Logger;
  private readonly intervalMs: number;

  constructor(private readonly ctx: DaemonContext, private readonly observer: HealthObserver = {}) {
    this.log = ctx.logger.child({ part: 'health' });
    this.intervalMs = ctx.options.instances?.healthIntervalMs ?? 5000;
  }

  start(): void {
    this.sub = this.ctx.events$.subscribe((e) => {
      if (e.type === 'instance.registered') void this.probeExternal(e.data.instance_id, true);
    });
    // externals recorded before this start (a restart) are probed now, as at registration
    for (const inst of this.ctx.state.instances.values()) {
      if (!inst.managed && this.mine(inst) && (LIVE_INSTANCE_STATES.has(inst.state) || inst.state === 'error')) void this.probeExternal(inst.instance_id, inst.state === 'starting');
    }
    this.timer = setInterval(() => this.tick(), Math.max(50, Math.min(1000, this.intervalMs)));
    this.timer.unref();
  }

  stop(): void {
    this.closed = true;
    this.sub?.unsubscribe();
    if (this.timer !== undefined) clearInterval(this.timer);
  }

  /** Is the instance checked by this node (always, with a single daemon)? */
  private mine(inst: InstanceView): boolean {
    return actsOnInstance(this.ctx.state, this.ctx.node?.id, inst);
  }

  private record(cmd: Command): Promise<void> {
    return this.ctx.bus.execute(cmd).then(() => undefined, (err: unknown) => {
      const e = toArpdError(err);
      if (e.code !== 'E_UNAVAILABLE' && e.code !== 'E_STORAGE') this.log.error({ err, command: cmd.type }, 'could not record a health check');
    });
  }

  /** A health call, its latency and outcome told to the observer. */
  private timed<T>(call: () => Promise<T>): Promise<T> {
    const onCheck = this.observer.onCheck;
    if (onCheck === undefined) return call();
    const t0 = performance.now();
    return call().then(
      (v) => { onCheck(performance.now() - t0, true); return v; },
      (err: unknown) => { onCheck(performance.now() - t0, false); throw err; },
    );
  }

  private due(id: string, now: number): boolean {
    if (this.checking.has(id)) return false;
    const last = this.lastCheck.get(id) ?? 0;
    if (now - last < this.intervalMs) return false;
    this.lastCheck.set(id, now);
    return true;
  }

  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    const s = this.ctx.state;
    for (const state of ['ready', 'busy', 'starting', 'error'] as const) {
      for (const id of s.instanceIdsInState(state)) {
        const inst = s.instances.get(id);
        if (inst === undefined || !this.mine(inst)) continue;
        if (inst.managed) {
          if (SERVING_INSTANCE_STATES.has(inst.state) && this.due(id, now)) void this.checkManaged(inst);
        } else if (this.due(id, now)) {
          void this.probeExternal(id, false);
        }
      }
    }
  }

  private async checkManaged(inst: InstanceView): Promise<void> {
    const id = inst.instance_id;
    // a process this daemon started is reported by its own exit (with the exit code or signal); this catches adopted ones
    const ours = inst.pid !== undefined && parentPid(inst.pid) === process.pid;
    if (inst.pid !== undefined && !ours && !isSameProcess({ pid: inst.pid, start_time: inst.pid_start_time ?? '', boot_id: inst.boot_id ?? '' })) {
      await this.record(this.ctx.command('RecordInstanceFailure', { instance_id: id, code: 'E_RUNTIME_LOST', reason: `runtime process ${inst.pid} is gone` }, 'health'));
      return;
    }
    if (inst.runtime_api_endpoint === undefined) return;
    this.checking.add(id);
    try {
      await this.timed(() => this.ctx.client.health(inst.runtime_api_endpoint as string, 2000));
      this.streak.delete(id);
    } catch (err) {
      const n = (this.streak.get(id) ?? 0) + 1;
      this.streak.set(id, n);
      if (n >= 3) {
        this.streak.delete(id);
        await this.record(this.ctx.command('RecordInstanceFailure', { instance_id: id, code: 'E_RUNTIME_LOST', reason: `health check failed ${n} times in a row; the process was stopped (last: ${toArpdError(err).message})` }, 'health'));
      }
    } finally {
      this.checking.delete(id);
    }
  }

  /** External instances: ready while they answer as ARP runtimes, failed after one failed probe at registration or two later. */
  private async probeExternal(id: string, first: boolean): Promise<void> {
    const inst = this.ctx.state.instances.get(id);
    if (inst === undefined || inst.managed || !this.mine(inst) || inst.runtime_api_endpoint === undefined || this.checking.has(id) || this.closed) return;
    this.checking.add(id);
    this.lastCheck.set(id, Date.now());
    try {
      await this.timed(() => this.ctx.client.health(inst.runtime_api_endpoint as string, 2000));
      this.streak.delete(id);
      if (!SERVING_INSTANCE_STATES.has(inst.state)) {
        const v = await this.ctx.client.version(inst.runtime_api_endpoint, 2000);
        await this.record(this.ctx.command('MarkInstanceReady', {
          instance_id: id, endpoint: inst.runtime_api_endpoint,
          ...(v.service_name === undefined ? {} : { runtime_name: v.service_name }),
          ...(v.service_version === undefined ? {} : { runtime_version: v.service_version }),
        }, 'health'));
      }
    } catch (err) {
      const n = (this.streak.get(id) ?? 0) + 1;
      this.streak.set(id, n);
      const now = this.ctx.state.instances.get(id);
      if (now !== undefined && now.state !== 'error' && now.state !== 'stopped' && (first || n >= 2)) {
        await this.record(this.ctx.command('RecordInstanceFailure', { instance_id: id, code: toArpdError(err).code === 'E_BAD_RUNTIME' ? 'E_BAD_RUNTIME' : 'E_RUNTIME_LOST', reason: `health check of ${inst.runtime_api_endpoint} failed: ${toArpdError(err).message}` }, 'health'));
      }
    } finally {
      this.checking.delete(id);
    }
  }
}
