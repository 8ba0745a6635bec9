import type { Subscription } from 'rxjs';
import type { Logger } from 'pino';
import { decideEnd, decideRoute, decideStarted } from '../commands/run-commands.js';
import type { DaemonContext } from '../daemon/daemon-context.js';
import { ArpdError, toArpdError } from '../errors/index.js';
import type { ErrorInfo, JsonObject } from '../events/event-types.js';
import type { AppendInput } from '../events/log-store.js';
import type { StoredEvent } from '../events/envelope.js';
import type { InstanceSupervisor } from '../instances/instance-supervisor.js';
import { runtimeClient, streamRunEvents, type JsonRecord } from '../instances/runtime-client.js';
import { TERMINAL_RUN_STATES, type InstanceView, type RunView } from '../projections/registry-types.js';
import { autostartProfile, describeSelector, matchesSelector, type RuntimeSelector } from './selector.js';

/**
 * The reactor that moves runs: it keeps the queue (submission order), routes each run to a ready
 * instance with free capacity (least busy first), starts an instance of the selected profile when
 * none matches at all, dispatches the run to the runtime, follows it (SSE, else polling), records
 * every RunEvent as a trace line, enforces `limits.timeout_ms` and the queue timeout, cancels, and
 * re-attaches after a daemon restart. Every outcome is recorded once, as an event.
 */

export interface RouterOptions {
  queueTimeoutMs: number;
  autostartInstances: boolean;
  /** Delay before re-following a runtime whose event stream dropped. */
  reconnectDelayMs?: number;
}

interface Flight {
  runId: string;
  instanceId: string;
  endpoint: string;
  abort: AbortController;
  /** Why the follow loop was stopped from outside; it records nothing itself then. */
  stoppedBy?: 'cancel' | 'timeout' | 'instance' | 'shutdown';
  pendingTrace: AppendInput[];
  traceFlush: Promise<void> | undefined;
}

const TERMINAL_RUNTIME_STATES = new Set(['succeeded', 'failed', 'canceled']);
const MAX_TRACE_EVENT_CHARS = 256 * 1024;
const sleep = (ms: number, signal?: AbortSignal): Promise<void> => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

function selectorOf(run: RunView): RuntimeSelector | undefined {
  const sel = run.request?.['runtime_selector'];
  return sel !== null && typeof sel === 'object' ? (sel as RuntimeSelector) : undefined;
}

