import type { Subscription } from 'rxjs';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import type { StoredEvent } from '../events/envelope.js';
import type { ArpdMetrics } from './arpd-metrics.js';
import { countedHere } from './counted-here.js';
import { codeLabel } from './label-values.js';

/**
 * The reactor that folds events into counters and histograms: runs submitted and ended (by profile and outcome),
 * the wait from acceptance to start and the run's duration, trace events, instance crashes and restarts. It
 * writes nothing and sends no command. Times come from the events (`ts`), never from the clock here, so a run
 * that started before a restart is measured from when it really started.
 *
 * A run's profile is the profile of the instance it was routed to, else the one its selector names: the view of
 * an ended run no longer holds its request, so the selector's profile of each run not yet ended is remembered
 * (rebuilt from the projections at start); that is the only state of its own.
 */
export class MetricsReactor implements Component {
  readonly name = 'metrics';
  private sub: Subscription | undefined;
  /** run id -> the profile its selector names (runs not ended only). */
  private readonly selectorProfile = new Map<string, string>();

  constructor(private readonly ctx: DaemonContext, private readonly metrics: ArpdMetrics) {}

  start(): void {
    for (const state of ['queued', 'running'] as const) {
      for (const id of this.ctx.state.runIdsInState(state)) this.remember(id, this.ctx.state.runs.get(id)?.request);
    }
    this.sub = this.ctx.events$.subscribe((e) => this.onEvent(e));
  }

  stop(): void {
    this.sub?.unsubscribe();
  }

  private remember(runId: string, request: unknown): void {
    const sel = (request as { runtime_selector?: { runtime_profile?: unknown } } | undefined)?.runtime_selector?.runtime_profile;
    if (typeof sel === 'string') this.selectorProfile.set(runId, sel);
  }

  private profileOfRun(runId: string): string {
    const instanceId = this.ctx.state.runs.get(runId)?.instance_id;
    const byInstance = instanceId === undefined ? undefined : this.ctx.state.instances.get(instanceId)?.runtime_profile;
    return this.metrics.profiles.of(byInstance ?? this.selectorProfile.get(runId));
  }

  private onEvent(e: StoredEvent): void {
    const m = this.metrics;
    if (!countedHere(this.ctx.state, this.ctx.node?.id, e)) {
      if (e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.canceled') this.selectorProfile.delete(e.data.run_id);
      return;
    }
    switch (e.type) {
      case 'run.accepted':
        this.remember(e.data.run_id, e.data.request);
        m.runsSubmitted.inc({ profile: m.profiles.of(this.selectorProfile.get(e.data.run_id)) });
        return;
      case 'run.started': {
        const run = this.ctx.state.runs.get(e.data.run_id);
        if (run === undefined) return;
        m.runStartDelay.observe({ profile: this.profileOfRun(run.run_id) }, seconds(run.accepted_at, e.ts));
        return;
      }
      case 'run.trace':
        m.traceLines.inc();
        return;
      case 'run.succeeded':
      case 'run.failed':
      case 'run.canceled': {
        const runId = e.data.run_id;
        const outcome = e.type.slice(4);
        const profile = this.profileOfRun(runId);
        m.runsEnded.inc({ profile, outcome });
        const started = this.ctx.state.runs.get(runId)?.started_at;
        if (started !== undefined) m.runDuration.observe({ profile, outcome }, seconds(started, e.ts));
        this.selectorProfile.delete(runId);
        return;
      }
      case 'instance.failed':
        m.instanceCrashes.inc({ profile: m.profiles.of(this.ctx.state.instances.get(e.data.instance_id)?.runtime_profile), reason: codeLabel(e.data.code) });
        return;
      case 'instance.restarting': {
        // the view still holds the failure that led here (a restart clears it only once the process starts)
        const inst = this.ctx.state.instances.get(e.data.instance_id);
        m.instanceRestarts.inc({ profile: m.profiles.of(inst?.runtime_profile), reason: codeLabel(inst?.error?.code) });
        return;
      }
      default:
        return;
    }
  }
}

function seconds(from: string, to: string): number {
  return Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
}
