/**
 * Many starters, one daemon per data dir: the lock decides, losers give way, and daemons of different
 * data dirs never see each other.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, daemonProcessesFor, waitFor } from '../helpers/daemon-harness.js';

const PROFILE = '{"extensions":{"arp.jarvis.exec":{"driver":"command","command_template":["/bin/true"]}}}';

const h = daemonHarness(t);
const dir = h.newDataDir();
let pid = 0;

t.test('ten concurrent auto-starting commands on a fresh data dir all succeed with exactly one daemon', async (t) => {
  const results = await Promise.all(Array.from({ length: 10 }, () => h.cli(dir, ['profiles', 'list', '--json'])));
  results.forEach((r, i) => {
    t.equal(r.code, 0, `command ${i + 1} succeeds: ${r.stderr}`);
    t.match(r.stdout, /"default"/, `command ${i + 1} lists the default profile`);
  });
  const started = await h.events(dir, ['daemon.started']);
  t.equal(started.length, 1, 'one daemon.started in the log');
  const status = await h.status(dir);
  pid = status?.['pid'] as number;
  t.equal(started[0]?.data['pid'], pid, 'recorded by the daemon that answers');
  // The losers' daemons may still be booting when their starters return; they exit on the lock.
  const live = await waitFor('the losing daemons to exit', () => {
    const pids = daemonProcessesFor(dir);
    return pids.length === 1 ? pids : undefined;
  });
  t.same(live, [pid], 'one live daemon process');
  t.equal((await h.events(dir, ['daemon.started'])).length, 1, 'and still one daemon.started');
});

t.test('a second arpd serve on the same data dir exits with the lock message', async (t) => {
  const r = await h.cli(dir, ['serve', '--no-http']);
  t.not(r.code, 0);
  t.notOk(r.timedOut);
  t.match(r.stderr, new RegExp(`already locked by pid ${pid}\\b`));
  t.equal((await h.status(dir))?.['pid'], pid, 'the first daemon still serves');
  t.same(daemonProcessesFor(dir), [pid]);
});

t.test('daemons of two data dirs run side by side and each sees only its own state', async (t) => {
  const other = h.newDataDir();
  const b = await h.startDaemon(other);
  t.not(b.pid, pid);
  writeFileSync(join(dir, 'p.json'), PROFILE);
  writeFileSync(join(other, 'p.json'), PROFILE);
  const upA = await h.cli(dir, ['profiles', 'upsert', 'only-in-a', '--request-json', join(dir, 'p.json')]);
  const upB = await h.cli(other, ['profiles', 'upsert', 'only-in-b', '--request-json', join(other, 'p.json')]);
  t.equal(upA.code, 0, upA.stderr);
  t.equal(upB.code, 0, upB.stderr);
  const names = async (d: string): Promise<string[]> => {
    const r = await h.cli(d, ['profiles', 'list', '--json']);
    t.equal(r.code, 0, r.stderr);
    const parsed = JSON.parse(r.stdout) as unknown;
    const items = (Array.isArray(parsed) ? parsed : (parsed as { profiles?: unknown[] }).profiles ?? []) as { runtime_profile: string }[];
    return items.map((p) => p.runtime_profile).sort();
  };
  t.same(await names(dir), ['default', 'only-in-a']);
  t.same(await names(other), ['default', 'only-in-b']);
  const sa = await h.status(dir);
  const sb = await h.status(other);
  t.equal(sa?.['pid'], pid);
  t.equal(sb?.['pid'], b.pid);
  t.equal(sa?.['data_dir'], dir);
  t.equal(sb?.['data_dir'], other);
  t.notMatch(JSON.stringify(await h.events(other)), /only-in-a/, "b's log has nothing of a");
});

t.test('with auto-start off and no daemon, a command exits 3 and names arpd daemon start', async (t) => {
  const idle = h.newDataDir();
  const flag = await h.cli(idle, ['profiles', 'list', '--no-autostart']);
  t.equal(flag.code, 3, flag.stderr);
  t.match(flag.stderr, /arpd daemon start/);
  const env = await h.cli(idle, ['profiles', 'list'], { env: { ARPD_NO_AUTOSTART: '1' } });
  t.equal(env.code, 3, env.stderr);
  t.match(env.stderr, /arpd daemon start/);
  t.equal((await h.cli(idle, ['daemon', 'status'])).code, 3, 'no daemon was started');
  t.notOk(existsSync(join(idle, 'arpd.pid')));
  t.same(daemonProcessesFor(idle), []);
});
