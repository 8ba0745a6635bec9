/**
 * `arpd import-jarvis [DIR]` against a REAL daemon and a REAL external runtime, from a JARVIS data dir
 * written here in JARVIS's own shapes (`{"profiles": [...]}` and `{"instances": [...]}`, a plain list,
 * or an object of profiles by name): profiles become upserts, external instances are registered by
 * endpoint, managed ones are skipped with the reason, refusals are reported; a second import changes
 * nothing (no new event in the log).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { ImportReport } from '../../src/cli/import-jarvis.js';
import { runtimeHarness, type Json } from '../helpers/runtime-harness.js';

const r = runtimeHarness(t);
const dir = r.newDataDir();
await r.startDaemon(dir, ['--no-autostart-instances']);
const external = await r.startExternalRuntime();

const command = { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0'] };
const jarvisDir = join(r.newDataDir(), 'daemon');
mkdirSync(jarvisDir);

function write(name: string, value: unknown): void {
  writeFileSync(join(jarvisDir, name), JSON.stringify(value, null, 2));
}

write('runtime_profiles.json', {
  profiles: [
    { runtime_profile: 'jarvis-local', description: 'from JARVIS', defaults: { env: { A: '1' } }, extensions: { 'arp.jarvis.exec': command } },
    { runtime_profile: 'jarvis-unpinned', extensions: { 'arp.jarvis.exec': { driver: 'pip', pip_spec: 'some-runtime', entrypoint: 'some-runtime' } } },
  ],
});
write('instances.json', {
  instances: [
    { instance_id: 'ext_jarvis1', managed: false, state: 'ready', runtime_api_endpoint: external.url, runtime_name: 'jarvis-external' },
    { instance_id: 'inst_jarvis2', managed: true, state: 'ready', pid: 4242, runtime_profile: 'jarvis-local', runtime_api_endpoint: 'http://127.0.0.1:43121' },
    { instance_id: 'broken' },
  ],
});

async function importOnce(_t: Test, args: string[] = []): Promise<{ code: number | null; report: ImportReport; stderr: string }> {
  const res = await r.cli(dir, ['import-jarvis', jarvisDir, '--json', ...args]);
  return { code: res.code, report: JSON.parse(res.stdout) as ImportReport, stderr: res.stderr };
}

t.test('imports the profiles and the external instances, skips the managed ones and reports refusals', async (t) => {
  const { code, report, stderr } = await importOnce(t);
  t.equal(report.source, jarvisDir);
  t.match(report.profiles, [
    { runtime_profile: 'jarvis-local', action: 'imported' },
    { runtime_profile: 'jarvis-unpinned', action: 'failed', code: 'E_VALIDATION', reason: /pip_spec/ },
  ]);
  t.match(report.instances, [
    { jarvis_instance_id: 'ext_jarvis1', runtime_api_endpoint: external.url, action: 'registered', state: 'ready', instance_id: /^ext_/ },
    { jarvis_instance_id: 'inst_jarvis2', action: 'skipped', reason: /managed JARVIS instance \(pid 4242\).*arpd instances start --profile jarvis-local/ },
    { jarvis_instance_id: 'broken', action: 'skipped', reason: /no runtime_api_endpoint/ },
  ]);
  t.equal(code, 2, 'a refused entry makes it fail, with the code of the refusal');
  t.match(stderr, /^arpd: error: 1 of 5 entries could not be imported.*\[E_VALIDATION\]\n$/);
  const profile = await r.call(dir, 'profiles.get', { runtime_profile: 'jarvis-local' });
  t.match(profile, { runtime_profile: 'jarvis-local', description: 'from JARVIS', defaults: { env: { A: '1' } } });
  const instances = await r.call<{ instances: Json[] }>(dir, 'instances.list', {});
  t.equal(instances.instances.filter((i) => i['runtime_api_endpoint'] === external.url).length, 1, 'the external runtime is registered once');
});

t.test('a second import changes nothing: the same profile is unchanged, the endpoint already registered', async (t) => {
  const before = (await r.events(dir)).length;
  const { report } = await importOnce(t);
  t.match(report.profiles, [{ runtime_profile: 'jarvis-local', action: 'unchanged' }, { action: 'failed' }]);
  t.match(report.instances[0], { action: 'already_registered', state: 'ready' });
  t.equal((await r.events(dir)).length, before, 'no event was recorded');
});

t.test('reads a plain list and an object of profiles by name, as JARVIS accepts both', async (t) => {
  write('runtime_profiles.json', [{ runtime_profile: 'from-list', extensions: { 'arp.jarvis.exec': command } }]);
  write('instances.json', []);
  const list = await importOnce(t);
  t.equal(list.code, 0, list.stderr);
  t.match(list.report.profiles, [{ runtime_profile: 'from-list', action: 'imported' }]);
  write('runtime_profiles.json', { 'from-object': { description: 'keyed by name', extensions: { 'arp.jarvis.exec': command } } });
  const obj = await importOnce(t);
  t.equal(obj.code, 0, obj.stderr);
  t.match(obj.report.profiles, [{ runtime_profile: 'from-object', action: 'imported' }]);
  t.match(await r.call(dir, 'profiles.get', { runtime_profile: 'from-object' }), { description: 'keyed by name' });
});

t.test('prints a readable report without --json', async (t) => {
  const res = await r.cli(dir, ['import-jarvis', jarvisDir]);
  t.equal(res.code, 0, res.stderr);
  t.match(res.stdout, new RegExp(`^imported from ${jarvisDir}:\\n  profile  from-object\\s+unchanged\\n$`));
});

t.test('refuses a directory without JARVIS files, and files that are not JSON', async (t) => {
  const empty = r.newDataDir();
  const none = await r.cli(dir, ['import-jarvis', empty]);
  t.equal(none.code, 4);
  t.match(none.stderr, /holds neither runtime_profiles\.json nor instances\.json.*\[E_NOT_FOUND\]/);
  write('runtime_profiles.json', '{not json');
  writeFileSync(join(jarvisDir, 'runtime_profiles.json'), '{not json');
  const bad = await r.cli(dir, ['import-jarvis', jarvisDir]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /runtime_profiles\.json' is not JSON.*\[E_VALIDATION\]/);
});

/** A port on 127.0.0.1 that nothing listens on (taken, then closed). */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

