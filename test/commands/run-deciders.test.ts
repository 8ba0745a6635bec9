import { createHash } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import {
  decideCancelRun,
  decideEndRun,
  decideExpireQueuedRun,
  decideRecordTraceBatch,
  decideRouteRun,
  decideStartRun,
  decideSubmitRun,
  decideTimeOutRun,
  requestHash,
} from '../../src/commands/run-deciders.js';
import type { DomainEvent, JsonObject } from '../../src/events/event-types.js';
import { command, commandProfile, events, given, refusal } from './given.js';

const policy = { autostart: true };
const submit = (runId: string, request: JsonObject, opts: { own?: string[]; autostart?: boolean; defaultProfile?: string } = {}) => command('SubmitRun', {
  run_id: runId, request, queue_timeout_ms: 30_000, own_endpoints: opts.own ?? [], default_run_timeout_ms: 3_600_000,
  policy: { autostart: opts.autostart ?? true, ...(opts.defaultProfile === undefined ? {} : { defaultProfile: opts.defaultProfile }) },
});
const accepted = (runId: string, goal = 'hi', extra: JsonObject = {}): DomainEvent => {
  const request = { input: { goal }, run_id: runId, ...extra };
  return { type: 'run.accepted', data: { run_id: runId, request, request_hash: requestHash(request) } };
};
const queued = (runId: string, deadline = '2026-01-01T00:01:00.000Z'): DomainEvent => ({ type: 'run.queued', data: { run_id: runId, deadline } });
const inst = (id: string, profile = 'p'): DomainEvent[] => [
  { type: 'instance.requested', data: { instance_id: id, runtime_profile: profile } },
  { type: 'instance.starting', data: { instance_id: id, pid: 1, argv: ['x'], attempt: 1 } },
  { type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: `http://127.0.0.1:${id.length + 9000}` } },
];
const defaultProfile: DomainEvent = { ...commandProfile('default') };

t.test('submitting a new run records run.accepted then run.queued with its queue deadline', async (t) => {
  const e = events(decideSubmitRun(given(defaultProfile), submit('r1', { input: { goal: 'hi' } })));
  t.same(e.map((x) => x.type), ['run.accepted', 'run.queued']);
  t.equal((e[0]?.data as unknown as { request: { run_id: string } }).request.run_id, 'r1');
  t.equal((e[1]?.data as { deadline: string }).deadline, '2026-01-01T00:01:00.000Z', 'now + 30 s');
});

t.test('a request may ask for its own queue time', async (t) => {
  const e = events(decideSubmitRun(given(defaultProfile), submit('r1', { input: { goal: 'hi' }, extensions: { 'arpd.queue_timeout_ms': 1000 } })));
  t.equal((e[1]?.data as { deadline: string }).deadline, '2026-01-01T00:00:31.000Z');
  t.equal(refusal(decideSubmitRun(given(defaultProfile), submit('r2', { input: { goal: 'hi' }, extensions: { 'arpd.queue_timeout_ms': -1 } }))), 'E_VALIDATION');
});

t.test('resubmitting the same request with the same run_id records nothing', async (t) => {
  t.same(events(decideSubmitRun(given(defaultProfile, accepted('r1')), submit('r1', { input: { goal: 'hi' } }))), []);
});

t.test('resubmitting a different request with the same run_id is E_CONFLICT', async (t) => {
  t.equal(refusal(decideSubmitRun(given(defaultProfile, accepted('r1')), submit('r1', { input: { goal: 'other' } }))), 'E_CONFLICT');
});

t.test('a hostile run_id is refused before anything is recorded', async (t) => {
  for (const runId of ['../x', 'a/b', '..', '', '\u0000', 'x'.repeat(129)]) {
    t.equal(refusal(decideSubmitRun(given(defaultProfile), submit(runId, { input: { goal: 'x' } }))), 'E_VALIDATION', JSON.stringify(runId));
  }
  t.equal(refusal(decideSubmitRun(given(defaultProfile), submit('x'.repeat(128), { input: { goal: 'x' } }))), undefined, '128 characters are fine');
});

t.test('a selector naming an unknown or stopped instance is E_NOT_FOUND with instances.not_found', async (t) => {
  for (const reg of [given(), given(commandProfile('p'), ...inst('i'), { type: 'instance.stopped', data: { instance_id: 'i', reason: 'deleted' } })]) {
    const d = decideSubmitRun(reg, submit('r', { input: { goal: 'x' }, runtime_selector: { instance_id: 'i' } }));
    t.equal(refusal(d), 'E_NOT_FOUND');
    t.equal((d as { data?: Record<string, unknown> }).data?.['arp_code'], 'instances.not_found');
  }
});

