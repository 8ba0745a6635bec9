/**
 * `arpd daemon start` (and autostart) when the daemon cannot start here, or already runs elsewhere: one error line
 * that says why and what to do, at once, not a 30 s wait or "see the daemon log" for a log that cannot be written.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, daemonProcessesFor } from '../helpers/daemon-harness.js';
import { tmpfsDisk } from '../helpers/scratch-fs.js';

const h = daemonHarness(t);

t.test('daemon start on a read-only file system says the data dir is read-only (E_STORAGE), not an internal error', async (t) => {
  const disk = tmpfsDisk(t, h.newDataDir(), 1024 * 1024);
  execFileSync('mount', ['-o', 'remount,ro', disk.mountPoint]);
  for (const args of [['daemon', 'start', '--no-http'], ['profiles', 'list']]) {
    const r = await h.cli(disk.mountPoint, args);
    t.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, /cannot write its data dir .*: the file system is read-only \(EROFS\).*\[E_STORAGE\]/, `${args.join(' ')} names the cause`);
    t.notMatch(r.stderr, /E_INTERNAL/);
  }
});

t.test('daemon start with another socket for a data dir whose daemon runs names that daemon and its socket at once', async (t) => {
  const dir = h.newDataDir();
  const { pid } = await h.startDaemon(dir);
  const other = join(dir, 'other.sock');
  for (const args of [['daemon', 'start', '--no-http'], ['runs', 'list']]) {
    // a time limit shorter than the 30 s the CLI waited before: this must end by itself, well before it
    const r = await h.cli(dir, ['--socket', other, '--timeout', '20', ...args], { timeoutMs: 25_000 });
    t.notOk(r.timedOut, 'ends by itself');
    t.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    t.match(r.stderr, new RegExp(`\\(pid ${pid}\\) is already running on socket ${join(dir, 'arpd.sock')}, not ${other}.*\\[E_LOCKED\\]`));
    t.notMatch(r.stderr, /E_TIMEOUT/);
  }
  t.same(daemonProcessesFor(dir), [pid], 'still the one daemon');
});
