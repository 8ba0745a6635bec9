import t, { type Test } from 'tap';
import type { Command } from '../../src/commands/command-types.js';
import { ArpdError } from '../../src/errors/index.js';
import type { JsonObject } from '../../src/events/event-types.js';
import { RunDeadlines } from '../../src/runs/run-deadlines.js';
import { tempDir, removeDir } from '../fixtures-helpers/events.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { ReactorRig } from '../helpers/reactor-rig.js';

const exec = { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } };
const T0 = '2026-01-01T00:00:00.000Z';
const policy = { autostart: true };

interface World {
  timers: FakeTimers;
  rig: ReactorRig;
  deadlines: RunDeadlines;
  /** Moves the virtual clock, letting the deadlines reactor finish what each timer started. */
  advance(ms: number): Promise<void>;
  submit(runId: string, request?: JsonObject, queueTimeoutMs?: number): Promise<void>;
  route(runId: string): Promise<void>;
  state(runId: string): string | undefined;
  errorCode(runId: string): string | undefined;
}

/** A profile with one starting instance (runs may wait for it), the deadlines reactor on fake timers. */
async function world(t: Test, runs: { progressTimeoutMs?: number; defaultRunTimeoutMs?: number } = {}, startReactor = true, gate?: (cmd: Command) => Promise<void>): Promise<World> {
  const timers = new FakeTimers(T0);
  const uninstall = timers.install();
  const root = tempDir('deadlines');
  const rig = ReactorRig.open(root, { now: timers.date, options: { runs: { progressTimeoutMs: 600_000, defaultRunTimeoutMs: 3_600_000, ...runs } }, ...(gate === undefined ? {} : { gate }) });
  const deadlines = new RunDeadlines(rig.ctx, policy);
  t.teardown(async () => {
    deadlines.stop();
    uninstall();
    await rig.close();
    removeDir(root);
  });
  await rig.exec('UpsertProfile', { name: 'p', request: { extensions: { ...exec, 'arpd.runtime': { max_concurrent_runs: 4 } } } });
  await rig.exec('CreateInstances', { profile: 'p', ids: ['i1'], allow_unsafe: false });
  if (startReactor) deadlines.start();
  return {
    timers, rig, deadlines,
    advance: (ms) => timers.advance(ms, () => rig.idle()),
    submit: async (runId, request = {}, queueTimeoutMs = 30_000) => {
      await rig.exec('SubmitRun', { run_id: runId, request: { input: { goal: 'x' }, runtime_selector: { runtime_profile: 'p' }, ...request }, queue_timeout_ms: queueTimeoutMs, policy, own_endpoints: [], default_run_timeout_ms: 3_600_000 });
    },
    route: async (runId) => {
      if (rig.ctx.state.instances.get('i1')?.state !== 'ready') await rig.exec('MarkInstanceReady', { instance_id: 'i1', endpoint: 'http://127.0.0.1:9001' });
      await rig.exec('RouteRun', { run_id: runId, instance_id: 'i1', default_run_timeout_ms: 3_600_000 });
    },
    state: (runId) => rig.ctx.state.runs.get(runId)?.state,
    errorCode: (runId) => rig.ctx.state.runs.get(runId)?.error?.code,
  };
}

t.test('a queue deadline sends ExpireQueuedRun once it has passed, not before', async (t) => {
  const w = await world(t);
  await w.submit('r1');
  t.equal(w.timers.pending(), 1);
  await w.advance(29_999);
  t.same(w.rig.sent, [], 'nothing before the deadline');
  t.equal(w.state('r1'), 'queued');
  await w.advance(1);
  t.same(w.rig.sentOf('ExpireQueuedRun').map((c) => [c.data.run_id, c.meta.now]), [['r1', '2026-01-01T00:00:30.000Z']]);
  t.equal(w.state('r1'), 'failed');
  t.equal(w.errorCode('r1'), 'E_NOT_READY');
  t.equal(w.deadlines.status()['deadlines'], 0, 'the run left the heap');
  t.equal(w.timers.pending(), 0, 'and no timer is left');
});

t.test('a run deadline sends TimeOutRun once it has passed, not before', async (t) => {
  const w = await world(t);
  await w.submit('r1', { limits: { timeout_ms: 5000 } });
  await w.route('r1');
  await w.advance(4999);
  t.same(w.rig.sentOf('TimeOutRun'), []);
  t.equal(w.state('r1'), 'queued');
  await w.advance(1);
  t.same(w.rig.sentOf('TimeOutRun').map((c) => c.data.run_id), ['r1']);
  t.equal(w.errorCode('r1'), 'E_TIMEOUT');
  t.same(w.rig.sentOf('ExpireQueuedRun'), [], 'a routed run has no queue deadline any more');
});

