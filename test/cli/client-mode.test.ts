/**
 * The CLI in client mode (`--daemon-url` + `--token`, or ARP_DAEMON_URL + ARPD_TOKEN): every command talks to a
 * REAL daemon over HTTP, on another data dir, never starts a daemon of its own, and prints and exits the same as
 * over the socket.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import t from 'tap';
import { ARPD, ROOT, startHttpDaemon, tempDir } from '../server/http-daemon.js';

interface Ran { code: number | null; stdout: string; stderr: string }

function cli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ARPD, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ARPD_HOME: '', ARP_DAEMON_URL: '', ARPD_TOKEN: '', NO_COLOR: '1', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    const killer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.once('error', reject);
    child.once('close', (code) => { clearTimeout(killer); resolve({ code, stdout, stderr }); });
  });
}

const daemon = await startHttpDaemon(t);
const local = tempDir(t, 'arpd-client-');
const remote = ['--data-dir', local, '--daemon-url', daemon.url, '--token', daemon.token];
/** The same command over the daemon's own socket (no auto-start), to compare with. */
const socket = ['--data-dir', daemon.dataDir, '--no-autostart'];

t.test('lists profiles over HTTP, printing what the socket prints', async (t) => {
  const r = await cli([...remote, 'profiles', 'list']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^PROFILE\s+RUNTIME\s+DRIVER/m);
  t.match(r.stdout, /^default\s+arpd-reference-runtime\s+command/m);
  const viaSocket = await cli([...socket, 'profiles', 'list']);
  t.equal(r.stdout, viaSocket.stdout, 'the same table as over the socket');
  const json = await cli([...remote, 'profiles', 'list', '--json']);
  t.same(JSON.parse(json.stdout), JSON.parse((await cli([...socket, 'profiles', 'list', '--json'])).stdout), 'the same JSON');
});

t.test('starts an instance and waits for it (instances start --wait)', async (t) => {
  const r = await cli([...remote, 'instances', 'start', '--profile', 'default', '--wait']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^inst_\S+\s+ready\s+default\s+managed\s+http:\/\/127\.0\.0\.1:\d+/m);
  const list = await cli([...remote, 'instances', 'list']);
  t.equal(list.code, 0);
  t.equal(list.stdout, (await cli([...socket, 'instances', 'list'])).stdout, 'instances list prints the same both ways');
});

let runId = '';

t.test('submits a run and waits for its result (runs submit --wait)', async (t) => {
  const r = await cli([...remote, 'runs', 'submit', '--goal', 'What is (19*23)?', '--wait']);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout.trim(), '(19*23) = 437');
  const m = /run (\S+) succeeded/.exec(r.stderr);
  t.ok(m, `stderr names the run: ${r.stderr}`);
  runId = m?.[1] ?? '';
});

t.test('follows a run live (runs submit --follow) and prints its trace lines', async (t) => {
  const r = await cli([...remote, 'runs', 'submit', '--goal', 'What is (6*7)?', '--follow']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^\s+1 \S+ info\s+accepted/m, 'the first trace line');
  t.match(r.stdout, /succeeded/);
  t.match(r.stdout, /\(6\*7\) = 42\n$/, 'then the result');
});

t.test('lists runs, shows one, its result and trace, as over the socket', async (t) => {
  const list = await cli([...remote, 'runs', 'list']);
  t.equal(list.code, 0, list.stderr);
  t.match(list.stdout, new RegExp(`^${runId}\\s+succeeded`, 'm'));
  t.equal(list.stdout, (await cli([...socket, 'runs', 'list'])).stdout, 'the same table');
  for (const args of [['runs', 'status', runId, '--json'], ['runs', 'result', runId], ['runs', 'trace', runId, '--json']]) {
    const a = await cli([...remote, ...args]);
    const b = await cli([...socket, ...args]);
    t.equal(a.code, 0, a.stderr);
    t.equal(a.stdout, b.stdout, `${args.join(' ')} prints the same`);
  }
});

t.test('exits 4 for an unknown run, as over the socket', async (t) => {
  const r = await cli([...remote, 'runs', 'status', 'run_nope']);
  t.equal(r.code, 4);
  t.match(r.stderr, /no run 'run_nope'.*\[E_NOT_FOUND\]/);
  t.equal((await cli([...socket, 'runs', 'status', 'run_nope'])).code, 4, 'the same code over the socket');
  const json = await cli([...remote, 'runs', 'result', 'run_nope', '--json']);
  t.equal(json.code, 4);
  t.match(JSON.parse(json.stdout), { error: { code: 'E_NOT_FOUND', data: { arp_code: 'runs.not_found', run_id: 'run_nope' } } }, 'the error comes back as the same ArpdError');
});

t.test('takes the URL and token from ARP_DAEMON_URL and ARPD_TOKEN', async (t) => {
  const r = await cli(['--data-dir', local, 'runs', 'list', '--json'], { ARP_DAEMON_URL: daemon.url, ARPD_TOKEN: daemon.token });
  t.equal(r.code, 0, r.stderr);
  t.ok((JSON.parse(r.stdout) as { runs: Array<{ run_id: string }> }).runs.some((x) => x.run_id === runId));
});

t.test('reads the token from the data dir when none is given', async (t) => {
  const r = await cli(['--data-dir', daemon.dataDir, '--daemon-url', daemon.url, 'profiles', 'list']);
  t.equal(r.code, 0, r.stderr);
});

t.test('refuses a wrong token (exit 1, E_UNAUTHORIZED) and reports a daemon that is not there (exit 3)', async (t) => {
  const wrong = await cli(['--data-dir', local, '--daemon-url', daemon.url, '--token', 'wrong-token', 'runs', 'list']);
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /bearer token is wrong.*\[E_UNAUTHORIZED\]/);
  const gone = await cli(['--data-dir', local, '--daemon-url', 'http://127.0.0.1:9', 'runs', 'list']);
  t.equal(gone.code, 3);
  t.match(gone.stderr, /no arpd daemon answers at http:\/\/127\.0\.0\.1:9.*\[E_DAEMON_NOT_RUNNING\]/);
  const bad = await cli(['--data-dir', local, '--daemon-url', 'ftp://x', 'runs', 'list']);
  t.equal(bad.code, 2, 'a URL that is not http(s) is a usage error');
});

t.test('never starts a daemon of its own in client mode', async (t) => {
  const left = existsSync(local) ? readdirSync(local) : [];
  t.same(left, [], `the local data dir is untouched (${left.join(', ')})`);
});