t.test('a selector that can never match is refused at submit', async (t) => {
  const reg = given(commandProfile('p'), ...inst('i'));
  t.equal(refusal(decideSubmitRun(reg, submit('r1', { input: { goal: 'x' }, runtime_selector: { runtime_profile: 'nope' } }))), 'E_NOT_FOUND');
  t.equal(refusal(decideSubmitRun(reg, submit('r2', { input: { goal: 'x' }, runtime_selector: { runtime_name: 'nobody' } }))), 'E_NOT_FOUND');
  t.equal(refusal(decideSubmitRun(reg, submit('r3', { input: { goal: 'x' }, runtime_selector: { instance_id: 'i', runtime_profile: 'other' } }))), 'E_VALIDATION');
  t.equal(refusal(decideSubmitRun(reg, submit('r4', { input: { goal: 'x' }, runtime_selector: { runtime_api_endpoint: 'http://127.0.0.1:1', runtime_profile: 'p' } }))), 'E_VALIDATION');
});

t.test('a run with no selector is refused when no instance runs and arpd may not choose a profile', async (t) => {
  const mine = given(commandProfile('default'), commandProfile('mine'));
  const d = decideSubmitRun(mine, submit('r', { input: { goal: 'x' } }));
  t.equal(refusal(d), 'E_NOT_READY');
  t.match((d as Error).message, /default, mine/);
  t.equal(refusal(decideSubmitRun(mine, submit('r', { input: { goal: 'x' } }, { defaultProfile: 'mine' }))), undefined, '--default-profile names one');
  t.equal(refusal(decideSubmitRun(given(defaultProfile), submit('r', { input: { goal: 'x' } }))), undefined, 'default is the only profile');
  t.equal(refusal(decideSubmitRun(given(defaultProfile), submit('r', { input: { goal: 'x' } }, { autostart: false }))), 'E_NOT_READY', 'no instance and no autostart');
  t.equal(refusal(decideSubmitRun(given(commandProfile('mine'), ...inst('i', 'mine')), submit('r', { input: { goal: 'x' } }))), undefined, 'a ready instance takes any run');
});

t.test('a run for an endpoint is routed at submit; the daemon itself is refused', async (t) => {
  const e = events(decideSubmitRun(given(), submit('r', { input: { goal: 'x' }, runtime_selector: { runtime_api_endpoint: 'http://127.0.0.1:7000/' } })));
  t.same(e.map((x) => x.type), ['run.accepted', 'run.queued', 'run.routed']);
  t.same((e[2]?.data as { runtime_api_endpoint: string; instance_id?: string }).runtime_api_endpoint, 'http://127.0.0.1:7000');
  t.equal(refusal(decideSubmitRun(given(), submit('r', { input: { goal: 'x' }, runtime_selector: { runtime_api_endpoint: 'http://localhost:8082' } }, { own: ['http://127.0.0.1:8082'] }))), 'E_VALIDATION');
});

t.test('the request hash ignores key order and tells different requests apart', async (t) => {
  await fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
    const reversed = Object.fromEntries(Object.entries(obj).reverse());
    return requestHash(obj as never) === requestHash(reversed as never);
  }), { numRuns: 300 });
  t.not(requestHash({ input: { goal: 'a' } }), requestHash({ input: { goal: 'b' } }));
});

t.test('the request hash is the one earlier versions recorded, so a resubmit after an upgrade is still recognised', async (t) => {
  // sha256 of the request as JSON with keys sorted at every level: the value run.accepted events already hold
  const request = { tags: [1, { b: 'x', a: null }], runtime_selector: { runtime_profile: 'p' }, run_id: 'r1', input: { goal: 'What is (19*23)?' } };
  t.equal(requestHash(request as never), 'e398d0cff1b87725fac846d3cc5f306e2e2229c6d0f22efee1f071cdee053dca');
  // the formulation of earlier versions, against any JSON
  const sorted = (v: unknown): string => {
    if (Array.isArray(v)) return `[${v.map(sorted).join(',')}]`;
    if (v !== null && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${sorted((v as Record<string, unknown>)[k])}`).join(',')}}`;
    return JSON.stringify(v);
  };
  await fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => requestHash(obj as never) === createHash('sha256').update(sorted(obj)).digest('hex')), { numRuns: 300 });
});

t.test('a run ends once: a second terminal event is never decided', async (t) => {
  const reg = given(accepted('r1'), { type: 'run.succeeded', data: { run_id: 'r1', result: { run_id: 'r1', ok: true } } });
  t.same(events(decideEndRun(reg, command('EndRun', { run_id: 'r1', outcome: 'failed', error: { code: 'E_TIMEOUT', message: 'x' } }))), []);
  t.same(events(decideEndRun(given(accepted('r2')), command('EndRun', { run_id: 'r2', outcome: 'canceled', error: { code: 'E_CANCELED', message: 'x' } }))).map((e) => e.type), ['run.canceled']);
});

