/**
 * `arpd daemon stop` escalates when the daemon does not go: ask over the socket, then SIGTERM, then
 * SIGKILL. The fixture test/fixtures-helpers/deaf-daemon.ts is the real daemon with its shutdown wrapped
 * (from the outside: no switch in the product) so that it does not obey the request (`rpc`), or the
 * request and SIGTERM (`rpc+term`).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { daemonHarness, isRunning, waitFor } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);
const DEAF = fileURLToPath(new URL('../fixtures-helpers/deaf-daemon.ts', import.meta.url));

/** Starts the deaf daemon detached and waits until `daemon status` answers; returns its pid. */
async function startDeaf(dir: string, mode: 'rpc' | 'rpc+term'): Promise<{ pid: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', DEAF, dir, mode], { detached: true, stdio: 'ignore' });
  child.unref();
  const pid = child.pid as number;
  t.teardown(() => { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } });
  await waitFor('the deaf daemon to answer', async () => (await h.cli(dir, ['daemon', 'status', '--no-autostart'])).code === 0, 60_000, 100);
  return { pid };
}

// --timeout 1 keeps the wait after the ignored request at its floor (5 s) instead of 30 s.
const STOP = ['daemon', 'stop', '--timeout', '1'];

t.test('a daemon that ignores the shutdown request is stopped with SIGTERM, and stop says so', async (t) => {
  const dir = h.newDataDir();
  const { pid } = await startDeaf(dir, 'rpc');
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
  const { pid } = await startDeaf(dir, 'rpc+term');
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
