/**
 * A run that arpd ends (cancel, timeout, its instance deleted) while the runtime has not yet answered
 * `POST /v1/runs`: once the runtime creates it, arpd must cancel it there too, or the runtime runs a
 * run nobody follows. The runtime is a scripted one that holds `POST /v1/runs` until told.
 */
import t from 'tap';
import { runDetails, runError, runtimeHarness, scriptedRuntime, waitFor, type Json, type RuntimeHarness, type ScriptedRuntime } from '../helpers/runtime-harness.js';

type How = 'cancel' | 'timeout' | 'delete';

async function setup(t: Parameters<typeof runtimeHarness>[0]): Promise<{ r: RuntimeHarness; dir: string; rt: ScriptedRuntime; instanceId: string }> {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--health-interval', '200']);
  const rt = await scriptedRuntime(t);
  const { instance } = await r.call<{ instance: Json }>(dir, 'instances.register', { request: { runtime_api_endpoint: rt.url } });
  if (instance['state'] !== 'ready') throw new Error(`the scripted runtime registered as ${String(instance['state'])}`);
  return { r, dir, rt, instanceId: String(instance['instance_id']) };
}

const cases: Array<{ how: How; name: string; state: string; code: string }> = [
  { how: 'cancel', name: 'cancels at the runtime a run canceled while the runtime was still taking it', state: 'canceled', code: 'E_CANCELED' },
  { how: 'timeout', name: 'cancels at the runtime a run that timed out while the runtime was still taking it', state: 'failed', code: 'E_TIMEOUT' },
  { how: 'delete', name: 'cancels at the runtime a run whose instance was deleted while the runtime was still taking it', state: 'canceled', code: 'E_CANCELED' },
];

for (const c of cases) {
  t.test(c.name, async (t) => {
    const { r, dir, rt, instanceId } = await setup(t);
    rt.holdCreates = true;
    const s = await r.submit(dir, {
      input: { goal: 'a long job' },
      runtime_selector: { instance_id: instanceId },
      ...(c.how === 'timeout' ? { limits: { timeout_ms: 300 } } : {}),
    });
    const runId = String(s['run_id']);
    await waitFor('the runtime to be asked to create the run', () => rt.heldCreates === 1);
    t.equal(runDetails(await r.getRun(dir, runId))['phase'], 'routed', 'the run is routed, not yet started');

    if (c.how === 'cancel') await r.call(dir, 'runs.cancel', { run_id: runId });
    if (c.how === 'delete') await r.call(dir, 'instances.delete', { instance_id: instanceId });
    const end = await r.waitRunEnded(dir, runId);
    t.equal(end['state'], c.state, `arpd ended the run ${c.state}`);
    t.equal(runError(end).code, c.code);

    // now the runtime answers the create: it has the run, running
    rt.holdCreates = false;
    rt.releaseCreates();
    await waitFor('the runtime to have the run', () => rt.runs.has(runId));
    const stillRunning = await waitFor('arpd to cancel the run at the runtime', () => rt.runs.get(runId)?.state !== 'running', 3000).then(() => false, () => true);
    t.notOk(stillRunning, `the runtime does not go on running a run arpd has ended (state at the runtime: ${String(rt.runs.get(runId)?.state)}; requests: ${rt.requests.filter((q) => q.includes(runId)).join(', ')})`);

    const ends = (await r.events(dir, ['run.'])).filter((e) => e.stream === `run:${runId}` && ['run.succeeded', 'run.failed', 'run.canceled'].includes(e.type));
    t.equal(ends.length, 1, 'one end is recorded');
    const after = await r.getRun(dir, runId);
    t.equal(after['state'], c.state, 'and it stays');
  });
}

// was a bug (QA): a run whose POST /v1/runs got no answer (the connection dropped, or the 30 s timeout) was failed by
// arpd, E_RUNTIME_LOST, but left running at the runtime, which may have taken it: sent again, it ran there twice
t.test('cancels at the runtime a run it failed because the runtime took it without answering', async (t) => {
  const { r, dir, rt, instanceId } = await setup(t);
  rt.dropCreates = true;
  const s = await r.submit(dir, { input: { goal: 'a long job' }, runtime_selector: { instance_id: instanceId } });
  const runId = String(s['run_id']);
  const ended = await waitFor('the run to fail', async () => {
    const st = await r.getRun(dir, runId);
    return st['state'] === 'failed' ? st : undefined;
  });
  t.match(runError(ended), { code: 'E_RUNTIME_LOST' }, 'failed: the runtime did not answer');
  await waitFor('the runtime to be asked to cancel it', () => (rt.runs.get(runId)?.cancels ?? 0) >= 1);
  t.equal(rt.runs.get(runId)?.state, 'canceled', 'it does not go on at the runtime');
});
