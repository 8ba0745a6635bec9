import fc from 'fast-check';
import t from 'tap';
import {
  TRACE_EXTENSION,
  formatTraceparent,
  parseTraceparent,
  runTraceIds,
  runtimeTraceparent,
  spanIdOf,
  traceExtensionProblem,
  traceOfRequest,
  withTraceparent,
  withoutTraceContext,
} from '../../src/telemetry/trace-context.js';

const TID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SID = '00f067aa0ba902b7';
const TP = `00-${TID}-${SID}-01`;
const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));

t.test('reads a W3C traceparent and refuses what the spec refuses', async (t) => {
  t.same(parseTraceparent(TP), { traceId: TID, spanId: SID, flags: '01', sampled: true });
  t.same(parseTraceparent(`00-${TID}-${SID}-00`)?.sampled, false, 'flags 00: not sampled');
  t.same(parseTraceparent(`01-${TID}-${SID}-03-later-fields`)?.traceId, TID, 'a later version may carry more fields');
  for (const bad of [
    `ff-${TID}-${SID}-01`, // version ff is invalid
    `00-${TID}-${SID}-01-extra`, // version 00 has exactly four fields
    `00-${'0'.repeat(32)}-${SID}-01`, // all-zero trace id
    `00-${TID}-${'0'.repeat(16)}-01`, // all-zero span id
    `00-${TID.toUpperCase()}-${SID}-01`, // uppercase hex
    `00-${TID.slice(1)}-${SID}-01`, // short trace id
    '', 'garbage', 42, undefined, null,
  ]) t.equal(parseTraceparent(bad), undefined, `refuses ${JSON.stringify(bad)}`);
});

t.test('formats what it parses back to the same traceparent (any ids and sampled flag)', async (t) => {
  fc.assert(fc.property(hex(32), hex(16), fc.boolean(), (traceId, spanId, sampled) => {
    fc.pre(!/^0+$/.test(traceId) && !/^0+$/.test(spanId));
    const text = formatTraceparent(traceId, spanId, sampled);
    const p = parseTraceparent(text);
    return p !== undefined && p.traceId === traceId && p.spanId === spanId && p.sampled === sampled && formatTraceparent(p.traceId, p.spanId, p.sampled) === text;
  }));
  t.pass('round trip holds');
});

t.test('copies a valid traceparent header into extensions["arpd.trace"], and only then', async (t) => {
  const body = { input: { goal: 'x' }, extensions: { 'acme.k': 1 } };
  t.same(withTraceparent(body, TP, 'vendor=1'), { input: { goal: 'x' }, extensions: { 'acme.k': 1, [TRACE_EXTENSION]: { traceparent: TP, tracestate: 'vendor=1' } } });
  t.same(withTraceparent({ input: { goal: 'x' } }, TP), { input: { goal: 'x' }, extensions: { [TRACE_EXTENSION]: { traceparent: TP } } }, 'no extensions yet');
  t.same(body, { input: { goal: 'x' }, extensions: { 'acme.k': 1 } }, 'the body given is not changed');
  t.equal(withTraceparent(body, 'not-a-traceparent'), body, 'an invalid header is ignored (W3C: start a new trace)');
  t.equal(withTraceparent(body, undefined), body, 'no header: nothing changes');
  t.equal(withTraceparent(body, [TP, TP]), body, 'two traceparent headers are not one context');
  const own = { input: { goal: 'x' }, extensions: { [TRACE_EXTENSION]: { traceparent: `00-${TID}-${'1'.repeat(16)}-01` } } };
  t.equal(withTraceparent(own, TP), own, 'the body\'s own context wins');
  t.equal(withTraceparent('text', TP), 'text', 'a body that is not an object is left to validation');
  const badExt = { input: { goal: 'x' }, extensions: 'nope' };
  t.equal(withTraceparent(badExt, TP), badExt, 'extensions that are not an object are left to validation');
});

t.test('names what is wrong with a malformed extensions["arpd.trace"]', async (t) => {
  const req = (trace: unknown) => ({ input: { goal: 'x' }, extensions: { [TRACE_EXTENSION]: trace } });
  t.equal(traceExtensionProblem({ input: { goal: 'x' } }), undefined, 'absent is fine');
  t.equal(traceExtensionProblem(req({ traceparent: TP, tracestate: 'a=b' })), undefined, 'valid is fine');
  t.match(traceExtensionProblem(req('00-abc')), { field: 'extensions["arpd.trace"]', message: /must be an object/ });
  t.match(traceExtensionProblem(req({ traceparent: 'nope' })), { field: 'extensions["arpd.trace"].traceparent', message: /not a W3C traceparent/ });
  t.match(traceExtensionProblem(req({ traceparent: TP, tracestate: 'x'.repeat(513) })), { field: 'extensions["arpd.trace"].tracestate' });
  t.match(traceExtensionProblem(req({ traceparent: TP, span: 1 })), { field: 'extensions["arpd.trace"].span', message: /unknown field 'span'/ });
});

