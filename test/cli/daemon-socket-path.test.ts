/**
 * What arpd may do at the socket path: a stale socket is removed, anything else (a file the user keeps there,
 * `--socket` given by mistake) is refused and never deleted, by `daemon start`, `daemon stop` and `daemon purge`.
 */
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, daemonProcessesFor } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);

t.test('daemon start refuses a socket path where a file is, and leaves the file as it was', async (t) => {
  const dir = h.newDataDir();
  const file = join(dir, 'notes.txt');
  writeFileSync(file, 'precious\n');
  const r = await h.cli(join(dir, 'data'), ['--socket', file, 'daemon', 'start', '--no-http']);
  t.equal(r.code, 2, `a usage error: ${r.stderr}`);
  t.match(r.stderr, /socket path '.*notes\.txt' is a file, not a socket.*\[E_VALIDATION\]/);
  t.equal(readFileSync(file, 'utf8'), 'precious\n', 'the file is untouched');
  t.ok(statSync(file).isFile(), 'and still a plain file');
  t.same(daemonProcessesFor(join(dir, 'data')), [], 'no daemon was left running');
});

t.test('daemon start refuses a socket path where a directory is', async (t) => {
  const dir = h.newDataDir();
  const folder = join(dir, 'folder');
  mkdirSync(folder);
  const r = await h.cli(join(dir, 'data'), ['--socket', folder, 'daemon', 'start', '--no-http']);
  t.equal(r.code, 2, r.stderr);
  t.match(r.stderr, /is a directory, not a socket/);
  t.ok(statSync(folder).isDirectory(), 'the directory is still there');
});

t.test('daemon stop and daemon purge with no daemon leave a file at the socket path alone', async (t) => {
  const dir = h.newDataDir();
  const file = join(dir, 'notes.txt');
  writeFileSync(file, 'precious\n');
  const stop = await h.cli(join(dir, 'data'), ['--socket', file, 'daemon', 'stop']);
  t.equal(stop.code, 0, stop.stderr);
  t.equal(readFileSync(file, 'utf8'), 'precious\n', 'stop leaves it');
  const purge = await h.cli(join(dir, 'data'), ['--socket', file, 'daemon', 'purge', '--force']);
  t.equal(purge.code, 0, purge.stderr);
  t.equal(readFileSync(file, 'utf8'), 'precious\n', 'purge leaves it');
});
