import t, { type Test } from 'tap';
import type { RunEvent } from '../../src/schemas/index.js';
import { RunEngine, type RunEngineOptions } from '../../src/runtime/run-engine.js';
import { ArpdError } from '../../src/errors/index.js';
import { oracleValid } from '../schemas/oracle.js';

function engine(t: Test, opts: RunEngineOptions = {}): RunEngine {
  const e = new RunEngine({ stepDelayMs: 1, ...opts });
  t.teardown(() => e.close());
  return e;
}

/** Collects a run's events from `afterSeq` until the engine ends the subscription. */
function collect(e: RunEngine, runId: string, afterSeq = 0): Promise<RunEvent[]> {
  return new Promise((resolve) => {
    const seen: RunEvent[] = [];
    e.subscribe(runId, afterSeq, { event: (ev) => seen.push(ev), end: () => resolve(seen) });
  });
}

t.test('emits events with contiguous seq from 1 that the spec accepts', async (t) => {
  const e = engine(t);
  e.submit({ run_id: 'r1', input: { goal: 'What is 3*3?' } });
  const events = await collect(e, 'r1');
  t.same(events.map((ev) => ev.seq), [1, 2, 3, 4, 5]);
  for (const ev of events) t.ok(oracleValid('RunEvent', ev), `event ${ev.seq}`);
  t.same(e.events('r1'), events);
  t.match(e.result('r1'), { ok: true, output: { answer: 9 } });
});

t.test('replays only the events after the given seq to a late subscriber', async (t) => {
  const e = engine(t);
  e.submit({ run_id: 'r2', input: { goal: 'hi' } });
  const all = await collect(e, 'r2');
  t.same(await collect(e, 'r2', 1), all.slice(1));
});

t.test('cancels a queued run without ever starting it', async (t) => {
  const e = engine(t, { stepDelayMs: 10_000 });
  t.same(e.submit({ run_id: 'r3', input: { goal: 'hi' } }), { run_id: 'r3', state: 'queued' });
  const status = await e.cancel('r3');
  t.match(status, { run_id: 'r3', state: 'canceled', ended_at: String });
  t.notOk('started_at' in status, 'a run that never ran has no start time');
  t.same(e.events('r3').map((ev) => ev.type), ['error']);
});

t.test('refuses unknown runs, results of running runs and reused ids with typed errors', async (t) => {
  const e = engine(t, { stepDelayMs: 10_000 });
  t.throws(() => e.status('nope'), { code: 'E_NOT_FOUND' });
  e.submit({ run_id: 'r4', input: { goal: 'hi' } });
  t.throws(() => e.result('r4'), { code: 'E_NOT_READY' });
  t.throws(() => e.submit({ run_id: 'r4', input: { goal: 'hi' } }), { code: 'E_CONFLICT' });
  t.throws(() => e.submit({ run_id: '../r4', input: { goal: 'hi' } }), { code: 'E_VALIDATION' });
  await t.rejects(e.cancel('nope'), ArpdError);
});

t.test('ends every subscription and refuses new runs once closed', async (t) => {
  const e = new RunEngine({ stepDelayMs: 1 });
  e.submit({ run_id: 'r5', input: { goal: 'sleep:600000' } });
  const ended = collect(e, 'r5');
  await e.close();
  t.ok(Array.isArray(await ended), 'the subscription ended');
  t.throws(() => e.submit({ input: { goal: 'hi' } }), { code: 'E_UNAVAILABLE' });
});

t.test('forgets the oldest ended runs beyond its limit and keeps unended ones', async (t) => {
  const e = engine(t, { maxRuns: 2 });
  e.submit({ run_id: 'old', input: { goal: 'hi' } });
  await collect(e, 'old');
  e.submit({ run_id: 'long', input: { goal: 'sleep:600000' } });
  e.submit({ run_id: 'new', input: { goal: 'hi' } });
  t.notOk(e.has('old'));
  t.ok(e.has('long'));
  t.ok(e.has('new'));
});

t.test('uses the clock and id maker it is given', async (t) => {
  const e = engine(t, { now: () => new Date('2030-01-02T03:04:05.000Z'), newRunId: () => 'run_fixed' });
  const status = e.submit({ input: { goal: 'hi' } });
  t.equal(status.run_id, 'run_fixed');
  const events = await collect(e, 'run_fixed');
  t.ok(events.every((ev) => ev.time === '2030-01-02T03:04:05.000Z'));
});

t.test('refuses a trace file name that is not a plain file name', async (t) => {
  t.throws(() => new RunEngine({ traceFileName: '../trace.jsonl' }), { code: 'E_VALIDATION' });
  t.throws(() => new RunEngine({ traceFileName: 'a/b' }), { code: 'E_VALIDATION' });
});

t.test('reports a trace it cannot write and still finishes the run', async (t) => {
  const dir = t.testdir({ blocker: 'a file where a directory should be' });
  const failures: string[] = [];
  const e = engine(t, { traceDir: `${dir}/blocker`, onTraceError: (_err, runId) => failures.push(runId) });
  e.submit({ run_id: 'r6', input: { goal: 'hi' } });
  await collect(e, 'r6');
  t.same(failures, ['r6'], 'reported once');
  t.match(e.result('r6'), { ok: true });
});
