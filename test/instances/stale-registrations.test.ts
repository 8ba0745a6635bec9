/**
 * A managed instance that becomes ready at the endpoint of a stale external registration (the registered runtime died
 * and its port went to a runtime arpd started) retires that registration: one runtime, one instance id. A real daemon,
 * a real external runtime killed by the test, and a managed runtime started on the port it had.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { instanceDetails, oracleCheck, runtimeHarness, type Json } from '../helpers/runtime-harness.js';

t.test('a managed instance ready at a dead external runtime\'s port retires the registration, naming itself, and runs for the old id are refused', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  // checks far apart: the registration is still ready (its runtime's death not yet noticed) when the port is taken
  await r.startDaemon(dir, ['--health-interval', '600000']);
  const ext = await r.startExternalRuntime();
  const { instance: registered } = await r.call<{ instance: Json }>(dir, 'instances.register', { request: { runtime_api_endpoint: ext.url } });
  t.equal(registered['state'], 'ready');
  const extId = String(registered['instance_id']);
  const port = new URL(ext.url).port;
  ext.kill('SIGKILL');
  await ext.exited;

  // a runtime arpd starts gets that port (the OS gave it away; the profile pins it here)
  await r.upsertProfile(dir, 'pinned', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', 'localhost', '--port', port] } } });
  const [managed] = await r.startInstances(dir, 'pinned');
  t.equal(managed?.['state'], 'ready', JSON.stringify(managed));
  const managedId = String(managed?.['instance_id']);

  const retired = await r.waitInstance(dir, extId, 'to be retired', (i) => i['state'] === 'stopped');
  oracleCheck(t, 'RuntimeInstance', retired, 'the retired registration');
  const d = instanceDetails(retired);
  t.equal(d['superseded_by'], managedId, 'it names the managed instance');
  t.match(String(d['reason']), new RegExp(`^superseded: .*:${port} now answers as instance '${managedId}', which arpd started and manages`), String(d['reason']));
  t.equal((await r.getInstance(dir, managedId))['state'], 'ready', 'never the managed one');

  const list = await r.cli(dir, ['instances', 'list', '--all']);
  t.match(list.stdout, new RegExp(`^${extId}\\s+stopped\\s+-\\s+external\\s+.*superseded: .*'${managedId}'`, 'm'), 'instances list --all says why');
  const superseded = (await r.events(dir, ['instance.superseded'])).map((e) => e.data);
  t.same(superseded, [{ instance_id: extId, by_instance_id: managedId, runtime_api_endpoint: ext.url, reason: String(d['reason']) }], 'one event in the log says so');
  const daemonLog = readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8').split('\n').filter((l) => l.includes('superseded') && l.includes(extId) && l.includes(managedId));
  t.equal(daemonLog.length, 1, 'and the daemon log');

  const refused = await r.callError(dir, 'runs.submit', { request: { input: { goal: 'What is 6*7?' }, runtime_selector: { instance_id: extId } } });
  t.equal(refused.code, 'E_NOT_FOUND', refused.message);
  t.match(refused.message, /is stopped \(superseded/, 'a run for the old id is refused, not sent to the managed runtime');
  const again = await r.callError(dir, 'instances.register', { request: { runtime_api_endpoint: ext.url } });
  t.equal(again.code, 'E_CONFLICT', 'registering the endpoint again is refused: it is the managed instance\'s');
  const run = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 6*7?', '--instance', managedId, '--wait']);
  t.equal(run.code, 0, run.stderr);
});
