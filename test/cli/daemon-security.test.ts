/**
 * File modes of what the daemon makes (socket 0600, data dir 0700, nothing readable by others) and
 * socket paths the kernel cannot take.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, daemonProcessesFor } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);

const mode = (path: string): string => (statSync(path).mode & 0o777).toString(8);

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? [p, ...walk(p)] : [p];
  });
}

t.test('the socket is 0600, the data dir 0700, and nothing in it is open to group or others', async (t) => {
  const dir = h.newDataDir();
  chmodSync(dir, 0o755);
  await h.startDaemon(dir);
  const sock = join(dir, 'arpd.sock');
  t.ok(statSync(sock).isSocket());
  t.equal(mode(sock), '600', 'socket mode');
  t.equal(mode(dir), '700', 'an existing data dir open to others is made private');
  for (const p of walk(dir)) t.equal(statSync(p).mode & 0o077, 0, `${p.slice(dir.length + 1)} (mode ${mode(p)}) is private`);
});

t.test('a data dir that does not exist yet is created 0700', async (t) => {
  const dir = h.freshDataDirPath();
  await h.startDaemon(dir);
  t.equal(mode(dir), '700');
  t.equal(mode(join(dir, 'arpd.sock')), '600');
});

t.test('a --socket path over 107 bytes is refused with an error naming the limit', async (t) => {
  const dir = h.newDataDir();
  const long = join(dir, `${'s'.repeat(120 - dir.length)}.sock`);
  t.ok(Buffer.byteLength(long) > 107, `${Buffer.byteLength(long)} bytes`);
  const start = await h.cli(dir, ['daemon', 'start', '--no-http', '--socket', long]);
  t.not(start.code, 0, 'daemon start fails');
  t.match(start.stderr, /107-byte limit/);
  t.equal(start.code, 2, 'daemon start exits 2 (usage), as serve and every other command do');
  const serve = await h.cli(dir, ['serve', '--no-http', '--socket', long]);
  t.not(serve.code, 0, 'serve fails');
  t.notOk(serve.timedOut);
  t.match(serve.stderr, /107-byte limit/);
  const cmd = await h.cli(dir, ['profiles', 'list', '--socket', long]);
  t.not(cmd.code, 0, 'an auto-starting command fails');
  t.match(cmd.stderr, /107-byte limit/);
  t.notOk(existsSync(long));
  t.same(daemonProcessesFor(dir), [], 'no daemon is left running');
});

t.test('a socket in a directory that others may write is refused', async (t) => {
  const dir = h.newDataDir();
  const open = join(dir, 'open');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const r = await h.cli(dir, ['serve', '--no-http', '--socket', join(open, 's.sock')]);
  t.not(r.code, 0);
  t.notOk(r.timedOut);
  t.match(r.stderr, /writable by other users/);
  t.notOk(existsSync(join(open, 's.sock')));
});
