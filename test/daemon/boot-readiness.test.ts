/**
 * The daemon answers on its socket only once it is all the way up, and a shutdown that arrives as
 * early as it can (the first request on the socket) still ends it cleanly. HTTP is on (port 0): its
 * start is the slowest part of the boot, so a daemon that answered before its features were up
 * would show it.
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, parseNdjson, pidFilePid, sleep } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);

// A request that arrives the moment the socket accepts must meet a daemon whose pid file exists, whose
// boot is over, and whose shutdown then closes everything.
const BOOT_WINDOW = {};

t.test('daemon start returns once the daemon is fully up: pid file written, HTTP URL known', async (t) => {
  const dir = h.newDataDir();
  const r = await h.cli(dir, ['daemon', 'start', '--json', '--http-port', '0']);
  t.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout) as Record<string, unknown>;
  h.trackPid(printed['pid'] as number);
  t.equal(pidFilePid(dir), printed['pid'], 'the pid file is there when start returns', BOOT_WINDOW);
  t.match(printed['http_url'], /^http:\/\/127\.0\.0\.1:\d+/, 'the status start printed has the HTTP URL');
});

/** Connects as soon as the socket accepts (retrying while it does not exist or refuses). */
async function connectAsSoonAsPossible(path: string, timeoutMs = 30_000): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await new Promise<net.Socket | undefined>((resolve) => {
      const c = net.createConnection(path);
      c.once('connect', () => { c.removeAllListeners('error'); c.on('error', () => undefined); resolve(c); });
      c.once('error', () => { c.destroy(); resolve(undefined); });
    });
    if (s !== undefined) return s;
    if (Date.now() > deadline) throw new Error(`nothing accepted on ${path} within ${timeoutMs} ms`);
    await sleep(2);
  }
}

/** The first line the socket sends, parsed. */
function firstLine(s: net.Socket): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl !== -1) resolve(JSON.parse(buf.slice(0, nl)));
    });
    s.once('close', () => reject(new Error(`the socket closed before a whole line: ${JSON.stringify(buf)}`)));
  });
}

// The socket listens last, once everything else is up (src/daemon/daemon.ts boot), so even the first
// request it accepts meets a daemon that has finished booting: whenever the client gets in, the
// outcome is the same, and the test asserts it.
t.test('a shutdown sent the moment the socket first accepts meets a daemon that is all the way up, and ends it cleanly', async (t) => {
  const dir = h.newDataDir();
  const serve = h.spawnCli(dir, ['serve', '--http-port', '0'], { env: { ARPD_DEBUG: '1' } });
  const s = await connectAsSoonAsPossible(join(dir, 'arpd.sock'));
  t.equal(pidFilePid(dir), serve.pid, 'the pid file names the daemon by the time its socket accepts', BOOT_WINDOW);
  const answer = firstLine(s);
  s.write('{"jsonrpc":"2.0","id":1,"method":"daemon.shutdown","params":{"reason":"early"}}\n');
  t.same(await answer, { jsonrpc: '2.0', id: 1, result: { stopping: true, pid: serve.pid } }, 'the daemon answers that it is stopping', BOOT_WINDOW);
  const r = await serve.exited;
  s.destroy();
  t.equal(r.code, 0, `arpd serve exits 0 (stderr: ${r.stderr.split('\n').filter((l) => !l.startsWith('{')).join(' | ')})`, BOOT_WINDOW);
  t.notOk(existsSync(join(dir, 'arpd.sock')), 'no socket left', BOOT_WINDOW);
  t.notOk(existsSync(join(dir, 'arpd.pid')), 'no pid file left', BOOT_WINDOW);
  t.notOk(existsSync(join(dir, 'arpd.lock')), 'lock released', BOOT_WINDOW);
  const events = await h.events(dir);
  t.same(events.filter((e) => e.stream === 'daemon').map((e) => e.type), ['daemon.started', 'daemon.stopped'], 'one start and one stop are recorded', BOOT_WINDOW);
  t.equal(events.at(-1)?.type, 'daemon.stopped', 'daemon.stopped is the last event', BOOT_WINDOW);
  t.match(events.at(-1)?.data, { reason: 'early' }, 'with the reason the request gave', BOOT_WINDOW);
  const log = parseNdjson<{ level: number; msg: string }>(readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8'));
  t.same(log.filter((l) => l.level >= 50).map((l) => l.msg), [], 'no error in the daemon log', BOOT_WINDOW);
  // A foreground daemon also logs to stderr: the boot ends ('ready') before the shutdown begins, and the stop is last.
  const msgs = parseNdjson<{ msg: string }>(r.stderr.split('\n').filter((l) => l.startsWith('{')).join('\n')).map((l) => l.msg);
  const ready = msgs.indexOf('ready');
  const shutting = msgs.indexOf('shutting down');
  t.ok(ready !== -1 && shutting > ready && msgs.at(-1) === 'stopped', `ready, then shutting down, then stopped, in this order: ${JSON.stringify(msgs)}`, BOOT_WINDOW);
});
