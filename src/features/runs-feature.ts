import { filter, firstValueFrom, timeout as rxTimeout } from 'rxjs';
import { decideCancelQueued, decideSubmitRun, runNotFound } from '../commands/run-commands.js';
import { runTracePath } from '../config/data-dir.js';
import type { DaemonContext, Feature } from '../daemon/daemon-context.js';
import { optInt, optString, paramsObject, reqString } from '../daemon/params.js';
import { ArpdError } from '../errors/index.js';
import type { JsonObject } from '../events/event-types.js';
import type { StoredEvent } from '../events/envelope.js';
import { traceLineOf, type TraceLine } from '../events/trace-line.js';
import { checkId } from '../ids/id-rules.js';
import { TERMINAL_RUN_STATES, type RunStateName, type RunView } from '../projections/registry-types.js';
import { RunRouter, type RouterOptions } from '../runs/run-router.js';
import { readTraceLineAt, readTraceLines } from '../runs/trace-reader.js';
import { validate } from '../schemas/index.js';
import type { RunListResponse, RunResult, RunStatus, TraceResponse } from '../schemas/index.js';
import type { InstanceOps } from './instances-feature.js';

/** The ARP RunStatus of a view; arpd's finer phase and error ride in `extensions["arpd.run"]`. */
export function toRunStatus(v: RunView): RunStatus {
  const details: JsonObject = { phase: v.phase, accepted_at: v.accepted_at, trace_lines: v.trace_lines };
  if (v.error !== undefined) details['error'] = v.error as unknown as JsonObject;
  return {
    run_id: v.run_id,
    state: v.state,
    ...(v.started_at === undefined ? {} : { started_at: v.started_at }),
    ...(v.ended_at === undefined ? {} : { ended_at: v.ended_at }),
    ...(v.instance_id === undefined ? {} : { runtime_instance_id: v.instance_id }),
    extensions: { 'arpd.run': details },
  };
}

function encodeToken(order: number): string {
  return Buffer.from(JSON.stringify({ o: order })).toString('base64url');
}

function decodeToken(token: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof parsed.o === 'number' && Number.isSafeInteger(parsed.o) && parsed.o >= 0) return parsed.o;
  } catch { /* fall through */ }
  throw new ArpdError('E_VALIDATION', "page_token is not one this daemon gave out: pass the next_page_token of the previous page, or leave it out to start over", { field: 'page_token' });
}

export type RunsFeatureOptions = Partial<RouterOptions>;

/** Operations on runs, shared by the socket and HTTP transports. */
export class RunOps {
  readonly router: RunRouter;

  constructor(private readonly ctx: DaemonContext, instances: InstanceOps, private readonly opts: RunsFeatureOptions) {
    this.router = new RunRouter(ctx, instances.supervisor, {
      queueTimeoutMs: opts.queueTimeoutMs ?? 30_000,
      autostartInstances: opts.autostartInstances ?? true,
      ...(opts.reconnectDelayMs === undefined ? {} : { reconnectDelayMs: opts.reconnectDelayMs }),
    });
    this.router.instanceOps = instances;
  }

  private get reg() {
    return this.ctx.projection.registry;
  }

  private view(runId: string): RunView {
    checkId('run id', runId, 'run_id');
    const v = this.reg.runs.get(runId);
    if (v === undefined) throw runNotFound(runId);
    return v;
  }

  async submit(request: unknown): Promise<RunStatus> {
    const body = validate('RunRequest', request) as unknown as JsonObject;
    if (this.ctx.stopping()) throw new ArpdError('E_UNAVAILABLE', 'the daemon is shutting down: try again once it has restarted');
    const runId = typeof body['run_id'] === 'string' ? checkId('run id', body['run_id'], 'run_id') : this.ctx.newId('run');
    const ext = body['extensions'] as Record<string, unknown> | undefined;
    const qt = ext?.['arpd.queue_timeout_ms'];
    if (qt !== undefined && (typeof qt !== 'number' || !Number.isSafeInteger(qt) || qt < 0 || qt > 86_400_000)) {
      throw new ArpdError('E_VALIDATION', "extensions[\"arpd.queue_timeout_ms\"] must be a whole number of milliseconds from 0 to 86400000", { field: 'extensions["arpd.queue_timeout_ms"]' });
    }
    const queueMs = typeof qt === 'number' ? qt : this.opts.queueTimeoutMs ?? 30_000;
    const deadlineMs = this.ctx.now().getTime() + queueMs;
    const events = await this.ctx.bus.execute([`run:${runId}`], (reg) => ({
      events: decideSubmitRun(reg, { runId, request: body, deadline: new Date(deadlineMs).toISOString() }),
      result: (stored) => stored,
    }), { actor: 'api', correlation_id: runId });
    if (events.length > 0) this.router.enqueue(runId, deadlineMs);
    return toRunStatus(this.view(runId));
  }

