import { hash } from 'node:crypto';
import { ArpdError } from '../errors/index.js';
import type { DomainEvent, ErrorInfo, JsonObject, RunTrace } from '../events/event-types.js';
import { canonicalJson } from '../ids/canonical-json.js';
import { checkId } from '../ids/id-rules.js';
import { isEnded, isServing, type ReadModel } from '../projections/registry.js';
import type { RunView } from '../projections/registry-types.js';
import { addMs, requestQueueTimeoutMs, requestTimeoutMs, runTimeLimit } from '../policy/deadlines.js';
import { jsonValueDepth } from '../policy/json-limits.js';
import { answeredByManaged, describeWait, hasRoom, submitRoute } from '../policy/routing.js';
import { optionsOfInstance } from '../policy/runtime-options.js';
import { matchesSelector, selectorOf } from '../policy/selector.js';
import { stewardOf } from '../policy/ownership.js';
import type { CommandOf } from './command-types.js';
import { traceExtensionProblem, withoutTraceContext } from '../telemetry/trace-context.js';
import { attempt, type Decision } from './decision.js';

/** Pure decisions about runs. Ids and times arrive in the command. A run ends exactly once. */

/** The identity of a request for idempotent retries: key order does not matter. */
export function requestHash(request: JsonObject): string {
  // the one-shot hash: no Hash object per submit
  return hash('sha256', canonicalJson(request), 'hex');
}

/**
 * No run of that id. Once this daemon's log has pruned runs (`prunedCount`, a count: no list of pruned ids is kept),
 * the message says the run may have been one of them, since a pruned run is answered as one that never was.
 */
export function runNotFound(runId: string, prunedCount = 0): ArpdError {
  const pruned = prunedCount === 0 ? '' : ` (it may have been pruned: 'arpd runs prune' has removed ${prunedCount} ended run${prunedCount === 1 ? '' : 's'} here, and pruned runs are no longer kept)`;
  return new ArpdError('E_NOT_FOUND', `no run '${runId}': see 'arpd runs list'${pruned}`, { run_id: runId, arp_code: 'runs.not_found' });
}

const MAX_QUEUE_TIMEOUT_MS = 86_400_000;

function isWaiting(run: RunView): boolean {
  return run.phase === 'accepted' || run.phase === 'queued';
}

/**
 * A new run: accepted and queued (with its queue deadline), or also routed at once when it names a
 * `runtime_api_endpoint`. The same id with the same request changes nothing (the caller answers the
 * existing status); the same id with another request is E_CONFLICT. A selector that can never match
 * is refused here, before anything is written.
 */
export function decideSubmitRun(state: ReadModel, cmd: CommandOf<'SubmitRun'>): Decision {
  return attempt(() => {
    const d = cmd.data;
    const runId = checkId('run id', d.run_id, 'run_id');
    const request: JsonObject = { ...d.request, run_id: runId };
    const traceProblem = traceExtensionProblem(request);
    if (traceProblem !== undefined) throw new ArpdError('E_VALIDATION', traceProblem.message, { field: traceProblem.field });
    // the trace context is not part of the request's identity: each attempt of a traced client has a new span id
    const hash = requestHash(withoutTraceContext(request));
    const existing = state.run(runId);
    if (existing !== undefined) {
      if (existing.request_hash === hash) return [];
      throw new ArpdError('E_CONFLICT', `run '${runId}' already exists with a different request: choose another run_id, or resend the same request to get its status`, { run_id: runId, arp_code: 'runs.conflict' });
    }
    const qt = requestQueueTimeoutMs(request);
    if (qt !== undefined && (typeof qt !== 'number' || !Number.isSafeInteger(qt) || qt < 0 || qt > MAX_QUEUE_TIMEOUT_MS)) {
      throw new ArpdError('E_VALIDATION', `extensions["arpd.queue_timeout_ms"] must be a whole number of milliseconds from 0 to ${MAX_QUEUE_TIMEOUT_MS}`, { field: 'extensions["arpd.queue_timeout_ms"]' });
    }
    const route = submitRoute(state, request, d.policy, d.own_endpoints, cmd.meta.node);
    if (route instanceof ArpdError) throw route;
    const now = cmd.meta.now;
    const events: DomainEvent[] = [
      { type: 'run.accepted', data: { run_id: runId, request, request_hash: hash } },
      { type: 'run.queued', data: { run_id: runId, deadline: addMs(now, typeof qt === 'number' ? qt : d.queue_timeout_ms) } },
    ];
    if (route.kind === 'direct') {
      const inst = route.instance_id === undefined ? undefined : state.instances.get(route.instance_id);
      const limit = runTimeLimit(request, inst === undefined ? undefined : optionsOfInstance(state, inst), d.default_run_timeout_ms);
      events.push({
        type: 'run.routed',
        data: {
          run_id: runId, ...(route.instance_id === undefined ? {} : { instance_id: route.instance_id }), runtime_api_endpoint: route.endpoint, deadline: addMs(now, limit.ms),
          ...(cmd.meta.node === undefined ? {} : { node: cmd.meta.node }),
        },
      });
    }
    return events;
  });
}

