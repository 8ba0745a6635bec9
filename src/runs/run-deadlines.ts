import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Command } from '../commands/command-types.js';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import { toArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { isEnded } from '../projections/registry.js';
import { addMs, runTimeLimit } from '../policy/deadlines.js';
import { optionsOfInstance } from '../policy/runtime-options.js';
import type { RoutingPolicy } from '../policy/routing.js';
import { DeadlineHeap } from './deadline-heap.js';

type Kind = 'queue' | 'run' | 'stall';

/**
 * The reactor that enforces time limits, with one timer for the earliest deadline (no polling): a
 * waiting run's queue deadline (decided at submit, `run.queued.deadline`), a routed run's deadline
 * (decided at routing, `run.routed.deadline`), and the progress timeout of a run in flight (its last
 * event + `--progress-timeout`). Every deadline is read from the projections; when one passes it
 * sends the command and the decider checks the deadline again against the clock (a run that moved
 * on meanwhile records nothing).
 */
export class RunDeadlines implements Component {
  readonly name = 'deadlines';
  private readonly heap = new DeadlineHeap<string>();
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private sub: Subscription | undefined;
  private stopped = false;
  private readonly log: Logger;
  private readonly progressMs: number;
  private readonly defaultRunMs: number;

  constructor(private readonly ctx: DaemonContext, private readonly policy: RoutingPolicy) {
    this.log = ctx.logger.child({ part: 'deadlines' });
    this.progressMs = ctx.options.runs?.progressTimeoutMs ?? 600_000;
    this.defaultRunMs = ctx.options.runs?.defaultRunTimeoutMs ?? 3_600_000;
  }

  start(): void {
    this.sub = this.ctx.events$.subscribe((e) => this.onEvent(e));
    const s = this.ctx.state;
    for (const id of s.queued()) this.track(id);
    for (const id of s.runIdsInState('running')) this.track(id);
    for (const id of s.runIdsInState('queued')) this.track(id);
    this.arm();
  }

  stop(): void {
    this.stopped = true;
    this.sub?.unsubscribe();
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  status(): Record<string, unknown> {
    return { deadlines: this.heap.size, default_run_timeout_ms: this.defaultRunMs, progress_timeout_ms: this.progressMs };
  }

  private onEvent(e: StoredEvent): void {
    switch (e.type) {
      case 'run.queued':
      case 'run.routed':
      case 'run.started':
        this.track(e.data.run_id);
        this.arm();
        return;
      case 'run.succeeded':
      case 'run.failed':
      case 'run.canceled':
        for (const kind of ['queue', 'run', 'stall']) this.heap.delete(`${kind}:${e.data.run_id}`);
        return;
      default:
        return;
    }
  }

  /**
   * Puts the run's deadlines on the heap (one per kind; a newer one replaces the older). `notBefore`
   * keeps a deadline whose command recorded nothing (a storage fault) from firing again at once.
   */
  private track(runId: string, notBefore = 0): void {
    const run = this.ctx.state.runs.get(runId);
    if (run === undefined || isEnded(run)) return;
    if (run.phase === 'accepted' || run.phase === 'queued') {
      if (run.deadline !== undefined) this.heap.push(Math.max(notBefore, Date.parse(run.deadline)), `queue:${runId}`);
      return;
    }
    this.heap.delete(`queue:${runId}`);
    this.heap.push(Math.max(notBefore, Date.parse(this.runDeadline(runId) ?? run.accepted_at)), `run:${runId}`);
    const last = this.ctx.state.progress(runId)?.last_event_at ?? run.accepted_at;
    this.heap.push(Math.max(notBefore, Date.parse(last) + this.progressMs), `stall:${runId}`);
  }

  private runDeadline(runId: string): string | undefined {
    const run = this.ctx.state.runs.get(runId);
    if (run === undefined) return undefined;
    if (run.run_deadline !== undefined) return run.run_deadline;
    const inst = run.instance_id === undefined ? undefined : this.ctx.state.instances.get(run.instance_id);
    return addMs(run.accepted_at, runTimeLimit(run.request, inst === undefined ? undefined : optionsOfInstance(this.ctx.state, inst), this.defaultRunMs).ms);
  }

  private arm(): void {
    if (this.stopped) return;
    const next = this.heap.peekAt();
    if (next === undefined) return;
    if (this.timer !== undefined && this.timerAt <= next) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = next;
    const delay = Math.min(Math.max(0, next - this.ctx.now().getTime()), 2 ** 31 - 1);
    this.timer = setTimeout(() => { this.timer = undefined; this.timerAt = Infinity; void this.fire(); }, delay);
    this.timer.unref();
  }

  private async fire(): Promise<void> {
    const now = this.ctx.now().getTime();
    const due: Array<{ kind: Kind; runId: string }> = [];
    for (const key of this.heap.popDue(now)) {
      const at = key.indexOf(':');
      due.push({ kind: key.slice(0, at) as Kind, runId: key.slice(at + 1) });
    }
    await Promise.all(due.map(async ({ kind, runId }) => {
      const run = this.ctx.state.runs.get(runId);
      if (run === undefined || isEnded(run)) return;
      if (kind === 'queue') await this.send(this.ctx.command('ExpireQueuedRun', { run_id: runId, policy: this.policy }, 'deadlines'));
      else if (kind === 'run') await this.send(this.ctx.command('TimeOutRun', { run_id: runId, default_run_timeout_ms: this.defaultRunMs }, 'deadlines'));
      else await this.send(this.ctx.command('FailStalledRun', { run_id: runId, progress_timeout_ms: this.progressMs }, 'deadlines'));
      // still going (its deadline moved, or it made progress): look again later
      const after = this.ctx.state.runs.get(runId);
      if (after !== undefined && !isEnded(after)) this.track(runId, this.ctx.now().getTime() + 1000);
    }));
    this.arm();
  }

  private async send(cmd: Command): Promise<void> {
    try {
      await this.ctx.bus.execute(cmd);
    } catch (err) {
      const e = toArpdError(err);
      if (e.code !== 'E_UNAVAILABLE' && e.code !== 'E_STORAGE') this.log.error({ err, command: cmd.type }, 'could not record a deadline');
    }
  }
}