  get(runId: string): RunStatus {
    return toRunStatus(this.view(runId));
  }

  result(runId: string): RunResult {
    const v = this.view(runId);
    if (!TERMINAL_RUN_STATES.has(v.state) || v.result_rev === undefined) {
      throw new ArpdError('E_NOT_READY', `run '${runId}' has not ended yet (state ${v.state}): wait for it ('arpd runs status ${runId}') and ask again`, { run_id: runId, state: v.state, arp_code: 'runs.not_ready' });
    }
    const line = readTraceLineAt(runTracePath(this.ctx.paths, runId), v.result_rev);
    const data = (line?.data ?? {}) as { result?: JsonObject; error?: JsonObject; reason?: string };
    if (v.state === 'succeeded' && data.result !== undefined) return { ...data.result, run_id: runId } as unknown as RunResult;
    if (v.state === 'failed' && data.result !== undefined && (data.result as { ok?: unknown }).ok === false) return { ...data.result, run_id: runId } as unknown as RunResult;
    const err = v.error ?? { code: 'E_INTERNAL', message: 'the result is missing from the run log' };
    return { run_id: runId, ok: v.state === 'succeeded', ...(v.state === 'succeeded' ? {} : { error: { code: err.code, message: err.message, ...(err.details === undefined ? {} : { details: err.details }) } }) } as RunResult;
  }

  list(opts: { pageSize?: number | undefined; pageToken?: string | undefined; state?: string | undefined }): RunListResponse {
    const size = opts.pageSize ?? 100;
    if (!Number.isSafeInteger(size) || size < 1 || size > 1000) throw new ArpdError('E_VALIDATION', `page_size must be from 1 to 1000, not ${String(opts.pageSize)}`, { field: 'page_size' });
    if (opts.state !== undefined && !['queued', 'running', 'succeeded', 'failed', 'canceled'].includes(opts.state)) {
      throw new ArpdError('E_VALIDATION', `state must be one of queued, running, succeeded, failed, canceled; not '${opts.state}'`, { field: 'state' });
    }
    const from = opts.pageToken === undefined || opts.pageToken === '' ? 0 : decodeToken(opts.pageToken);
    const order = this.reg.runOrder;
    const runs: RunStatus[] = [];
    let i = from;
    for (; i < order.length && runs.length < size; i++) {
      const v = this.reg.runs.get(order[i] as string);
      if (v === undefined) continue;
      if (opts.state !== undefined && v.state !== (opts.state as RunStateName)) continue;
      runs.push(toRunStatus(v));
    }
    return { runs, pagination: { page_size: size, ...(i < order.length ? { next_page_token: encodeToken(i) } : {}) } };
  }

  async cancel(runId: string): Promise<RunStatus> {
    const v = this.view(runId);
    if (TERMINAL_RUN_STATES.has(v.state)) return toRunStatus(v);
    if (v.phase === 'accepted' || v.phase === 'queued') {
      await this.ctx.bus.execute([`run:${runId}`], (reg) => ({ events: decideCancelQueued(reg, { runId, reason: 'canceled by request while queued' }), result: () => undefined }), { actor: 'api' });
    }
    if (!TERMINAL_RUN_STATES.has(this.view(runId).state)) await this.router.cancel(runId);
    return toRunStatus(this.view(runId));
  }

  trace(runId: string, opts: { fromSeq?: number | undefined; limit?: number | undefined } = {}): TraceResponse {
    this.view(runId);
    const path = runTracePath(this.ctx.paths, runId);
    const events = readTraceLines(path, opts);
    return { trace_uri: `file://${path}`, events: events as unknown as NonNullable<TraceResponse['events']> };
  }

  /** Resolves with the status once the run has ended (or the time is up). */
  async wait(runId: string, timeoutMs: number): Promise<RunStatus> {
    const v = this.view(runId);
    if (TERMINAL_RUN_STATES.has(v.state)) return toRunStatus(v);
    const stream = `run:${runId}`;
    await firstValueFrom(this.ctx.projection.events$.pipe(
      filter((e) => e.stream === stream && TERMINAL_RUN_STATES.has(this.reg.runs.get(runId)?.state ?? 'queued')),
      rxTimeout({ first: timeoutMs }),
    )).catch(() => undefined);
    return toRunStatus(this.view(runId));
  }

