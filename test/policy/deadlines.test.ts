import t from 'tap';
import type { JsonObject } from '../../src/events/event-types.js';
import { addMs, requestQueueTimeoutMs, requestTimeoutMs, runTimeLimit } from '../../src/policy/deadlines.js';

t.test('requestTimeoutMs is limits.timeout_ms when it is a positive finite number', async (t) => {
  t.equal(requestTimeoutMs({ limits: { timeout_ms: 1500 } }), 1500);
  t.equal(requestTimeoutMs({ limits: { timeout_ms: 0.5 } }), 0.5);
  const none: Array<JsonObject | undefined> = [undefined, {}, { limits: null }, { limits: [] }, { limits: 5 }, { limits: {} },
    { limits: { timeout_ms: 0 } }, { limits: { timeout_ms: -1 } }, { limits: { timeout_ms: '100' } }, { limits: { timeout_ms: null } }];
  for (const r of none) t.equal(requestTimeoutMs(r), undefined, JSON.stringify(r));
});

t.test("a run's time limit is its own limits.timeout_ms, else the profile's run_timeout_ms, else the daemon default", async (t) => {
  t.same(runTimeLimit({ limits: { timeout_ms: 5000 } }, { runTimeoutMs: 9000 }, 60_000), { ms: 5000, source: 'limits.timeout_ms' });
  t.same(runTimeLimit({}, { runTimeoutMs: 9000 }, 60_000), { ms: 9000, source: 'run_timeout_ms' });
  t.same(runTimeLimit({}, { runTimeoutMs: 0 }, 60_000), { ms: 60_000, source: 'default' }, "a profile's 0 means the daemon's default");
  t.same(runTimeLimit(undefined, undefined, 60_000), { ms: 60_000, source: 'default' });
  t.same(runTimeLimit({ limits: { timeout_ms: -5 } }, undefined, 60_000), { ms: 60_000, source: 'default' }, 'an invalid own limit is ignored');
});

t.test('addMs adds milliseconds to an ISO time', async (t) => {
  t.equal(addMs('2026-01-01T00:00:00.000Z', 1500), '2026-01-01T00:00:01.500Z');
  t.equal(addMs('2026-01-01T23:59:59.999Z', 1), '2026-01-02T00:00:00.000Z');
  t.equal(addMs('2026-01-01T00:00:00.000Z', 0), '2026-01-01T00:00:00.000Z');
});

t.test('requestQueueTimeoutMs returns whatever the request asks for, for the decider to check', async (t) => {
  t.equal(requestQueueTimeoutMs({ extensions: { 'arpd.queue_timeout_ms': 100 } }), 100);
  t.equal(requestQueueTimeoutMs({ extensions: { 'arpd.queue_timeout_ms': 'soon' } }), 'soon');
  t.equal(requestQueueTimeoutMs({ extensions: {} }), undefined);
  t.equal(requestQueueTimeoutMs({ extensions: null }), undefined);
  t.equal(requestQueueTimeoutMs({ extensions: [1] }), undefined);
  t.equal(requestQueueTimeoutMs(undefined), undefined);
});