/**
 * When daemons share a store, what a run does at its runtime is recorded only by the node that holds its claim: a
 * node whose claim was released (it was recorded lost) and handed to another records nothing more of it.
 */
function claimedBySender(run: { node?: string }, sender: string | undefined): boolean {
  return sender === undefined || run.node === undefined || run.node === sender;
}

function conflict(message: string, data: JsonObject): ArpdError {
  return new ArpdError('E_CONFLICT', message, data);
}

/**
 * A waiting run goes to a serving instance that matches its selector and has room; the run's deadline is fixed here.
 * Never to an external instance whose endpoint a serving managed instance answers at (`answeredByManaged`): between
 * that instance's `instance.ready` and the registration's `instance.superseded` the run would reach the managed
 * runtime under the registration's id.
 * When daemons share a store, the claim is the node's that asks (`meta.node`), and a node claims runs only for the
 * instances it stewards (its own managed ones, the external ones it checks): two nodes claiming the same run write
 * to the same run stream at the same revision, and one of them is refused.
 */
export function decideRouteRun(state: ReadModel, cmd: CommandOf<'RouteRun'>): Decision {
  const d = cmd.data;
  const run = state.runs.get(d.run_id);
  if (run === undefined) return runNotFound(d.run_id, state.prunedCount);
  if (!isWaiting(run)) return conflict(`run '${d.run_id}' is no longer waiting (${run.phase})`, { run_id: d.run_id, phase: run.phase });
  const inst = state.instances.get(d.instance_id);
  if (inst === undefined || !isServing(inst)) return conflict(`instance '${d.instance_id}' is not ready`, { instance_id: d.instance_id });
  if (!matchesSelector(inst, selectorOf(run.request))) return conflict(`instance '${d.instance_id}' does not match the run's selector`, { instance_id: d.instance_id });
  if (!hasRoom(state, inst)) return conflict(`instance '${d.instance_id}' has no room`, { instance_id: d.instance_id });
  // an external registration whose endpoint a managed instance answers at now is stale (retired a moment later)
  const by = answeredByManaged(state, inst);
  if (by !== undefined) return conflict(`external instance '${d.instance_id}' is stale: managed instance '${by}' answers at its endpoint ${inst.runtime_api_endpoint ?? ''}`, { instance_id: d.instance_id, by_instance_id: by });
  const node = cmd.meta.node;
  if (node !== undefined) {
    const steward = stewardOf(state, inst);
    if (steward !== undefined && steward !== node) return conflict(`instance '${d.instance_id}' is served by node '${steward}', not '${node}'`, { instance_id: d.instance_id, node: steward });
  }
  const limit = runTimeLimit(run.request, optionsOfInstance(state, inst), d.default_run_timeout_ms);
  return [{
    type: 'run.routed',
    data: {
      run_id: d.run_id, instance_id: inst.instance_id, runtime_api_endpoint: inst.runtime_api_endpoint as string, deadline: addMs(run.accepted_at, limit.ms),
      ...(node === undefined ? {} : { node }),
    },
  }];
}

