import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import type { StoredEvent } from '../events/envelope.js';
import { traceLineOf } from '../events/trace-line.js';
import { foldHistoryLine, foldLine, newDraft, planSpans, EVENT_SAMPLING, type RunEnd, type RunTraceDraft } from './run-trace-draft.js';
import type { SpanSink } from './otlp-sink.js';
import { countedHere } from './counted-here.js';

/** Lines read back from a run's log after a restart: its lifecycle lines and the first sampled events. */
const HISTORY_LINES = EVENT_SAMPLING.head + 16;

/**
 * The reactor that exports one OpenTelemetry trace per run (`--otlp-endpoint`). It folds each run's events into a
 * draft (run-trace-draft.ts) and, when the run ends, exports its spans with the times the events carry. It writes
 * nothing and sends no command; the drafts of runs in flight are its only state, and they are rebuilt from the
 * projections and the run logs when the daemon starts again, so the spans of a run that was in flight across a
 * restart are still exported once it ends (and a run that ended before the restart is not exported again).
 */
export class RunTracer implements Component {
  readonly name = 'tracing';
  private readonly drafts = new Map<string, RunTraceDraft>();
  private sub: Subscription | undefined;
  private sink: SpanSink | undefined;
  private ended = 0;
  private readonly log: Logger;

  /** `endpoint`: as the status shows it (shown-url.ts: no password). */
  constructor(private readonly ctx: DaemonContext, private readonly o: { endpoint: string; loadSink: () => Promise<SpanSink> }) {
    this.log = ctx.logger.child({ part: 'tracing' });
  }

  async start(): Promise<void> {
    this.sink = await this.o.loadSink();
    const s = this.ctx.state;
    const resumed: RunTraceDraft[] = [];
    for (const state of ['queued', 'running'] as const) {
      for (const id of s.runIdsInState(state)) {
        const run = s.runs.get(id);
        if (run === undefined) continue;
        const progress = s.progress(id);
        const d = newDraft({ run_id: id, accepted_at: run.accepted_at, request_hash: run.request_hash, request: run.request }, {
          ...(run.queued_at === undefined ? {} : { queuedAt: run.queued_at }),
          ...(run.started_at === undefined ? {} : { startedAt: run.started_at }),
          ...(run.instance_id === undefined ? {} : { instanceId: run.instance_id }),
          ...(run.runtime_api_endpoint === undefined ? {} : { endpoint: run.runtime_api_endpoint }),
          events: progress?.trace_events ?? 0,
          historyRev: progress?.trace_lines ?? 0,
        });
        this.drafts.set(id, d);
        resumed.push(d);
      }
    }
    this.sub = this.ctx.events$.subscribe((e) => this.onEvent(e));
    // what the projections do not hold (when each was routed, its first events) is in the run logs
    await Promise.all(resumed.map((d) => this.readHistory(d)));
    if (resumed.length > 0) this.log.info({ runs: resumed.length }, 'tracing runs that were in flight before the restart');
  }

  async stop(): Promise<void> {
    this.sub?.unsubscribe();
    await this.sink?.shutdown(3000);
  }

  status(): Record<string, unknown> {
    return { tracing: { endpoint: this.o.endpoint, runs_in_flight: this.drafts.size, traces_sent_to_exporter: this.ended } };
  }

  private async readHistory(d: RunTraceDraft): Promise<void> {
    try {
      const lines = await this.ctx.log.readRunTrace(d.key.run_id, 1, Math.min(HISTORY_LINES, d.historyRev));
      let index = 0;
      for (const line of lines) {
        if (line.extensions['arpd.event'].type === 'run.trace') index++;
        foldHistoryLine(d, line, index);
      }
    } catch (err) {
      this.log.warn({ err, run_id: d.key.run_id }, 'could not read the run log back: its spans are exported without its first events');
    }
  }

  private onEvent(e: StoredEvent): void {
    if (!e.type.startsWith('run.')) return;
    const runId = (e.data as { run_id: string }).run_id;
    if (e.type === 'run.accepted') {
      this.drafts.set(runId, newDraft({ run_id: runId, accepted_at: e.ts, request_hash: e.data.request_hash, request: e.data.request }, { historyRev: e.rev }));
      return;
    }
    const d = this.drafts.get(runId);
    if (d === undefined) return;
    if (e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.canceled') {
      this.drafts.delete(runId);
      // with a shared store, the node that ran it exports it (each node sees every run)
      if (!countedHere(this.ctx.state, this.ctx.node?.id, e)) return;
      const instanceProfile = d.instanceId === undefined ? undefined : this.ctx.state.instances.get(d.instanceId)?.runtime_profile;
      const end: RunEnd = {
        outcome: e.type === 'run.succeeded' ? 'succeeded' : e.type === 'run.failed' ? 'failed' : 'canceled',
        time: e.ts,
        ...(e.type === 'run.failed' ? { error: { code: e.data.error.code, message: e.data.error.message } } : {}),
        ...(e.type === 'run.canceled' ? { error: { code: 'E_CANCELED', message: e.data.reason } } : {}),
        ...(instanceProfile === undefined ? {} : { instanceProfile }),
      };
      try {
        this.sink?.export(planSpans(d, end));
        this.ended++;
      } catch (err) {
        this.log.error({ err, run_id: runId }, 'could not export the spans of a run');
      }
      return;
    }
    if (e.rev <= d.historyRev) return;
    foldLine(d, traceLineOf(e, runId));
  }
}
