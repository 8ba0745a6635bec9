/**
 * `arpd daemon start|status|stop|restart|purge|logs|exec` against a real daemon: one data dir, the
 * steps in order (each leaves the daemon the way the next one expects it).
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, daemonProcessesFor, isRunning, pidFilePid, REPO_ROOT, waitFor } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);
const dir = h.newDataDir();
const socket = join(dir, 'arpd.sock');
const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

let pid = 0;

t.test('daemon start prints pid, data dir and socket, and returns only once the daemon answers', async (t) => {
  const r = await h.cli(dir, ['daemon', 'start', '--no-http']);
  t.equal(r.code, 0, r.stderr);
  const m = /^pid\s+(\d+)$/m.exec(r.stdout);
  t.ok(m, `prints the pid: ${r.stdout}`);
  pid = Number(m?.[1]);
  h.trackPid(pid);
  t.match(r.stdout, new RegExp(`^data dir\\s+${dir}$`, 'm'));
  t.match(r.stdout, new RegExp(`^socket\\s+${socket}$`, 'm'));
  const status = await h.status(dir);
  t.equal(status?.['pid'], pid, 'daemon status answers right after start, with the same pid');
  // That the pid file is already there when start returns is test/daemon/boot-readiness.test.ts's business.
  t.equal(await waitFor('the pid file', () => pidFilePid(dir)), pid, 'the pid file names it');
});

t.test('daemon start again says it is already running and exits 0', async (t) => {
  const r = await h.cli(dir, ['daemon', 'start', '--no-http']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /already running/);
  t.match(r.stdout, new RegExp(`^pid\\s+${pid}$`, 'm'));
  t.same(daemonProcessesFor(dir), [pid], 'still one daemon');
});

t.test('daemon status --json exits 0 with the documented fields', async (t) => {
  const r = await h.cli(dir, ['daemon', 'status', '--json']);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  t.equal(s['pid'], pid);
  t.equal(s['version'], version);
  t.equal(s['data_dir'], dir);
  t.equal(s['socket'], socket);
  const counts = s['counts'] as { profiles: unknown; instances: unknown; runs: unknown };
  t.type(counts.profiles, 'number');
  t.ok((counts.profiles as number) >= 1, 'the default profile is counted');
  t.type(counts.instances, 'object');
  t.type(counts.runs, 'object');
  t.type(s['last_seq'], 'number');
  t.ok((s['last_seq'] as number) >= 2, 'daemon.started and the default profile are in the log');
  t.equal(s['log_bytes'], statSync(join(dir, 'events.jsonl')).size, 'log_bytes is the size of the log');
});

t.test('daemon exec daemon.status prints the result as JSON', async (t) => {
  const r = await h.cli(dir, ['daemon', 'exec', 'daemon.status']);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  t.equal(s['pid'], pid);
  t.equal(s['data_dir'], dir);
});

t.test('daemon exec of an unknown method exits non-zero with E_METHOD_NOT_FOUND on stderr', async (t) => {
  const r = await h.cli(dir, ['daemon', 'exec', 'nope.method']);
  t.not(r.code, 0);
  t.match(r.stderr, /E_METHOD_NOT_FOUND/);
  t.match(r.stderr, /nope\.method/);
  t.equal(r.stdout, '', 'nothing on stdout');
});

t.test('daemon restart gives a new pid and the old process is gone', async (t) => {
  const r = await h.cli(dir, ['daemon', 'restart', '--no-http', '--json']);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout) as Record<string, unknown>;
  const next = s['pid'] as number;
  h.trackPid(next);
  t.type(next, 'number');
  t.not(next, pid, 'a new pid');
  t.notOk(isRunning(pid), 'the old daemon has exited');
  t.equal((await h.status(dir))?.['pid'], next);
  pid = next;
});

t.test('daemon logs -n 5 prints the last five lines of the daemon log, each JSON', async (t) => {
  const r = await h.cli(dir, ['daemon', 'logs', '-n', '5']);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  t.equal(lines.length, 5, 'the log has more than five lines after a restart; five are printed');
  for (const l of lines) {
    const parsed = JSON.parse(l) as Record<string, unknown>;
    t.type(parsed['msg'], 'string');
  }
  const all = readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8').split('\n').filter((l) => l !== '');
  t.same(lines, all.slice(-5), 'they are the last five');
});

t.test('daemon logs -n 0 prints nothing and -n with a non-number is a usage error', async (t) => {
  const bug = {};
  const zero = await h.cli(dir, ['daemon', 'logs', '-n', '0']);
  t.equal(zero.code, 0, zero.stderr);
  t.equal(zero.stdout, '', 'no lines', bug);
  const nan = await h.cli(dir, ['daemon', 'logs', '-n', 'many']);
  t.equal(nan.code, 2, 'exit 2 (usage)', bug);
  t.match(nan.stderr, /-n|--lines/, 'the message names the option', bug);
});

t.test('daemon stop ends the process, removes pid file and socket, and status then exits 3', async (t) => {
  const r = await h.cli(dir, ['daemon', 'stop']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, new RegExp(`stopped \\(pid ${pid}\\)`));
  t.notOk(isRunning(pid), 'the process is gone');
  t.notOk(existsSync(join(dir, 'arpd.pid')), 'pid file removed');
  t.notOk(existsSync(socket), 'socket removed');
  const st = await h.cli(dir, ['daemon', 'status']);
  t.equal(st.code, 3);
  t.match(st.stdout, /not running/);
  const again = await h.cli(dir, ['daemon', 'stop']);
  t.equal(again.code, 0, 'stopping a stopped daemon is fine');
  t.match(again.stdout, /not running/);
});

t.test('daemon purge without --force lists what it would delete, exits non-zero and deletes nothing', async (t) => {
  const started = await h.startDaemon(dir);
  pid = started.pid;
  const before = readdirSync(dir).sort();
  const r = await h.cli(dir, ['daemon', 'purge']);
  t.not(r.code, 0);
  for (const name of before) t.match(r.stdout, join(dir, name), `lists ${name}`);
  t.match(r.stderr, /--force/, 'says how to do it');
  t.same(readdirSync(dir).sort(), before, 'nothing deleted');
  t.ok(isRunning(pid), 'the daemon still runs');
  t.equal((await h.status(dir))?.['pid'], pid);
});

t.test('daemon purge --force stops the daemon and deletes everything in the data dir', async (t) => {
  const r = await h.cli(dir, ['daemon', 'purge', '--force']);
  t.equal(r.code, 0, r.stderr);
  t.notOk(isRunning(pid), 'the daemon is stopped');
  t.same(readdirSync(dir), [], 'the data dir is empty');
  t.equal((await h.cli(dir, ['daemon', 'status'])).code, 3);
});
