import { filter, firstValueFrom, timeout as rxTimeout } from 'rxjs';
import { runNotFound } from '../commands/run-deciders.js';
import type { DaemonContext } from '../daemon/daemon-context.js';
import { ArpdError } from '../errors/index.js';
import { runTraceFromStream } from '../events/event-store.js';
import type { JsonObject } from '../events/event-types.js';
import { checkId } from '../ids/id-rules.js';
import { isEnded } from '../projections/registry.js';
import type { RunStateName, RunView } from '../projections/registry-types.js';
import { routingPolicyOf } from '../policy/routing.js';
import { selectorOf } from '../policy/selector.js';
import { validate } from '../schemas/index.js';
import type { RunListResponse, RunResult, RunStatus, TraceResponse } from '../schemas/index.js';
import { refuseWhileStopping, unlessStorageFails } from './guards.js';
import { toRunStatus } from './views.js';

function encodeToken(order: number): string {
  return Buffer.from(JSON.stringify({ o: order })).toString('base64url');
}

function decodeToken(token: string): number {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { o?: unknown };
    if (typeof parsed.o === 'number' && Number.isSafeInteger(parsed.o) && parsed.o >= 0) return parsed.o;
  } catch { /* fall through */ }
  throw new ArpdError('E_VALIDATION', 'page_token is not one this daemon gave out: pass the next_page_token of the previous page, or leave it out to start over', { field: 'page_token' });
}

export interface ListOptions {
  pageSize?: number | undefined;
  pageToken?: string | undefined;
  state?: string | undefined;
  /** The profile of the instance it ran on, or of its selector while it waits. */
  profile?: string | undefined;
  instanceId?: string | undefined;
  /** A run id prefix. */
  q?: string | undefined;
  order?: 'asc' | 'desc' | undefined;
}

/**
 * The most runs one `list` call looks at. Past it the call answers with what it found (maybe fewer than a page,
 * maybe none) and a `next_page_token` to go on from: a rare filter over a long history (archived runs cost a disk
 * read each) takes many short requests, never one long one.
 */
export const LIST_SCAN_LIMIT = 10_000;

/** How long `cancel` waits for the run to end (the dispatcher records it after its grace at the latest). */
const CANCEL_WAIT_MS = 6000;
/** How long a submit refused for want of a match waits, on a shared store, for the events other nodes committed. */
const CATCH_UP_MS = 2000;

/** A submit refused because nothing known matches its selector (not a malformed one): worth deciding again on fresher state. */
function refusedForWantOfMatch(err: unknown): boolean {
  if (!(err instanceof ArpdError) || (err.code !== 'E_NOT_FOUND' && err.code !== 'E_NOT_READY')) return false;
  const arp = (err.data as { arp_code?: unknown } | undefined)?.arp_code;
  return arp === 'instances.not_found' || arp === 'runtime_profiles.not_found' || arp === 'instances.no_ready' || arp === 'instances.not_ready';
}

/** Operations on runs, shared by the socket and HTTP transports. */
export class RunOps {
  constructor(private readonly ctx: DaemonContext) {}

  private get state() {
    return this.ctx.state;
  }

  /** A run in memory, or archived (read from disk: the same answer as before it left memory). */
  private view(runId: string): RunView {
    checkId('run id', runId, 'run_id');
    const v = this.state.run(runId);
    if (v === undefined) throw runNotFound(runId, this.state.prunedCount);
    return v;
  }

  private status(v: RunView): RunStatus {
    return toRunStatus(v, this.state.progress(v.run_id));
  }

  async submit(request: unknown, opts: { correlationId?: string } = {}): Promise<RunStatus> {
    const body = validate('RunRequest', request) as unknown as JsonObject;
    refuseWhileStopping(this.ctx);
    const runId = typeof body['run_id'] === 'string' ? checkId('run id', body['run_id'], 'run_id') : this.ctx.newId('run');
    const r = this.ctx.options.runs ?? {};
    const submit = (): Promise<unknown> => this.ctx.bus.execute(this.ctx.command('SubmitRun', {
      run_id: runId,
      request: body,
      queue_timeout_ms: r.queueTimeoutMs ?? 30_000,
      policy: routingPolicyOf(this.ctx.options),
      own_endpoints: this.ctx.ownEndpoints(),
      default_run_timeout_ms: r.defaultRunTimeoutMs ?? 3_600_000,
    }, 'api', { correlation_id: opts.correlationId ?? runId }));
    try {
      await submit();
    } catch (err) {
      // On a shared store another node may have just added what the selector names (an instance, a profile) and this
      // node not folded it yet: catch up with the store once and decide again before saying it can never match.
      const caughtUp = this.ctx.log.caughtUp?.bind(this.ctx.log);
      if (caughtUp === undefined || !refusedForWantOfMatch(err)) throw err;
      await caughtUp(CATCH_UP_MS);
      await submit();
    }
    return this.status(this.view(runId));
  }

  get(runId: string): RunStatus {
    return this.status(this.view(runId));
  }

