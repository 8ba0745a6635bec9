/**
 * Runtimes that cannot start: a command that does not exist, one that exits at once, one that never
 * becomes healthy. Each ends in `error` with a reason a person can act on, and leaves no process.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { oracleCheckWithout, groupGone, instanceDetails, REFERENCE_COMMAND, runtimeHarness, type Json } from '../helpers/runtime-harness.js';

function commandProfile(argv: string[]): Json {
  return { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: argv } } };
}

t.test('records a command that does not exist as error naming ENOENT', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.upsertProfile(dir, 'missing', commandProfile(['/nonexistent/arpd-no-such-runtime', 'serve', '--port', '{port}']));
  const res = await r.cli(dir, ['instances', 'start', '--profile', 'missing', '--wait', '--json']);
  t.equal(res.code, 1, 'start --wait exits 1 when an instance did not become ready');
  const inst = (JSON.parse(res.stdout) as { instances: Json[] }).instances[0] as Json;
  t.equal(inst['state'], 'error');
  const d = instanceDetails(inst);
  t.match(String(d['reason']), /could not start '\/nonexistent\/arpd-no-such-runtime': ENOENT/, `reason: ${String(d['reason'])}`);
  t.match(String(d['reason']), /check the profile's command/, 'and says what to do');
  oracleCheckWithout(t, 'RuntimeInstance', inst, ['runtime_api_endpoint'], 'the failed instance (it never listened)');
  const human = await r.cli(dir, ['instances', 'start', '--profile', 'missing', '--wait']);
  t.equal(human.code, 1);
  t.match(human.stdout, /error\s+missing\s+managed\s+-\s+could not start/, 'the table shows the reason');
});

t.test('records a runtime that exits at once as error with its exit code and stderr tail', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const script = "process.stderr.write('loading config\\nfatal: no such config file /etc/rt.toml\\n'); process.exit(3)";
  await r.upsertProfile(dir, 'quits', commandProfile([process.execPath, '-e', script, '--', '--port', '{port}']));
  const res = await r.cli(dir, ['instances', 'start', '--profile', 'quits', '--wait', '--json']);
  t.equal(res.code, 1);
  const inst = (JSON.parse(res.stdout) as { instances: Json[] }).instances[0] as Json;
  t.equal(inst['state'], 'error');
  const d = instanceDetails(inst);
  t.match(String(d['reason']), /exited with code 3/, `reason: ${String(d['reason'])}`);
  const err = d['error'] as { code?: string; details?: Json };
  t.equal(err.code, 'E_RUNTIME_LOST');
  t.equal(err.details?.['exit_code'], 3);
  t.match(String(err.details?.['stderr_tail']), /fatal: no such config file \/etc\/rt\.toml/, 'the stderr tail is kept');
  const pid = d['pid'];
  t.type(pid, 'number');
  t.ok(groupGone(pid as number), 'no process is left');
  const failed = await r.events(dir, ['instance.failed']);
  t.match(String(failed[0]?.data['stderr_tail']), /no such config file/, 'and recorded in the log');
});

t.test('records a runtime that never becomes healthy as error after --health-timeout, and stops it', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--health-timeout', '5000']); // generous: node must start and write to stderr first, even on a loaded machine
  // prints no listening line and has no {port}: arpd cannot know where it would listen
  await r.upsertProfile(dir, 'silent', commandProfile([process.execPath, '-e', "process.stderr.write('warming up\\n'); setInterval(() => {}, 1000)"]));
  // takes a {port} but never listens on it
  await r.upsertProfile(dir, 'deaf', commandProfile([process.execPath, '-e', 'setInterval(() => {}, 1000)', '--', '--port', '{port}']));
  for (const [name, why] of [['silent', /never printed a listening line/], ['deaf', /GET http:\/\/127\.0\.0\.1:\d+\/v1\/health never answered/]] as const) {
    const res = await r.cli(dir, ['instances', 'start', '--profile', name, '--wait', '--json']);
    t.equal(res.code, 1, `${name}: exit 1`);
    const inst = (JSON.parse(res.stdout) as { instances: Json[] }).instances[0] as Json;
    t.equal(inst['state'], 'error', `${name}: error`);
    const d = instanceDetails(inst);
    t.match(String(d['reason']), /did not become healthy within/, `${name}: ${String(d['reason'])}`);
    t.match(String(d['reason']), why, `${name}: the reason says why`);
    t.equal((d['error'] as Json | undefined)?.['code'], 'E_TIMEOUT');
    const pid = d['pid'] as number;
    await r.waitInstance(dir, String(inst['instance_id']), 'to have no process', () => groupGone(pid), 10_000);
    t.ok(groupGone(pid), `${name}: its process group was stopped`);
  }
  const silent = (await r.events(dir, ['instance.failed']))[0];
  t.match(String(silent?.data['stderr_tail']), /warming up/, 'the stderr tail of the silent one is kept');
});

t.test('refuses an argument or env entry longer than a process can be given, and bad defaults or overrides, before any instance exists', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const huge = 'y'.repeat(200_000); // over Linux's 128 KiB for one argument: spawn would fail with E2BIG
  const refusals: Array<[string, Json, RegExp]> = [
    ['arg', commandProfile([...REFERENCE_COMMAND, '--name', huge]), /command_template\[7\] is 200000 bytes: one argument may have at most 131071 bytes.*shorten it/],
    ['env', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [...REFERENCE_COMMAND], env: { BIG: huge } } } }, /env\.BIG is 200004 bytes: one environment variable \(NAME=value\) may have at most 131071/],
    ['defaults-arg', { ...commandProfile([...REFERENCE_COMMAND]), defaults: { args: [huge] } }, /^defaults\.args\[0\] is 200000 bytes/],
    ['defaults-nul', { ...commandProfile([...REFERENCE_COMMAND]), defaults: { env: { A: 'x\u0000y' } } }, /^defaults\.env\.A contains a NUL character: remove it/],
    ['defaults-name', { ...commandProfile([...REFERENCE_COMMAND]), defaults: { env: { 'A=B': 'x' } } }, /^defaults\.env\.A=B: "A=B" is not an allowed environment variable name/],
  ];
  for (const [name, body, why] of refusals) {
    const err = await r.callError(dir, 'profiles.upsert', { runtime_profile: name, request: body });
    t.equal(err.code, 'E_VALIDATION', `${name}: ${err.message.slice(0, 200)}`);
    t.match(err.message, why, `${name}: the message names the field and what to do`);
  }
  await r.upsertProfile(dir, 'ok', commandProfile([...REFERENCE_COMMAND]));
  for (const [what, overrides, why] of [
    ['a huge arg', { args: [huge] }, /^overrides\.args\[0\] is 200000 bytes/],
    ['an env name with a dot', { env: { 'A.B': 'x' } }, /^overrides\.env\.A\.B: "A\.B" is not an allowed environment variable name/],
  ] as const) {
    const err = await r.callError(dir, 'instances.create', { request: { runtime_profile: 'ok', overrides } });
    t.equal(err.code, 'E_VALIDATION', `${what}: ${err.message.slice(0, 200)}`);
    t.match(err.message, why, `${what}: the message names the field`);
  }
  t.same(await r.events(dir, ['instance.requested']), [], 'no instance was created to fail later');
});

/** What Linux takes for one exec's arguments and environment: a quarter of the stack limit, at most 6 MiB, at least 128 KiB. */
function execLimitBytes(): number {
  const stack = execFileSync('/bin/sh', ['-c', 'ulimit -s'], { encoding: 'utf8' }).trim();
  const quarter = stack === 'unlimited' ? Infinity : (Number(stack) * 1024) / 4;
  return Math.max(128 * 1024, Math.min(6 * 1024 * 1024, quarter));
}