t.test('leaves the trace context out of a request\'s identity and keeps the rest', async (t) => {
  const base = { input: { goal: 'x' }, extensions: { 'acme.k': 1 } };
  t.same(withoutTraceContext({ ...base, extensions: { ...base.extensions, [TRACE_EXTENSION]: { traceparent: TP } } }), base);
  t.same(withoutTraceContext({ input: { goal: 'x' }, extensions: { [TRACE_EXTENSION]: { traceparent: TP } } }), { input: { goal: 'x' } }, 'extensions that held only the context go');
  t.equal(withoutTraceContext(base), base, 'a request without one is returned as it is');
});

t.test('derives the same ids for the same run in any process, under the caller\'s trace when there is one', async (t) => {
  const key = { run_id: 'run_1', accepted_at: '2024-05-01T12:00:00.000Z', request_hash: 'abc', request: { input: { goal: 'x' } } };
  const a = runTraceIds(key);
  t.same(runTraceIds({ ...key }), a, 'deterministic');
  t.match(a, { traceId: /^[0-9a-f]{32}$/, rootSpanId: /^[0-9a-f]{16}$/, sampled: true });
  t.equal(a.parent, undefined);
  t.not(runTraceIds({ ...key, accepted_at: '2024-05-01T12:00:00.001Z' }).traceId, a.traceId, 'another run with the same id (another data dir, another time) gets another trace');
  t.not(spanIdOf(key, 'arpd.run.queued'), spanIdOf(key, 'arpd.run.routed'), 'each span its own id');
  const traced = runTraceIds({ ...key, request: { input: { goal: 'x' }, extensions: { [TRACE_EXTENSION]: { traceparent: `00-${TID}-${SID}-00`, tracestate: 'v=1' } } } });
  t.equal(traced.traceId, TID, 'the caller\'s trace id');
  t.same(traced.parent, { traceId: TID, spanId: SID, flags: '00', sampled: false });
  t.equal(traced.sampled, false, 'the caller\'s sampling decision holds');
  t.equal(traced.tracestate, 'v=1');
  t.equal(traced.rootSpanId, a.rootSpanId, 'the root span id does not depend on the caller');
});

t.test('tells the runtime the run\'s root span when exporting, else passes the caller\'s context on', async (t) => {
  const key = { run_id: 'run_1', accepted_at: '2024-05-01T12:00:00.000Z', request_hash: 'abc', request: { input: { goal: 'x' }, extensions: { [TRACE_EXTENSION]: { traceparent: TP } } } };
  const ids = runTraceIds(key);
  t.equal(runtimeTraceparent(key, true), `00-${TID}-${ids.rootSpanId}-01`);
  t.equal(runtimeTraceparent(key, false), TP);
  const plain = { ...key, request: { input: { goal: 'x' } } };
  t.equal(runtimeTraceparent(plain, false), undefined, 'nothing to pass on');
  t.equal(runtimeTraceparent(plain, true), `00-${runTraceIds(plain).traceId}-${runTraceIds(plain).rootSpanId}-01`);
  t.equal(traceOfRequest({ extensions: { [TRACE_EXTENSION]: { traceparent: 'bad' } } }), undefined);
});

t.test('reads extensions["run_context"].trace when there is no extensions["arpd.trace"], and leaves it out of the identity', async (t) => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const req = { input: { goal: 'x' }, extensions: { run_context: { trace: { traceparent: tp }, user: 'u1' } } };
  t.equal(traceOfRequest(req)?.parent.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'the caller context is read');
  t.same(withoutTraceContext(req), { input: { goal: 'x' }, extensions: { run_context: { user: 'u1' } } }, 'the rest of run_context stays');
  t.same(withoutTraceContext({ extensions: { run_context: { trace: { traceparent: tp } } } }), {}, 'an emptied run_context goes');
  t.match(traceExtensionProblem({ extensions: { run_context: { trace: { traceparent: 'nope' } } } }), { field: 'extensions["run_context"].trace.traceparent' }, 'a bad one is named where it is');
  t.same(withTraceparent(req, '00-11111111111111111111111111111111-2222222222222222-01'), req, 'a header does not replace the body\'s own context');
  t.equal(traceOfRequest({ extensions: { 'arpd.trace': { traceparent: tp }, run_context: { trace: { traceparent: 'bad' } } } })?.parent.spanId, '00f067aa0ba902b7', 'arpd.trace wins');
});