/** The runtime took the run. */
export function decideStartRun(state: ReadModel, cmd: CommandOf<'StartRun'>): Decision {
  const run = state.runs.get(cmd.data.run_id);
  if (run === undefined || run.phase !== 'routed' || !claimedBySender(run, cmd.meta.node)) return [];
  return [{ type: 'run.started', data: { run_id: run.run_id, ...(cmd.data.instance_id === undefined ? {} : { instance_id: cmd.data.instance_id }) } }];
}

/**
 * Runtime events as trace lines; a line whose runtime `seq` is already recorded is skipped. Each line is checked against the trace limits: a line larger than
 * `max_line_bytes`, nested deeper than `max_depth`, or one that takes the run past `max_run_bytes`
 * fails the run (E_TRACE_LIMIT) after the lines before it, so a runtime can never fill the disk.
 */
export function decideRecordTraceBatch(state: ReadModel, cmd: CommandOf<'RecordTraceBatch'>): Decision {
  const d = cmd.data;
  const run = state.runs.get(d.run_id);
  if (run === undefined || isEnded(run) || !claimedBySender(run, cmd.meta.node)) return [];
  const events: DomainEvent[] = [];
  let total = state.progress(d.run_id)?.trace_bytes ?? 0;
  // a runtime event already recorded (its seq) is not recorded again: a batch retried after an unknown outcome
  let seen = state.progress(d.run_id)?.runtime_seq ?? 0;
  for (const line of d.lines) {
    const data = line.data ?? {};
    const seq = data['seq'];
    if (typeof seq === 'number') {
      if (seq <= seen) continue;
      seen = seq;
    }
    const bytes = Buffer.byteLength(JSON.stringify(data));
    let broken: string | undefined;
    if (bytes > d.limits.max_line_bytes) broken = `a runtime event of ${bytes} bytes is over the line limit of ${d.limits.max_line_bytes} bytes (--max-trace-line-bytes)`;
    else if (jsonValueDepth(data, d.limits.max_depth) > d.limits.max_depth) broken = `a runtime event nests deeper than ${d.limits.max_depth} levels (--max-trace-depth)`;
    else if (total + bytes > d.limits.max_run_bytes) broken = `the run's trace would grow past ${d.limits.max_run_bytes} bytes (--max-trace-bytes)`;
    if (broken !== undefined) {
      events.push({ type: 'run.failed', data: { run_id: d.run_id, error: { code: 'E_TRACE_LIMIT', message: `${broken}: arpd failed the run to protect the disk; fix the runtime, or raise the limit` } } });
      return events;
    }
    total += bytes;
    // built without spreads: one object shape for every line of a burst
    const trace: RunTrace = line.data === undefined ? { run_id: d.run_id, level: line.level, type: line.type } : { run_id: d.run_id, level: line.level, type: line.type, data: line.data };
    if (line.time !== undefined) trace.time = line.time;
    trace.bytes = bytes;
    events.push({ type: 'run.trace', data: trace });
  }
  return events;
}

/** The one terminal event of a run: only a run that has not ended can end. */
export function decideEndRun(state: ReadModel, cmd: CommandOf<'EndRun'>): Decision {
  const d = cmd.data;
  const run = state.runs.get(d.run_id);
  if (run === undefined || isEnded(run) || !claimedBySender(run, cmd.meta.node)) return [];
  switch (d.outcome) {
    case 'succeeded':
      return [{ type: 'run.succeeded', data: { run_id: d.run_id, result: d.result ?? { run_id: d.run_id, ok: true } } }];
    case 'canceled':
      return [{ type: 'run.canceled', data: { run_id: d.run_id, reason: d.error?.message ?? 'canceled' } }];
    case 'failed': {
      const error: ErrorInfo = d.error ?? { code: 'E_RUNTIME_ERROR', message: 'the run failed' };
      return [{ type: 'run.failed', data: { run_id: d.run_id, error, ...(d.result === undefined ? {} : { result: d.result }) } }];
    }
    default: {
      const never: never = d.outcome;
      return new ArpdError('E_INTERNAL', `unknown outcome ${String(never)}`);
    }
  }
}