t.test("a run's progress moves its stall deadline", async (t) => {
  const w = await world(t, { progressTimeoutMs: 10_000 });
  await w.submit('r1');
  await w.route('r1');
  await w.rig.exec('StartRun', { run_id: 'r1', instance_id: 'i1' });
  await w.advance(8000);
  await w.rig.exec('RecordTraceBatch', { run_id: 'r1', lines: [{ level: 'info', type: 'step' }], limits: { max_line_bytes: 1e6, max_depth: 32, max_run_bytes: 1e9 } });
  await w.advance(2000);
  t.equal(w.state('r1'), 'running', 'ten seconds after it started, but only two after its last event');
  await w.advance(7999);
  t.equal(w.state('r1'), 'running');
  await w.advance(1);
  t.equal(w.state('r1'), 'failed', 'ten seconds after its last event');
  t.equal(w.errorCode('r1'), 'E_RUNTIME_STALLED');
  t.equal(w.deadlines.status()['deadlines'], 0);
  t.equal(w.rig.sentOf('FailStalledRun').length, 2, 'it asked at the old deadline (which recorded nothing) and then at the moved one, not every second in between');
});

t.test('an ended run leaves the heap and sends nothing when its deadline passes', async (t) => {
  const w = await world(t);
  await w.submit('r1');
  await w.submit('r2');
  t.equal(w.deadlines.status()['deadlines'], 2);
  await w.rig.exec('CancelRun', { run_id: 'r1', reason: 'test' });
  t.equal(w.deadlines.status()['deadlines'], 1);
  await w.route('r2');
  await w.rig.exec('EndRun', { run_id: 'r2', outcome: 'succeeded' });
  t.equal(w.deadlines.status()['deadlines'], 0, 'the routed run took its run and stall deadlines with it');
  await w.advance(4_000_000);
  t.same(w.rig.sent, []);
});

t.test('one timer at a time, armed for the earliest deadline', async (t) => {
  const w = await world(t);
  const plan: Array<[string, number]> = [['late', 30_000], ['early', 10_000], ['middle', 20_000], ['last', 40_000]];
  for (const [runId, ms] of plan) {
    await w.submit(runId, {}, ms);
    t.equal(w.timers.pending(), 1, `after ${runId}: one timer`);
    t.equal(w.timers.nextAt(), Date.parse(T0) + Math.min(...plan.slice(0, plan.findIndex(([r]) => r === runId) + 1).map(([, m]) => m)), `after ${runId}: at the earliest deadline`);
  }
  const seen: number[] = [];
  for (let i = 0; i < 5; i++) {
    await w.advance(10_000);
    seen.push(w.timers.pending());
  }
  t.ok(seen.every((n) => n <= 1), 'never more than one');
  t.same(w.rig.sentOf('ExpireQueuedRun').map((c) => c.data.run_id), ['early', 'middle', 'late', 'last'], 'each at its own deadline, earliest first');
});

t.test('deadlines come from the projections: a reactor started later keeps the recorded queue deadline', async (t) => {
  const w = await world(t, {}, false);
  await w.submit('r1');
  await w.advance(20_000); // no reactor yet: another daemon took over, say
  w.deadlines.start();
  await w.advance(9999);
  t.equal(w.state('r1'), 'queued');
  await w.advance(1);
  t.equal(w.state('r1'), 'failed', 'thirty seconds after the submit, not after the reactor started');
});

t.test('a deadline whose command recorded nothing is looked at again later, not at once', async (t) => {
  const w = await world(t, { progressTimeoutMs: 10_000 });
  await w.submit('r1');
  await w.route('r1');
  await w.rig.exec('StartRun', { run_id: 'r1', instance_id: 'i1' });
  await w.advance(9000);
  await w.rig.exec('RecordTraceBatch', { run_id: 'r1', lines: [{ level: 'info', type: 'step' }], limits: { max_line_bytes: 1e6, max_depth: 32, max_run_bytes: 1e9 } });
  await w.advance(1000);
  t.equal(w.rig.sentOf('FailStalledRun').length, 1, 'the old stall deadline fired');
  t.equal(w.state('r1'), 'running', 'and recorded nothing');
  t.equal(w.timers.pending(), 1);
  t.ok((w.timers.nextAt() as number) >= w.timers.now + 1000, 'the next look is not at once');
});

t.test('a deadline whose command could not be recorded (a storage fault) is tried again a second later, not in a loop', async (t) => {
  let faults = 1;
  const w = await world(t, {}, true, async (cmd) => {
    if (cmd.type === 'ExpireQueuedRun' && faults-- > 0) throw new ArpdError('E_STORAGE', 'the disk is full');
  });
  await w.submit('r1');
  await w.advance(30_000);
  t.equal(w.rig.sentOf('ExpireQueuedRun').length, 1);
  t.equal(w.state('r1'), 'queued', 'nothing was recorded');
  t.equal(w.timers.nextAt(), w.timers.now + 1000, 'the next try is a second later');
  await w.advance(1000);
  t.equal(w.rig.sentOf('ExpireQueuedRun').length, 2);
  t.equal(w.state('r1'), 'failed');
});
