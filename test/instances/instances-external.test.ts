/**
 * External runtimes: registered by endpoint, health-checked by the daemon (ready while it answers,
 * error once it stops answering), deregistered on delete. The runtime is a real
 * `arpd runtime serve --port 0` process started by the test.
 */
import { spawn } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { ARPD_JS, RuntimeHarness, instanceDetails, oracleCheck, runtimeHarness, waitFor, type Json } from '../helpers/runtime-harness.js';

t.test('registers a running external runtime as ready, and again by the same endpoint as the same instance', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--health-interval', '200']);
  const ext = await r.startExternalRuntime();
  const reg = await r.cli(dir, ['instances', 'register', '--endpoint', ext.url, '--json']);
  t.equal(reg.code, 0, reg.stderr);
  const body = JSON.parse(reg.stdout) as { instance: Json };
  oracleCheck(t, 'InstanceRegisterResponse', body, 'instances register --json');
  const inst = body.instance;
  t.equal(inst['state'], 'ready');
  t.equal(inst['managed'], false);
  t.equal(inst['runtime_api_endpoint'], ext.url);
  t.equal(inst['runtime_name'], 'arpd-reference-runtime', 'named from its /v1/version');
  const id = String(inst['instance_id']);

  const again = await r.cliJson<{ instance: Json }>(dir, ['instances', 'register', '--endpoint', `${ext.url}/`]);
  t.equal(again.instance['instance_id'], id, 'the same endpoint (even with a trailing slash) is the same instance');
  const list = await r.cliJson<{ instances: Json[] }>(dir, ['instances', 'list']);
  t.equal(list.instances.length, 1, 'one instance');
  t.notOk('node' in instanceDetails(list.instances[0] as Json), 'a single daemon names no node (only daemons sharing a store do)');
  const human = await r.cli(dir, ['instances', 'list']);
  t.match(human.stdout, /^INSTANCE\s+STATE\s+PROFILE\s+KIND\s+ENDPOINT\s+REASON/m, 'and its listing has no NODE column');
  t.match(human.stdout, new RegExp(`^${id}\\s+ready\\s+-\\s+external\\s+${ext.url.replace(/\./g, '\\.')}`, 'm'));

  const run = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 6*7?', '--instance', id, '--wait']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /42/, 'a run routed to it by instance id succeeds');

  const del = await r.cliJson(dir, ['instances', 'delete', id]);
  t.same(del, { deleted: id, state: 'stopped' }, 'delete deregisters it');
  t.equal(ext.child.exitCode, null, 'and leaves the external process alone');
  const types = (await r.events(dir, ['instance.'])).map((e) => e.type).filter((ty) => ty !== 'instance.busy' && ty !== 'instance.idle');
  t.same(types, ['instance.registered', 'instance.ready', 'instance.deregistered'], 'registered, ready, deregistered (busy/idle while the run ran)');
});

t.test('marks a registered runtime error once its health check fails after it is killed', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--health-interval', '200']);
  const ext = await r.startExternalRuntime();
  const { instance } = await r.call<{ instance: Json }>(dir, 'instances.register', { request: { runtime_api_endpoint: ext.url } });
  t.equal(instance['state'], 'ready');
  const id = String(instance['instance_id']);
  ext.kill('SIGKILL');
  await ext.exited;
  const failed = await r.waitInstance(dir, id, 'to be marked error by the health check', (i) => i['state'] === 'error');
  const d = instanceDetails(failed);
  t.match(String(d['reason']), /health check of http:\/\/127\.0\.0\.1:\d+ failed/, `the reason says so: ${String(d['reason'])}`);
  t.equal((d['error'] as Json | undefined)?.['code'], 'E_RUNTIME_LOST');
  oracleCheck(t, 'RuntimeInstance', failed, 'the failed external instance');
});

