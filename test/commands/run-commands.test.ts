import fc from 'fast-check';
import t from 'tap';
import { decideCancelQueued, decideEnd, decideRoute, decideSubmitRun, requestHash } from '../../src/commands/run-commands.js';
import type { ArpdError } from '../../src/errors/index.js';
import { commandProfile, given } from './given.js';

const deadline = '2026-01-01T00:01:00.000Z';

function codeOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (err) { return (err as ArpdError).code; }
  return undefined;
}

const accepted = (runId: string, goal = 'hi') => {
  const request = { input: { goal }, run_id: runId };
  return { type: 'run.accepted' as const, data: { run_id: runId, request, request_hash: requestHash(request) } };
};

t.test('submitting a new run records run.accepted then run.queued', async (t) => {
  const events = decideSubmitRun(given(), { runId: 'r1', request: { input: { goal: 'hi' } }, deadline });
  t.same(events.map((e) => e.type), ['run.accepted', 'run.queued']);
  t.equal((events[0]?.data as unknown as { request: { run_id: string } }).request.run_id, 'r1');
});

t.test('resubmitting the same request with the same run_id records nothing', async (t) => {
  t.same(decideSubmitRun(given(accepted('r1')), { runId: 'r1', request: { input: { goal: 'hi' } }, deadline }), []);
});

t.test('resubmitting a different request with the same run_id is E_CONFLICT', async (t) => {
  t.equal(codeOf(() => decideSubmitRun(given(accepted('r1')), { runId: 'r1', request: { input: { goal: 'other' } }, deadline })), 'E_CONFLICT');
});

t.test('a hostile run_id is refused before anything is recorded', async (t) => {
  for (const runId of ['../x', 'a/b', '..', '', '\u0000', 'x'.repeat(200)]) {
    t.equal(codeOf(() => decideSubmitRun(given(), { runId, request: { input: { goal: 'x' } }, deadline })), 'E_VALIDATION', JSON.stringify(runId));
  }
});

t.test('a selector naming an unknown instance is E_NOT_FOUND with instances.not_found', async (t) => {
  try {
    decideSubmitRun(given(), { runId: 'r', request: { input: { goal: 'x' }, runtime_selector: { instance_id: 'nope' } }, deadline });
    t.fail('expected an error');
  } catch (err) {
    t.equal((err as ArpdError).code, 'E_NOT_FOUND');
    t.equal((err as ArpdError).data?.['arp_code'], 'instances.not_found');
  }
});

t.test('the request hash ignores key order and tells different requests apart', async (t) => {
  await fc.assert(fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
    const reversed = Object.fromEntries(Object.entries(obj).reverse());
    return requestHash(obj as never) === requestHash(reversed as never);
  }), { numRuns: 300 });
  t.not(requestHash({ input: { goal: 'a' } }), requestHash({ input: { goal: 'b' } }));
});

t.test('a run ends once: a second terminal event is never decided', async (t) => {
  const reg = given(accepted('r1'), { type: 'run.succeeded', data: { run_id: 'r1', result: { run_id: 'r1', ok: true } } });
  t.same(decideEnd(reg, 'r1', { type: 'run.failed', data: { run_id: 'r1', error: { code: 'E_TIMEOUT', message: 'x' } } }), []);
  t.same(decideEnd(given(accepted('r2')), 'r2', { type: 'run.canceled', data: { run_id: 'r2', reason: 'x' } }).length, 1);
});

t.test('a run is routed once', async (t) => {
  const reg = given(commandProfile('p'), accepted('r1'), { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i', runtime_api_endpoint: 'http://x' } });
  t.same(decideRoute(reg, { runId: 'r1', instanceId: 'j', endpoint: 'http://y' }), []);
});

t.test('canceling a queued run records run.canceled; an unknown run is E_NOT_FOUND', async (t) => {
  t.equal(decideCancelQueued(given(accepted('r1')), { runId: 'r1', reason: 'x' })[0]?.type, 'run.canceled');
  t.equal(codeOf(() => decideCancelQueued(given(), { runId: 'nope', reason: 'x' })), 'E_NOT_FOUND');
});
