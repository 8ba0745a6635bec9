/**
 * Instances across daemon restarts: after a `kill -9` of the daemon, or `daemon stop --keep-instances`,
 * the next daemon adopts the runtimes that are still alive (same pid, ready) and records the ones that
 * died meanwhile; a plain `daemon stop` stops them.
 */
import t from 'tap';
import { groupGone, instanceDetails, instancePid, isRunning, runtimeHarness, waitFor, type Json } from '../helpers/runtime-harness.js';

t.test('adopts live managed runtimes after the daemon is killed with -9, and records one that died meanwhile', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  const first = await r.startDaemon(dir);
  const [a, b] = await r.startInstances(dir, 'default', 2);
  const idA = String(a?.['instance_id']);
  const idB = String(b?.['instance_id']);
  const pidA = instancePid(a as Json);
  const pidB = instancePid(b as Json);

  process.kill(first.pid, 'SIGKILL');
  await waitFor('the daemon to die', () => !isRunning(first.pid));
  t.ok(isRunning(pidA) && isRunning(pidB), 'its runtimes outlive it');
  process.kill(pidB, 'SIGKILL');
  await waitFor('runtime B to die', () => !isRunning(pidB));

  const second = await r.startDaemon(dir);
  t.not(second.pid, first.pid);
  const adopted = await r.getInstance(dir, idA);
  t.equal(adopted['state'], 'ready', 'the live one is ready');
  t.equal(instancePid(adopted), pidA, 'with the same process');
  const lost = await r.getInstance(dir, idB);
  t.equal(lost['state'], 'error', 'the dead one is in error');
  t.match(String(instanceDetails(lost)['reason']), new RegExp(`${pidB} was gone when arpd restarted`));
  const afterBoot = (await r.events(dir)).filter((e) => e.seq > 0);
  const lastStart = afterBoot.filter((e) => e.type === 'daemon.started').at(-1)?.seq ?? 0;
  const ready = afterBoot.find((e) => e.seq > lastStart && e.type === 'instance.ready' && e.data['instance_id'] === idA);
  t.equal(ready?.data['adopted'], true, 'instance.ready is recorded as adopted');

  // the adopted runtime still serves runs
  const run = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 2+3?', '--instance', idA, '--wait']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /= 5/);

  // and a plain stop stops it, though it is not the daemon's child any more
  const stop = await r.cli(dir, ['daemon', 'stop']);
  t.equal(stop.code, 0, stop.stderr);
  await waitFor('the adopted runtime to be gone', () => groupGone(pidA), 10_000);
  t.ok(groupGone(pidA), 'the adopted runtime\'s group is gone after daemon stop');
  const last = (await r.events(dir, ['instance.'])).filter((e) => e.stream === `instance:${idA}`).at(-1);
  t.equal(last?.type, 'instance.stopped', 'and recorded stopped');
});

t.test('leaves runtimes running on `daemon stop --keep-instances` and adopts them at the next start; plain stop ends them', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const id = String(inst?.['instance_id']);
  const pid = instancePid(inst as Json);

  const keep = await r.cli(dir, ['daemon', 'stop', '--keep-instances']);
  t.equal(keep.code, 0, keep.stderr);
  t.ok(isRunning(pid), 'the runtime keeps running');
  const kept = (await r.events(dir, ['instance.'])).filter((e) => e.stream === `instance:${id}`).at(-1);
  t.equal(kept?.type, 'instance.ready', 'nothing was recorded about it at the stop');

  await r.startDaemon(dir);
  const adopted = await r.getInstance(dir, id);
  t.equal(adopted['state'], 'ready');
  t.equal(instancePid(adopted), pid, 'adopted with the same pid');

  const stop = await r.cli(dir, ['daemon', 'stop']);
  t.equal(stop.code, 0, stop.stderr);
  // not the new daemon's child: once it exits, its zombie waits for init to reap it
  await waitFor('the runtime\'s group to be gone', () => groupGone(pid), 10_000);
  t.ok(groupGone(pid), 'a plain stop ends the runtime');
  const last = (await r.events(dir, ['instance.'])).filter((e) => e.stream === `instance:${id}`).map((e) => e.type).slice(-2);
  t.same(last, ['instance.stopping', 'instance.stopped']);
});

t.test('keeps instances across stops when the daemon was started with --keep-instances', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--keep-instances']);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const pid = instancePid(inst as Json);
  const stop = await r.cli(dir, ['daemon', 'stop']);
  t.equal(stop.code, 0, stop.stderr);
  t.ok(isRunning(pid), 'the runtime keeps running');
  await r.startDaemon(dir);
  const adopted = await r.getInstance(dir, String(inst?.['instance_id']));
  t.equal(adopted['state'], 'ready');
  t.equal(instancePid(adopted), pid);
});
