/**
 * `arpd daemon status` counts instances as `arpd instances list` shows them: an instance with as many runs in flight
 * as it takes is busy in both (the status counted it ready: the recorded state, while the list showed it busy).
 */
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);
const dir = h.newDataDir();

async function json(args: string[], input?: string): Promise<Record<string, unknown>> {
  const r = await h.cli(dir, [...args, '--json'], input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`arpd ${args.join(' ')} exited ${String(r.code)}: ${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

t.test('an instance at capacity is busy in daemon status as in instances list, and ready again once its run ended', async (t) => {
  await h.startDaemon(dir, ['--no-autostart-instances']);
  const profile = { runtime_name: 'slow', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0', '--step-delay-ms', '1500'] }, 'arpd.runtime': { max_concurrent_runs: 1 } } };
  await json(['profiles', 'upsert', 'slow', '--request-json', '-'], JSON.stringify(profile));
  await json(['instances', 'start', '--profile', 'slow', '--wait']);
  const run = await json(['runs', 'submit', '--goal', 'What is (2*3)?', '--profile', 'slow']);
  const id = String(run['run_id']);
  let counts: Record<string, number> = {};
  let listed = '';
  for (let i = 0; i < 100; i++) {
    const s = await json(['daemon', 'status']);
    counts = (s['counts'] as { instances: Record<string, number> }).instances;
    const list = await json(['instances', 'list']);
    listed = String(((list['instances'] as Array<{ state: string }>)[0])?.state);
    if (counts['busy'] === 1 && listed === 'busy') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(listed, 'busy', 'instances list: busy while its one run is in flight');
  t.match(counts, { busy: 1, ready: 0 }, 'daemon status: busy too');
  await json(['runs', 'wait', id]);
  const after = (await json(['daemon', 'status']))['counts'] as { instances: Record<string, number> };
  t.match(after.instances, { busy: 0, ready: 1 }, 'ready again once the run ended');
});