function extensionNumber(run: RunView, key: string): number | undefined {
  const ext = run.request?.['extensions'] as Record<string, unknown> | undefined;
  const v = ext?.[key];
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

export class RunRouter {
  private readonly queue = new Set<string>();
  private readonly queueDeadline = new Map<string, number>();
  private readonly runDeadline = new Map<string, number>();
  private readonly flights = new Map<string, Flight>();
  private readonly active = new Map<string, Set<string>>();
  private readonly autostarting = new Map<string, string>();
  private readonly autostartFailure = new Map<string, { at: number; reason: string }>();
  private pumpScheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly ctx: DaemonContext, private readonly supervisor: InstanceSupervisor, private readonly opts: RouterOptions) {
    this.log = ctx.logger.child({ part: 'runs' });
  }

  private get reg() {
    return this.ctx.projection.registry;
  }

  // ---- lifecycle ------------------------------------------------------------------------------------

  /** After the instances were adopted: re-queue queued runs, re-attach runs that were in flight. */
  async start(): Promise<void> {
    this.sub = this.ctx.projection.events$.subscribe((e) => this.onEvent(e));
    const now = Date.now();
    for (const id of this.reg.runOrder) {
      const run = this.reg.runs.get(id);
      if (run === undefined || TERMINAL_RUN_STATES.has(run.state)) continue;
      this.armRunTimeout(run);
      if (run.phase === 'accepted' || run.phase === 'queued') {
        this.enqueue(id, now + this.queueTimeoutOf(run));
      } else {
        const inst = run.instance_id === undefined ? undefined : this.reg.instances.get(run.instance_id);
        if (inst !== undefined && (inst.state === 'ready' || inst.state === 'busy') && inst.runtime_api_endpoint !== undefined) {
          this.log.info({ run_id: id, instance_id: inst.instance_id }, 're-attaching a run after restart');
          const f = this.reserve(id, inst);
          void this.dispatch(f, run.phase === 'started');
        } else {
          await this.recordEnd(id, 'run.failed', { code: 'E_RUNTIME_LOST', message: `the runtime instance ${run.instance_id ?? '?'} was gone when arpd restarted: submit the run again` });
        }
      }
    }
    this.timer = setInterval(() => this.checkDeadlines(), 100);
    this.timer.unref();
    this.schedulePump();
  }

  /** At shutdown: runs in flight are canceled when their instances will be stopped, else left to re-attach. */
  async stop(keepInstances: boolean): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.sub?.unsubscribe();
    const flights = [...this.flights.values()];
    for (const f of flights) {
      f.stoppedBy = 'shutdown';
      f.abort.abort();
    }
    if (!keepInstances) {
      await Promise.all(flights.map(async (f) => {
        await runtimeClient.cancelRun(f.endpoint, f.runId, 2000).catch(() => undefined);
        await this.flushTrace(f);
        await this.recordEnd(f.runId, 'run.canceled', { code: 'E_CANCELED', message: 'arpd shut down and stopped the runtime instances' });
      }));
    }
  }

  busy(): boolean {
    return this.queue.size > 0 || this.flights.size > 0;
  }

  status(): JsonObject {
    return { queue_length: this.queue.size, in_flight: this.flights.size };
  }

  private queueTimeoutOf(run: RunView): number {
    return extensionNumber(run, 'arpd.queue_timeout_ms') ?? this.opts.queueTimeoutMs;
  }

  enqueue(runId: string, deadlineMs?: number): void {
    const run = this.reg.runs.get(runId);
    if (run === undefined) return;
    this.queue.add(runId);
    this.queueDeadline.set(runId, deadlineMs ?? Date.now() + this.queueTimeoutOf(run));
    this.armRunTimeout(run);
    this.schedulePump();
  }

  private armRunTimeout(run: RunView): void {
    const limits = run.request?.['limits'] as { timeout_ms?: number } | undefined;
    if (typeof limits?.timeout_ms === 'number' && limits.timeout_ms > 0 && !this.runDeadline.has(run.run_id)) {
      this.runDeadline.set(run.run_id, Date.parse(run.accepted_at) + limits.timeout_ms);
    }
  }

  // ---- recording ------------------------------------------------------------------------------------

  private async recordEnd(runId: string, type: 'run.failed' | 'run.canceled' | 'run.succeeded', detail: ErrorInfo | JsonObject, result?: JsonObject): Promise<void> {
    let event: AppendInput;
    if (type === 'run.succeeded') event = { type, data: { run_id: runId, result: detail as JsonObject } };
    else if (type === 'run.canceled') event = { type, data: { run_id: runId, reason: (detail as ErrorInfo).message } };
    else event = { type, data: { run_id: runId, error: detail as ErrorInfo, ...(result === undefined ? {} : { result }) } };
    this.queue.delete(runId);
    this.queueDeadline.delete(runId);
    this.runDeadline.delete(runId);
    try {
      await this.ctx.bus.execute([`run:${runId}`], (reg) => ({ events: decideEnd(reg, runId, event), result: () => undefined }), { actor: 'router' });
    } catch (err) {
      this.log.error({ err, run_id: runId }, 'could not record the end of a run');
    }
  }

  private record(key: string, decide: Parameters<DaemonContext['bus']['execute']>[1]): Promise<unknown> {
    return this.ctx.bus.execute([key], decide, { actor: 'router' });
  }

  // ---- routing --------------------------------------------------------------------------------------

  schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private capacity(inst: InstanceView): number {
    return this.supervisor.profileOptions(inst).maxConcurrentRuns;
  }

  private activeOn(instanceId: string): number {
    return this.active.get(instanceId)?.size ?? 0;
  }

  private pump(): void {
    if (this.stopped) return;
    for (const runId of this.queue) {
      const run = this.reg.runs.get(runId);
      if (run === undefined || TERMINAL_RUN_STATES.has(run.state)) {
        this.queue.delete(runId);
        continue;
      }
      const sel = selectorOf(run);
      let best: InstanceView | undefined;
      let anyLive = false;
      for (const inst of this.reg.instances.values()) {
        if (!matchesSelector(inst, sel)) continue;
        if (inst.state === 'starting' || inst.state === 'ready' || inst.state === 'busy') anyLive = true;
        if ((inst.state !== 'ready' && inst.state !== 'busy') || inst.runtime_api_endpoint === undefined) continue;
        const load = this.activeOn(inst.instance_id);
        if (load >= this.capacity(inst)) continue;
        if (best === undefined || load < this.activeOn(best.instance_id)) best = inst;
      }
      if (best !== undefined) {
        this.queue.delete(runId);
        this.queueDeadline.delete(runId);
        const f = this.reserve(runId, best);
        void this.dispatch(f, false);
        continue;
      }
      if (!anyLive) this.maybeAutostart(sel);
    }
  }

  private maybeAutostart(sel: RuntimeSelector | undefined): void {
    if (!this.opts.autostartInstances) return;
    const profile = autostartProfile(sel);
    if (profile === undefined || !this.reg.profiles.has(profile) || this.autostarting.has(profile)) return;
    const failure = this.autostartFailure.get(profile);
    if (failure !== undefined && Date.now() - failure.at < 10_000) return;
    this.autostarting.set(profile, 'pending');
    this.log.info({ runtime_profile: profile }, 'no instance matches a queued run: starting one');
    void this.instanceOps.create({ runtime_profile: profile, count: 1 }, { wait: false, reason: 'started by arpd for a queued run' })
      .then((r) => { const id = r.instances[0]?.instance_id; if (id !== undefined) this.autostarting.set(profile, id); else this.autostarting.delete(profile); })
      .catch((err: unknown) => {
        this.autostarting.delete(profile);
        this.autostartFailure.set(profile, { at: Date.now(), reason: toArpdError(err).message });
      });
  }

  /** Set by the runs feature: the operations that create instances (the same ones the API uses). */
  instanceOps!: { create(request: unknown, opts: { wait: boolean; reason?: string }): Promise<{ instances: Array<{ instance_id: string }> }> };

  private reserve(runId: string, inst: InstanceView): Flight {
    let set = this.active.get(inst.instance_id);
    if (set === undefined) { set = new Set(); this.active.set(inst.instance_id, set); }
    set.add(runId);
    const f: Flight = { runId, instanceId: inst.instance_id, endpoint: inst.runtime_api_endpoint as string, abort: new AbortController(), pendingTrace: [], traceFlush: undefined };
    this.flights.set(runId, f);
    if (set.size >= this.capacity(inst)) void this.setLoad(inst.instance_id);
    return f;
  }

  private release(f: Flight): void {
    this.flights.delete(f.runId);
    const set = this.active.get(f.instanceId);
    set?.delete(f.runId);
    void this.setLoad(f.instanceId);
    this.schedulePump();
  }

  /** ready ↔ busy, decided on the state at the time it is recorded. */
  private setLoad(instanceId: string): Promise<unknown> {
    return this.record(`instance:${instanceId}`, (reg) => {
      const inst = reg.instances.get(instanceId);
      const load = this.activeOn(instanceId);
      const events: AppendInput[] = [];
      if (inst !== undefined) {
        const cap = this.capacity(inst);
        if (inst.state === 'ready' && load >= cap) events.push({ type: 'instance.busy', data: { instance_id: instanceId, active_runs: load } });
        else if (inst.state === 'busy' && load < cap) events.push({ type: 'instance.idle', data: { instance_id: instanceId, active_runs: load } });
      }
      return { events, result: () => undefined };
    }).catch((err: unknown) => {
      if (toArpdError(err).code !== 'E_UNAVAILABLE') this.log.error({ err, instance_id: instanceId }, 'could not record instance load');
    });
  }

  // ---- dispatch and follow -------------------------------------------------------------------------

  private async dispatch(f: Flight, alreadyStarted: boolean): Promise<void> {
    const { runId } = f;
    try {
      await this.record(`run:${runId}`, (reg) => ({ events: decideRoute(reg, { runId, instanceId: f.instanceId, endpoint: f.endpoint }), result: () => undefined }));
      if (!alreadyStarted) {
        const request = this.reg.runs.get(runId)?.request;
        if (request === undefined) return;
        try {
          await runtimeClient.createRun(f.endpoint, request);
        } catch (err) {
          const e = toArpdError(err);
          // After a restart the runtime may already have it: follow it then.
          if (!(e.code === 'E_RUNTIME_ERROR' && e.data?.['http_status'] === 409)) throw e;
        }
        // Ended while the runtime was taking it (cancel, timeout, instance deleted): cancel it there too,
        // or the runtime would run a run nobody follows.
        if (f.stoppedBy !== undefined || TERMINAL_RUN_STATES.has(this.reg.runs.get(runId)?.state ?? 'canceled')) {
          await runtimeClient.cancelRun(f.endpoint, runId, 5000).catch(() => undefined);
          return;
        }
        await this.record(`run:${runId}`, (reg) => ({ events: decideStarted(reg, { runId, instanceId: f.instanceId }), result: () => undefined }));
      }
      await this.follow(f);
    } catch (err) {
      if (f.stoppedBy === undefined) {
        const e = toArpdError(err);
        await this.flushTrace(f);
        const message = e.code === 'E_RUNTIME_ERROR' ? `the runtime refused the run: ${e.message}` : e.message;
        await this.recordEnd(runId, 'run.failed', { code: e.code === 'E_INTERNAL' ? 'E_INTERNAL' : e.code, message, ...(e.data === undefined ? {} : { details: e.data as JsonObject }) });
        if (e.code === 'E_INTERNAL') this.log.error({ err, run_id: runId }, 'run failed unexpectedly');
      }
    } finally {
      this.release(f);
    }
  }

  private pushTrace(f: Flight, ev: JsonRecord): void {
    let data = ev as JsonObject;
    const type = typeof ev['type'] === 'string' ? ev['type'] : 'event';
    if (JSON.stringify(ev).length > MAX_TRACE_EVENT_CHARS) {
      data = { seq: ev['seq'] as number, type, truncated: true, note: `event larger than ${MAX_TRACE_EVENT_CHARS} characters was not recorded` };
    }
    f.pendingTrace.push({ type: 'run.trace', data: { run_id: f.runId, level: type === 'error' ? 'error' : 'info', type, data } });
    if (f.traceFlush === undefined) f.traceFlush = this.drainTrace(f);
  }

  /** Trace lines of one run go out in batches: all that arrived while the previous batch synced. */
  private async drainTrace(f: Flight): Promise<void> {
    try {
      while (f.pendingTrace.length > 0) {
        const batch = f.pendingTrace.splice(0);
        await this.ctx.store.append(batch).catch((err: unknown) => this.log.error({ err, run_id: f.runId }, 'could not record trace lines'));
      }
    } finally {
      f.traceFlush = undefined;
    }
  }

  private async flushTrace(f: Flight): Promise<void> {
    while (f.traceFlush !== undefined) await f.traceFlush;
  }

  private async follow(f: Flight): Promise<void> {
    const { runId, endpoint } = f;
    const signal = f.abort.signal;
    let lastSeq = this.reg.runs.get(runId)?.runtime_seq ?? 0;
    let sse = true;
    let delay = 25;
    for (;;) {
      if (signal.aborted) return;
      if (sse) {
        try {
          for await (const msg of streamRunEvents(endpoint, runId, { signal, ...(lastSeq > 0 ? { lastEventId: String(lastSeq) } : {}) })) {
            let ev: JsonRecord;
            try { ev = JSON.parse(msg.data) as JsonRecord; } catch { continue; }
            const seq = typeof ev['seq'] === 'number' ? ev['seq'] : undefined;
            if (seq !== undefined) {
              if (seq <= lastSeq) continue;
              lastSeq = seq;
            }
            this.pushTrace(f, ev);
          }
        } catch (err) {
          if (signal.aborted) return;
          const e = toArpdError(err);
          if (e.code === 'E_METHOD_NOT_FOUND') sse = false;
          else if (e.code !== 'E_RUNTIME_LOST') throw e;
        }
      }
      if (signal.aborted) return;
      let status;
      try {
        status = await runtimeClient.getRun(endpoint, runId);
      } catch (err) {
        const e = toArpdError(err);
        if (e.code === 'E_RUNTIME_LOST') {
          // the process may be gone: let the supervisor say so, else keep trying a while
          const inst = this.reg.instances.get(f.instanceId);
          if (inst === undefined || inst.state === 'error' || inst.state === 'stopped') throw e;
          await sleep(Math.min(delay *= 2, 1000), signal);
          if (delay >= 1000) throw e;
          continue;
        }
        throw e;
      }
      if (TERMINAL_RUNTIME_STATES.has(status.state)) {
        await this.finish(f, status.state);
        return;
      }
      await sleep(sse ? (this.opts.reconnectDelayMs ?? 50) : delay, signal);
      if (!sse) delay = Math.min(delay * 2, 1000);
    }
  }

  private async finish(f: Flight, state: string): Promise<void> {
    let result: JsonRecord | undefined;
    try {
      result = await runtimeClient.getResult(f.endpoint, f.runId);
    } catch (err) {
      this.log.warn({ err, run_id: f.runId }, 'runtime ended the run but gave no result');
    }
    await this.flushTrace(f);
    if (f.stoppedBy !== undefined && f.stoppedBy !== 'cancel') return;
    const res = (result ?? { run_id: f.runId, ok: state === 'succeeded' }) as JsonObject;
    if (state === 'succeeded') {
      await this.recordEnd(f.runId, 'run.succeeded', res);
    } else if (state === 'canceled') {
      await this.recordEnd(f.runId, 'run.canceled', { code: 'E_CANCELED', message: f.stoppedBy === 'cancel' ? 'canceled by request' : 'canceled by the runtime' });
    } else {
      const err = (result?.['error'] ?? {}) as { code?: unknown; message?: unknown };
      await this.recordEnd(f.runId, 'run.failed', {
        code: typeof err.code === 'string' ? err.code : 'E_RUNTIME_ERROR',
        message: typeof err.message === 'string' ? err.message : 'the runtime reported the run failed',
      }, res);
    }
  }

  // ---- cancel, timeouts, lost instances -----------------------------------------------------------

  /** Cancels a run: a queued one at once; one in flight at the runtime, then recorded. */
  async cancel(runId: string, reason = 'canceled by request'): Promise<void> {
    const f = this.flights.get(runId);
    if (f === undefined) {
      const run = this.reg.runs.get(runId);
      if (run === undefined || TERMINAL_RUN_STATES.has(run.state)) return;
      await this.recordEnd(runId, 'run.canceled', { code: 'E_CANCELED', message: reason });
      return;
    }
    f.stoppedBy = 'cancel';
    await runtimeClient.cancelRun(f.endpoint, runId, 5000).catch(() => undefined);
    // give the follower a moment to see the runtime's end (and its last events)
    const deadline = Date.now() + 3000;
    while (Date.now() < deadline && this.flights.has(runId) && !TERMINAL_RUN_STATES.has(this.reg.runs.get(runId)?.state ?? 'canceled')) await sleep(20);
    if (!TERMINAL_RUN_STATES.has(this.reg.runs.get(runId)?.state ?? 'canceled')) {
      f.abort.abort();
      await this.flushTrace(f);
      await this.recordEnd(runId, 'run.canceled', { code: 'E_CANCELED', message: reason });
    }
  }

  private checkDeadlines(): void {
    const now = Date.now();
    for (const [runId, at] of this.queueDeadline) {
      if (at > now || !this.queue.has(runId)) continue;
      const run = this.reg.runs.get(runId);
      if (run === undefined) continue;
      const sel = selectorOf(run);
      const named = sel?.instance_id;
      const profile = autostartProfile(sel);
      const failure = profile === undefined ? undefined : this.autostartFailure.get(profile);
      const lastError = this.lastInstanceError(sel);
      const code = named !== undefined ? 'instances.not_ready' : 'instances.no_ready';
      const why = [
        named !== undefined ? `instance '${named}' did not become ready` : `no instance matching ${describeSelector(sel)} became ready`,
        `within ${this.queueTimeoutOf(run) / 1000}s`,
      ].join(' ');
      const hint = failure !== undefined ? ` (starting one failed: ${failure.reason})` : lastError !== undefined ? ` (last instance error: ${lastError})` : profile !== undefined && !this.reg.profiles.has(profile) ? ` (profile '${profile}' is not on the safe list: add it with 'arpd profiles upsert')` : '';
      this.queue.delete(runId);
      this.queueDeadline.delete(runId);
      void this.recordEnd(runId, 'run.failed', { code: 'E_NOT_READY', message: `${why}${hint}: start one with 'arpd instances start', or raise the queue timeout`, details: { arp_code: code } });
    }
    for (const [runId, at] of this.runDeadline) {
      if (at > now) continue;
      this.runDeadline.delete(runId);
      void this.timeout(runId);
    }
  }

  private lastInstanceError(sel: RuntimeSelector | undefined): string | undefined {
    let latest: InstanceView | undefined;
    for (const inst of this.reg.instances.values()) {
      if (inst.state === 'error' && matchesSelector(inst, sel) && (latest === undefined || inst.updated_at > latest.updated_at)) latest = inst;
    }
    return latest?.reason;
  }

  private async timeout(runId: string): Promise<void> {
    const run = this.reg.runs.get(runId);
    if (run === undefined || TERMINAL_RUN_STATES.has(run.state)) return;
    const limits = run.request?.['limits'] as { timeout_ms?: number } | undefined;
    const message = `the run took longer than limits.timeout_ms (${limits?.timeout_ms ?? '?'} ms): arpd canceled it`;
    const f = this.flights.get(runId);
    if (f !== undefined) {
      f.stoppedBy = 'timeout';
      f.abort.abort();
      await runtimeClient.cancelRun(f.endpoint, runId, 5000).catch(() => undefined);
      await this.flushTrace(f);
    }
    await this.recordEnd(runId, 'run.failed', { code: 'E_TIMEOUT', message });
  }

  private onEvent(e: StoredEvent): void {
    switch (e.type) {
      case 'instance.ready':
      case 'instance.idle':
        this.autostartDone(e.data.instance_id, undefined);
        this.schedulePump();
        return;
      case 'instance.failed':
        this.autostartDone(e.data.instance_id, e.data.reason);
        this.instanceGone(e.data.instance_id, 'failed', e.data.reason);
        this.schedulePump();
        return;
      case 'instance.stopping':
        this.instanceGone(e.data.instance_id, 'deleted', e.data.reason);
        return;
      case 'instance.stopped':
      case 'instance.deregistered':
        this.autostartDone(e.data.instance_id, 'stopped');
        this.instanceGone(e.data.instance_id, 'deleted', 'stopped');
        this.schedulePump();
        return;
      case 'profile.upserted':
        this.autostartFailure.delete(e.data.runtime_profile);
        this.schedulePump();
        return;
      default:
        return;
    }
  }

  private autostartDone(instanceId: string, failure: string | undefined): void {
    for (const [profile, id] of this.autostarting) {
      if (id !== instanceId) continue;
      this.autostarting.delete(profile);
      if (failure !== undefined) this.autostartFailure.set(profile, { at: Date.now(), reason: failure });
    }
  }

  /** The instance of runs in flight failed or is being deleted: those runs end, and say why. */
  private instanceGone(instanceId: string, how: 'failed' | 'deleted', reason: string): void {
    if (this.stopped) return;
    for (const f of [...this.flights.values()]) {
      if (f.instanceId !== instanceId || f.stoppedBy !== undefined) continue;
      f.stoppedBy = 'instance';
      const cancelFirst = how === 'deleted' ? runtimeClient.cancelRun(f.endpoint, f.runId, 2000).catch(() => undefined) : Promise.resolve();
      void cancelFirst.then(async () => {
        f.abort.abort();
        await this.flushTrace(f);
        if (how === 'deleted') await this.recordEnd(f.runId, 'run.canceled', { code: 'E_CANCELED', message: `instance ${instanceId} was deleted while the run was in flight (${reason})` });
        else await this.recordEnd(f.runId, 'run.failed', { code: 'E_RUNTIME_LOST', message: `instance ${instanceId} failed while the run was in flight: ${reason}` });
      });
    }
  }
}

export function assertRunnable(ctx: DaemonContext): void {
  if (ctx.stopping()) throw new ArpdError('E_UNAVAILABLE', 'the daemon is shutting down: try again once it has restarted');
}
