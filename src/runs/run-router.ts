import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import { toArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { queueKeysFor } from '../projections/queue-keys.js';
import { isServing } from '../projections/registry.js';
import type { InstanceView, RunView } from '../projections/registry-types.js';
import { actsOnInstance } from '../policy/ownership.js';
import { answeredByManaged, autostartProfile, loadOf, recentlyFailed, routingPolicyOf, scaleUpLimit, type RoutingPolicy } from '../policy/routing.js';
import { matchesSelector, selectorOf } from '../policy/selector.js';

/**
 * The reactor that routes waiting runs. It acts on events: a new waiting run (`run.queued`) is
 * matched at once; capacity that frees up (a run on an instance ended, an instance became ready) is
 * filled from the runs waiting for that instance, oldest first (runs wait indexed by selector, so
 * this never scans the whole queue); anything that changes what can match (instances failing or
 * going, profiles changing) re-examines the queue. It asks with commands: `RouteRun` (the decider
 * re-checks room and match, so a stale choice is refused, never doubled), and `CreateInstances`
 * when a waiting run has nothing to run on and the routing policy names a profile to start.
 * Everything it decides from is in the projections. When daemons share a store, a node routes only to the
 * instances it stewards (src/policy/ownership.ts): its claim is the `run.routed` it appends at the run's revision.
 */
export class RunRouter implements Component {
  readonly name = 'router';
  private readonly dirtyRuns = new Set<string>();
  private readonly dirtyInstances = new Set<string>();
  private dirtyAll = false;
  private scheduled = false;
  private running = false;
  /** Profiles with a CreateInstances command in flight (the decider's limit is the real guard). */
  private readonly starting = new Set<string>();
  private retryTimer: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;
  private stopped = false;
  private readonly log: Logger;
  readonly policy: RoutingPolicy;

  constructor(private readonly ctx: DaemonContext) {
    this.log = ctx.logger.child({ part: 'router' });
    this.policy = routingPolicyOf(ctx.options);
  }

  private get state() {
    return this.ctx.state;
  }

  /** Does this node route runs to the instance (always, with a single daemon)? */
  private mine(inst: InstanceView): boolean {
    return actsOnInstance(this.state, this.ctx.node?.id, inst);
  }

  start(): void {
    this.sub = this.ctx.events$.subscribe((e) => this.onEvent(e));
    this.dirtyAll = true;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.sub?.unsubscribe();
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
  }

  busy(): boolean {
    return this.state.queued().size > 0;
  }

  status(): Record<string, unknown> {
    return { queue_length: this.state.queued().size };
  }

  private onEvent(e: StoredEvent): void {
    switch (e.type) {
      case 'run.queued':
        this.dirtyRuns.add(e.data.run_id);
        break;
      case 'run.succeeded':
      case 'run.failed':
      case 'run.canceled': {
        const inst = this.state.runs.get(e.data.run_id)?.instance_id;
        if (inst !== undefined) this.dirtyInstances.add(inst);
        break;
      }
      case 'instance.ready':
        this.dirtyInstances.add(e.data.instance_id);
        break;
      case 'instance.failed':
      case 'instance.stopped':
      case 'instance.deregistered':
      case 'instance.superseded':
      case 'instance.requested':
      case 'profile.upserted':
      case 'profile.deleted':
        this.dirtyAll = true;
        break;
      default:
        return;
    }
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.running || this.stopped) {
      return;
    }
    this.running = true;
    try {
      while (!this.stopped && (this.dirtyAll || this.dirtyRuns.size > 0 || this.dirtyInstances.size > 0)) {
        const all = this.dirtyAll;
        const runs = [...this.dirtyRuns];
        const instances = [...this.dirtyInstances];
        this.dirtyAll = false;
        this.dirtyRuns.clear();
        this.dirtyInstances.clear();
        await this.routeRound(all, runs, instances);
      }
    } finally {
      this.running = false;
    }
  }

  /** One round: choose (run → instance) pairs on the current state, then ask for them all at once. */
  private async routeRound(all: boolean, runIds: string[], instanceIds: string[]): Promise<void> {
    const planned = new Map<string, number>();
    const assigned = new Set<string>();
    const asks: Array<{ runId: string; instanceId: string }> = [];
    const roomOf = (inst: InstanceView): number => {
      const { active, capacity } = loadOf(this.state, inst);
      return capacity - active - (planned.get(inst.instance_id) ?? 0);
    };
    // an external instance a managed one answers for is stale (the decider refuses it): asked once a round
    const stale = new Map<string, boolean>();
    const isStale = (inst: InstanceView): boolean => {
      if (inst.managed) return false;
      let s = stale.get(inst.instance_id);
      if (s === undefined) stale.set(inst.instance_id, s = answeredByManaged(this.state, inst) !== undefined);
      return s;
    };
    const assign = (runId: string, inst: InstanceView): void => {
      planned.set(inst.instance_id, (planned.get(inst.instance_id) ?? 0) + 1);
      assigned.add(runId);
      asks.push({ runId, instanceId: inst.instance_id });
    };
    // capacity that freed up: the oldest runs waiting for each such instance
    for (const id of instanceIds) {
      const inst = this.state.instances.get(id);
      if (inst === undefined || !isServing(inst) || !this.mine(inst) || isStale(inst)) continue;
      for (const runId of this.waitingFor(inst)) {
        if (roomOf(inst) <= 0) break;
        if (!assigned.has(runId)) assign(runId, inst);
      }
    }
    // new runs (or every waiting run): the least loaded instance that matches, else maybe start one
    const candidates = all ? [...this.state.queued()] : runIds;
    const needStart = new Map<string, RunView>();
    for (const runId of candidates) {
      if (assigned.has(runId)) continue;
      const run = this.state.runs.get(runId);
      if (run === undefined || (run.phase !== 'accepted' && run.phase !== 'queued')) continue;
      const sel = selectorOf(run.request);
      let best: InstanceView | undefined;
      let bestLoad = Infinity;
      for (const id of [...this.state.instanceIdsInState('ready'), ...this.state.instanceIdsInState('busy')]) {
        const inst = this.state.instances.get(id);
        if (inst === undefined || !isServing(inst) || !this.mine(inst) || !matchesSelector(inst, sel) || isStale(inst)) continue;
        const room = roomOf(inst);
        if (room <= 0) continue;
        const { capacity } = loadOf(this.state, inst);
        const load = 1 - room / capacity;
        if (load < bestLoad) { best = inst; bestLoad = load; }
      }
      if (best !== undefined) assign(runId, best);
      else {
        const profile = autostartProfile(this.state, sel, this.policy);
        if (profile !== undefined && !needStart.has(profile)) needStart.set(profile, run);
      }
    }
    const refused: string[] = [];
    await Promise.all(asks.map(async ({ runId, instanceId }) => {
      try {
        await this.ctx.bus.execute(this.ctx.command('RouteRun', { run_id: runId, instance_id: instanceId, default_run_timeout_ms: this.defaultRunTimeoutMs() }, 'router', { correlation_id: runId }));
      } catch (err) {
        const e = toArpdError(err);
        if (e.code === 'E_CONFLICT') refused.push(runId);
        else if (e.code !== 'E_UNAVAILABLE' && e.code !== 'E_STORAGE' && e.code !== 'E_NOT_FOUND') this.log.error({ err, run_id: runId }, 'could not route a run');
      }
    }));
    // a choice made on a state that moved meanwhile: look at those runs again on the new state
    for (const id of refused) this.dirtyRuns.add(id);
    for (const profile of needStart.keys()) await this.maybeStart(profile);
  }

  /** Waiting runs an instance could take, oldest first (merged from the selector indexes, read lazily: never a copy of the queue). */
  private *waitingFor(inst: InstanceView): Generator<string> {
    const iters = queueKeysFor(inst).map((k) => this.state.queuedByKey(k).values());
    const heads: Array<{ id: string; order: number } | undefined> = iters.map(() => undefined);
    const advance = (i: number): void => {
      const it = iters[i] as Iterator<string>;
      for (;;) {
        const n = it.next();
        if (n.done === true) { heads[i] = undefined; return; }
        const run = this.state.runs.get(n.value);
        if (run !== undefined && matchesSelector(inst, selectorOf(run.request))) { heads[i] = { id: n.value, order: run.order }; return; }
      }
    };
    for (let i = 0; i < iters.length; i++) advance(i);
    for (;;) {
      let pick = -1;
      for (let i = 0; i < heads.length; i++) {
        const h = heads[i];
        if (h !== undefined && (pick === -1 || h.order < (heads[pick] as { order: number }).order)) pick = i;
      }
      if (pick === -1) return;
      yield (heads[pick] as { id: string }).id;
      advance(pick);
    }
  }

  private defaultRunTimeoutMs(): number {
    return this.ctx.options.runs?.defaultRunTimeoutMs ?? 3_600_000;
  }

  /** Starts an instance of `profile` for waiting runs when the policy allows (first one, or one more up to max_instances). */
  private async maybeStart(profile: string): Promise<void> {
    if (this.starting.has(profile) || this.stopped) return;
    const now = this.ctx.now().getTime();
    const failed = recentlyFailed(this.state, profile, now);
    if (failed !== undefined) {
      // try again once the backoff is over (a run still waiting then will ask again)
      if (this.retryTimer === undefined) {
        this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.dirtyAll = true; this.schedule(); }, 10_000);
        this.retryTimer.unref();
      }
      return;
    }
    const limit = scaleUpLimit(this.state, profile, this.policy);
    if (limit === undefined) return;
    this.starting.add(profile);
    try {
      this.log.info({ runtime_profile: profile, live_after: limit }, 'runs wait with no instance to take them: starting one');
      await this.ctx.bus.execute(this.ctx.command('CreateInstances', { profile, ids: [this.ctx.newId('inst')], allow_unsafe: false, reason: 'autostart', limit_live: limit }, 'router'));
    } catch (err) {
      const e = toArpdError(err);
      if (e.code !== 'E_UNAVAILABLE' && e.code !== 'E_STORAGE') this.log.warn({ err: e.message, runtime_profile: profile }, 'could not start an instance for waiting runs');
    } finally {
      this.starting.delete(profile);
    }
  }
}