t.test('a run is routed once, only to a ready matching instance with room, with its deadline', async (t) => {
  const reg = given(commandProfile('p'), ...inst('i'), ...inst('j', 'q'), accepted('r1', 'hi', { runtime_selector: { runtime_profile: 'p' } }), queued('r1'), accepted('r2'), queued('r2'));
  const route = (run: string, instance: string) => decideRouteRun(reg, command('RouteRun', { run_id: run, instance_id: instance, default_run_timeout_ms: 60_000 }));
  const e = events(route('r1', 'i'));
  t.equal(e[0]?.type, 'run.routed');
  t.equal((e[0]?.data as { deadline: string }).deadline, '2026-01-01T00:01:08.000Z', 'accepted_at (the 8th event, 00:00:08) + the default');
  t.equal(refusal(route('r1', 'j')), 'E_CONFLICT', 'another profile');
  t.equal(refusal(route('r1', 'nope')), 'E_CONFLICT');
  const busy = given(commandProfile('p'), ...inst('i'), accepted('r1'), queued('r1'), accepted('r2'), queued('r2'),
    { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i', runtime_api_endpoint: 'http://x' } });
  t.equal(refusal(decideRouteRun(busy, command('RouteRun', { run_id: 'r2', instance_id: 'i', default_run_timeout_ms: 1 }))), 'E_CONFLICT', 'max_concurrent_runs 1 is taken');
  t.equal(refusal(decideRouteRun(busy, command('RouteRun', { run_id: 'r1', instance_id: 'i', default_run_timeout_ms: 1 }))), 'E_CONFLICT', 'routed already');
});

// was a short window (closed): a managed instance became ready at an external registration's endpoint and, until the
// registration was retired (instance.superseded, a moment later), a waiting run could be routed to the registration and
// reach the managed runtime under the registration's id.
t.test('a run is not routed to an external instance whose endpoint a serving managed instance answers at now', async (t) => {
  const ext: DomainEvent[] = [
    { type: 'instance.registered', data: { instance_id: 'ext', runtime_api_endpoint: 'http://localhost:9400' } },
    { type: 'instance.ready', data: { instance_id: 'ext', runtime_api_endpoint: 'http://localhost:9400' } },
  ];
  const managedAt = (endpoint: string): DomainEvent[] => [
    { type: 'instance.requested', data: { instance_id: 'm', runtime_profile: 'p' } },
    { type: 'instance.starting', data: { instance_id: 'm', pid: 1, argv: ['x'], attempt: 1 } },
    { type: 'instance.ready', data: { instance_id: 'm', runtime_api_endpoint: endpoint } },
  ];
  const route = (reg: ReturnType<typeof given>, instance: string) => decideRouteRun(reg, command('RouteRun', { run_id: 'r1', instance_id: instance, default_run_timeout_ms: 60_000 }));
  // given the registration and a managed instance just ready at its endpoint (written another way), not yet retired
  const stale = given(commandProfile('p'), ...ext, ...managedAt('http://127.0.0.1:9400/'), accepted('r1'), queued('r1'));
  // when the run is routed to the registration, then it is refused, naming the managed instance
  const refused = route(stale, 'ext');
  t.equal(refusal(refused), 'E_CONFLICT');
  t.match(refused, { message: /external instance 'ext' is stale: managed instance 'm' answers at its endpoint/, data: { instance_id: 'ext', by_instance_id: 'm' } });
  t.equal(events(route(stale, 'm'))[0]?.type, 'run.routed', 'the managed instance takes it');
  // a managed instance at another port leaves the registration routable
  const apart = given(commandProfile('p'), ...ext, ...managedAt('http://127.0.0.1:9401'), accepted('r1'), queued('r1'));
  t.match(events(route(apart, 'ext'))[0], { type: 'run.routed', data: { instance_id: 'ext' } });
});

t.test('a routed run starts once', async (t) => {
  const reg = given(accepted('r1'), queued('r1'), { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i', runtime_api_endpoint: 'http://x' } });
  t.equal(events(decideStartRun(reg, command('StartRun', { run_id: 'r1', instance_id: 'i' })))[0]?.type, 'run.started');
  const started = given(accepted('r1'), queued('r1'), { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i', runtime_api_endpoint: 'http://x' } }, { type: 'run.started', data: { run_id: 'r1', instance_id: 'i' } });
  t.same(events(decideStartRun(started, command('StartRun', { run_id: 'r1', instance_id: 'i' }))), []);
});

t.test('canceling a queued run records run.canceled; one in flight gets a cancel request once; an unknown run is E_NOT_FOUND', async (t) => {
  const cancel = (runId: string) => command('CancelRun', { run_id: runId, reason: 'x' });
  t.equal(events(decideCancelRun(given(accepted('r1'), queued('r1')), cancel('r1')))[0]?.type, 'run.canceled');
  const inFlight = given(accepted('r1'), queued('r1'), { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i', runtime_api_endpoint: 'http://x' } });
  t.equal(events(decideCancelRun(inFlight, cancel('r1')))[0]?.type, 'run.cancel_requested');
  t.same(events(decideCancelRun(given(accepted('r1'), queued('r1'), { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i', runtime_api_endpoint: 'http://x' } }, { type: 'run.cancel_requested', data: { run_id: 'r1', reason: 'x' } }), cancel('r1'))), []);
  t.equal(refusal(decideCancelRun(given(), cancel('nope'))), 'E_NOT_FOUND');
});

t.test('a waiting run past its queue deadline fails, saying what it waited for; before it, nothing happens', async (t) => {
  const reg = given(commandProfile('p'), ...inst('i'), accepted('busy'), queued('busy'), { type: 'run.routed', data: { run_id: 'busy', instance_id: 'i', runtime_api_endpoint: 'http://x' } },
    accepted('r1', 'hi', { runtime_selector: { runtime_profile: 'p' } }), queued('r1', '2026-01-01T00:00:40.000Z'));
  t.same(events(decideExpireQueuedRun(reg, command('ExpireQueuedRun', { run_id: 'r1', policy }, '2026-01-01T00:00:39.000Z'))), []);
  const e = events(decideExpireQueuedRun(reg, command('ExpireQueuedRun', { run_id: 'r1', policy }, '2026-01-01T00:00:40.000Z')));
  t.equal(e[0]?.type, 'run.failed');
  const error = (e[0]?.data as { error: { code: string; message: string } }).error;
  t.equal(error.code, 'E_NOT_READY');
  t.match(error.message, /profile 'p'/);
  t.match(error.message, /i was busy with 1 of 1 run/);
  t.notMatch(error.message, /any instance became ready/);
});

t.test('a run in flight past its deadline fails E_TIMEOUT, naming the limit', async (t) => {
  const reg = given(accepted('r1', 'hi', { limits: { timeout_ms: 5000 } }), queued('r1'),
    { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i', runtime_api_endpoint: 'http://x', deadline: '2026-01-01T00:00:06.000Z' } });
  t.same(events(decideTimeOutRun(reg, command('TimeOutRun', { run_id: 'r1', default_run_timeout_ms: 1 }, '2026-01-01T00:00:05.999Z'))), []);
  const e = events(decideTimeOutRun(reg, command('TimeOutRun', { run_id: 'r1', default_run_timeout_ms: 1 }, '2026-01-01T00:00:06.000Z')));
  t.equal((e[0]?.data as { error: { code: string; message: string } }).error.code, 'E_TIMEOUT');
  t.match((e[0]?.data as { error: { message: string } }).error.message, /limits.timeout_ms \(5000 ms\)/);
});

t.test('trace lines are recorded with their size; a line past a limit fails the run after the lines before it', async (t) => {
  const reg = given(accepted('r1'), queued('r1'), { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i', runtime_api_endpoint: 'http://x' } });
  const limits = { max_line_bytes: 100, max_depth: 3, max_run_bytes: 150 };
  const line = (data: JsonObject) => ({ level: 'info' as const, type: 'step', data });
  const ok = events(decideRecordTraceBatch(reg, command('RecordTraceBatch', { run_id: 'r1', lines: [line({ a: 1 })], limits })));
  t.same(ok.map((e) => [e.type, (e.data as { bytes?: number }).bytes]), [['run.trace', 7]]);
  const big = events(decideRecordTraceBatch(reg, command('RecordTraceBatch', { run_id: 'r1', lines: [line({ a: 1 }), line({ s: 'x'.repeat(200) })], limits })));
  t.same(big.map((e) => e.type), ['run.trace', 'run.failed']);
  t.equal((big[1]?.data as { error: { code: string } }).error.code, 'E_TRACE_LIMIT');
  const deep = events(decideRecordTraceBatch(reg, command('RecordTraceBatch', { run_id: 'r1', lines: [line({ a: { b: { c: { d: 1 } } } })], limits })));
  t.same(deep.map((e) => e.type), ['run.failed']);
  const volume = events(decideRecordTraceBatch(reg, command('RecordTraceBatch', { run_id: 'r1', lines: Array.from({ length: 5 }, () => line({ s: 'x'.repeat(40) })), limits })));
  t.same(volume.map((e) => e.type), ['run.trace', 'run.trace', 'run.trace', 'run.failed'], '3 lines of 48 bytes fit in 150');
  const ended = given(accepted('r1'), { type: 'run.canceled', data: { run_id: 'r1', reason: 'x' } });
  t.same(events(decideRecordTraceBatch(ended, command('RecordTraceBatch', { run_id: 'r1', lines: [line({})], limits }))), [], 'nothing after the end');
});