/** A waiting run is canceled at once; one in flight gets a cancel request (the runtime is asked; it ends when it confirms). */
export function decideCancelRun(state: ReadModel, cmd: CommandOf<'CancelRun'>): Decision {
  const run = state.run(cmd.data.run_id);
  if (run === undefined) return runNotFound(cmd.data.run_id, state.prunedCount);
  if (isEnded(run)) return [];
  if (isWaiting(run)) return [{ type: 'run.canceled', data: { run_id: run.run_id, reason: cmd.data.reason } }];
  if (run.cancel_requested !== undefined) return [];
  return [{ type: 'run.cancel_requested', data: { run_id: run.run_id, reason: cmd.data.reason } }];
}

/** A run still waiting at its queue deadline fails, saying what it waited for. */
export function decideExpireQueuedRun(state: ReadModel, cmd: CommandOf<'ExpireQueuedRun'>): Decision {
  const run = state.runs.get(cmd.data.run_id);
  if (run === undefined || !isWaiting(run) || run.deadline === undefined || cmd.meta.now < run.deadline) return [];
  const named = selectorOf(run.request)?.instance_id !== undefined;
  const waited = Date.parse(run.deadline) - Date.parse(run.queued_at ?? run.accepted_at);
  return [{
    type: 'run.failed',
    data: {
      run_id: run.run_id,
      error: { code: 'E_NOT_READY', message: describeWait(state, run, cmd.data.policy, waited), details: { arp_code: named ? 'instances.not_ready' : 'instances.no_ready' } },
    },
  }];
}

/** A run in flight past its deadline fails E_TIMEOUT (the dispatcher then cancels it at the runtime). */
export function decideTimeOutRun(state: ReadModel, cmd: CommandOf<'TimeOutRun'>): Decision {
  const run = state.runs.get(cmd.data.run_id);
  if (run === undefined || isEnded(run) || isWaiting(run)) return [];
  const inst = run.instance_id === undefined ? undefined : state.instances.get(run.instance_id);
  const limit = runTimeLimit(run.request, inst === undefined ? undefined : optionsOfInstance(state, inst), cmd.data.default_run_timeout_ms);
  const deadline = run.run_deadline ?? addMs(run.accepted_at, limit.ms);
  if (cmd.meta.now < deadline) return [];
  const own = requestTimeoutMs(run.request);
  const message = own !== undefined
    ? `the run took longer than limits.timeout_ms (${own} ms): arpd canceled it`
    : `the run took longer than its time limit (${limit.ms} ms, ${limit.source === 'run_timeout_ms' ? "the profile's run_timeout_ms" : "the daemon's --run-timeout"}): arpd canceled it; set limits.timeout_ms to give it longer`;
  return [{ type: 'run.failed', data: { run_id: run.run_id, error: { code: 'E_TIMEOUT', message } } }];
}

/** A run in flight whose runtime has sent nothing for the progress timeout fails E_RUNTIME_STALLED. */
export function decideFailStalledRun(state: ReadModel, cmd: CommandOf<'FailStalledRun'>): Decision {
  const run = state.runs.get(cmd.data.run_id);
  if (run === undefined || isEnded(run) || isWaiting(run)) return [];
  const last = state.progress(run.run_id)?.last_event_at ?? run.accepted_at;
  if (Date.parse(cmd.meta.now) - Date.parse(last) < cmd.data.progress_timeout_ms) return [];
  return [{
    type: 'run.failed',
    data: { run_id: run.run_id, error: { code: 'E_RUNTIME_STALLED', message: `the runtime sent nothing about the run for ${Math.round(cmd.data.progress_timeout_ms / 1000)}s (--progress-timeout): arpd failed it; check the runtime's log ('arpd instances logs ${run.instance_id ?? '<id>'}')` } },
  }];
}
