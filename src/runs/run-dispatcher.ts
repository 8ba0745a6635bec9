import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Command, TraceLimits } from '../commands/command-types.js';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import { ArpdError, toArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import type { ErrorInfo, JsonObject } from '../events/event-types.js';
import { isEnded, isServing } from '../projections/registry.js';
import type { RunView } from '../projections/registry-types.js';
import { ownsRun } from '../policy/ownership.js';
import type { JsonRecord } from '../runtime-client/runtime-client.js';
import { runtimeTraceparent } from '../telemetry/trace-context.js';
import { followRun, type FollowOutcome } from './run-follower.js';
import { TraceBatcher } from './trace-batcher.js';

/**
 * The reactor that takes routed runs to their runtimes. On `run.routed` it sends the run (POST
 * /v1/runs), records `run.started`, follows it (run-follower.ts) recording every runtime event as a
 * trace line (in batches), and records how it ended. It also reacts to the ends others decide: a
 * run that ended while in flight (a timeout, a cancel that the runtime did not confirm in time, its
 * instance failing or being deleted) stops being followed and is canceled at the runtime; a cancel
 * request is passed on to the runtime. After a restart it re-attaches to runs that were in flight. When daemons
 * share a store it takes only the runs its node claimed, and records what they do until the store takes it (a
 * store away for a while is waited for: the runtime keeps the run).
 */

interface Flight {
  runId: string;
  endpoint: string;
  instanceId: string | undefined;
  abort: AbortController;
  /** This reactor is recording the run's end itself (from the runtime): nothing to cancel. */
  recording: boolean;
}

export const DEFAULT_TRACE_LIMITS: TraceLimits = { max_line_bytes: 256 * 1024, max_depth: 64, max_run_bytes: 64 * 1024 * 1024 };
/** How long a requested cancel waits for the runtime to confirm before arpd records it anyway. */
const CANCEL_GRACE_MS = 3000;

export class RunDispatcher implements Component {
  readonly name = 'dispatch';
  private readonly flights = new Map<string, Flight>();
  private readonly cancelTimers = new Map<string, NodeJS.Timeout>();
  private readonly batcher: TraceBatcher;
  private readonly limits: TraceLimits;
  private sub: Subscription | undefined;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly ctx: DaemonContext) {
    this.log = ctx.logger.child({ part: 'dispatch' });
    const r = ctx.options.runs ?? {};
    this.limits = {
      max_line_bytes: r.maxTraceLineBytes ?? DEFAULT_TRACE_LIMITS.max_line_bytes,
      max_depth: r.maxTraceDepth ?? DEFAULT_TRACE_LIMITS.max_depth,
      max_run_bytes: r.maxTraceBytesPerRun ?? DEFAULT_TRACE_LIMITS.max_run_bytes,
    };
    this.batcher = new TraceBatcher((runId, lines) => this.ctx.executeRetrying(this.ctx.command('RecordTraceBatch', { run_id: runId, lines, limits: this.limits }, 'dispatcher')).then(
      () => undefined,
      (err: unknown) => { this.log.error({ err, run_id: runId }, 'could not record trace lines'); },
    ));
  }

  private get state() {
    return this.ctx.state;
  }

  /** Is the run this node's to send and follow (always, with a single daemon)? */
  private mine(run: RunView): boolean {
    return ownsRun(this.ctx.node?.id, run);
  }

  private async record(cmd: Command): Promise<void> {
    try {
      await this.ctx.executeRetrying(cmd);
    } catch (err) {
      const e = toArpdError(err);
      if (e.code !== 'E_UNAVAILABLE' && e.code !== 'E_STORAGE') this.log.error({ err, command: cmd.type }, 'could not record what a run did');
    }
  }

  private end(runId: string, outcome: 'succeeded' | 'failed' | 'canceled', detail: { result?: JsonObject; error?: ErrorInfo }): Promise<void> {
    return this.record(this.ctx.command('EndRun', { run_id: runId, outcome, ...detail }, 'dispatcher'));
  }

  // ---- lifecycle ----------------------------------------------------------------------------------

  async start(): Promise<void> {
    this.sub = this.ctx.events$.subscribe((e) => this.onEvent(e));
    // runs in flight when the last daemon stopped: re-attach to those whose instance is still ready
    const inFlight: RunView[] = [];
    for (const state of ['queued', 'running'] as const) {
      for (const id of this.state.runIdsInState(state)) {
        const run = this.state.runs.get(id);
        if (run !== undefined && (run.phase === 'routed' || run.phase === 'started') && this.mine(run)) inFlight.push(run);
      }
    }
    await Promise.all(inFlight.map(async (run) => {
      const inst = run.instance_id === undefined ? undefined : this.state.instances.get(run.instance_id);
      if (run.instance_id === undefined || (inst !== undefined && isServing(inst))) {
        this.log.info({ run_id: run.run_id, instance_id: run.instance_id }, 're-attaching a run after restart');
        void this.dispatch(run.run_id, true);
      } else {
        // gone for arpd, yet its runtime may still be up (an external one whose instance was being deleted): tell it
        if (run.runtime_api_endpoint !== undefined) void this.ctx.client.cancelRun(run.runtime_api_endpoint, run.run_id, { timeoutMs: 2000 }).catch(() => undefined);
        await this.end(run.run_id, 'failed', { error: { code: 'E_RUNTIME_LOST', message: `the runtime instance ${run.instance_id} was gone when arpd restarted: submit the run again` } });
      }
      if (run.cancel_requested !== undefined) this.armCancelFallback(run.run_id);
    }));
  }

  /** At shutdown: runs in flight are canceled when their instances will be stopped, else left to re-attach. */
  async stop({ keepInstances }: { keepInstances: boolean }): Promise<void> {
    this.stopped = true;
    this.sub?.unsubscribe();
    for (const t of this.cancelTimers.values()) clearTimeout(t);
    this.cancelTimers.clear();
    const flights = [...this.flights.values()];
    for (const f of flights) f.abort.abort();
    if (!keepInstances) {
      await Promise.all(flights.map(async (f) => {
        await this.ctx.client.cancelRun(f.endpoint, f.runId, { timeoutMs: 2000 }).catch(() => undefined);
        await this.batcher.flush(f.runId);
        await this.end(f.runId, 'canceled', { error: { code: 'E_CANCELED', message: 'arpd shut down and stopped the runtime instances' } });
      }));
    } else {
      await Promise.all(flights.map((f) => this.batcher.flush(f.runId)));
    }
  }

  busy(): boolean {
    return this.flights.size > 0;
  }

  status(): Record<string, unknown> {
    return { in_flight: this.flights.size };
  }

  private onEvent(e: StoredEvent): void {
    if (this.stopped) return;
    switch (e.type) {
      case 'run.routed':
        void this.dispatch(e.data.run_id);
        return;
      case 'run.cancel_requested':
        this.onCancelRequested(e.data.run_id);
        return;
      // run.released: its claim was handed back to the queue (this node was recorded lost): another node's to run now
      case 'run.succeeded':
      case 'run.failed':
      case 'run.canceled':
      case 'run.released':
        this.onEnded(e.data.run_id);
        return;
      case 'instance.failed':
        void this.endRunsOf(e.data.instance_id, 'failed', e.data.reason);
        return;
      case 'instance.stopping':
        void this.endRunsOf(e.data.instance_id, 'deleted', e.data.reason);
        return;
      case 'instance.stopped':
      case 'instance.deregistered':
        void this.endRunsOf(e.data.instance_id, 'deleted', 'stopped');
        return;
      case 'instance.superseded':
        void this.endRunsOf(e.data.instance_id, 'superseded', e.data.reason);
        return;
      default:
        return;
    }
  }

  // ---- a run's journey --------------------------------------------------------------------------

  /** `resumed`: the run was sent before this daemon started (re-attaching after a restart). */
  private async dispatch(runId: string, resumed = false): Promise<void> {
    const run = this.state.runs.get(runId);
    if (run === undefined || isEnded(run) || this.flights.has(runId) || run.runtime_api_endpoint === undefined || !this.mine(run)) return;
    const f: Flight = { runId, endpoint: run.runtime_api_endpoint, instanceId: run.instance_id, abort: new AbortController(), recording: false };
    this.flights.set(runId, f);
    // W3C trace context on every call about the run, so a runtime's own spans join the run's trace
    const traceparent = runtimeTraceparent(run, this.ctx.options.telemetry?.otlpEndpoint !== undefined);
    const traced = traceparent === undefined ? {} : { traceparent };
    try {
      if (run.phase === 'routed') {
        try {
          // not aborted from here: once sent, the runtime may have it, and an end decided meanwhile must cancel it there
          await this.ctx.client.createRun(f.endpoint, run.request, traced);
        } catch (err) {
          const e = toArpdError(err);
          if (!(e.code === 'E_RUNTIME_ERROR' && e.data?.['http_status'] === 409)) throw e;
          // The runtime already has a run of this id. It is this run when arpd sent it before: before a restart, or
          // in an earlier routing of the run to it (a claim handed back to the queue: `run.released`). Else it is
          // another run (a pruned run's id used again, another client's run at a shared runtime): following it would
          // record its events and result as this run's, and canceling it would stop someone else's run. This run
          // fails; that one is left alone.
          if (!resumed && !(await this.sentBefore(runId, f.endpoint))) {
            throw new ArpdError('E_CONFLICT', `the runtime at ${f.endpoint} already has a run '${runId}' that arpd did not send it (the id of a pruned run used again, or another client's run): submit the run again with another run_id, or without one`, { run_id: runId, runtime_api_endpoint: f.endpoint, http_status: 409 });
          }
        }
        if (f.abort.signal.aborted || isEnded(this.state.runs.get(runId) ?? run)) {
          // ended while the runtime was taking it (cancel, timeout, instance deleted): cancel it there too
          await this.ctx.client.cancelRun(f.endpoint, runId, { timeoutMs: 5000 }).catch(() => undefined);
          return;
        }
        await this.record(this.ctx.command('StartRun', { run_id: runId, ...(f.instanceId === undefined ? {} : { instance_id: f.instanceId }) }, 'dispatcher'));
      }
      const outcome = await followRun(this.ctx.client, f.endpoint, runId, {
        lastSeq: this.state.progress(runId)?.runtime_seq ?? 0,
        signal: f.abort.signal,
        onEvent: (ev) => this.onRuntimeEvent(runId, ev),
        instanceGone: () => {
          if (f.instanceId === undefined) return false;
          const inst = this.state.instances.get(f.instanceId);
          return inst === undefined || inst.state === 'error' || inst.state === 'stopped';
        },
        maxEventBytes: this.limits.max_line_bytes + 4096,
        maxDepth: this.limits.max_depth,
        ...(this.ctx.options.runs?.reconnectDelayMs === undefined ? {} : { reconnectDelayMs: this.ctx.options.runs.reconnectDelayMs }),
        ...traced,
      });
      await this.batcher.flush(runId);
      if (outcome === undefined || f.abort.signal.aborted) return;
      f.recording = true;
      await this.recordOutcome(runId, outcome);
    } catch (err) {
      if (f.abort.signal.aborted) return;
      const e = toArpdError(err);
      await this.batcher.flush(runId);
      f.recording = true;
      const message = e.code === 'E_RUNTIME_ERROR' ? `the runtime refused the run: ${e.message}` : e.message;
      await this.end(runId, 'failed', { error: { code: e.code, message, ...(e.data === undefined ? {} : { details: e.data as JsonObject }) } });
      if (e.code === 'E_INTERNAL') this.log.error({ err, run_id: runId }, 'run failed unexpectedly');
      // a run failed by arpd (bad events, a trace limit, a runtime that stopped answering, maybe after it took the run)
      // must not go on at the runtime: sent again, it would run there twice
      if (e.code === 'E_BAD_RUNTIME' || e.code === 'E_TRACE_LIMIT' || e.code === 'E_RUNTIME_LOST') await this.ctx.client.cancelRun(f.endpoint, runId, { timeoutMs: 2000 }).catch(() => undefined);
    } finally {
      if (this.flights.get(runId) === f) this.flights.delete(runId);
      const t = this.cancelTimers.get(runId);
      if (t !== undefined && isEnded(this.state.runs.get(runId) ?? run)) { clearTimeout(t); this.cancelTimers.delete(runId); }
    }
  }

  /**
   * Was this run routed to this endpoint before the routing being sent now? Read from its trace (its run log: a
   * pruned run's id used again has a log of its own), on the rare 409 path only.
   */
  private async sentBefore(runId: string, endpoint: string): Promise<boolean> {
    let routed = 0;
    for (const line of await this.ctx.log.readRunTrace(runId, 1, 100_000)) {
      if (line.extensions['arpd.event'].type === 'run.routed' && line.data['runtime_api_endpoint'] === endpoint) routed++;
    }
    return routed >= 2;
  }

  private onRuntimeEvent(runId: string, ev: JsonRecord): void {
    const type = typeof ev['type'] === 'string' ? ev['type'] : 'event';
    this.batcher.push(runId, { level: type === 'error' ? 'error' : 'info', type, data: ev as JsonObject });
  }

  private async recordOutcome(runId: string, o: FollowOutcome): Promise<void> {
    const result = o.result as unknown as JsonObject | undefined;
    if (o.state === 'succeeded') {
      await this.end(runId, 'succeeded', { result: result ?? { run_id: runId, ok: true } });
    } else if (o.state === 'canceled') {
      const asked = this.state.runs.get(runId)?.cancel_requested;
      await this.end(runId, 'canceled', { error: { code: 'E_CANCELED', message: asked ?? 'canceled by the runtime' } });
    } else {
      const err = (o.result?.error ?? {}) as { code?: unknown; message?: unknown };
      await this.end(runId, 'failed', {
        error: { code: typeof err.code === 'string' ? err.code : 'E_RUNTIME_ERROR', message: typeof err.message === 'string' ? err.message : 'the runtime reported the run failed' },
        result: result ?? { run_id: runId, ok: false },
      });
    }
  }

  // ---- ends decided elsewhere ---------------------------------------------------------------------

  /** The run ended while this reactor followed it, by someone else's decision: stop following and cancel it at the runtime. */
  private onEnded(runId: string): void {
    const t = this.cancelTimers.get(runId);
    if (t !== undefined) { clearTimeout(t); this.cancelTimers.delete(runId); }
    const f = this.flights.get(runId);
    if (f === undefined || f.recording) return;
    f.abort.abort();
    void this.batcher.flush(runId);
    void this.ctx.client.cancelRun(f.endpoint, runId, { timeoutMs: 5000 }).catch(() => undefined);
  }

  private onCancelRequested(runId: string): void {
    const run = this.state.runs.get(runId);
    if (run !== undefined && !this.mine(run)) return;
    const f = this.flights.get(runId);
    if (f !== undefined) void this.ctx.client.cancelRun(f.endpoint, runId, { timeoutMs: 5000 }).catch(() => undefined);
    this.armCancelFallback(runId);
  }

  /** A cancel the runtime does not confirm in time is recorded anyway (the runtime is told again when the end is seen). */
  private armCancelFallback(runId: string): void {
    if (this.cancelTimers.has(runId)) return;
    const t = setTimeout(() => {
      this.cancelTimers.delete(runId);
      const run = this.state.runs.get(runId);
      if (run === undefined || isEnded(run)) return;
      void this.batcher.flush(runId).then(() => this.end(runId, 'canceled', { error: { code: 'E_CANCELED', message: run.cancel_requested ?? 'canceled by request' } }));
    }, CANCEL_GRACE_MS);
    t.unref();
    this.cancelTimers.set(runId, t);
  }

  /**
   * Ends the runs in flight on an instance that failed, was deleted, or was superseded (its registered runtime is gone
   * and a managed one answers at its endpoint: a run sent there since is canceled at that runtime, which nobody asked for).
   */
  private async endRunsOf(instanceId: string, how: 'failed' | 'deleted' | 'superseded', reason: string): Promise<void> {
    const runs = [...this.state.activeRuns(instanceId)].filter((id) => { const r = this.state.runs.get(id); return r !== undefined && this.mine(r); });
    await Promise.all(runs.map(async (runId) => {
      const f = this.flights.get(runId);
      if (f !== undefined) {
        f.abort.abort(); // this end is decided here: the follower records nothing
        if (how !== 'failed') await this.ctx.client.cancelRun(f.endpoint, runId, { timeoutMs: 2000 }).catch(() => undefined);
      }
      await this.batcher.flush(runId);
      if (how === 'deleted') await this.end(runId, 'canceled', { error: { code: 'E_CANCELED', message: `instance ${instanceId} was deleted while the run was in flight (${reason})` } });
      else if (how === 'superseded') await this.end(runId, 'failed', { error: { code: 'E_RUNTIME_LOST', message: `instance ${instanceId} was ${reason}` } });
      else await this.end(runId, 'failed', { error: { code: 'E_RUNTIME_LOST', message: `instance ${instanceId} failed while the run was in flight: ${reason}` } });
    }));
  }
}
