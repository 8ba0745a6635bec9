/**
 * A runtime that answers `POST /v1/runs` with 409 already has a run of that id. arpd follows it only when arpd sent it
 * (before a restart: test/runs/runs-crash-recovery.test.ts). A run it never sent there (another client's, or a pruned
 * run's id used again) is not taken as this run's: this run fails E_CONFLICT, saying to use another run_id, and the
 * runtime's run is left alone (not canceled). Real daemon, real reference runtime.
 */
import t from 'tap';
import { runError, runtimeHarness, waitFor, type Json } from '../helpers/runtime-harness.js';

const SLOW = { runtime_name: 'slow', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0', '--step-delay-ms', '400'] } } };

async function runAtRuntime(endpoint: string, runId: string): Promise<Json> {
  const res = await fetch(`${endpoint}/v1/runs/${runId}`);
  return (await res.json()) as Json;
}

t.test('a run whose id the runtime already has from another client fails E_CONFLICT, and the other client\'s run goes on', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances']);
  await r.upsertProfile(dir, 'slow', SLOW);
  const [inst] = await r.startInstances(dir, 'slow');
  const endpoint = String(inst?.['runtime_api_endpoint']);
  // another client of the same runtime starts a run under the id a user will pick
  const theirs = await fetch(`${endpoint}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ run_id: 'shared-id', input: { goal: 'What is (6*7)?' } }) });
  t.ok(theirs.ok, `the other client's run is taken by the runtime (HTTP ${theirs.status})`);

  const s = await r.submit(dir, { run_id: 'shared-id', input: { goal: 'What is (2*3)?' }, runtime_selector: { runtime_profile: 'slow' } });
  const ended = await r.waitRunEnded(dir, String(s['run_id']));
  t.equal(ended['state'], 'failed', 'arpd\'s run fails');
  t.equal(runError(ended).code, 'E_CONFLICT', 'with E_CONFLICT');
  t.match(runError(ended).message, /already has a run 'shared-id' that arpd did not send it.*another run_id/, 'saying why and what to do');
  const runtimeLines = r.traceFile(dir, 'shared-id').filter((l) => l.extensions['arpd.event'].type === 'run.trace');
  t.same(runtimeLines, [], 'none of the other run\'s events are recorded as this run\'s');
  const other = await waitFor('the other client\'s run to end at the runtime', async () => {
    const st = await runAtRuntime(endpoint, 'shared-id');
    return st['state'] === 'running' || st['state'] === 'queued' ? undefined : st;
  });
  t.equal(other['state'], 'succeeded', 'the other client\'s run was not canceled by arpd');
});

t.test('a pruned run\'s id used again at the runtime that ran it fails E_CONFLICT, not answered with the pruned run\'s result', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const first = await r.submit(dir, { run_id: 'again', input: { goal: 'echo:first' } });
  t.equal((await r.waitRunEnded(dir, String(first['run_id'])))['state'], 'succeeded', 'the first run succeeded');
  await new Promise((resolve) => setTimeout(resolve, 5));
  const pruned = await r.call<{ runs: number }>(dir, 'runs.prune', { before: new Date().toISOString() });
  t.equal(pruned.runs, 1, 'it is pruned');
  const second = await r.submit(dir, { run_id: 'again', input: { goal: 'echo:second' } });
  const ended = await r.waitRunEnded(dir, String(second['run_id']));
  t.equal(ended['state'], 'failed', 'the second run fails: its runtime still has the first');
  t.equal(runError(ended).code, 'E_CONFLICT');
  t.notMatch(JSON.stringify(ended), /echo:first/, 'nothing of the pruned run is answered as the new one\'s');
});
