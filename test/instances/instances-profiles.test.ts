/**
 * The safe list over the CLI against a real daemon: upsert, list, get, delete; every invalid input
 * refused with its code and exit status; JARVIS profile files taken as they are; a profile in use
 * by a live instance kept unless --force; every profile shown in the ARP RuntimeProfile shape.
 */
import t from 'tap';
import { RuntimeHarness, instancePid, isRunning, REFERENCE_COMMAND, oracleCheck, runtimeHarness, type CliResult, type Json } from '../helpers/runtime-harness.js';

const JARVIS_PROFILE: Json = {
  runtime_name: 'jarvis-runtime',
  defaults: { tool_registry_url: 'http://127.0.0.1:8081' },
  extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['arp-jarvis-runtime', 'serve', '--port', '{port}'] } },
};

t.test('upserts, lists, gets and deletes a profile over the CLI', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const body: Json = { runtime_name: 'mine', description: 'a test profile', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: REFERENCE_COMMAND } } };
  const file = r.writeJson(dir, 'mine.json', body);

  const up = await r.cli(dir, ['profiles', 'upsert', 'mine', '--request-json', file]);
  t.equal(up.code, 0, up.stderr);
  t.match(up.stdout, /profile mine saved/);

  const list = await r.cliJson<{ profiles: Json[] }>(dir, ['profiles', 'list']);
  t.same(list.profiles.map((p) => p['runtime_profile']), ['default', 'mine'], 'listed in name order, with the seeded default');
  const human = await r.cli(dir, ['profiles', 'list']);
  t.equal(human.code, 0);
  t.match(human.stdout, /^PROFILE\s+RUNTIME\s+DRIVER/m);
  t.match(human.stdout, /^mine\s+mine\s+command\s+a test profile/m);

  const got = await r.cliJson(dir, ['profiles', 'get', 'mine']);
  t.same(got, { runtime_profile: 'mine', ...body }, 'get shows the body as given, named');

  const changed = { ...body, description: 'changed' };
  const up2 = await r.cli(dir, ['profiles', 'upsert', 'mine', '--request-json', r.writeJson(dir, 'mine2.json', changed), '--json']);
  t.equal(up2.code, 0, up2.stderr);
  t.same(JSON.parse(up2.stdout), { runtime_profile: 'mine', ...changed }, 'upsert replaces and prints the profile with --json');

  const del = await r.cli(dir, ['profiles', 'delete', 'mine']);
  t.equal(del.code, 0, del.stderr);
  t.match(del.stdout, /profile mine deleted/);
  const gone = await r.cli(dir, ['profiles', 'get', 'mine', '--json']);
  t.equal(gone.code, 4, 'get of a deleted profile exits 4');
  t.equal(RuntimeHarness.errorOf(gone).code, 'E_NOT_FOUND');
  const again = await r.cli(dir, ['profiles', 'delete', 'mine', '--json']);
  t.equal(again.code, 4, 'deleting it again exits 4');
  t.equal(RuntimeHarness.errorOf(again).code, 'E_NOT_FOUND');
  const after = await r.cliJson<{ profiles: Json[] }>(dir, ['profiles', 'list']);
  t.same(after.profiles.map((p) => p['runtime_profile']), ['default']);
});

