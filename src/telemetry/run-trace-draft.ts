/**
 * One run's trace while it runs, pure: its lines are folded into a small draft (the times of its phases, where
 * it went, a bounded sample of its runtime events), and once it ends the draft becomes the plan of its spans:
 *
 *   arpd.run                  accepted → ended       (the root; under the caller's span when the request had one)
 *   ├─ arpd.run.queued        queued → routed        (or → ended, for a run that never left the queue)
 *   ├─ arpd.run.routed        routed → started       (sending it to the runtime)
 *   └─ arpd.run.running       started → ended        (span events: the runtime's events, sampled)
 *
 * Spans are made only when the run ends, from the lines' own times, so nothing is open across a restart: a
 * daemon that starts again rebuilds the draft of a run still in flight from its run log and closes its spans
 * when it ends; a run that ended before the restart is never planned again.
 */
import { runTraceIds, spanIdOf, type RunTraceIds, type RunTraceKey, type TraceParent } from './trace-context.js';

/** Runtime events kept as span events: the first HEAD, then one in STRIDE, never more than MAX (errors too while under MAX). */
export const EVENT_SAMPLING = { head: 64, stride: 50, max: 256 } as const;
/** A span event's copy of the line's data is cut to this many characters. */
const EVENT_DATA_CHARS = 1024;

/** A line of the run's trace, as the run log and `traceLineOf` give it. */
export interface TraceLineLike {
  seq: number;
  time: string;
  level: string;
  type: string;
  data: Record<string, unknown>;
  extensions: { 'arpd.event': { type: string } };
}

interface SampledEvent {
  seq: number;
  time: string;
  level: string;
  type: string;
  /** Its place among the run's runtime events (1-based). */
  index: number;
  data: string;
}

export interface RunTraceDraft {
  readonly key: RunTraceKey;
  readonly ids: RunTraceIds;
  /** The profile the selector names (the instance's, when known, is looked up at the end). */
  selectorProfile?: string;
  queuedAt?: string;
  routedAt?: string;
  startedAt?: string;
  instanceId?: string;
  endpoint?: string;
  cancel?: { time: string; reason: string };
  /** Runtime events seen so far (history included). */
  events: number;
  sampled: SampledEvent[];
  /** Lines up to this seq are history (read from the run log after a restart); live lines come after it. */
  historyRev: number;
}

type Obj = Record<string, unknown>;

function selectorProfileOf(request: unknown): string | undefined {
  const p = ((request as Obj | undefined)?.['runtime_selector'] as Obj | undefined)?.['runtime_profile'];
  return typeof p === 'string' ? p : undefined;
}

/** A draft for a run just accepted (or, after a restart, for a run the projections say is still in flight). */
export function newDraft(key: RunTraceKey, known: { queuedAt?: string; startedAt?: string; instanceId?: string; endpoint?: string; events?: number; historyRev?: number } = {}): RunTraceDraft {
  const d: RunTraceDraft = { key: { run_id: key.run_id, accepted_at: key.accepted_at, request_hash: key.request_hash }, ids: runTraceIds(key), events: known.events ?? 0, sampled: [], historyRev: known.historyRev ?? 0 };
  const profile = selectorProfileOf(key.request);
  if (profile !== undefined) d.selectorProfile = profile;
  if (known.queuedAt !== undefined) d.queuedAt = known.queuedAt;
  if (known.startedAt !== undefined) d.startedAt = known.startedAt;
  if (known.instanceId !== undefined) d.instanceId = known.instanceId;
  if (known.endpoint !== undefined) d.endpoint = known.endpoint;
  return d;
}

function sample(d: RunTraceDraft, line: TraceLineLike, index: number): void {
  const s = EVENT_SAMPLING;
  if (d.sampled.length >= s.max) return;
  if (index > s.head && index % s.stride !== 0 && line.level !== 'error') return;
  let data = JSON.stringify(line.data);
  if (data.length > EVENT_DATA_CHARS) data = `${data.slice(0, EVENT_DATA_CHARS - 1)}…`;
  d.sampled.push({ seq: line.seq, time: line.time, level: line.level, type: line.type, index, data });
}

/** Folds one live line of the run into its draft (in place). Terminal lines are not folded: they end the draft (`planSpans`). */
export function foldLine(d: RunTraceDraft, line: TraceLineLike): void {
  switch (line.extensions['arpd.event'].type) {
    case 'run.queued':
      d.queuedAt ??= line.time;
      return;
    case 'run.routed': {
      d.routedAt = line.time;
      const id = line.data['instance_id'];
      const ep = line.data['runtime_api_endpoint'];
      if (typeof id === 'string') d.instanceId = id;
      if (typeof ep === 'string') d.endpoint = ep;
      return;
    }
    case 'run.started':
      d.startedAt ??= line.time;
      return;
    case 'run.cancel_requested':
      d.cancel ??= { time: line.time, reason: String(line.data['reason'] ?? '') };
      return;
    case 'run.trace':
      d.events++;
      sample(d, line, d.events);
      return;
    default:
      return;
  }
}