t.test('arguments and environment together over 1 MiB are refused when an instance is created, and a start the kernel still refuses (E2BIG) is reported and logged', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  const chunk = 'z'.repeat(100_000); // each one well within the 128 KiB of one entry
  const vars = (prefix: string, n: number): Record<string, string> => Object.fromEntries(Array.from({ length: n }, (_, i) => [`${prefix}${i}`, chunk]));
  // the daemon's own environment leaves less than the 900 kB the profile adds: together they are over what exec takes
  const daemonEnv = vars('ARPD_TEST_BIG_', Math.floor((execLimitBytes() - 800_000) / 100_020));
  await r.h.startDaemon(dir, [], { env: daemonEnv });

  await r.upsertProfile(dir, 'fat', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [...REFERENCE_COMMAND], env: vars('F', 9) } } });
  // (a profile alone cannot be much over 1 MiB: the log takes no longer line; with an instance's overrides it can)
  const over = await r.callError(dir, 'instances.create', { request: { runtime_profile: 'fat', overrides: { args: [chunk, chunk] } } });
  t.equal(over.code, 'E_VALIDATION', over.message);
  t.match(over.message, /^an instance of profile 'fat' gives its runtime 11\d{5} bytes of arguments and environment .*overrides 200\d{3}\): at most 1048576 bytes \(1 MiB\).*put the data in a file and pass its path/);
  t.same(await r.events(dir, ['instance.requested']), [], 'no instance was created to fail later');

  const res = await r.cli(dir, ['instances', 'start', '--profile', 'fat', '--wait', '--json']);
  t.equal(res.code, 1, res.stderr);
  const inst = (JSON.parse(res.stdout) as { instances: Json[] }).instances[0] as Json;
  const d = instanceDetails(inst);
  t.equal(inst['state'], 'error');
  t.equal((d['error'] as Json | undefined)?.['code'], 'E_RUNTIME_LOST', 'a known cause, not E_INTERNAL');
  t.match(String(d['reason']), /^could not start '.+': E2BIG: its arguments and environment \(\d+ bytes, \d+ of them environment, the daemon's own included\) are more than the operating system accepts.*put large data in a file/, String(d['reason']));
  const id = String(inst['instance_id']);
  const log = readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8').split('\n').filter((l) => l.includes(id) && l.includes('E2BIG'));
  t.equal(log.length, 1, 'the daemon log says which instance could not start and why');
  t.match(JSON.parse(log[0] ?? '{}'), { instance_id: id, code: 'E_RUNTIME_LOST', errno: 'E2BIG', msg: /could not start the instance: could not start/ });
});

