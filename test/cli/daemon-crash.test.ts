/**
 * A daemon killed with SIGKILL leaves its socket, pid file and lock behind; the CLI sees it as not
 * running and the next start cleans up and carries on from the full log.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, daemonProcessesFor, pidFilePid, waitFor, waitGone } from '../helpers/daemon-harness.js';

const PROFILE = '{"extensions":{"arp.jarvis.exec":{"driver":"command","command_template":["/bin/true"]}}}';

t.test('after kill -9, status says not running (exit 3) and start recovers with the whole log', async (t) => {
  const h = daemonHarness(t);
  const dir = h.newDataDir();
  const socket = join(dir, 'arpd.sock');
  await h.startDaemon(dir);
  writeFileSync(join(dir, 'p.json'), PROFILE);
  const up = await h.cli(dir, ['profiles', 'upsert', 'crash-me', '--request-json', join(dir, 'p.json')]);
  t.equal(up.code, 0, up.stderr);

  const status = await h.status(dir);
  const pid = status?.['pid'] as number;
  t.type(pid, 'number');
  const before = await h.events(dir);
  process.kill(pid, 'SIGKILL');
  await waitGone(pid);

  t.ok(existsSync(socket), 'the killed daemon left its socket file');
  t.equal(pidFilePid(dir), pid, 'and its pid file');
  const st = await h.cli(dir, ['daemon', 'status', '--json']);
  t.equal(st.code, 3, 'status exits 3');
  const body = JSON.parse(st.stdout) as Record<string, unknown>;
  t.equal(body['state'], 'not running');
  t.equal(body['stale_pid_file'], pid, 'status names the stale pid file');
  const human = await h.cli(dir, ['daemon', 'status']);
  t.equal(human.code, 3);
  t.match(human.stdout, /not running/);

  const started = await h.startDaemon(dir);
  t.not(started.pid, pid, 'a new daemon');
  t.equal(await waitFor('the new pid file', () => pidFilePid(dir) === started.pid), true, 'the stale pid file is replaced by the new daemon\'s');
  t.same(daemonProcessesFor(dir), [started.pid], 'one daemon runs');
  t.equal((await h.status(dir))?.['pid'], started.pid, 'it answers on the socket');

  const after = await h.events(dir);
  t.same(after.slice(0, before.length), before, 'the log keeps every event from before the crash');
  t.notOk(before.some((e) => e.type === 'daemon.stopped'), 'no daemon.stopped was recorded for the killed daemon');
  const starts = after.filter((e) => e.type === 'daemon.started');
  t.equal(starts.length, 2, 'a daemon.started is appended again');
  t.equal(starts[1]?.data['pid'], started.pid);
  t.ok(after.some((e) => e.type === 'profile.upserted' && e.data['runtime_profile'] === 'crash-me'), 'the profile is still there');
  const list = await h.cli(dir, ['profiles', 'list', '--json']);
  t.match(list.stdout, /crash-me/, 'and in the rebuilt state');

  const verify = await h.cli(dir, ['log', 'verify']);
  t.equal(verify.code, 0, `the log verifies: ${verify.stdout}`);
});

t.test('after kill -9, ten concurrent auto-starting commands recover with exactly one new daemon', async (t) => {
  const h = daemonHarness(t);
  const dir = h.newDataDir();
  const first = await h.startDaemon(dir);
  process.kill(first.pid, 'SIGKILL');
  await waitGone(first.pid);
  const results = await Promise.all(Array.from({ length: 10 }, () => h.cli(dir, ['profiles', 'list', '--json'])));
  results.forEach((r, i) => t.equal(r.code, 0, `command ${i + 1} succeeds: ${r.stderr}`));
  const starts = await h.events(dir, ['daemon.started']);
  t.equal(starts.length, 2, 'one daemon.started for the killed daemon, one for its single successor');
  const pid = (await h.status(dir))?.['pid'];
  t.equal(starts[1]?.data['pid'], pid);
  const live = await waitFor('the losing daemons to exit', () => {
    const pids = daemonProcessesFor(dir);
    return pids.length === 1 ? pids : undefined;
  });
  t.same(live, [pid], 'one live daemon process');
});
