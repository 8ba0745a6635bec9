/**
 * How the CLI reaches the daemon (src/cli/connection.ts), where the SDK's wording is not the CLI user's: a daemon
 * that takes a request and never answers, on a real Unix socket in a temp dir and on real HTTP on 127.0.0.1 port 0,
 * gives the CLI's E_TIMEOUT line, which names its --timeout flag (an SDK caller is told of timeoutMs instead).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';
import { oneErrorLine } from '../helpers/error-line.js';

/** A server that takes connections and bytes and never answers, closed at teardown. */
async function silentServer(t: { teardown(fn: () => unknown): void }, listen: (s: Server, ready: () => void) => void): Promise<Server> {
  const open = new Set<Socket>();
  const server = createServer((c) => { open.add(c); c.on('data', () => undefined); c.on('close', () => open.delete(c)); });
  await new Promise<void>((resolve) => listen(server, resolve));
  t.teardown(() => new Promise<void>((resolve) => { for (const c of open) c.destroy(); server.close(() => resolve()); }));
  return server;
}

t.test('a daemon that does not answer in time is an E_TIMEOUT that names --timeout, over the socket and over HTTP', async (t) => {
  const h = daemonHarness(t);
  const dir = h.newDataDir();
  const socketPath = join(dir, 'silent.sock');
  await silentServer(t, (s, ready) => s.listen(socketPath, ready));
  const http = await silentServer(t, (s, ready) => s.listen(0, '127.0.0.1', ready));
  const port = (http.address() as { port: number }).port;
  for (const [what, args] of [
    ['the socket', ['--socket', socketPath, '--no-autostart']],
    ['HTTP', ['--daemon-url', `http://127.0.0.1:${port}`]],
  ] as const) {
    const r = await h.cli(dir, [...args, '--timeout', '0.3', 'runs', 'list']);
    const message = oneErrorLine(t, r, 'E_TIMEOUT', what);
    t.match(message, /^'runs\.list' got no answer within 300 ms: .*allow more time with --timeout <seconds>$/, what);
    t.notMatch(r.stderr, /timeoutMs/, `${what}: the CLI user is not told of the SDK's option`);
  }
});

// was a bug: `daemon status` kept its limit at 5 s whatever --timeout said, while its E_TIMEOUT told the user to allow
// more time with --timeout
t.test('daemon status waits as long as --timeout says when it is given, and 5 s when it is not', async (t) => {
  const h = daemonHarness(t);
  const dir = h.newDataDir();
  const socketPath = join(dir, 'silent.sock');
  await silentServer(t, (s, ready) => s.listen(socketPath, ready));
  const given = await h.cli(dir, ['--socket', socketPath, '--timeout', '6.5', 'daemon', 'status']);
  t.match(oneErrorLine(t, given, 'E_TIMEOUT', 'with --timeout 6.5'), /within 6500 ms/, 'the limit given');
  const short = await h.cli(dir, ['--socket', socketPath, '--timeout', '0.4', 'daemon', 'status']);
  t.match(oneErrorLine(t, short, 'E_TIMEOUT', 'with --timeout 0.4'), /within 400 ms/, 'a shorter one too');
  const none = await h.cli(dir, ['--socket', socketPath, 'daemon', 'status']);
  t.match(oneErrorLine(t, none, 'E_TIMEOUT', 'without --timeout'), /within 5000 ms/, 'without it, 5 s');
});
