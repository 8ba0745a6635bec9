/**
 * `extensions["arpd.runtime"].max_concurrent_runs`: one instance never has more runs in flight than its
 * profile allows; it reports `busy` while at capacity and `ready` again after; the rest wait queued,
 * are routed in submission order as room frees up, and all of them finish.
 *
 * The runtime is the scripted one (test/helpers/runtime-harness.ts), registered with the profile: its
 * runs stay running until the test finishes them, so each state is looked at while it certainly holds
 * (nothing ends by itself), not sampled while runs end on their own clock.
 */
import t from 'tap';
import { runtimeHarness, scriptedRuntime, waitFor, type EventLine, type Json } from '../helpers/runtime-harness.js';

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
  // no autostart: the waiting runs wait for this one instance instead of getting instances of their own
  await r.startDaemon(dir, ['--no-autostart-instances', '--queue-timeout', '600000']);
  await r.upsertProfile(dir, 'pair', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/false'] }, 'arpd.runtime': { max_concurrent_runs: 2 } } });
  const rt = await scriptedRuntime(t);
  const { instance } = await r.call<{ instance: Json }>(dir, 'instances.register', { request: { runtime_api_endpoint: rt.url, runtime_profile: 'pair' } });
  t.equal(instance['state'], 'ready');
  const id = String(instance['instance_id']);

  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push(String((await r.submit(dir, { input: { goal: `job ${i}` }, runtime_selector: { runtime_profile: 'pair' } }))['run_id']));

  /** What arpd and the runtime say once `running` runs are running: states, the instance, the runtime's runs. */
  const look = async (running: string[]): Promise<Json> => {
    await waitFor(`${running.join(', ')} to be running`, async () => {
      const states = await Promise.all(running.map(async (runId) => (await r.getRun(dir, runId))['state']));
      return states.every((s) => s === 'running');
    });
    const [list, inst] = await Promise.all([r.call<{ runs: Json[] }>(dir, 'runs.list', { page_size: 100 }), r.getInstance(dir, id)]);
    const stateOf = new Map(list.runs.map((s) => [String(s['run_id']), String(s['state'])]));
    return {
      states: ids.map((runId) => stateOf.get(runId)),
      instance: inst['state'],
      active_runs: (inst['extensions'] as { 'arpd.instance': Json })['arpd.instance']['active_runs'],
      'runs at the runtime, in the order it got them': [...rt.runs.keys()],
      'running at the runtime': [...rt.runs.values()].filter((run) => run.state === 'running').map((run) => run.run_id),
    };
  };
  const [a, b, c, d] = ids as [string, string, string, string];

  t.same(await look([a, b]), {
    states: ['running', 'running', 'queued', 'queued'],
    instance: 'busy',
    active_runs: 2,
    'runs at the runtime, in the order it got them': [a, b],
    'running at the runtime': [a, b],
  }, 'the first two run, the instance is busy, the other two wait queued');

  rt.finish(a);
  t.equal((await r.waitRunEnded(dir, a))['state'], 'succeeded', 'the first one succeeds');
  t.same(await look([b, c]), {
    states: ['succeeded', 'running', 'running', 'queued'],
    instance: 'busy',
    active_runs: 2,
    'runs at the runtime, in the order it got them': [a, b, c],
    'running at the runtime': [b, c],
  }, 'the third takes its place, in submission order; still busy with two, the last one still waits');

  rt.finish(b);
  t.equal((await r.waitRunEnded(dir, b))['state'], 'succeeded', 'the second one succeeds');
  t.same(await look([c, d]), {
    states: ['succeeded', 'succeeded', 'running', 'running'],
    instance: 'busy',
    active_runs: 2,
    'runs at the runtime, in the order it got them': [a, b, c, d],
    'running at the runtime': [c, d],
  }, 'the fourth takes the freed place');

  rt.finish(c);
  rt.finish(d);
  const ends = await Promise.all(ids.map((runId) => r.waitRunEnded(dir, runId)));
  t.same(ends.map((s) => s['state']), ['succeeded', 'succeeded', 'succeeded', 'succeeded'], 'all 4 succeed');
  t.ok(ends.every((s) => s['runtime_instance_id'] === id), 'all on the one instance');

  const events = await r.events(dir);
  const load = replayLoad(events, id);
  t.equal(load.max, 2, 'the log shows at most (and at some point exactly) 2 runs in flight');
  t.same(events.filter((e) => e.type === 'run.routed').map((e) => e.stream.slice(4)), ids, 'routed in submission order, each once');
  t.same(events.filter((e) => e.type === 'instance.busy' || e.type === 'instance.idle'), [], 'busy is derived from the runs in flight, never recorded apart (one count, not two)');
  const after = await r.getInstance(dir, id);
  t.equal(after['state'], 'ready', 'ready again at the end');
  t.equal((after['extensions'] as { 'arpd.instance': Json })['arpd.instance']['active_runs'], 0, 'with no run in flight');
});
