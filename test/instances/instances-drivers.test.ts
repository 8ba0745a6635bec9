/**
 * The pip and npm drivers through a real daemon: a profile naming a local package (absolute path) is
 * installed into the data dir's cache, its console script / bin started, and runs are routed to it.
 * The fixtures (fixtures/runtimes/) serve health and version only, so a run routed to them is refused
 * by the runtime: the test checks it reached that instance and failed with the runtime's answer.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { instanceDetails, runError, runtimeHarness, waitFor, type Json, type RuntimeHarness } from '../helpers/runtime-harness.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/runtimes/', import.meta.url));
const PIP_ECHO = join(FIXTURES, 'pip-echo-runtime');
const PIP_BROKEN = join(FIXTURES, 'pip-broken-runtime');
const NPM_ECHO = join(FIXTURES, 'npm-echo-runtime');

const hasVenv = spawnSync('python3', ['-c', 'import venv, ensurepip'], { stdio: 'ignore' }).status === 0;
const hasNpm = spawnSync('npm', ['--version'], { stdio: 'ignore' }).status === 0;

/** Starts one instance of the profile with `instances start --wait` and checks it is ready and takes a routed run. */
async function startAndRoute(t: Test, r: RuntimeHarness, dir: string, profile: string, runtimeName: string): Promise<void> {
  const res = await r.cli(dir, ['instances', 'start', '--profile', profile, '--wait', '--json'], { timeoutMs: 300_000 });
  t.equal(res.code, 0, `instances start --wait: ${res.stderr}`);
  const inst = (JSON.parse(res.stdout || '{"instances":[]}') as { instances: Json[] }).instances[0] ?? {};
  t.equal(inst['state'], 'ready', `ready: ${JSON.stringify(instanceDetails(inst)['reason'] ?? '')}`);
  t.equal(inst['runtime_name'], runtimeName, 'named by its /v1/version');
  const id = String(inst['instance_id']);
  const health = await fetch(`${String(inst['runtime_api_endpoint'])}/v1/health`);
  t.equal(health.status, 200, 'it answers /v1/health');

  // with the profile as selector the run goes to this instance
  const submitted = await r.submit(dir, { input: { goal: 'hello' }, runtime_selector: { runtime_profile: profile } });
  const end = await r.waitRunEnded(dir, String(submitted['run_id']));
  t.equal(end['runtime_instance_id'], id, 'the run was routed to the instance');
  const routed = r.traceFile(dir, String(submitted['run_id'])).find((l) => l.type === 'routed');
  t.equal(routed?.data['instance_id'], id, 'the trace records the routing');
  // the fixture has no runs API: the runtime's refusal is the run's error
  t.equal(end['state'], 'failed');
  t.equal(runError(end).code, 'E_RUNTIME_ERROR', `the runtime answered: ${String(runError(end).message)}`);
}

t.test('starts a pip-driver runtime from a local package with --pip-no-index and routes runs to it', { skip: hasVenv ? false : 'python3 with venv and ensurepip is not available' }, async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--pip-no-index']);
  await r.upsertProfile(dir, 'pyecho', { extensions: { 'arp.jarvis.exec': { driver: 'pip', pip_spec: PIP_ECHO, entrypoint: 'pip-echo-runtime', entrypoint_args: ['serve', '--host', '{host}', '--port', '0'] } } });
  await startAndRoute(t, r, dir, 'pyecho', 'pip-echo-runtime');
  t.ok(existsSync(join(dir, 'venvs', 'pyecho')), 'the venv is cached under the data dir');
  // a second instance reuses the installed venv
  const again = await r.startInstances(dir, 'pyecho', 1);
  t.equal(again[0]?.['state'], 'ready', 'a second instance starts from the cache');
});

t.test('records a failed pip install as error with the install log tail', { skip: hasVenv ? false : 'python3 with venv and ensurepip is not available' }, async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--pip-no-index']);
  await r.upsertProfile(dir, 'pybroken', { extensions: { 'arp.jarvis.exec': { driver: 'pip', pip_spec: PIP_BROKEN, entrypoint: 'pip-broken-runtime' } } });
  const res = await r.cli(dir, ['instances', 'start', '--profile', 'pybroken', '--wait', '--json'], { timeoutMs: 300_000 });
  t.equal(res.code, 1);
  const inst = (JSON.parse(res.stdout) as { instances: Json[] }).instances[0] as Json;
  t.equal(inst['state'], 'error');
  const err = instanceDetails(inst)['error'] as { code?: string; message?: string } | undefined;
  t.equal(err?.code, 'E_INSTALL_FAILED', String(err?.message));
});

t.test('keeps an instance deleted during its pip install stopped', { skip: hasVenv ? false : 'python3 with venv and ensurepip is not available' }, async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--pip-no-index']);
  await r.upsertProfile(dir, 'pyslow', { extensions: { 'arp.jarvis.exec': { driver: 'pip', pip_spec: PIP_ECHO, entrypoint: 'pip-echo-runtime', entrypoint_args: ['serve', '--port', '0'] } } });
  const created = await r.call<{ instances: Json[] }>(dir, 'instances.create', { request: { runtime_profile: 'pyslow' } });
  const id = String(created.instances[0]?.['instance_id']);
  // the install has begun once its venv folder exists; delete the instance then
  await waitFor('the pip install to begin', () => existsSync(join(dir, 'venvs', 'pyslow')), 60_000, 10);
  const del = await r.call<Json>(dir, 'instances.delete', { instance_id: id });
  t.same(del, { deleted: id, state: 'stopped' });
  // a second instance of the profile installs and starts from scratch: by the time it is ready, the first install's end is long recorded
  const [second] = await r.startInstances(dir, 'pyslow', 1);
  t.equal(second?.['state'], 'ready', 'a new instance of the profile starts');
  const first = await r.getInstance(dir, id);
  t.equal(first['state'], 'stopped', `the deleted instance stays stopped (reason: ${String(instanceDetails(first)['reason'])})`);
  const types = (await r.events(dir, ['instance.'])).filter((e) => e.stream === `instance:${id}`).map((e) => e.type);
  t.same(types, ['instance.requested', 'instance.stopping', 'instance.stopped'], 'nothing is recorded about it after instance.stopped');
});

t.test('starts an npm-driver runtime from a local package directory and routes runs to it', { skip: hasNpm ? false : 'npm is not available' }, async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.upsertProfile(dir, 'jsecho', { extensions: { 'arp.jarvis.exec': { driver: 'npm', npm_spec: NPM_ECHO, entrypoint: 'npm-echo-runtime', entrypoint_args: ['serve', '--host', '{host}', '--port', '{port}'] } } });
  await startAndRoute(t, r, dir, 'jsecho', 'npm-echo-runtime');
  t.ok(existsSync(join(dir, 'runtimes', 'npm')), 'the install is cached under the data dir');
});