  async result(runId: string): Promise<RunResult> {
    const v = this.view(runId);
    if (!isEnded(v) || v.result_rev === undefined) {
      throw new ArpdError('E_NOT_READY', `run '${runId}' has not ended yet (state ${v.state}): wait for it ('arpd runs status ${runId}') and ask again`, { run_id: runId, state: v.state, arp_code: 'runs.not_ready' });
    }
    const err = v.error;
    if (v.state !== 'succeeded' && err !== undefined && v.state === 'canceled') {
      return { run_id: runId, ok: false, error: { code: err.code, message: err.message } } as RunResult;
    }
    let [line] = await this.ctx.log.readRunTrace(runId, v.result_rev, 1);
    // the run log is derived: when it lost the line (deleted, damaged), the event log still holds it
    if (line?.seq !== v.result_rev) [line] = await runTraceFromStream(this.ctx.log, runId, v.result_rev, 1);
    const data = line?.seq === v.result_rev ? (line.data as { result?: JsonObject; error?: JsonObject }) : undefined;
    if (data === undefined) {
      // never a partial answer: the result lives in the run's log line, and that line cannot be read
      throw new ArpdError('E_UNAVAILABLE', `the result of run '${runId}' cannot be read from its trace (line ${v.result_rev} is missing or damaged): run 'arpd log verify' to find out why`, { run_id: runId, line: v.result_rev });
    }
    if (v.state === 'succeeded' && data.result !== undefined) return { ...data.result, run_id: runId } as unknown as RunResult;
    if (v.state === 'failed' && data.result !== undefined && (data.result as { ok?: unknown }).ok === false) return { ...data.result, run_id: runId } as unknown as RunResult;
    const e = err ?? { code: 'E_INTERNAL', message: 'the run ended without an error' };
    return { run_id: runId, ok: v.state === 'succeeded', ...(v.state === 'succeeded' ? {} : { error: { code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) } }) } as RunResult;
  }

  list(o: ListOptions): RunListResponse {
    const size = o.pageSize ?? 100;
    if (!Number.isSafeInteger(size) || size < 1 || size > 1000) throw new ArpdError('E_VALIDATION', `page_size must be from 1 to 1000, not ${String(o.pageSize)}`, { field: 'page_size' });
    const count = this.state.orderCount;
    const desc = o.order === 'desc';
    const start = o.pageToken === undefined || o.pageToken === '' ? (desc ? count - 1 : 0) : decodeToken(o.pageToken);
    const runs: RunStatus[] = [];
    let i = start;
    const step = desc ? -1 : 1;
    // walks submission order: runs in memory and archived ones alike, so pages stay stable as runs leave memory;
    // `i` ends at the first run not looked at, where the next page starts
    for (let looked = 0; i >= 0 && i < count && runs.length < size && looked < LIST_SCAN_LIMIT; i += step, looked++) {
      const v = this.state.runAtOrder(i);
      if (v === undefined) continue;
      if (o.q !== undefined && !v.run_id.startsWith(o.q)) continue;
      if (o.state !== undefined && v.state !== (o.state as RunStateName)) continue;
      if (o.instanceId !== undefined && v.instance_id !== o.instanceId) continue;
      if (o.profile !== undefined) {
        const p = v.instance_id === undefined ? selectorOf(v.request)?.runtime_profile : this.state.instances.get(v.instance_id)?.runtime_profile;
        if (p !== o.profile) continue;
      }
      runs.push(this.status(v));
    }
    const more = i >= 0 && i < count;
    return { runs, pagination: { page_size: size, ...(more ? { next_page_token: encodeToken(i) } : {}) } };
  }

  /** Cancels a run: a waiting one at once; one in flight at its runtime. Answers with the status once it ended (or after a few seconds). */
  async cancel(runId: string): Promise<RunStatus> {
    const v = this.view(runId);
    if (isEnded(v)) return this.status(v);
    refuseWhileStopping(this.ctx);
    await this.ctx.bus.execute(this.ctx.command('CancelRun', { run_id: runId, reason: 'canceled by request' }, 'api'));
    return this.wait(runId, CANCEL_WAIT_MS);
  }

  async trace(runId: string, opts: { fromSeq?: number | undefined; limit?: number | undefined } = {}): Promise<TraceResponse> {
    this.view(runId);
    const from = opts.fromSeq ?? 1;
    const limit = opts.limit ?? 100_000;
    let events = await this.ctx.log.readRunTrace(runId, from, limit);
    const expected = this.state.progress(runId)?.trace_lines ?? 0;
    const wanted = Math.min(limit, Math.max(0, expected - from + 1));
    // the run log is derived: one that lost lines (deleted, or damaged by a short write) is answered from the log
    if (events.length < wanted) events = await runTraceFromStream(this.ctx.log, runId, from, limit);
    if (events.length < wanted) {
      throw new ArpdError('E_UNAVAILABLE', `the trace of run '${runId}' holds ${events.length} of the ${wanted} lines asked for (lines ${from}–${from + wanted - 1}): run 'arpd log verify' to find out why`, { run_id: runId, expected: wanted, got: events.length });
    }
    return { trace_uri: `file://${this.ctx.paths.runs}/${runId}/trace.jsonl`, events: events as unknown as NonNullable<TraceResponse['events']> };
  }

  /** Resolves with the status once the run has ended (or the time is up). */
  async wait(runId: string, timeoutMs: number): Promise<RunStatus> {
    const v = this.view(runId);
    if (isEnded(v)) return this.status(v);
    const stream = `run:${runId}`;
    await unlessStorageFails(this.ctx, firstValueFrom(this.ctx.events$.pipe(
      filter((e) => e.stream === stream && isEnded(this.state.runs.get(runId) ?? v)),
      rxTimeout({ first: timeoutMs }),
    )).catch(() => undefined));
    return this.status(this.view(runId));
  }
}
