/**
 * `arpd daemon stop` escalates when the daemon does not go: ask over the socket, then SIGTERM, then
 * SIGKILL. The test switch ARPD_TEST_IGNORE_SHUTDOWN makes a daemon deaf to the request (`rpc`) or to
 * the request and SIGTERM (`rpc+term`).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, isRunning } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);

// --timeout 1 keeps the wait after the ignored request at its floor (5 s) instead of 30 s.
const STOP = ['daemon', 'stop', '--timeout', '1'];

t.test('a daemon that ignores the shutdown request is stopped with SIGTERM, and stop says so', async (t) => {
  const dir = h.newDataDir();
  const { pid } = await h.startDaemon(dir, [], { env: { ARPD_TEST_IGNORE_SHUTDOWN: 'rpc' } });
  const r = await h.cli(dir, STOP);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`stopped \\(pid ${pid}, after SIGTERM\\)`));
  t.notOk(isRunning(pid), 'the process is gone');
  t.notOk(existsSync(join(dir, 'arpd.pid')), 'pid file removed');
  t.notOk(existsSync(join(dir, 'arpd.sock')), 'socket removed');
  const events = await h.events(dir);
  t.equal(events.at(-1)?.type, 'daemon.stopped', 'SIGTERM still shuts down gracefully');
  t.equal(events.at(-1)?.data['reason'], 'SIGTERM');
  t.equal((await h.cli(dir, ['daemon', 'status'])).code, 3);
});

t.test('a daemon that ignores the request and SIGTERM is stopped with SIGKILL, and stop says so', async (t) => {
  const dir = h.newDataDir();
  const { pid } = await h.startDaemon(dir, [], { env: { ARPD_TEST_IGNORE_SHUTDOWN: 'rpc+term' } });
  const r = await h.cli(dir, [...STOP, '--json']);
  t.equal(r.code, 0, r.stderr);
  t.same(JSON.parse(r.stdout), { wasRunning: true, how: 'SIGKILL', pid });
  t.notOk(isRunning(pid), 'the process is gone');
  t.notOk(existsSync(join(dir, 'arpd.pid')), 'pid file removed');
  t.notOk(existsSync(join(dir, 'arpd.sock')), 'socket removed');
  t.equal((await h.cli(dir, ['daemon', 'status'])).code, 3);
  const started = await h.startDaemon(dir);
  t.not(started.pid, pid, 'the next start takes over the lock the killed daemon left');
});
