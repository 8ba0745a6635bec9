import t, { type Test } from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { HealthMonitor } from '../../src/instances/health-monitor.js';
import type { Health, VersionInfo } from '../../src/schemas/index.js';
import { removeDir, tempDir } from '../fixtures-helpers/events.js';
import { FakeTimers } from '../helpers/fake-timers.js';
import { ReactorRig } from '../helpers/reactor-rig.js';

const exec = { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } };
const T0 = '2026-01-01T00:00:00.000Z';

/** Runtimes as the health monitor sees them over HTTP: up or down, by endpoint (the network stands in for the test). */
class Runtimes {
  readonly up = new Set<string>();
  readonly checked: string[] = [];
  health = async (endpoint: string): Promise<Health> => {
    this.checked.push(endpoint);
    if (!this.up.has(endpoint)) throw new ArpdError('E_RUNTIME_LOST', `connect ECONNREFUSED ${endpoint}`);
    return { status: 'ok', time: T0 };
  };

  version = async (): Promise<VersionInfo> => ({ service_name: 'ext-rt', service_version: '2.0', supported_api_versions: ['v1'] });
}

interface World {
  rig: ReactorRig;
  runtimes: Runtimes;
  advance(ms: number): Promise<void>;
  state(id: string): string | undefined;
  failures(): string[];
}

async function world(t: Test, start = true): Promise<World & { health: HealthMonitor }> {
  const timers = new FakeTimers(T0);
  const uninstall = timers.install({ dateNow: true });
  const runtimes = new Runtimes();
  const root = tempDir('health');
  const rig = ReactorRig.open(root, { now: timers.date, options: { instances: { healthIntervalMs: 5000 } }, client: { health: runtimes.health, version: runtimes.version } });
  const health = new HealthMonitor(rig.ctx);
  t.teardown(async () => {
    health.stop();
    uninstall();
    await rig.close();
    removeDir(root);
  });
  await rig.exec('UpsertProfile', { name: 'p', request: { extensions: exec } });
  if (start) health.start();
  return {
    rig, runtimes, health,
    advance: (ms) => timers.advance(ms, () => rig.idle()),
    state: (id) => rig.ctx.state.instances.get(id)?.state,
    failures: () => rig.sentOf('RecordInstanceFailure').map((c) => `${c.data.instance_id}: ${c.data.code}`),
  };
}

const managedReady = async (w: World, id: string, endpoint: string, pid?: number): Promise<void> => {
  await w.rig.exec('CreateInstances', { profile: 'p', ids: [id], allow_unsafe: false });
  if (pid !== undefined) await w.rig.exec('RecordInstanceStarting', { instance_id: id, pid, argv: ['rt'], attempt: 1 });
  await w.rig.exec('MarkInstanceReady', { instance_id: id, endpoint });
};

t.test('a ready managed instance fails after three failed checks in a row, one interval apart', async (t) => {
  const w = await world(t);
  await managedReady(w, 'm1', 'http://127.0.0.1:9001');
  await w.advance(5000);
  await w.advance(5000);
  t.equal(w.runtimes.checked.length, 2);
  t.same(w.failures(), [], 'two failures are not enough');
  t.equal(w.state('m1'), 'ready');
  await w.advance(5000);
  t.same(w.failures(), ['m1: E_RUNTIME_LOST']);
  t.equal(w.state('m1'), 'error');
  t.match(w.rig.ctx.state.instances.get('m1')?.reason, /failed 3 times in a row/);
});

t.test('a check that answers resets the count', async (t) => {
  const w = await world(t);
  await managedReady(w, 'm1', 'http://127.0.0.1:9001');
  await w.advance(10_000);
  w.runtimes.up.add('http://127.0.0.1:9001');
  await w.advance(5000);
  w.runtimes.up.delete('http://127.0.0.1:9001');
  await w.advance(10_000);
  t.equal(w.runtimes.checked.length, 5);
  t.same(w.failures(), [], 'two, one good, two: never three in a row');
  await w.advance(5000);
  t.same(w.failures(), ['m1: E_RUNTIME_LOST']);
});

t.test('an instance is checked at the first tick after it is ready, then once per interval, not on every tick', async (t) => {
  const w = await world(t);
  w.runtimes.up.add('http://127.0.0.1:9001');
  await managedReady(w, 'm1', 'http://127.0.0.1:9001');
  await w.advance(1000);
  t.equal(w.runtimes.checked.length, 1);
  await w.advance(4999);
  t.equal(w.runtimes.checked.length, 1, 'ticks every second, but the interval is five');
  await w.advance(1);
  t.equal(w.runtimes.checked.length, 2);
  await w.advance(20_000);
  t.equal(w.runtimes.checked.length, 6);
});

t.test('an adopted managed instance whose process is gone fails at its next check, without asking the runtime', async (t) => {
  const w = await world(t);
  w.runtimes.up.add('http://127.0.0.1:9001');
  await managedReady(w, 'm1', 'http://127.0.0.1:9001', 2 ** 22 + 12345); // above Linux's pid_max: no such process
  await w.advance(5000);
  t.same(w.failures(), ['m1: E_RUNTIME_LOST']);
  t.match(w.rig.ctx.state.instances.get('m1')?.reason, /process \d+ is gone/);
  t.same(w.runtimes.checked, [], 'the endpoint was not asked');
});

t.test('an external instance is probed when registered: ready with the name it reports, or failed at the first failure', async (t) => {
  const w = await world(t);
  w.runtimes.up.add('http://10.0.0.1:7000');
  await w.rig.exec('RegisterInstance', { id: 'up', endpoint: 'http://10.0.0.1:7000', own_endpoints: [] });
  await w.rig.exec('RegisterInstance', { id: 'down', endpoint: 'http://10.0.0.2:7000', own_endpoints: [] });
  await w.rig.idle();
  t.equal(w.state('up'), 'ready');
  t.equal(w.rig.ctx.state.instances.get('up')?.runtime_name, 'ext-rt');
  t.equal(w.state('down'), 'error');
  t.same(w.failures(), ['down: E_RUNTIME_LOST']);
});

t.test('a ready external instance fails after two failed probes and is ready again when it answers', async (t) => {
  const w = await world(t);
  const url = 'http://10.0.0.1:7000';
  w.runtimes.up.add(url);
  await w.rig.exec('RegisterInstance', { id: 'ext', endpoint: url, own_endpoints: [] });
  await w.rig.idle();
  t.equal(w.state('ext'), 'ready');
  w.runtimes.up.delete(url);
  await w.advance(5000);
  t.equal(w.state('ext'), 'ready', 'one failed probe is not enough');
  await w.advance(5000);
  t.equal(w.state('ext'), 'error');
  w.runtimes.up.add(url);
  await w.advance(5000);
  t.equal(w.state('ext'), 'ready', 'it answers again');
});

t.test('external instances recorded before the monitor started are probed at start', async (t) => {
  const w = await world(t, false);
  await w.rig.exec('RegisterInstance', { id: 'ext', endpoint: 'http://10.0.0.1:7000', own_endpoints: [] });
  t.equal(w.state('ext'), 'starting');
  w.health.start();
  await w.rig.idle();
  t.equal(w.state('ext'), 'error', 'probed as at registration: one failure fails it');
});
