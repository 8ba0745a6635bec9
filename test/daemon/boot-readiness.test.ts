/**
 * The daemon answers on its socket only once it is all the way up, and a shutdown that arrives as
 * early as it can (the first request on the socket) still ends it cleanly. HTTP is on (port 0): its
 * start is the slowest part of the boot, so a daemon that answers before its features are up shows it.
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, parseNdjson, pidFilePid, sleep } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);

// A request that arrives the moment the socket accepts (before boot() has returned) must meet a
// daemon whose pid file exists and whose shutdown waits for boot to end and then closes everything.
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

/** Connects as soon as the socket accepts (retrying while it does not exist or refuses) and sends one line. */
async function sendAsSoonAsPossible(path: string, line: string, timeoutMs = 30_000): Promise<net.Socket> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await new Promise<net.Socket | undefined>((resolve) => {
      const c = net.createConnection(path);
      c.once('connect', () => { c.removeAllListeners('error'); c.on('error', () => undefined); resolve(c); });
      c.once('error', () => { c.destroy(); resolve(undefined); });
    });
    if (s !== undefined) {
      s.write(line);
      return s;
    }
    if (Date.now() > deadline) throw new Error(`nothing accepted on ${path} within ${timeoutMs} ms`);
    await sleep(2);
  }
}

t.test('a shutdown that arrives while the daemon boots ends it cleanly', async (t) => {
  for (let attempt = 1; attempt <= 2; attempt++) {
    const dir = h.newDataDir();
    const serve = h.spawnCli(dir, ['serve', '--http-port', '0'], { env: { ARPD_DEBUG: '1' } });
    const s = await sendAsSoonAsPossible(join(dir, 'arpd.sock'), '{"jsonrpc":"2.0","id":1,"method":"daemon.shutdown","params":{"reason":"early"}}\n');
    const r = await serve.exited;
    s.destroy();
    t.equal(r.code, 0, `attempt ${attempt}: arpd serve exits 0 (stderr: ${r.stderr.split('\n').filter((l) => !l.startsWith('{')).join(' | ')})`, BOOT_WINDOW);
    t.notOk(existsSync(join(dir, 'arpd.sock')), `attempt ${attempt}: no socket left`, BOOT_WINDOW);
    t.notOk(existsSync(join(dir, 'arpd.pid')), `attempt ${attempt}: no pid file left`, BOOT_WINDOW);
    t.notOk(existsSync(join(dir, 'arpd.lock')), `attempt ${attempt}: lock released`, BOOT_WINDOW);
    const last = (await h.events(dir)).at(-1);
    t.equal(last?.type, 'daemon.stopped', `attempt ${attempt}: daemon.stopped is the last event`, BOOT_WINDOW);
    const log = parseNdjson<{ level: number; msg: string }>(readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8'));
    t.same(log.filter((l) => l.level >= 50).map((l) => l.msg), [], `attempt ${attempt}: no error in the daemon log`, BOOT_WINDOW);
    // A foreground daemon also logs to stderr: a boot that goes on after the shutdown began shows there.
    const msgs = parseNdjson<{ msg: string }>(r.stderr.split('\n').filter((l) => l.startsWith('{')).join('\n')).map((l) => l.msg);
    const ready = msgs.indexOf('ready');
    t.ok(ready === -1 || ready < msgs.indexOf('shutting down'), `attempt ${attempt}: the boot does not go on once the shutdown began: ${JSON.stringify(msgs)}`, BOOT_WINDOW);
  }
});
