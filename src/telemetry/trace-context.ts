/**
 * W3C trace context of a run, pure: parsing `traceparent`, the `extensions["arpd.trace"]` of a run request that
 * carries a caller's context into the run's data (so the HTTP edge, the log and the reactors need no side channel),
 * and the run's own trace and span ids, derived from what the log says about the run (its id, when it was
 * accepted, its request's hash), so that any process reading the same log computes the same ids: the dispatcher
 * passes them to the runtime, the tracer exports spans with them, before and after a restart alike.
 */
import { createHash } from 'node:crypto';

/** The request extension that holds a caller's trace context: `{ "traceparent": "00-…", "tracestate"?: "…" }`. */
export const TRACE_EXTENSION = 'arpd.trace';
/** W3C: a tracestate header is at most 512 characters worth propagating. */
const MAX_TRACESTATE = 512;

export interface TraceParent {
  traceId: string;
  spanId: string;
  /** The sampled flag (bit 0 of trace-flags). */
  sampled: boolean;
  /** The trace-flags byte as two hex digits. */
  flags: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * A `traceparent` value as the W3C Trace Context spec reads it, or undefined when it is not one: lowercase hex,
 * version `ff` refused, version 00 with exactly four fields, neither id all zeros. Later versions may carry more
 * fields after a dash, which are ignored.
 */
export function parseTraceparent(value: unknown): TraceParent | undefined {
  if (typeof value !== 'string' || value.length > 512) return undefined;
  const m = TRACEPARENT.exec(value.trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined];
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags, sampled: (parseInt(flags, 16) & 1) === 1 };
}

