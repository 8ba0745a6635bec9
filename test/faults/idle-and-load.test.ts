/**
 * Issue 11, points 8 and 9, on real daemons with real runtime processes:
 *
 * - 8: an idle managed instance does not keep an `--idle-timeout` daemon alive (it used to, forever), and the
 *   daemon stops it on the way out;
 * - 9: a queue that grows for a busy profile starts more instances, up to the profile's `max_instances` and never
 *   past it, and every run is taken. (The queue-timeout wording, "what the run waited for" while an instance was
 *   busy, is tested by test/runs/runs-refusals.test.ts "fails a queued run with E_NOT_READY …".)
 */
import t from 'tap';
import { waitGone } from '../helpers/daemon-harness.js';
import { instancePid, isRunning, REFERENCE_COMMAND, runtimeHarness, waitFor, type Json } from '../helpers/runtime-harness.js';

t.test('an idle managed instance does not keep an --idle-timeout daemon alive, and is stopped when it exits (point 8)', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  const { pid } = await r.startDaemon(dir, ['--no-autostart-instances', '--idle-timeout', '3']);
  // over the socket from this process (a CLI could auto-start another daemon once this one is gone)
  const [inst] = await r.startInstances(dir, 'default', 1);
  t.equal(inst?.['state'], 'ready', 'a managed instance is ready');
  const runtimePid = instancePid(inst ?? {});
  t.ok(isRunning(runtimePid), 'its process runs');
  const run = String((await r.submit(dir, { input: { goal: 'sleep:1500 What is 5*5?' } }))['run_id']);
  await waitGone(pid, 60_000);
  t.pass('the daemon exited by itself once the instance was idle');
  await waitFor('the runtime process to be stopped', () => !isRunning(runtimePid), 30_000);
  const events = await r.events(dir);
  t.ok(events.some((e) => e.type === 'run.succeeded' && e.data['run_id'] === run), 'the run in flight kept it up until it succeeded');
  t.equal(events.at(-1)?.type, 'daemon.stopped', 'daemon.stopped is the last event');
  t.match(String(events.at(-1)?.data['reason']), /idle/, 'it says it was idle');
  t.ok(events.some((e) => e.type === 'instance.stopped' && e.data['instance_id'] === inst?.['instance_id']), 'the instance was recorded stopped');
});

t.test('a queue growing for a busy profile starts more instances up to max_instances, never past it, every run is taken, and the extra ones stop after the grace (point 9)', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  // autostart on (the default): scaling up is arpd starting instances by itself; scaling down after 1.5 s idle
  await r.startDaemon(dir, ['--scale-down-grace', '1500']);
  await r.upsertProfile(dir, 'busy', {
    extensions: {
      'arp.jarvis.exec': { driver: 'command', command_template: [...REFERENCE_COMMAND] },
      'arpd.runtime': { max_concurrent_runs: 1, max_instances: 3 },
    },
  });
  const [first] = await r.startInstances(dir, 'busy', 1);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) {
    const run = await r.submit(dir, { input: { goal: `sleep:2500 What is ${i}+1?` }, runtime_selector: { runtime_profile: 'busy' } });
    ids.push(String(run['run_id']));
  }
  const live = async (): Promise<Json[]> => (await r.call<{ instances: Json[] }>(dir, 'instances.list', { all: true })).instances.filter((i) => i['runtime_profile'] === 'busy');
  await waitFor('a third instance of the busy profile', async () => (await live()).length >= 3 || undefined, 60_000);
  for (const id of ids) t.equal((await r.waitRunEnded(dir, id))['state'], 'succeeded', `${id} was taken and succeeded`);
  const all = await live();
  t.equal(all.length, 3, `exactly max_instances (3) instances were ever made for it: ${all.map((i) => `${String(i['instance_id'])}:${String(i['state'])}`).join(', ')}`);
  const routedTo = new Set((await r.events(dir, ['run.routed'])).map((e) => e.data['instance_id']));
  t.ok(routedTo.size >= 2, `runs went to more than one instance (${routedTo.size})`);
  // the queue is empty: the two arpd started for it stop once idle for the grace; the one started by hand stays
  await waitFor('the scaled-up instances to stop', async () => ((await live()).filter((i) => i['state'] === 'ready' || i['state'] === 'busy').length === 1) || undefined, 60_000);
  const serving = (await live()).filter((i) => i['state'] === 'ready' || i['state'] === 'busy');
  t.equal(serving[0]?.['instance_id'], first?.['instance_id'], 'the instance started by hand still serves');
  const stops = (await r.events(dir, ['instance.stopping'])).filter((e) => e.data['instance_id'] !== first?.['instance_id']);
  t.equal(stops.length, 2, 'the two scaled-up instances were stopped');
  for (const e of stops) t.match(String(e.data['reason']), /idle for 2s: arpd started it for waiting runs/, 'each stop says why');
});