t.test('comes back to ready when a registered runtime answers again at its endpoint', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--health-interval', '200']);
  const ext = await r.startExternalRuntime();
  const { instance } = await r.call<{ instance: Json }>(dir, 'instances.register', { request: { runtime_api_endpoint: ext.url } });
  const id = String(instance['instance_id']);
  ext.kill('SIGKILL');
  await ext.exited;
  await r.waitInstance(dir, id, 'to be error', (i) => i['state'] === 'error');
  // a new runtime on the same port (the daemon knows it only by its endpoint)
  const port = Number(new URL(ext.url).port);
  const again = spawn(process.execPath, [ARPD_JS, 'runtime', 'serve', '--port', String(port)], { stdio: 'ignore' });
  t.teardown(() => { if (again.exitCode === null && again.signalCode === null) again.kill('SIGKILL'); });
  const back = await r.waitInstance(dir, id, 'to be ready again', (i) => i['state'] === 'ready');
  t.equal(back['runtime_api_endpoint'], ext.url);
});

/**
 * A runtime whose /v1/health the test controls: 'ok' answers, 'fail' answers 500, 'hold' keeps the
 * request waiting until `release()` (then answers as the mode says by then).
 */
async function controllableRuntime(t: Test): Promise<{ url: string; mode: 'ok' | 'fail' | 'hold'; held: number; release(): void }> {
  const waiting: Array<() => void> = [];
  const state = {
    url: '',
    mode: 'ok' as 'ok' | 'fail' | 'hold',
    held: 0,
    release(): void {
      for (const w of waiting.splice(0)) w();
    },
  };
  const answer = (res: ServerResponse, path: string): void => {
    if (state.mode === 'fail') {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"code":"runtime.internal","message":"down"}}');
      return;
    }
    const body = path === '/v1/version' ? { service_name: 'held-runtime', service_version: '1.0.0', supported_api_versions: ['v1'] } : { status: 'ok', time: new Date().toISOString() };
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/v1/health' && state.mode === 'hold') {
      state.held++;
      waiting.push(() => answer(res, path));
      return;
    }
    answer(res, path);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { state.mode = 'ok'; state.release(); server.closeAllConnections(); server.close(() => resolve()); }));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

t.test('keeps a deleted external instance stopped when a health check that began before the delete succeeds after it', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--health-interval', '100']);
  const rt = await controllableRuntime(t);
  const { instance } = await r.call<{ instance: Json }>(dir, 'instances.register', { request: { runtime_api_endpoint: rt.url } });
  t.equal(instance['state'], 'ready');
  const id = String(instance['instance_id']);
  rt.mode = 'fail';
  await r.waitInstance(dir, id, 'to be error', (i) => i['state'] === 'error');
  // the next health check of the instance in error waits at the runtime…
  rt.mode = 'hold';
  await waitFor('a health check to be waiting at the runtime', () => rt.held > 0);
  // …while the instance is deleted
  const del = await r.call<Json>(dir, 'instances.delete', { instance_id: id });
  t.same(del, { deleted: id, state: 'stopped' });
  // then the runtime answers that check
  rt.mode = 'ok';
  rt.release();
  // the daemon goes on checking live instances every 100 ms: give a late record time to land
  const revived = await r.waitInstance(dir, id, 'to come back (it must not)', (i) => i['state'] !== 'stopped', 2000).catch(() => undefined);
  t.equal(revived, undefined, `the deleted instance stays stopped (it became ${String(revived?.['state'])})`);
  const types = (await r.events(dir, ['instance.'])).map((e) => e.type);
  t.equal(types.at(-1), 'instance.deregistered', `nothing is recorded after the deregistration: ${types.join(', ')}`);
});

t.test('registers an endpoint nobody answers on as error (exit 1), and refuses one that is not http', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--health-interval', '200']);
  const ext = await r.startExternalRuntime();
  ext.kill('SIGKILL');
  await ext.exited;
  const res = await r.cli(dir, ['instances', 'register', '--endpoint', ext.url, '--json']);
  t.equal(res.code, 1, 'exit 1: registered, but not ready');
  const inst = (JSON.parse(res.stdout) as { instance: Json }).instance;
  t.equal(inst['state'], 'error');
  const bad = await r.cli(dir, ['instances', 'register', '--endpoint', 'ftp://127.0.0.1:1', '--json']);
  t.equal(bad.code, 2);
  t.equal(RuntimeHarness.errorOf(bad).code, 'E_VALIDATION');
  const none = await r.cli(dir, ['instances', 'register']);
  t.equal(none.code, 2, 'no endpoint exits 2');
});