export function formatTraceparent(traceId: string, spanId: string, sampled: boolean): string {
  return `00-${traceId}-${spanId}-${sampled ? '01' : '00'}`;
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Also read: `extensions["run_context"].trace` (the spelling issue 13 names), when `arpd.trace` is absent. */
export const RUN_CONTEXT_EXTENSION = 'run_context';

/** Where a request's trace context is: `extensions["arpd.trace"]`, else `extensions["run_context"].trace`. */
function traceSlot(ext: unknown): { field: string; value: unknown } | undefined {
  if (!isObject(ext)) return undefined;
  if (Object.hasOwn(ext, TRACE_EXTENSION)) return { field: `extensions["${TRACE_EXTENSION}"]`, value: ext[TRACE_EXTENSION] };
  const rc = ext[RUN_CONTEXT_EXTENSION];
  if (isObject(rc) && Object.hasOwn(rc, 'trace')) return { field: `extensions["${RUN_CONTEXT_EXTENSION}"].trace`, value: rc['trace'] };
  return undefined;
}

/** The caller's context a run request carries in `extensions["arpd.trace"]` (or `run_context.trace`), if any (a value that is not one counts as none). */
export function traceOfRequest(request: unknown): { parent: TraceParent; tracestate?: string } | undefined {
  const ext = isObject(request) ? request['extensions'] : undefined;
  const t = traceSlot(ext)?.value;
  if (!isObject(t)) return undefined;
  const parent = parseTraceparent(t['traceparent']);
  if (parent === undefined) return undefined;
  const state = t['tracestate'];
  return typeof state === 'string' && state !== '' && state.length <= MAX_TRACESTATE ? { parent, tracestate: state } : { parent };
}

/**
 * Why the request's `extensions["arpd.trace"]` is not valid (a message that says what to send), or undefined
 * when it is absent or valid. A client that sets it on purpose learns of a mistake instead of losing its trace.
 */
export function traceExtensionProblem(request: unknown): { field: string; message: string } | undefined {
  const ext = isObject(request) ? request['extensions'] : undefined;
  const slot = traceSlot(ext);
  if (slot === undefined) return undefined;
  const field = slot.field;
  const t = slot.value;
  const shape = `an object {"traceparent": "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>", "tracestate"?: "<at most ${MAX_TRACESTATE} characters>"}`;
  if (!isObject(t)) return { field, message: `${field} must be ${shape}` };
  const unknown = Object.keys(t).filter((k) => k !== 'traceparent' && k !== 'tracestate');
  if (unknown.length > 0) return { field: `${field}.${unknown[0] as string}`, message: `${field} has an unknown field '${unknown[0] as string}': it must be ${shape}` };
  if (parseTraceparent(t['traceparent']) === undefined) return { field: `${field}.traceparent`, message: `${field}.traceparent is not a W3C traceparent: send "00-<32 lowercase hex>-<16 lowercase hex>-<2 hex flags>" with non-zero ids` };
  const state = t['tracestate'];
  if (state !== undefined && (typeof state !== 'string' || state.length > MAX_TRACESTATE)) return { field: `${field}.tracestate`, message: `${field}.tracestate must be a string of at most ${MAX_TRACESTATE} characters` };
  return undefined;
}

/**
 * The request with a caller's `traceparent` (and `tracestate`) header copied into `extensions["arpd.trace"]`, when
 * the header is a valid traceparent, the body is an object whose `extensions` is absent or an object, and the
 * body carries no trace context of its own (what the client put in the body wins). Anything else comes back as
 * it was: an invalid header is ignored, as W3C Trace Context says (the run then starts a trace of its own).
 */
export function withTraceparent(body: unknown, traceparent: unknown, tracestate?: unknown): unknown {
  const tp = Array.isArray(traceparent) ? (traceparent.length === 1 ? traceparent[0] : undefined) : traceparent;
  if (!isObject(body) || parseTraceparent(tp) === undefined) return body;
  const ext = body['extensions'];
  if (ext !== undefined && !isObject(ext)) return body;
  if (traceSlot(ext) !== undefined) return body;
  const ts = Array.isArray(tracestate) ? tracestate.join(',') : tracestate;
  const trace: Obj = { traceparent: (tp as string).trim() };
  if (typeof ts === 'string' && ts !== '' && ts.length <= MAX_TRACESTATE) trace['tracestate'] = ts;
  return { ...body, extensions: { ...(ext ?? {}), [TRACE_EXTENSION]: trace } };
}

/**
 * The request as its identity sees it: without its trace context, so that a retry of the same run (same run_id,
 * same request) from a traced client, whose every attempt has a new span id, is the same request.
 */
export function withoutTraceContext<T>(request: T): T {
  if (!isObject(request)) return request;
  const ext = request['extensions'];
  if (traceSlot(ext) === undefined || !isObject(ext)) return request;
  const { [TRACE_EXTENSION]: _dropped, ...rest } = ext;
  const rc = rest[RUN_CONTEXT_EXTENSION];
  if (_dropped === undefined && isObject(rc)) {
    const { trace: _t, ...rcRest } = rc;
    if (Object.keys(rcRest).length === 0) delete rest[RUN_CONTEXT_EXTENSION];
    else rest[RUN_CONTEXT_EXTENSION] = rcRest;
  }
  const out: Obj = { ...request };
  if (Object.keys(rest).length === 0) delete out['extensions'];
  else out['extensions'] = rest;
  return out as T;
}

/** What identifies a run's trace: what the log says of it (never a clock or a random number). */
export interface RunTraceKey {
  run_id: string;
  /** The `run.accepted` event's time. */
  accepted_at: string;
  request_hash: string;
  /** The request, while the run has not ended (its `extensions["arpd.trace"]`); absent: no caller context. */
  request?: unknown;
}

export interface RunTraceIds {
  traceId: string;
  /** The run's root span (`arpd.run`): the parent of the runtime's own spans. */
  rootSpanId: string;
  /** The caller's span the root hangs under, when the request carried one. */
  parent?: TraceParent;
  tracestate?: string;
  sampled: boolean;
}

function hex(material: string, chars: number, zero: string): string {
  const h = createHash('sha256').update(material).digest('hex').slice(0, chars);
  return h === zero ? `${h.slice(0, -1)}1` : h;
}

/** A child span's id: the same for the same run and name in every process. */
export function spanIdOf(key: Pick<RunTraceKey, 'run_id' | 'accepted_at' | 'request_hash'>, name: string): string {
  return hex(`arpd-span\n${key.run_id}\n${key.accepted_at}\n${key.request_hash}\n${name}`, 16, ZERO_SPAN);
}

/** The run's trace id (the caller's, when it sent one) and root span id. */
export function runTraceIds(key: RunTraceKey): RunTraceIds {
  const caller = traceOfRequest(key.request);
  const traceId = caller?.parent.traceId ?? hex(`arpd-trace\n${key.run_id}\n${key.accepted_at}\n${key.request_hash}`, 32, ZERO_TRACE);
  return {
    traceId,
    rootSpanId: spanIdOf(key, 'arpd.run'),
    ...(caller === undefined ? {} : { parent: caller.parent }),
    ...(caller?.tracestate === undefined ? {} : { tracestate: caller.tracestate }),
    sampled: caller?.parent.sampled ?? true,
  };
}

/**
 * The `traceparent` arpd sends on its calls to the runtime about a run. When arpd exports traces, the runtime's
 * spans hang under the run's root span; when it does not, the caller's context is passed on unchanged (so a
 * runtime's spans still join the caller's trace) and a run without one sends none.
 */
export function runtimeTraceparent(key: RunTraceKey, exporting: boolean): string | undefined {
  if (exporting) {
    const ids = runTraceIds(key);
    return formatTraceparent(ids.traceId, ids.rootSpanId, ids.sampled);
  }
  const caller = traceOfRequest(key.request);
  return caller === undefined ? undefined : formatTraceparent(caller.parent.traceId, caller.parent.spanId, caller.parent.sampled);
}
