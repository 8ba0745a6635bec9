/**
 * `--max-connections`: a flood of client connections (anyone on the host can open TCP connections to the HTTP port)
 * costs the daemon at most the cap of descriptors per listener, so it keeps serving its socket and running runs;
 * a refused socket client is told why. A REAL daemon process (dist/), real sockets, the real CLI.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { DEFAULT_MAX_CONNECTIONS, descriptorWarning, openFileLimit, refusalReporter } from '../../src/server/connection-limit.js';
import { ARPD, ROOT, eventually, request, startHttpDaemon } from './http-daemon.js';

const run = promisify(execFile);

/** The CLI against a data dir: exit code and output (never throws on a non-zero exit). */
async function cli(dataDir: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [ARPD, '--data-dir', dataDir, '--no-autostart', ...args], { cwd: ROOT, timeout: 60_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: unknown; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Opens `n` connections and keeps them open (closed at teardown). */
async function hold(t: { teardown(fn: () => void): void }, n: number, to: { path: string } | { port: number }): Promise<Socket[]> {
  const socks: Socket[] = [];
  t.teardown(() => { for (const s of socks) s.destroy(); });
  for (let i = 0; i < n; i++) {
    await new Promise<void>((resolve) => {
      const s = 'path' in to ? connect(to.path) : connect(to.port, '127.0.0.1');
      s.on('error', () => undefined);
      s.once('connect', () => { socks.push(s); resolve(); });
      s.once('close', () => resolve());
    });
  }
  return socks;
}

/** Waits until `check` holds (tap's test timeout is the guard). */
const until = (what: string, check: () => boolean | Promise<boolean>): Promise<true> => eventually(what, async () => ((await check()) ? true : undefined));

const descriptors = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

t.test('the open-file limit is read from /proc/self/limits, and a limit too low for full listeners gets a warning', async (t) => {
  const text = 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n';
  t.equal(openFileLimit(text), 1024, 'the soft limit');
  t.equal(openFileLimit('Max open files            unlimited            unlimited            files\n'), undefined, 'unlimited: no figure');
  t.equal(openFileLimit('nothing here'), undefined);
  t.type(openFileLimit(), 'number', "this process's own limit is read");
  t.equal(descriptorWarning(1_048_576, DEFAULT_MAX_CONNECTIONS, 2), undefined, 'a large limit: no warning');
  t.match(descriptorWarning(1024, DEFAULT_MAX_CONNECTIONS, 2) ?? '', /open-file limit \(1024\).*ulimit -n.*--max-connections/, 'a small one names the limit, ulimit and the flag');
  t.equal(descriptorWarning(undefined, 10, 2), undefined, 'an unknown limit: no warning');
});

t.test('refusals are reported at once, then at most once a minute with the count since the last report', async (t) => {
  let now = 0;
  const reports: number[] = [];
  const refused = refusalReporter((n) => reports.push(n), () => now);
  refused();
  now = 1000; refused(); refused();
  t.same(reports, [1], 'the first at once, the next two held back');
  now = 61_000; refused();
  t.same(reports, [1, 3], 'a minute later: the three since the last report');
});

t.test('a socket client past --max-connections is told why, names the flag, and gets in once a connection closes', async (t) => {
  const d = await startHttpDaemon(t, ['--max-connections', '3']);
  const socketPath = join(d.dataDir, 'arpd.sock');
  const held = await hold(t, 3, { path: socketPath });
  t.equal(held.length, 3, 'three connections fill the socket');
  const refused = await cli(d.dataDir, ['runs', 'list', '--json']);
  t.not(refused.code, 0, 'the fourth client fails');
  t.match(refused.stderr, /E_UNAVAILABLE/, 'with E_UNAVAILABLE');
  t.match(refused.stderr, /3 connections open on its socket.*--max-connections/, 'saying the socket is full and naming the flag');
  t.notMatch(refused.stderr, /may have stopped/, 'not that the daemon may have stopped');
  held[0]?.destroy();
  await until('a freed slot lets a client in', async () => (await cli(d.dataDir, ['runs', 'list', '--json'])).code === 0);
  await until('the refusal is in the daemon log', () => /refused 1 socket connection\(s\): 3 are open, the limit \(--max-connections\)/.test(d.output()));
});

t.test('a flood of HTTP connections holds at most the cap of descriptors, and the socket and runs go on', async (t) => {
  const cap = 4;
  const d = await startHttpDaemon(t, ['--max-connections', String(cap)]);
  const port = Number(new URL(d.url).port);
  const pid = Number((await cli(d.dataDir, ['daemon', 'status', '--json'])).stdout.match(/"pid":\s*(\d+)/)?.[1]);
  t.ok(pid > 0, 'the daemon pid');
  const before = descriptors(pid);
  const flood = 80;
  await hold(t, flood, { port });
  await until('the daemon refused the connections past the cap', () => /refused \d+ HTTP connection\(s\)/.test(d.output()));
  await new Promise((r) => setTimeout(r, 200));
  const during = descriptors(pid);
  t.ok(during - before <= cap + 4, `the flood of ${flood} holds ${during - before} more descriptors (cap ${cap}, a few of the daemon's own besides)`);
  const status = await cli(d.dataDir, ['daemon', 'status', '--json']);
  t.equal(status.code, 0, `the socket still serves during the flood: ${status.stderr}`);
  const submitted = await cli(d.dataDir, ['runs', 'submit', '--goal', 'What is (19*23)?', '--wait', '--timeout', '60']);
  t.equal(submitted.code, 0, `a run still starts a runtime and ends during the flood: ${submitted.stderr}`);
  t.match(submitted.stdout, /437/, 'with its answer');
});

t.test('refused connections are counted in the metrics by transport', async (t) => {
  const d = await startHttpDaemon(t, ['--max-connections', '2']);
  const port = Number(new URL(d.url).port);
  const held = await hold(t, 6, { port });
  await until('refusals logged', () => /refused \d+ HTTP connection\(s\)/.test(d.output()));
  for (const s of held) s.destroy();
  const socketHeld = await hold(t, 3, { path: join(d.dataDir, 'arpd.sock') });
  await until('the socket refusal logged', () => /refused 1 socket connection/.test(d.output()));
  for (const s of socketHeld) s.destroy();
  const m = await eventually('a scrape gets in once the flood is gone', async () => {
    const a = await request(d.url, 'GET', '/metrics', { token: d.token }).catch(() => undefined);
    return a?.status === 200 ? a.text : undefined;
  });
  const http = Number(/^arpd_connections_refused_total\{transport="http"\} (\d+)/m.exec(m)?.[1]);
  const socket = Number(/^arpd_connections_refused_total\{transport="socket"\} (\d+)/m.exec(m)?.[1]);
  t.ok(http >= 4, `HTTP refusals counted (${http} of at least 4)`);
  t.equal(socket, 1, 'one socket refusal counted');
});

t.test('--max-connections out of range is a usage error', async (t) => {
  for (const bad of ['0', '-3', 'many', '2000000']) {
    const r = await run(process.execPath, [ARPD, 'serve', '--data-dir', '/nonexistent-arpd-test', '--max-connections', bad], { cwd: ROOT, timeout: 30_000 }).then(() => ({ code: 0, stderr: '' }), (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? '' }));
    t.equal(r.code, 2, `'${bad}': exit 2`);
    t.match(r.stderr, /--max-connections takes a number from 1 to 1000000/, `'${bad}': the message names the range`);
  }
});
