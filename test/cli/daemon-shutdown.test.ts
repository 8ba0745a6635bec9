/**
 * How a daemon ends by itself or on a signal: idle timeout, SIGTERM, SIGINT. Each records
 * `daemon.stopped` as the last event of the log and leaves no pid file or socket behind.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { daemonHarness, waitGone } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);

function leftNothing(t: Test, dir: string): void {
  t.notOk(existsSync(join(dir, 'arpd.pid')), 'pid file removed');
  t.notOk(existsSync(join(dir, 'arpd.sock')), 'socket removed');
  t.notOk(existsSync(join(dir, 'arpd.lock')), 'lock released');
}

t.test('with --idle-timeout 1 the daemon exits by itself once no client is connected', async (t) => {
  const dir = h.newDataDir();
  const { pid, status } = await h.startDaemon(dir, ['--idle-timeout', '1']);
  t.equal(status['idle_timeout_s'], 1);
  await waitGone(pid, 60_000);
  const events = await h.events(dir);
  const last = events.at(-1);
  t.equal(last?.type, 'daemon.stopped', 'daemon.stopped is the last event');
  t.equal(last?.data['pid'], pid);
  t.match(String(last?.data['reason']), /idle/, 'with an idle reason');
  leftNothing(t, dir);
  t.equal((await h.cli(dir, ['daemon', 'status'])).code, 3);
});

t.test('SIGTERM stops the daemon gracefully: daemon.stopped is the last event', async (t) => {
  const dir = h.newDataDir();
  const { pid } = await h.startDaemon(dir);
  process.kill(pid, 'SIGTERM');
  await waitGone(pid);
  const last = (await h.events(dir)).at(-1);
  t.equal(last?.type, 'daemon.stopped');
  t.equal(last?.data['pid'], pid);
  t.equal(last?.data['reason'], 'SIGTERM');
  leftNothing(t, dir);
});

t.test('SIGINT stops a foreground arpd serve gracefully: exit 0 and daemon.stopped last', async (t) => {
  const dir = h.newDataDir();
  const serve = h.spawnCli(dir, ['serve', '--no-http']);
  await serve.waitForOutput('arpd ready', (_out, err) => /arpd ready: pid \d+/.test(err));
  t.match(serve.stderr(), new RegExp(`arpd ready: pid ${serve.pid}, data dir ${dir}, socket ${join(dir, 'arpd.sock')}`));
  t.equal((await h.status(dir))?.['pid'], serve.pid, 'it answers on the socket');
  serve.kill('SIGINT');
  const r = await serve.exited;
  t.equal(r.code, 0, r.stderr);
  const last = (await h.events(dir)).at(-1);
  t.equal(last?.type, 'daemon.stopped');
  t.equal(last?.data['pid'], serve.pid);
  t.equal(last?.data['reason'], 'SIGINT');
  leftNothing(t, dir);
});
