import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { identityOf, isAlive, type ProcessIdentity } from '../../src/system/process-identity.js';
import { signalRecorded, stopRecordedProcess, waitIdentityGone } from '../../src/system/process-stop.js';

/**
 * Real child processes (node -e): each says 'ready' once its signal handlers are in place, answers
 * 'ping' with 'pong', and reports a SIGTERM it catches.
 */
const HONOURS = `process.stdin.on('data', () => process.stdout.write('pong\\n')); process.stdout.write('ready\\n');`;
const IGNORES = `process.on('SIGTERM', () => process.stdout.write('got SIGTERM\\n')); ${HONOURS}`;
const WITH_GRANDCHILD = `
  const { spawn } = require('node:child_process');
  const g = spawn(process.execPath, ['-e', "process.on('SIGTERM', () => {}); process.stdout.write('up\\\\n'); setInterval(() => {}, 1000)"], { stdio: ['ignore', 'pipe', 'ignore'] });
  g.stdout.once('data', () => {
    process.stdout.write('grandchild ' + g.pid + '\\n');
    ${HONOURS}
  });`;

interface Child {
  proc: ChildProcess;
  pid: number;
  identity: ProcessIdentity;
  /** The next line the child writes. */
  line(): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function start(t: Test, script: string, detached = false): Promise<Child> {
  const proc = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'], detached });
  const exited = once(proc, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  t.teardown(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream })[Symbol.asyncIterator]();
  const line = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done === true) throw new Error('the child closed its stdout');
    return next.value;
  };
  const first = await line();
  const pid = proc.pid as number;
  const child: Child = { proc, pid, identity: identityOf(pid), line, exited };
  if (first.startsWith('grandchild ')) {
    (child as Child & { grandchild: number }).grandchild = Number(first.slice(11));
    await line();
  }
  return child;
}

/** The child answers a ping: it is alive and was not killed before the ping arrived. */
async function answers(c: Child): Promise<boolean> {
  c.proc.stdin?.write('ping\n');
  return (await c.line()) === 'pong';
}

t.test('a process that honours SIGTERM is stopped with SIGTERM', async (t) => {
  const c = await start(t, HONOURS);
  const outcome = await stopRecordedProcess(c.identity, { group: false, graceMs: 60_000 });
  t.equal(outcome, 'SIGTERM');
  if (outcome === 'SIGTERM') t.same(await c.exited, { code: null, signal: 'SIGTERM' });
});

t.test('a process that ignores SIGTERM gets SIGKILL once the grace is over', async (t) => {
  const c = await start(t, IGNORES);
  const graces: number[] = [];
  const outcome = await stopRecordedProcess(c.identity, {
    group: false,
    graceMs: 1234,
    killWaitMs: 10_000,
    // the grace is over once the child has shown it got SIGTERM and is still there; after SIGKILL, wait for its exit
    waitGone: async (ms) => {
      graces.push(ms);
      if (graces.length === 1) return (await c.line()) !== 'got SIGTERM';
      // (the timer only matters if SIGKILL were never sent)
      return Promise.race([c.exited.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
    },
  });
  t.equal(outcome, 'SIGKILL');
  t.same(graces, [1234, 10_000], 'it waited the grace, then for the kill');
  if (outcome === 'SIGKILL') t.same(await c.exited, { code: null, signal: 'SIGKILL' });
});

t.test('with the default wait, a process ignoring SIGTERM is killed after the grace', async (t) => {
  const c = await start(t, IGNORES);
  const outcome = await stopRecordedProcess(c.identity, { group: false, graceMs: 200, killWaitMs: 10_000 });
  t.equal(outcome, 'SIGKILL');
  if (outcome === 'SIGKILL') t.equal((await c.exited).signal, 'SIGKILL');
});

t.test('a recorded identity whose pid now belongs to another process is never signalled', async (t) => {
  const c = await start(t, HONOURS);
  const reused: ProcessIdentity[] = [
    { ...c.identity, start_time: String(Number(c.identity.start_time) + 1) }, // the pid was reused by a later process
    { ...c.identity, boot_id: 'another-boot' }, // recorded before a reboot
  ];
  t.not(c.identity.start_time, '', 'the start time is known (Linux /proc)');
  for (const identity of reused) {
    for (const group of [false, true]) {
      t.equal(signalRecorded(identity, 'SIGTERM', group), false);
      t.equal(await stopRecordedProcess(identity, { group, graceMs: 10 }), 'gone', 'the recorded process is gone');
      t.ok(await answers(c), `the process now holding the pid was not signalled (${JSON.stringify(identity).slice(0, 40)}…, group ${group})`);
    }
  }
  t.equal(await stopRecordedProcess(c.identity, { group: false, graceMs: 60_000 }), 'SIGTERM', 'its true identity is stopped');
});

t.test('a process that is gone already is reported gone', async (t) => {
  const c = await start(t, HONOURS);
  c.proc.kill('SIGKILL');
  await c.exited;
  t.equal(await stopRecordedProcess(c.identity, { group: false, graceMs: 10 }), 'gone');
});

t.test('with group, the whole process group goes, grandchildren that ignore SIGTERM included', async (t) => {
  const c = await start(t, WITH_GRANDCHILD, true);
  const grandchild = (c as Child & { grandchild: number }).grandchild;
  t.ok(isAlive(grandchild));
  const gIdentity = identityOf(grandchild);
  t.teardown(() => { try { process.kill(grandchild, 'SIGKILL'); } catch { /* gone */ } });
  t.equal(await stopRecordedProcess(c.identity, { group: true, graceMs: 60_000 }), 'SIGTERM');
  t.ok(await waitIdentityGone(gIdentity, 10_000), 'the grandchild is gone too');
});