/**
 * Folds a line read back from the run log after a restart (seq <= historyRev): what the projections no longer
 * hold (when it was routed, a cancel request) and the sampled events among the first lines. Counts are not
 * moved: the draft was made with the count the projections gave.
 */
export function foldHistoryLine(d: RunTraceDraft, line: TraceLineLike, runtimeIndex: number): void {
  if (line.seq > d.historyRev) return;
  const type = line.extensions['arpd.event'].type;
  if (type === 'run.trace') {
    if (!d.sampled.some((s) => s.seq === line.seq)) sample(d, line, runtimeIndex);
    return;
  }
  if (type === 'run.routed') {
    d.routedAt ??= line.time;
    return;
  }
  if (type === 'run.queued' || type === 'run.started' || type === 'run.cancel_requested') foldLine(d, line);
}

type Attributes = Record<string, string | number | boolean>;

export interface PlannedSpan {
  name: string;
  spanId: string;
  /** Absent for the root (its parent is the caller's span, if any). */
  parentSpanId?: string;
  start: string;
  end: string;
  attributes: Attributes;
  events: Array<{ name: string; time: string; attributes: Attributes }>;
  status: { code: 'unset' | 'ok' | 'error'; message?: string };
}

export interface SpanPlan {
  traceId: string;
  sampled: boolean;
  parent?: TraceParent;
  tracestate?: string;
  /** The root first. */
  spans: PlannedSpan[];
}

export interface RunEnd {
  outcome: 'succeeded' | 'failed' | 'canceled';
  time: string;
  error?: { code: string; message: string };
  /** The profile of the instance it ran on, when known. */
  instanceProfile?: string;
}

function later(a: string, b: string): string {
  return Date.parse(b) < Date.parse(a) ? a : b;
}

function cut(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/** The spans of a run that ended. */
export function planSpans(d: RunTraceDraft, end: RunEnd): SpanPlan {
  const k = d.key;
  const root = d.ids.rootSpanId;
  const profile = end.instanceProfile ?? d.selectorProfile;
  const at = (t: string): string => later(k.accepted_at, t);
  const endAt = at(end.time);
  const base: Attributes = { 'arpd.run_id': k.run_id };
  const rootAttrs: Attributes = { ...base, 'arpd.outcome': end.outcome, 'arpd.trace.events': d.events };
  if (profile !== undefined) rootAttrs['arpd.runtime_profile'] = profile;
  if (d.instanceId !== undefined) rootAttrs['arpd.instance_id'] = d.instanceId;
  if (end.error !== undefined) {
    rootAttrs['arpd.error.code'] = end.error.code;
    rootAttrs['error.type'] = end.error.code;
  }
  const rootSpan: PlannedSpan = {
    name: 'arpd.run', spanId: root, start: k.accepted_at, end: endAt, attributes: rootAttrs, events: [],
    status: end.outcome === 'failed' ? { code: 'error', message: cut(end.error?.message ?? 'the run failed', 512) } : end.outcome === 'succeeded' ? { code: 'ok' } : { code: 'unset' },
  };
  if (d.cancel !== undefined) rootSpan.events.push({ name: 'cancel_requested', time: at(d.cancel.time), attributes: { 'arpd.reason': cut(d.cancel.reason, 512) } });
  const spans: PlannedSpan[] = [rootSpan];
  const child = (name: string, start: string, stop: string, attributes: Attributes = {}): PlannedSpan => ({
    name, spanId: spanIdOf(k, name), parentSpanId: root, start: at(start), end: later(at(start), at(stop)), attributes: { ...base, ...attributes }, events: [], status: { code: 'unset' },
  });
  const queuedFrom = d.queuedAt ?? k.accepted_at;
  spans.push(child('arpd.run.queued', queuedFrom, d.routedAt ?? d.startedAt ?? endAt));
  const where: Attributes = {};
  if (d.instanceId !== undefined) where['arpd.instance_id'] = d.instanceId;
  if (d.endpoint !== undefined) where['arpd.runtime_endpoint'] = d.endpoint;
  if (d.routedAt !== undefined) spans.push(child('arpd.run.routed', d.routedAt, d.startedAt ?? endAt, where));
  if (d.startedAt !== undefined) {
    const events = [...d.sampled].sort((a, b) => a.seq - b.seq).slice(0, EVENT_SAMPLING.max);
    const running = child('arpd.run.running', d.startedAt, endAt, { ...where, 'arpd.trace.events': d.events, 'arpd.trace.events_dropped': Math.max(0, d.events - events.length) });
    running.events = events.map((e) => ({
      name: e.type,
      time: at(e.time),
      attributes: { 'arpd.trace.seq': e.seq, 'arpd.trace.index': e.index, 'arpd.trace.level': e.level, 'arpd.trace.data': e.data },
    }));
    if (end.outcome === 'failed') running.status = { code: 'error', message: cut(end.error?.message ?? 'the run failed', 512) };
    spans.push(running);
  }
  return {
    traceId: d.ids.traceId,
    sampled: d.ids.sampled,
    ...(d.ids.parent === undefined ? {} : { parent: d.ids.parent }),
    ...(d.ids.tracestate === undefined ? {} : { tracestate: d.ids.tracestate }),
    spans,
  };
}
