/**
 * Issue 11, point 4: the data dir turns read-only while the daemon runs. Before: `runs submit --wait` exited 0 with
 * `{"ok":true}` and no output, `instances start --wait` hung for ten minutes and exited 1 with no message, and the
 * instance stayed `starting` forever. Now both end with one `arpd: error: … [E_STORAGE]` line (those already waiting
 * and those asked afterwards), `daemon status` says `degraded` and why, reads keep answering, and once the disk is
 * back and the daemon restarted, everything acknowledged is there and the log verifies.
 *
 * The disk is a real ext4 image on a loop device, turned read-only under the daemon's open files by an ext4 error
 * (see test/helpers/scratch-fs.ts).
 */
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { oneErrorLine } from '../helpers/error-line.js';
import { REFERENCE_COMMAND, runtimeHarness, waitFor, type CliResult, type Json } from '../helpers/runtime-harness.js';
import { ext4Disk } from '../helpers/scratch-fs.js';

t.test('a disk that turns read-only mid-life ends every waiting client with E_STORAGE, leaves the daemon degraded but answering, and loses nothing', async (t) => {
  const r = runtimeHarness(t);
  const disk = ext4Disk(t, r.newDataDir(), 48 * 1024 * 1024);
  const dir = join(disk.mountPoint, 'data');
  await r.startDaemon(dir, ['--no-autostart-instances']);
  await r.startInstances(dir, 'default', 1);
  const done = await r.cli(dir, ['runs', 'submit', '--goal', 'What is (19*23)?', '--wait', '--run-id', 'before-ro']);
  t.equal(done.code, 0, done.stderr);
  t.match(done.stdout, /437/, 'a run before the fault succeeds');

  // a profile whose runtime takes a few seconds to listen: an instance start is in flight at the fault
  await r.upsertProfile(dir, 'slow', {
    extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/sh', '-c', 'sleep 4; exec "$0" "$@"', ...REFERENCE_COMMAND] } },
  });
  const waitingRun = r.h.spawnCli(dir, ['runs', 'submit', '--goal', 'sleep:4000 What is 1+1?', '--wait', '--run-id', 'in-flight']);
  await waitFor('the run to be running', async () => (await r.getRun(dir, 'in-flight').catch(() => undefined))?.['state'] === 'running');
  const waitingStart = r.h.spawnCli(dir, ['instances', 'start', '--profile', 'slow', '--wait']);
  await waitFor('the slow instance to be starting', async () => (await r.call<{ instances: Json[] }>(dir, 'instances.list', {})).instances.some((i) => i['runtime_profile'] === 'slow' && i['state'] === 'starting'));

  disk.makeReadOnly();
  t.ok(disk.readOnly(), 'the disk is read-only now');

  const [run, start] = await Promise.all([waitingRun.exited, waitingStart.exited]);
  check(t, run, 'runs submit --wait, waiting when the disk turned read-only');
  check(t, start, 'instances start --wait, waiting when the disk turned read-only');
  check(t, await r.cli(dir, ['runs', 'submit', '--goal', 'What is 2+2?', '--wait']), 'runs submit --wait after the fault');
  check(t, await r.cli(dir, ['instances', 'start', '--profile', 'default', '--wait']), 'instances start --wait after the fault');

  const status = await r.h.status(dir);
  t.equal(status?.['state'], 'degraded', 'daemon status says degraded');
  t.match(status?.['degraded'], { code: 'E_STORAGE', reason: /EROFS|EIO/ }, 'and why');
  const human = await r.cli(dir, ['daemon', 'status']);
  t.match(human.stdout, /degraded/, 'the human status says so too');
  t.match(human.stdout, /why\s+writing the event log failed \((EROFS|EIO)\).*then 'arpd daemon restart --keep-instances'.*\[E_STORAGE\]/, `and why, and what to do: ${human.stdout}`);
  const read = await r.cli(dir, ['runs', 'status', 'before-ro', '--json']);
  t.equal(read.code, 0, 'reads keep answering');
  t.equal((JSON.parse(read.stdout) as Json)['state'], 'succeeded');

  // the disk comes back: stop, repair the disk, start again
  const stop = await r.cli(dir, ['daemon', 'stop']);
  t.equal(stop.code, 0, `a degraded daemon stops when asked: ${stop.stderr}`);
  disk.restore();
  await r.startDaemon(dir, ['--no-autostart-instances']);
  t.equal((await r.getRun(dir, 'before-ro'))['state'], 'succeeded', 'the run acknowledged before the fault is still succeeded');
  const flying = await r.waitRunEnded(dir, 'in-flight');
  t.ok(['succeeded', 'failed'].includes(String(flying['state'])), `the run in flight at the fault has ended (${String(flying['state'])})`);
  const ends = (await r.events(dir, ['run.succeeded', 'run.failed', 'run.canceled'])).filter((e) => e.data['run_id'] === 'in-flight');
  t.equal(ends.length, 1, 'with exactly one end in the log');
  t.equal((await r.cli(dir, ['log', 'verify'])).code, 0, 'the log verifies');
});

t.test('a start on a read-only data dir gives one E_STORAGE line that says so', async (t) => {
  const r = runtimeHarness(t);
  const disk = ext4Disk(t, r.newDataDir(), 16 * 1024 * 1024);
  const dir = join(disk.mountPoint, 'data');
  await r.startDaemon(dir);
  t.equal((await r.cli(dir, ['daemon', 'stop'])).code, 0);
  disk.makeReadOnly();
  const start = await r.cli(dir, ['daemon', 'start', '--no-http']);
  const said = oneErrorLine(t, start, 'E_STORAGE', 'daemon start on a read-only data dir');
  t.match(said, /read-only|EROFS/, 'the message says the disk is read-only');
  t.notMatch(said, /see the daemon log/, 'and does not send the user to a log it could not write');
});

function check(t: Test, r: CliResult, what: string): void {
  t.notOk(r.timedOut, `${what}: ends by itself`);
  oneErrorLine(t, r, 'E_STORAGE', what);
}