t.test('refuses every invalid profile input with E_VALIDATION and exit 2, and records nothing', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const exec = (e: Json): Json => ({ extensions: { 'arp.jarvis.exec': e } });
  const good = exec({ driver: 'command', command_template: REFERENCE_COMMAND });
  const cases: Array<{ what: string; name?: string; body: Json; field?: RegExp }> = [
    { what: 'a name with a path in it', name: '../x', body: good, field: /runtime_profile/ },
    { what: 'a name with a slash', name: 'a/b', body: good, field: /runtime_profile/ },
    { what: 'a name starting with a dot', name: '.hidden', body: good, field: /runtime_profile/ },
    { what: 'a name of 129 characters', name: 'a'.repeat(129), body: good, field: /runtime_profile/ },
    { what: 'an unknown top-level field', body: { ...good, bogus: 1 }, field: /bogus/ },
    { what: 'an unknown field of the command driver', body: exec({ driver: 'command', command_template: ['x'], shell: true }), field: /shell/ },
    { what: 'an unknown field of arpd.runtime', body: { extensions: { ...good['extensions'] as Json, 'arpd.runtime': { restarts: 3 } } }, field: /restarts/ },
    { what: 'an unknown driver', body: exec({ driver: 'docker', image: 'x' }), field: /driver/ },
    { what: 'an unpinned pip spec', body: exec({ driver: 'pip', pip_spec: 'requests', entrypoint: 'x' }), field: /pip_spec/ },
    { what: 'a pip spec with a version range', body: exec({ driver: 'pip', pip_spec: 'requests>=2', entrypoint: 'x' }), field: /pip_spec/ },
    { what: 'a pip path starting with ~', body: exec({ driver: 'pip', pip_spec: '~/pkg', entrypoint: 'x' }), field: /pip_spec/ },
    { what: 'a pip download without a hash', body: exec({ driver: 'pip', pip_spec: 'x @ https://example.com/x.whl', entrypoint: 'x' }), field: /pip_spec/ },
    { what: 'an unpinned npm spec', body: exec({ driver: 'npm', npm_spec: 'left-pad', entrypoint: 'x' }), field: /npm_spec/ },
    { what: 'an npm spec with a range', body: exec({ driver: 'npm', npm_spec: 'left-pad@^1.0.0', entrypoint: 'x' }), field: /npm_spec/ },
    { what: 'a pip spec starting with -', body: exec({ driver: 'pip', pip_spec: '--index-url=http://evil/ x==1.0', entrypoint: 'x' }), field: /pip_spec/ },
    { what: 'an npm spec starting with -', body: exec({ driver: 'npm', npm_spec: '-g', entrypoint: 'x' }), field: /npm_spec/ },
    { what: 'an argv given as a string', body: exec({ driver: 'command', command_template: 'my-runtime --port {port}' }), field: /command_template/ },
    { what: 'an empty argv', body: exec({ driver: 'command', command_template: [] }), field: /command_template/ },
    { what: 'an unknown placeholder', body: exec({ driver: 'command', command_template: ['rt', '--port', '{prot}'] }), field: /command_template/ },
    { what: 'an entrypoint with a slash', body: exec({ driver: 'npm', npm_spec: 'left-pad@1.3.0', entrypoint: '../bin/x' }), field: /entrypoint/ },
    { what: 'a profile that says nothing of how to start its runtime', body: { runtime_name: 'x' }, field: /arp\.jarvis\.exec/ },
    { what: 'an empty profile (the conformance check)', body: {}, field: /arp\.jarvis\.exec/ },
    { what: 'a negative max_concurrent_runs', body: { extensions: { ...good['extensions'] as Json, 'arpd.runtime': { max_concurrent_runs: -1 } } }, field: /max_concurrent_runs/ },
  ];
  // in parallel: each is its own CLI process against the one daemon
  const results = await Promise.all(cases.map((c, i) => r.cli(dir, ['profiles', 'upsert', c.name ?? 'p', '--request-json', r.writeJson(dir, `bad-${i}.json`, c.body), '--json'])));
  for (const [i, c] of cases.entries()) {
    const res = results[i] as CliResult;
    t.equal(res.code, 2, `${c.what}: exit 2`);
    const err = RuntimeHarness.errorOf(res);
    t.equal(err.code, 'E_VALIDATION', `${c.what}: E_VALIDATION`);
    if (c.field !== undefined) t.match(JSON.stringify(err.data ?? {}) + (err.message ?? ''), c.field, `${c.what}: the error names the field`);
  }
  const list = await r.cliJson<{ profiles: Json[] }>(dir, ['profiles', 'list']);
  t.same(list.profiles.map((p) => p['runtime_profile']), ['default'], 'no refused profile was recorded');
  const events = await r.events(dir, ['profile.']);
  t.equal(events.length, 1, 'the log holds only the seeded default profile');
});

t.test('refuses a request file that is not a JSON object with exit 2', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const arr = r.writeJson(dir, 'arr.json', ['not', 'an', 'object']);
  const res = await r.cli(dir, ['profiles', 'upsert', 'p', '--request-json', arr, '--json']);
  t.equal(res.code, 2);
  t.equal(RuntimeHarness.errorOf(res).code, 'E_VALIDATION');
  const missing = await r.cli(dir, ['profiles', 'upsert', 'p', '--request-json', `${dir}/nope.json`, '--json']);
  t.equal(missing.code, 2, 'a missing file exits 2');
});

t.test('accepts a JARVIS-style arp.jarvis.exec profile as it is', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const file = r.writeJson(dir, 'jarvis.json', JARVIS_PROFILE);
  const up = await r.cli(dir, ['profiles', 'upsert', 'jarvis', '--request-json', file, '--json']);
  t.equal(up.code, 0, up.stderr);
  t.same(JSON.parse(up.stdout), { runtime_profile: 'jarvis', ...JARVIS_PROFILE });
  const got = await r.cliJson(dir, ['profiles', 'get', 'jarvis']);
  t.same(got, { runtime_profile: 'jarvis', ...JARVIS_PROFILE }, 'stored exactly as given');
  oracleCheck(t, 'RuntimeProfile', got, 'the JARVIS profile');
  const same = await r.cli(dir, ['profiles', 'upsert', 'jarvis', '--request-json', file]);
  t.equal(same.code, 0, 'upserting the same body again succeeds');
  const events = await r.events(dir, ['profile.upserted']);
  t.equal(events.filter((e) => e.data['runtime_profile'] === 'jarvis').length, 1, 'and records nothing new');
});