t.test('an endpoint whose registration found no runtime is reported as not serving, at the first import and at the next', async (t) => {
  const deadDir = join(r.newDataDir(), 'daemon');
  mkdirSync(deadDir);
  const endpoint = `http://127.0.0.1:${await deadPort()}`;
  writeFileSync(join(deadDir, 'instances.json'), JSON.stringify({ instances: [{ instance_id: 'ext_dead', managed: false, runtime_api_endpoint: endpoint }] }));
  const first = await r.cli(dir, ['import-jarvis', deadDir, '--json']);
  t.equal(first.code, 0, `a registered endpoint is not refused: ${first.stderr}`);
  const once = (JSON.parse(first.stdout) as ImportReport).instances[0];
  t.match(once, { runtime_api_endpoint: endpoint, action: 'not_serving', state: 'error', instance_id: /^ext_/, reason: /^it gets no runs: .*checks it again.*arpd instances delete ext_/ }, 'registered, and said to serve nothing');
  const before = (await r.events(dir)).length;
  const again = await r.cli(dir, ['import-jarvis', deadDir, '--json']);
  t.equal(again.code, 0, again.stderr);
  t.match((JSON.parse(again.stdout) as ImportReport).instances[0], { action: 'not_serving', state: 'error', instance_id: once?.instance_id, reason: /^registered by an earlier import, it gets no runs/ }, 'not "already_registered", which reads as serving');
  t.equal((await r.events(dir)).length, before, 'and nothing new is recorded');
  const text = await r.cli(dir, ['import-jarvis', deadDir]);
  t.match(text.stdout, new RegExp(`instance ${endpoint}\\s+not_serving as ext_\\S+ \\(error\\): registered by an earlier import`), 'the text report says so too');
});

t.test("an endpoint of one of arpd's own managed instances is skipped naming that instance, and the rest is imported", async (t) => {
  const [managed] = await r.startInstances(dir, 'jarvis-local');
  t.equal(managed?.['state'], 'ready');
  const id = String(managed?.['instance_id']);
  const url = new URL(String(managed?.['runtime_api_endpoint']));
  const sameDir = join(r.newDataDir(), 'daemon');
  mkdirSync(sameDir);
  const entries = [
    { instance_id: 'ext_same', managed: false, runtime_api_endpoint: `http://localhost:${url.port}/` }, // the managed one, written another way
    { instance_id: 'ext_other', managed: false, runtime_api_endpoint: external.url },
  ];
  writeFileSync(join(sameDir, 'instances.json'), JSON.stringify({ instances: entries }));
  const before = (await r.call<{ instances: Json[] }>(dir, 'instances.list', {})).instances.length;
  const res = await r.cli(dir, ['import-jarvis', sameDir, '--json']);
  t.equal(res.code, 0, `a skipped entry does not fail the import: ${res.stderr}`);
  t.match((JSON.parse(res.stdout) as ImportReport).instances, [
    { jarvis_instance_id: 'ext_same', action: 'skipped', code: 'E_CONFLICT', reason: new RegExp(`is the endpoint of instance '${id}', which arpd started and manages`) },
    { jarvis_instance_id: 'ext_other', action: 'already_registered', state: 'ready' },
  ]);
  t.equal((await r.call<{ instances: Json[] }>(dir, 'instances.list', {})).instances.length, before, 'no second instance id for the managed runtime');
  const direct = await r.cli(dir, ['instances', 'register', '--endpoint', String(managed?.['runtime_api_endpoint'])]);
  t.equal(direct.code, 5, 'arpd instances register refuses it too (E_CONFLICT)');
  t.match(direct.stderr, new RegExp(`is the endpoint of instance '${id}'.*\\[E_CONFLICT\\]`));
  await r.call(dir, 'instances.delete', { instance_id: id });
});