  /** Streams the run's trace lines (from the file, then live) to `send`; resolves when the run ends. */
  async follow(runId: string, fromSeq: number, send: (line: TraceLine) => boolean, signal: AbortSignal): Promise<RunStatus> {
    this.view(runId);
    const stream = `run:${runId}`;
    let next = fromSeq;
    let live = false;
    const buffered: StoredEvent[] = [];
    let done!: () => void;
    const ended = new Promise<void>((r) => { done = r; });
    const emit = (e: StoredEvent): void => {
      if (e.rev < next) return;
      next = e.rev + 1;
      if (!send(traceLineOf(e, runId))) done();
      if (TERMINAL_RUN_STATES.has(this.reg.runs.get(runId)?.state ?? 'queued') && e.rev >= (this.reg.runs.get(runId)?.trace_lines ?? 0)) done();
    };
    const sub = this.ctx.projection.events$.pipe(filter((e) => e.stream === stream)).subscribe((e) => (live ? emit(e) : buffered.push(e)));
    signal.addEventListener('abort', () => done(), { once: true });
    try {
      for (const line of readTraceLines(runTracePath(this.ctx.paths, runId), { fromSeq: next })) {
        if (line.seq < next) continue;
        next = line.seq + 1;
        if (!send(line)) { done(); break; }
      }
      live = true;
      for (const e of buffered.splice(0)) emit(e);
      const v = this.reg.runs.get(runId);
      if (v !== undefined && TERMINAL_RUN_STATES.has(v.state) && next > v.trace_lines) done();
      await ended;
    } finally {
      sub.unsubscribe();
    }
    return toRunStatus(this.view(runId));
  }
}

export function runsFeature(instances: { ops(ctx: DaemonContext): InstanceOps }, options: RunsFeatureOptions = {}): Feature & { ops(ctx: DaemonContext): RunOps } {
  let ops: RunOps | undefined;
  const get = (ctx: DaemonContext): RunOps => (ops ??= new RunOps(ctx, instances.ops(ctx), options));
  return {
    name: 'runs',
    ops: get,
    async start(ctx) {
      await get(ctx).router.start();
    },
    async stop(ctx, { keepInstances }) {
      await get(ctx).router.stop(keepInstances);
    },
    busy: (ctx) => get(ctx).router.busy(),
    status: (ctx) => ({ runs_router: get(ctx).router.status() }),
    methods(ctx) {
      const o = get(ctx);
      return {
        'runs.submit': { handler: (params) => o.submit(paramsObject(params, ['request'], 'runs.submit')['request']) },
        'runs.get': { idempotent: true, handler: (params) => o.get(reqString(paramsObject(params, ['run_id'], 'runs.get'), 'run_id', 200)) },
        'runs.result': { idempotent: true, handler: (params) => o.result(reqString(paramsObject(params, ['run_id'], 'runs.result'), 'run_id', 200)) },
        'runs.list': {
          idempotent: true,
          handler: (params) => {
            const p = paramsObject(params, ['page_size', 'page_token', 'state'], 'runs.list');
            return o.list({ pageSize: optInt(p, 'page_size', 1, 1000), pageToken: optString(p, 'page_token', 200), state: optString(p, 'state', 20) });
          },
        },
        'runs.cancel': { idempotent: true, handler: (params) => o.cancel(reqString(paramsObject(params, ['run_id'], 'runs.cancel'), 'run_id', 200)) },
        'runs.trace': {
          idempotent: true,
          handler: (params) => {
            const p = paramsObject(params, ['run_id', 'from_seq', 'limit'], 'runs.trace');
            return o.trace(reqString(p, 'run_id', 200), { fromSeq: optInt(p, 'from_seq', 1, Number.MAX_SAFE_INTEGER), limit: optInt(p, 'limit', 1, 100_000) });
          },
        },
        'runs.wait': {
          idempotent: true,
          handler: (params) => {
            const p = paramsObject(params, ['run_id', 'timeout_ms'], 'runs.wait');
            return o.wait(reqString(p, 'run_id', 200), optInt(p, 'timeout_ms', 1, 86_400_000) ?? 3_600_000);
          },
        },
        'runs.follow': {
          handler: (params, call) => {
            const p = paramsObject(params, ['run_id', 'from_seq'], 'runs.follow');
            const runId = reqString(p, 'run_id', 200);
            return o.follow(runId, optInt(p, 'from_seq', 1, Number.MAX_SAFE_INTEGER) ?? 1, (line) => call.notify('runs.trace', { run_id: runId, line }), call.signal);
          },
        },
      };
    },
  };
}
