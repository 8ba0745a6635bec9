import fc from 'fast-check';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import { CURRENT_VERSION, type DomainEvent } from '../../src/events/event-types.js';
import { traceLineOf } from '../../src/events/trace-line.js';
import { foldEvents } from '../../src/projections/registry.js';
import { EVENT_SAMPLING, foldHistoryLine, foldLine, newDraft, planSpans, type RunEnd, type RunTraceDraft } from '../../src/telemetry/run-trace-draft.js';
import { runTraceIds, spanIdOf } from '../../src/telemetry/trace-context.js';

const RUN = 'run_a';
const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const at = (ms: number): string => new Date(T0 + ms).toISOString();

/** A run's events as the store would stamp them: one stream, contiguous revs, a millisecond apart unless told. */
function stamp(events: Array<DomainEvent & { ms?: number }>): StoredEvent[] {
  return events.map((e, i) => ({
    seq: i + 1, id: `ev${i + 1}`, ts: at(e.ms ?? i), stream: `run:${RUN}`, rev: i + 1, type: e.type, v: CURRENT_VERSION[e.type], data: e.data, meta: {},
  }) as StoredEvent);
}

function lifecycle(events: number, end: DomainEvent = { type: 'run.succeeded', data: { run_id: RUN, result: { run_id: RUN, ok: true } } }): StoredEvent[] {
  const request = { run_id: RUN, input: { goal: 'x' }, runtime_selector: { runtime_profile: 'p' } };
  const list: Array<DomainEvent & { ms?: number }> = [
    { type: 'run.accepted', data: { run_id: RUN, request, request_hash: 'h' }, ms: 0 },
    { type: 'run.queued', data: { run_id: RUN, deadline: at(30_000) }, ms: 0 },
    { type: 'run.routed', data: { run_id: RUN, instance_id: 'inst_1', runtime_api_endpoint: 'http://127.0.0.1:9' }, ms: 40 },
    { type: 'run.started', data: { run_id: RUN, instance_id: 'inst_1' }, ms: 50 },
  ];
  for (let i = 1; i <= events; i++) list.push({ type: 'run.trace', data: { run_id: RUN, level: i % 7 === 0 ? 'error' : 'info', type: 'step', data: { run_id: RUN, seq: i, type: 'step', time: at(50 + i), data: { i } } }, ms: 50 + i });
  list.push({ ...end, ms: 60 + events } as DomainEvent & { ms: number });
  return stamp(list);
}

/** The live path: a draft made at `run.accepted`, every later line folded. */
function liveDraft(evs: StoredEvent[]): RunTraceDraft {
  const first = evs[0] as StoredEvent<'run.accepted'>;
  const d = newDraft({ run_id: RUN, accepted_at: first.ts, request_hash: first.data.request_hash, request: first.data.request }, { historyRev: first.rev });
  for (const e of evs.slice(1, -1)) foldLine(d, traceLineOf(e, RUN));
  return d;
}

function endOf(e: StoredEvent): RunEnd {
  if (e.type === 'run.failed') return { outcome: 'failed', time: e.ts, error: { code: e.data.error.code, message: e.data.error.message } };
  if (e.type === 'run.canceled') return { outcome: 'canceled', time: e.ts, error: { code: 'E_CANCELED', message: e.data.reason } };
  return { outcome: 'succeeded', time: e.ts, instanceProfile: 'p' };
}

t.test('plans the span tree of a run from its lines: root, queued, routed, running with its events', async (t) => {
  const evs = lifecycle(3);
  const plan = planSpans(liveDraft(evs), endOf(evs.at(-1) as StoredEvent));
  const ids = runTraceIds({ run_id: RUN, accepted_at: at(0), request_hash: 'h' });
  t.equal(plan.traceId, ids.traceId);
  t.same(plan.spans.map((s) => [s.name, s.parentSpanId ?? null, s.start, s.end]), [
    ['arpd.run', null, at(0), at(63)],
    ['arpd.run.queued', ids.rootSpanId, at(0), at(40)],
    ['arpd.run.routed', ids.rootSpanId, at(40), at(50)],
    ['arpd.run.running', ids.rootSpanId, at(50), at(63)],
  ]);
  t.equal(plan.spans[0]?.spanId, ids.rootSpanId);
  t.equal(plan.spans[1]?.spanId, spanIdOf({ run_id: RUN, accepted_at: at(0), request_hash: 'h' }, 'arpd.run.queued'));
  t.match(plan.spans[0]?.attributes, { 'arpd.run_id': RUN, 'arpd.outcome': 'succeeded', 'arpd.runtime_profile': 'p', 'arpd.instance_id': 'inst_1', 'arpd.trace.events': 3 });
  t.same(plan.spans[0]?.status, { code: 'ok' });
  const running = plan.spans[3];
  t.same(running?.events.map((e) => [e.name, e.time, e.attributes['arpd.trace.seq']]), [['step', at(51), 5], ['step', at(52), 6], ['step', at(53), 7]]);
  t.match(running?.attributes, { 'arpd.instance_id': 'inst_1', 'arpd.runtime_endpoint': 'http://127.0.0.1:9', 'arpd.trace.events_dropped': 0 });
});