t.test('refuses to delete a profile a live instance uses (exit 5) unless --force', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.upsertProfile(dir, 'used', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: REFERENCE_COMMAND } } });
  const [inst] = await r.startInstances(dir, 'used', 1);
  t.equal(inst?.['state'], 'ready', JSON.stringify(inst));
  const id = String(inst?.['instance_id']);

  const del = await r.cli(dir, ['profiles', 'delete', 'used', '--json']);
  t.equal(del.code, 5, 'exit 5');
  const err = RuntimeHarness.errorOf(del);
  t.equal(err.code, 'E_CONFLICT');
  t.match(err.message, /live instance/);
  t.same(err.data?.['instances'], [id], 'the error names the live instance');
  const still = await r.cli(dir, ['profiles', 'get', 'used', '--json']);
  t.equal(still.code, 0, 'the profile is still there');

  const forced = await r.cli(dir, ['profiles', 'delete', 'used', '--force', '--json']);
  t.equal(forced.code, 0, forced.stderr);
  const gone = await r.cli(dir, ['profiles', 'get', 'used', '--json']);
  t.equal(gone.code, 4, 'the profile is gone');
  const after = await r.getInstance(dir, id);
  t.equal(after['state'], 'ready', 'the instance keeps running');
  t.ok(isRunning(instancePid(after)), 'its process is alive');
  const events = await r.events(dir, ['profile.deleted']);
  t.equal(events[0]?.data['forced'], true, 'the deletion is recorded as forced');

  // once the instance is stopped, a plain delete works
  await r.upsertProfile(dir, 'used', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: REFERENCE_COMMAND } } });
  const stopped = await r.cli(dir, ['instances', 'delete', id]);
  t.equal(stopped.code, 0, stopped.stderr);
  const plain = await r.cli(dir, ['profiles', 'delete', 'used']);
  t.equal(plain.code, 0, `a profile with only stopped instances deletes without --force: ${plain.stderr}`);
});

t.test('shows every profile as the oracle RuntimeProfile, and the list as RuntimeProfileListResponse', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const bodies: Record<string, Json> = {
    jarvis: JARVIS_PROFILE,
    flags: {},
    pip: { runtime_name: 'pip-rt', extensions: { 'arp.jarvis.exec': { driver: 'pip', pip_spec: 'arp-jarvis-runtime==0.3.1', entrypoint: 'arp-jarvis-runtime', entrypoint_args: ['serve', '--port', '{port}'] } } },
    npm: { metadata: { labels: { owner: 'me' } }, extensions: { 'arp.jarvis.exec': { driver: 'npm', npm_spec: '@scope/rt@1.2.3', entrypoint: 'rt', env: { A: 'b' } }, 'arpd.runtime': { max_concurrent_runs: 2, restart: 'on-failure' } } },
  };
  for (const [name, body] of Object.entries(bodies)) {
    if (name === 'flags') {
      const res = await r.cli(dir, ['profiles', 'upsert', name, '--runtime-name', 'from-flags', '--description', 'made with flags', '--', process.execPath, '--version']);
      t.equal(res.code, 0, `upsert ${name}: ${res.stderr}`);
      continue;
    }
    const res = await r.cli(dir, ['profiles', 'upsert', name, '--request-json', r.writeJson(dir, `${name}.json`, body)]);
    t.equal(res.code, 0, `upsert ${name}: ${res.stderr}`);
  }
  const list = await r.cliJson<{ profiles: Json[] }>(dir, ['profiles', 'list']);
  oracleCheck(t, 'RuntimeProfileListResponse', list, 'profiles list --json');
  t.same(list.profiles.map((p) => p['runtime_profile']), ['default', 'flags', 'jarvis', 'npm', 'pip']);
  for (const p of list.profiles) {
    const name = String(p['runtime_profile']);
    const got = await r.cliJson(dir, ['profiles', 'get', name]);
    oracleCheck(t, 'RuntimeProfile', got, `profiles get ${name} --json`);
    t.same(got, p, `get ${name} equals its list entry`);
  }
  const flags = await r.cliJson(dir, ['profiles', 'get', 'flags']);
  t.same(flags, {
    runtime_profile: 'flags', runtime_name: 'from-flags', description: 'made with flags',
    extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [process.execPath, '--version'] } },
  }, 'a profile made from flags and a command after --');
});
