import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import { toArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { actsOnInstance } from '../policy/ownership.js';
import { scaleDownCheck } from '../policy/routing.js';

/**
 * Scale-down, as a reactor: an instance arpd started by itself for waiting runs (autostart, scale-up) that has been
 * idle for the grace time while another instance of its profile serves is stopped (`StopInstance`). The rule is
 * pure (`scaleDownCheck` in src/policy/routing.ts); this only keeps one timer per such instance, set from events
 * (its last run ended, it became ready) and from the projections at start. With a shared store, a node reaps only
 * its own instances.
 */
export class IdleReaper implements Component {
  readonly name = 'scale-down';
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private sub: Subscription | undefined;
  private stopped = false;
  private readonly log: Logger;
  private readonly graceMs: number;

  constructor(private readonly ctx: DaemonContext) {
    this.log = ctx.logger.child({ part: 'scale-down' });
    this.graceMs = ctx.options.instances?.scaleDownGraceMs ?? 60_000;
  }

  start(): void {
    this.sub = this.ctx.events$.subscribe((e) => this.onEvent(e));
    for (const state of ['ready', 'busy'] as const) for (const id of this.ctx.state.instanceIdsInState(state)) this.check(id);
  }

  stop(): void {
    this.stopped = true;
    this.sub?.unsubscribe();
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private onEvent(e: StoredEvent): void {
    if (e.type === 'instance.ready') this.check(e.data.instance_id);
    else if (e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.canceled') {
      const inst = this.ctx.state.runs.get(e.data.run_id)?.instance_id;
      if (inst !== undefined) this.check(inst);
    }
  }

  private check(id: string): void {
    if (this.stopped) return;
    const inst = this.ctx.state.instances.get(id);
    if (inst === undefined || !actsOnInstance(this.ctx.state, this.ctx.node?.id, inst)) return;
    const verdict = scaleDownCheck(this.ctx.state, inst, this.ctx.now().getTime(), this.graceMs);
    const old = this.timers.get(id);
    if (old !== undefined) { clearTimeout(old); this.timers.delete(id); }
    if (verdict === false) return;
    if (verdict === true) {
      void this.ctx.bus.execute(this.ctx.command('StopInstance', { id, reason: `idle for ${Math.round(this.graceMs / 1000)}s: arpd started it for waiting runs and another instance of its profile serves` }, 'scale-down'))
        .catch((err: unknown) => { if (toArpdError(err).code !== 'E_STORAGE') this.log.error({ err, instance_id: id }, 'could not stop an idle instance'); });
      return;
    }
    const t = setTimeout(() => { this.timers.delete(id); this.check(id); }, Math.max(0, verdict.lookAgainAt - this.ctx.now().getTime()) + 10);
    t.unref();
    this.timers.set(id, t);
  }
}