t.test('an instance that never had a process is reported without pointing to logs it never wrote', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.upsertProfile(dir, 'nopkg', { extensions: { 'arp.jarvis.exec': { driver: 'npm', npm_spec: '/nonexistent/arpd-no-such-package', entrypoint: 'x' } } });
  const res = await r.cli(dir, ['instances', 'start', '--profile', 'nopkg', '--wait']);
  t.equal(res.code, 1);
  t.match(res.stderr, /does not exist: fix the path in the profile.*\[E_INSTALL_FAILED\]/, res.stderr);
  t.notMatch(res.stderr, /instances logs/, 'no hint to `instances logs`, which has nothing for it');
  const id = /inst_[a-z0-9]+/.exec(res.stdout)?.[0] ?? '';
  const logs = await r.cli(dir, ['instances', 'logs', id]);
  t.equal(logs.code, 4, 'indeed: `instances logs` finds nothing');
  // one that had a process still gets the hint
  await r.upsertProfile(dir, 'quits', commandProfile([process.execPath, '-e', 'process.exit(3)', '--', '--port', '{port}']));
  const quits = await r.cli(dir, ['instances', 'start', '--profile', 'quits', '--wait']);
  t.match(quits.stderr, /see 'arpd instances logs inst_[a-z0-9]+'/, quits.stderr);
});
