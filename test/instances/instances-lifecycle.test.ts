/**
 * Managed instances end to end: a real daemon starts real reference runtime processes, supervises
 * them (a process killed from outside is recorded as an error naming the signal; restart on-failure
 * brings it back), and stops their whole process group on delete.
 */
import t from 'tap';
import { RuntimeHarness, groupGone, instanceDetails, instancePid, isRunning, REFERENCE_COMMAND, oracleCheck, runtimeHarness, type Json } from '../helpers/runtime-harness.js';

async function health(endpoint: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${endpoint}/v1/health`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Json };
}

t.test('starts a ready instance with `instances start --profile default --wait` on a fresh data dir', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  // no daemon yet: the command starts it (as any command does), then the instance
  const res = await r.cli(dir, ['instances', 'start', '--profile', 'default', '--wait']);
  t.equal(res.code, 0, res.stderr);
  t.match(res.stderr, /started the daemon/, 'it started the daemon');
  t.match(res.stdout, /^INSTANCE\s+STATE\s+PROFILE/m);
  t.match(res.stdout, /^inst_\S+\s+ready\s+default\s+managed\s+http:\/\/127\.0\.0\.1:\d+/m, 'the table shows a ready instance');
  const list = await r.cliJson<{ instances: Json[] }>(dir, ['instances', 'list']);
  t.equal(list.instances.length, 1);
  const inst = list.instances[0] as Json;
  t.equal(inst['state'], 'ready');
  const h = await health(String(inst['runtime_api_endpoint']));
  t.equal(h.status, 200, 'its endpoint answers /v1/health');
});

t.test('starts 3 instances from default, each ready at its own endpoint answering /v1/health', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const created = await r.cliJson<{ instances: Json[] }>(dir, ['instances', 'start', '--profile', 'default', '--count', '3', '--wait']);
  oracleCheck(t, 'InstanceCreateResponse', created, 'instances start --json');
  t.equal(created.instances.length, 3);
  t.same(created.instances.map((i) => i['state']), ['ready', 'ready', 'ready'], 'all ready');
  const endpoints = created.instances.map((i) => String(i['runtime_api_endpoint']));
  t.equal(new Set(endpoints).size, 3, `distinct endpoints: ${endpoints.join(' ')}`);
  const pids = created.instances.map(instancePid);
  t.equal(new Set(pids).size, 3, 'distinct processes');
  for (const ep of endpoints) {
    const h = await health(ep);
    t.equal(h.status, 200, `${ep}/v1/health answers 200`);
    oracleCheck(t, 'Health', h.body, `${ep}/v1/health`);
  }
  for (const inst of created.instances) {
    const id = String(inst['instance_id']);
    const got = await r.cliJson(dir, ['instances', 'get', id]);
    oracleCheck(t, 'RuntimeInstance', got, `instances get ${id} --json`);
    t.equal(got['managed'], true);
    t.equal(got['runtime_profile'], 'default');
    t.equal(got['runtime_name'], 'arpd-reference-runtime', 'the runtime name comes from the runtime\'s /v1/version');
  }
  const list = await r.cliJson(dir, ['instances', 'list']);
  oracleCheck(t, 'InstanceListResponse', list, 'instances list --json');
  for (const pid of pids) t.notOk(groupGone(pid), `runtime ${pid} leads its own process group`);
});

t.test('records a runtime killed from outside as error, naming the signal', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const [a, b] = await r.startInstances(dir, 'default', 2);
  const id = String(a?.['instance_id']);
  const pid = instancePid(a as Json);
  process.kill(pid, 'SIGKILL');
  const failed = await r.waitInstance(dir, id, 'to be in error', (i) => i['state'] === 'error');
  const d = instanceDetails(failed);
  t.match(String(d['reason']), /SIGKILL/, `the reason names the signal: ${String(d['reason'])}`);
  const err = d['error'] as { code?: string; details?: Json };
  t.equal(err.code, 'E_RUNTIME_LOST');
  t.equal(err.details?.['signal'], 'SIGKILL');
  oracleCheck(t, 'RuntimeInstance', failed, 'the failed instance');
  const other = await r.getInstance(dir, String(b?.['instance_id']));
  t.equal(other['state'], 'ready', 'the other instance is untouched');
  const human = await r.cli(dir, ['instances', 'list']);
  t.match(human.stdout, new RegExp(`^${id}\\s+error\\s+default\\s+managed\\s+\\S+\\s+runtime process was killed by SIGKILL`, 'm'), 'the list shows the reason');
  const events = await r.events(dir, ['instance.failed']);
  t.equal(events.length, 1, 'one instance.failed');
  t.equal(events[0]?.data['signal'], 'SIGKILL');
});

t.test('brings a killed runtime back to ready with a new process when the profile says restart on-failure', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.upsertProfile(dir, 'phoenix', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: REFERENCE_COMMAND }, 'arpd.runtime': { restart: 'on-failure', restart_backoff_ms: 100 } } });
  const [inst] = await r.startInstances(dir, 'phoenix', 1);
  t.equal(inst?.['state'], 'ready');
  const id = String(inst?.['instance_id']);
  const pid = instancePid(inst as Json);
  process.kill(pid, 'SIGKILL');
  const back = await r.waitInstance(dir, id, 'to be ready with a new process', (i) => i['state'] === 'ready' && instanceDetails(i)['pid'] !== pid);
  const newPid = instancePid(back);
  t.not(newPid, pid, 'a new process');
  t.ok(isRunning(newPid), 'which is alive');
  t.equal(instanceDetails(back)['attempt'], 2, 'the second attempt');
  const h = await health(String(back['runtime_api_endpoint']));
  t.equal(h.status, 200, 'and healthy');
  const types = (await r.events(dir, ['instance.'])).filter((e) => e.stream === `instance:${id}`).map((e) => e.type);
  t.same(types, ['instance.requested', 'instance.starting', 'instance.ready', 'instance.failed', 'instance.restarting', 'instance.starting', 'instance.ready'], 'failed, then restarted by its policy (recorded), then started again');
});

t.test('gives up restarting after restart_max restarts', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.upsertProfile(dir, 'once', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: REFERENCE_COMMAND }, 'arpd.runtime': { restart: 'on-failure', restart_backoff_ms: 50, restart_max: 1 } } });
  const [inst] = await r.startInstances(dir, 'once', 1);
  const id = String(inst?.['instance_id']);
  const first = instancePid(inst as Json);
  process.kill(first, 'SIGKILL');
  const back = await r.waitInstance(dir, id, 'to be restarted', (i) => i['state'] === 'ready' && instanceDetails(i)['pid'] !== first);
  process.kill(instancePid(back), 'SIGKILL');
  await r.waitInstance(dir, id, 'to fail again', (i) => i['state'] === 'error');
  // a third start would come after 100 ms of backoff: look for one for a good while longer
  const third = await r.waitInstance(dir, id, 'to be started a third time (it must not)', (i) => i['state'] !== 'error', 2000).catch(() => undefined);
  t.equal(third, undefined, 'it stays in error');
  const starts = (await r.events(dir, ['instance.starting'])).filter((e) => e.stream === `instance:${id}`);
  t.equal(starts.length, 2, 'started twice: once, and one restart');
  // was a bug (QA): the reason said only why it failed last, so nothing told the user arpd had stopped restarting it
  const shown = await r.waitInstance(dir, id, 'in error', (i) => i['state'] === 'error');
  t.match(instanceDetails(shown), { restarts: 1, restarts_exhausted: true, reason: /arpd gave up after 1 restart, its restart_max: 'arpd instances start --profile once' starts a new one/ }, 'its reason says arpd gave up, and what to do');
});

t.test('stops and records error for a managed runtime that stops answering its health check', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--health-interval', '200']);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const id = String(inst?.['instance_id']);
  const pid = instancePid(inst as Json);
  process.kill(pid, 'SIGSTOP'); // alive, but it answers nothing
  const failed = await r.waitInstance(dir, id, 'to be error', (i) => i['state'] === 'error', 60_000);
  t.match(String(instanceDetails(failed)['reason']), /health check failed 3 times in a row; the process was stopped/);
  await r.waitInstance(dir, id, 'to have no process', () => groupGone(pid), 30_000);
  t.ok(groupGone(pid), 'the hung process was killed');
});

t.test('stops the whole process group on delete and records stopped', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const id = String(inst?.['instance_id']);
  const pid = instancePid(inst as Json);
  t.notOk(groupGone(pid), 'the group is there before');
  const del = await r.cli(dir, ['instances', 'delete', id, '--json']);
  t.equal(del.code, 0, del.stderr);
  t.same(JSON.parse(del.stdout), { deleted: id, state: 'stopped' });
  t.ok(groupGone(pid), 'kill(-pid, 0) says ESRCH once delete returns');
  const after = await r.cliJson(dir, ['instances', 'get', id]);
  t.equal(after['state'], 'stopped');
  t.equal(instanceDetails(after)['reason'], 'deleted');
  const list = await r.cliJson<{ instances: Json[] }>(dir, ['instances', 'list']);
  t.same(list.instances, [], 'a stopped instance is not listed');
  const all = await r.cliJson<{ instances: Json[] }>(dir, ['instances', 'list', '--all']);
  t.equal(all.instances.length, 1, 'unless with --all');
  const again = await r.cli(dir, ['instances', 'delete', id]);
  t.equal(again.code, 0, 'deleting a stopped instance again is fine');
  const unknown = await r.cli(dir, ['instances', 'delete', 'inst_nope', '--json']);
  t.equal(unknown.code, 4, 'deleting an unknown instance exits 4');
  t.equal(RuntimeHarness.errorOf(unknown).code, 'E_NOT_FOUND');
  const types = (await r.events(dir, ['instance.'])).map((e) => e.type);
  t.same(types.slice(-2), ['instance.stopping', 'instance.stopped']);
});
