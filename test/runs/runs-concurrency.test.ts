/**
 * `extensions["arpd.runtime"].max_concurrent_runs`: one instance never has more runs in flight than its
 * profile allows; it reports `busy` while at capacity and `ready` again after; the rest wait queued
 * and all of them finish.
 */
import t from 'tap';
import { REFERENCE_COMMAND, runtimeHarness, sleep, type EventLine, type Json } from '../helpers/runtime-harness.js';

const TERMINAL = new Set(['run.succeeded', 'run.failed', 'run.canceled']);

/** The most runs of one instance in flight (routed, not yet ended) at any point of the log. */
function replayLoad(events: EventLine[], instanceId: string): { max: number } {
  const inFlight = new Set<string>();
  let max = 0;
  for (const e of events) {
    const runId = e.stream.startsWith('run:') ? e.stream.slice(4) : undefined;
    if (e.type === 'run.routed' && e.data['instance_id'] === instanceId && runId !== undefined) inFlight.add(runId);
    else if (TERMINAL.has(e.type) && runId !== undefined) inFlight.delete(runId);
    max = Math.max(max, inFlight.size);
  }
  return { max };
}

t.test('runs at most max_concurrent_runs at once on an instance, reports busy at capacity, and finishes them all', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.upsertProfile(dir, 'pair', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: REFERENCE_COMMAND }, 'arpd.runtime': { max_concurrent_runs: 2 } } });
  const [inst] = await r.startInstances(dir, 'pair', 1);
  t.equal(inst?.['state'], 'ready');
  const id = String(inst?.['instance_id']);

  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push(String((await r.submit(dir, { input: { goal: `sleep:1500 What is ${i}+1?` }, runtime_selector: { runtime_profile: 'pair' } }))['run_id']));

  // watch the states while they run
  let maxRunning = 0;
  let sawBusyWithTwo = false;
  let sawQueuedWhileFull = false;
  for (;;) {
    const [list, now] = await Promise.all([r.call<{ runs: Json[] }>(dir, 'runs.list', { page_size: 100 }), r.getInstance(dir, id)]);
    const running = list.runs.filter((s) => s['state'] === 'running').length;
    maxRunning = Math.max(maxRunning, running);
    if (running === 2 && now['state'] === 'busy') sawBusyWithTwo = true;
    if (running === 2 && list.runs.some((s) => s['state'] === 'queued')) sawQueuedWhileFull = true;
    if (list.runs.every((s) => ['succeeded', 'failed', 'canceled'].includes(String(s['state'])))) break;
    await sleep(50);
  }
  t.ok(maxRunning <= 2, `never more than 2 running at once as seen by runs.list (max ${maxRunning})`);
  t.ok(sawBusyWithTwo, 'the instance reported busy while 2 ran');
  t.ok(sawQueuedWhileFull, 'the others waited queued meanwhile');

  const ends = await Promise.all(ids.map((runId) => r.waitRunEnded(dir, runId)));
  t.same(ends.map((s) => s['state']), ['succeeded', 'succeeded', 'succeeded', 'succeeded'], 'all 4 succeed');
  t.ok(ends.every((s) => s['runtime_instance_id'] === id), 'all on the one instance');

  const events = await r.events(dir);
  const load = replayLoad(events, id);
  t.equal(load.max, 2, 'the log shows at most (and at some point exactly) 2 runs in flight');
  t.same(events.filter((e) => e.type === 'instance.busy' || e.type === 'instance.idle'), [], 'busy is derived from the runs in flight, never recorded apart (one count, not two)');
  const after = await r.getInstance(dir, id);
  t.equal(after['state'], 'ready', 'ready again at the end');
  t.equal((after['extensions'] as { 'arpd.instance': Json })['arpd.instance']['active_runs'], 0, 'with no run in flight');
});