t.test('plans only the queue for a run that never left it, with the error on the root', async (t) => {
  const evs = stamp([
    { type: 'run.accepted', data: { run_id: RUN, request: { run_id: RUN, input: { goal: 'x' } }, request_hash: 'h' }, ms: 0 },
    { type: 'run.queued', data: { run_id: RUN }, ms: 0 },
    { type: 'run.failed', data: { run_id: RUN, error: { code: 'E_NOT_READY', message: 'no instance became ready' } }, ms: 30_000 },
  ]);
  const plan = planSpans(liveDraft(evs), endOf(evs.at(-1) as StoredEvent));
  t.same(plan.spans.map((s) => [s.name, s.start, s.end]), [['arpd.run', at(0), at(30_000)], ['arpd.run.queued', at(0), at(30_000)]]);
  t.same(plan.spans[0]?.status, { code: 'error', message: 'no instance became ready' });
  t.match(plan.spans[0]?.attributes, { 'arpd.error.code': 'E_NOT_READY', 'error.type': 'E_NOT_READY', 'arpd.outcome': 'failed' });
  t.notOk('arpd.runtime_profile' in (plan.spans[0]?.attributes ?? {}), 'no profile named, none reached');
});

t.test('keeps a bounded sample of a long run\'s events and counts the ones it dropped', async (t) => {
  const n = 10_000;
  const evs = lifecycle(n);
  const plan = planSpans(liveDraft(evs), endOf(evs.at(-1) as StoredEvent));
  const running = plan.spans.find((s) => s.name === 'arpd.run.running');
  const kept = running?.events ?? [];
  t.ok(kept.length <= EVENT_SAMPLING.max, `at most ${EVENT_SAMPLING.max} span events (${kept.length})`);
  t.same(kept.slice(0, EVENT_SAMPLING.head).map((e) => e.attributes['arpd.trace.index']), Array.from({ length: EVENT_SAMPLING.head }, (_, i) => i + 1), 'the first ones all kept');
  const later = kept.slice(EVENT_SAMPLING.head).map((e) => e.attributes['arpd.trace.index'] as number);
  t.ok(later.length > 0 && later.every((i) => i % EVENT_SAMPLING.stride === 0 || i % 7 === 0), 'later ones sampled (a stride, or error lines)');
  t.same([...kept].map((e) => e.attributes['arpd.trace.seq'] as number), [...kept].map((e) => e.attributes['arpd.trace.seq'] as number).sort((a, b) => a - b), 'in order');
  t.equal(running?.attributes['arpd.trace.events_dropped'], n - kept.length, 'the dropped ones are counted');
  t.equal(running?.attributes['arpd.trace.events'], n);
  t.ok(kept.every((e) => String(e.attributes['arpd.trace.data']).length <= 1024), 'each event\'s data is cut');
});

t.test('a run in flight across a restart gets the same spans as one traced from start to end', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 90 }), fc.nat(), fc.constantFrom('succeeded', 'failed', 'canceled'), (events, cut, how) => {
    const end: DomainEvent = how === 'succeeded' ? { type: 'run.succeeded', data: { run_id: RUN, result: {} } }
      : how === 'failed' ? { type: 'run.failed', data: { run_id: RUN, error: { code: 'runtime.failed', message: 'boom' } } }
        : { type: 'run.canceled', data: { run_id: RUN, reason: 'asked' } };
    const evs = lifecycle(events, end);
    // the daemon stopped after line k (the run still in flight): the projections hold the first k events
    const k = 1 + (cut % (evs.length - 1));
    const reg = foldEvents(evs.slice(0, k));
    const view = reg.runs.get(RUN);
    const progress = reg.progress(RUN);
    if (view === undefined || progress === undefined) return false;
    const resumed = newDraft({ run_id: RUN, accepted_at: view.accepted_at, request_hash: view.request_hash, request: view.request }, {
      ...(view.queued_at === undefined ? {} : { queuedAt: view.queued_at }),
      ...(view.started_at === undefined ? {} : { startedAt: view.started_at }),
      ...(view.instance_id === undefined ? {} : { instanceId: view.instance_id }),
      ...(view.runtime_api_endpoint === undefined ? {} : { endpoint: view.runtime_api_endpoint }),
      events: progress.trace_events,
      historyRev: progress.trace_lines,
    });
    // the new process reads the run log back, then sees the rest live
    let index = 0;
    for (const e of evs.slice(0, k)) {
      if (e.type === 'run.trace') index++;
      foldHistoryLine(resumed, traceLineOf(e, RUN), index);
    }
    for (const e of evs.slice(k, -1)) foldLine(resumed, traceLineOf(e, RUN));
    const last = evs.at(-1) as StoredEvent;
    t.same(planSpans(resumed, endOf(last)), planSpans(liveDraft(evs), endOf(last)), `${events} events, restart after line ${k}, ${how}`);
    return true;
  }), { numRuns: 150 });
});
