import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { bootId, identityOf, isAlive, isSameProcess, isZombie, parentPid, processStartTime } from '../../src/system/process-identity.js';

/** A `sleep 30` child, stopped when the test ends. */
function sleeper(t: Test, command = 'sleep', args = ['30']): ChildProcess {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'ignore'] });
  t.teardown(() => { child.kill('SIGKILL'); });
  return child;
}

t.test('this process has a start time and a boot id, and is the same process as its identity', async (t) => {
  const me = identityOf(process.pid);
  t.equal(me.pid, process.pid);
  t.match(me.start_time, /^\d+$/);
  t.match(me.boot_id, /^[0-9a-f-]{36}$/);
  t.equal(bootId(), me.boot_id, 'the boot id is stable');
  t.ok(isSameProcess(me));
});

t.test('the same pid with another start time or another boot is not the same process', async (t) => {
  const me = identityOf(process.pid);
  t.notOk(isSameProcess({ ...me, start_time: String(Number(me.start_time) + 1) }), 'a reused pid');
  t.notOk(isSameProcess({ ...me, boot_id: '00000000-0000-0000-0000-000000000000' }), 'recorded before a reboot');
  t.ok(isSameProcess({ pid: process.pid, start_time: '', boot_id: '' }), 'nothing recorded but the pid: liveness alone');
});

t.test('the parent pid and start time are read right even when the command name has spaces and parentheses', async (t) => {
  const dir = t.testdir();
  const odd = join(dir, 'a) b (c');
  symlinkSync('/bin/sleep', odd);
  const child = sleeper(t, odd);
  await once(child, 'spawn');
  t.equal(parentPid(child.pid as number), process.pid);
  t.match(processStartTime(child.pid as number), /^\d+$/);
  t.ok(Number(processStartTime(child.pid as number)) >= Number(processStartTime(process.pid)), 'started after this process');
  t.ok(isSameProcess(identityOf(child.pid as number)));
});

t.test('a process that has ended is not alive and has no identity left', async (t) => {
  const child = sleeper(t);
  await once(child, 'spawn');
  const id = identityOf(child.pid as number);
  t.ok(isAlive(id.pid));
  child.kill('SIGKILL');
  await once(child, 'exit');
  t.notOk(isAlive(id.pid));
  t.notOk(isSameProcess(id));
  t.equal(processStartTime(id.pid), undefined);
  t.equal(parentPid(id.pid), undefined);
});

t.test('a zombie counts as gone', async (t) => {
  // sh starts a child that exits at once, then becomes `sleep`, which never reaps it: a zombie
  const sh = sleeper(t, 'sh', ['-c', 'sleep 0 & echo $!; exec sleep 30']);
  const [first] = (await once(sh.stdout as NodeJS.ReadableStream, 'data')) as [Buffer];
  const pid = Number(first.toString().trim());
  for (let i = 0; i < 200 && !isZombie(pid); i++) await sleep(10);
  t.ok(isZombie(pid), 'it became a zombie');
  t.ok(isAlive(pid), 'a zombie still holds its pid');
  t.notOk(isSameProcess({ pid, start_time: '', boot_id: '' }));
  t.notOk(isZombie(process.pid), 'this process is no zombie');
});

t.test('pids that cannot be a process are not alive', async (t) => {
  for (const pid of [0, -1, 1.5, Number.NaN, Number.MAX_SAFE_INTEGER + 1]) t.notOk(isAlive(pid), String(pid));
  t.ok(isAlive(1), 'init is alive (even when signalling it is not permitted)');
});
