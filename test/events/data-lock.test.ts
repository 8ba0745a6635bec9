import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { acquireLock, lockHolder, type LockInfo } from '../../src/events/data-lock.js';
import { bootId, identityOf } from '../../src/system/process-identity.js';
import { finished, spawnHelper } from '../fixtures-helpers/child.js';

function lockError(fn: () => unknown): ArpdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
  throw new Error('acquireLock succeeded; E_LOCKED was expected');
}

/** A child that lives until killed: its identity is a real, distinct process. */
function sleeper(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

function writeLock(path: string, info: LockInfo): void {
  writeFileSync(path, `${JSON.stringify(info)}\n`);
}

const readLockFile = (path: string): LockInfo => JSON.parse(readFileSync(path, 'utf8')) as LockInfo;

t.test('refuses a second holder with E_LOCKED naming the holder pid and start time', async (t) => {
  const path = join(t.testdir(), 'arpd.lock');
  const held = acquireLock(path, { now: () => new Date('2024-05-01T12:00:00.000Z'), version: '1.2.3' });
  t.match(readLockFile(path), { pid: process.pid, started_at: '2024-05-01T12:00:00.000Z', boot_id: bootId(), version: '1.2.3' });
  const before = readFileSync(path, 'utf8');
  const err = lockError(() => acquireLock(path));
  t.equal(err.code, 'E_LOCKED');
  t.match(err.message, `already locked by pid ${process.pid} (started at 2024-05-01T12:00:00.000Z)`);
  t.match(err.data, { pid: process.pid, started_at: '2024-05-01T12:00:00.000Z', lock: path });
  t.equal(readFileSync(path, 'utf8'), before, 'the holder\'s lock is untouched');
  t.match(lockHolder(path), { pid: process.pid });
  held.release();
  t.notOk(existsSync(path), 'release removes the lock');
  t.equal(lockHolder(path), undefined);
  held.release();
  t.pass('release is idempotent');
});

t.test('refuses while another live process holds the lock', async (t) => {
  const path = join(t.testdir(), 'arpd.lock');
  const other = sleeper();
  t.teardown(() => stop(other));
  const pid = other.pid as number;
  writeLock(path, { ...identityOf(pid), started_at: '2024-01-02T03:04:05.000Z' });
  const err = lockError(() => acquireLock(path));
  t.equal(err.code, 'E_LOCKED');
  t.match(err.message, `already locked by pid ${pid} (started at 2024-01-02T03:04:05.000Z)`);
  t.equal(readLockFile(path).pid, pid, 'the live holder keeps its lock');
});

t.test('takes over a lock left by a dead process', async (t) => {
  const path = join(t.testdir(), 'arpd.lock');
  const dead = sleeper();
  const identity = identityOf(dead.pid as number);
  t.not(identity.start_time, '', 'the start time of the child is known');
  writeLock(path, { ...identity, started_at: '2024-01-02T03:04:05.000Z' });
  t.match(lockHolder(path), { pid: dead.pid }, 'held while the process lives');
  await stop(dead);
  t.equal(lockHolder(path), undefined, 'stale once it is dead');
  const held = acquireLock(path);
  t.equal(readLockFile(path).pid, process.pid, 'the lock is ours now');
  t.notOk(existsSync(`${path}.takeover`), 'the takeover file is gone');
  held.release();
  t.notOk(existsSync(path));
});

t.test('treats a lock from another boot, or from an earlier process with the same pid, as stale', async (t) => {
  const dir = t.testdir();
  t.not(bootId(), '', 'this machine has a boot id');
  const me = identityOf(process.pid);
  const cases: Array<[string, LockInfo]> = [
    ['another boot', { ...me, boot_id: '00000000-0000-0000-0000-000000000000', started_at: 'x' }],
    ['a reused pid (other start time)', { ...me, start_time: String(Number(me.start_time) - 1), started_at: 'x' }],
  ];
  for (const [name, info] of cases) {
    const path = join(dir, `${name.replace(/\W+/g, '-')}.lock`);
    writeLock(path, info);
    t.equal(lockHolder(path), undefined, `${name}: stale`);
    const held = acquireLock(path);
    t.same(readLockFile(path).start_time, me.start_time, `${name}: taken over`);
    t.equal(readLockFile(path).boot_id, me.boot_id);
    held.release();
  }
});

t.test('waits for a lock file being written, and takes over one left empty long ago', async (t) => {
  const path = join(t.testdir(), 'arpd.lock');
  writeFileSync(path, '');
  const err = lockError(() => acquireLock(path));
  t.equal(err.code, 'E_LOCKED', 'a fresh empty lock may be a writer between create and write');
  t.match(err.message, /could not take the lock/);
  const old = new Date(Date.now() - 60_000);
  utimesSync(path, old, old);
  const held = acquireLock(path);
  t.equal(readLockFile(path).pid, process.pid, 'an old empty lock was a torn write by a dead process');
  held.release();
});

t.test('release removes only its own lock', async (t) => {
  const path = join(t.testdir(), 'arpd.lock');
  const held = acquireLock(path);
  const other = sleeper();
  t.teardown(() => stop(other));
  // someone took the lock over (for example after judging ours stale): it is theirs now
  writeLock(path, { ...identityOf(other.pid as number), started_at: 'later' });
  held.release();
  t.ok(existsSync(path), 'the other holder\'s lock stays');
  t.equal(readLockFile(path).pid, other.pid);
});

interface Race { results: string[]; winners: number }

async function race(lockPath: string, contenders: number): Promise<Race> {
  const children = Array.from({ length: contenders }, () => spawnHelper('lock-racer.ts', [lockPath]));
  const outputs = children.map((c) => {
    let out = '';
    const lines: Array<(line: string) => void> = [];
    c.stdout?.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      let nl: number;
      while ((nl = out.indexOf('\n')) !== -1) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        lines.shift()?.(line);
      }
    });
    return { next: () => new Promise<string>((resolve) => lines.push(resolve)) };
  });
  const done = children.map((c) => finished(c));
  const ready = await Promise.all(outputs.map((o) => o.next()));
  if (ready.some((l) => l !== 'ready')) throw new Error(`a contender did not start: ${ready.join(', ')}`);
  const results = outputs.map((o) => o.next());
  for (const c of children) c.stdin?.write('go\n');
  const lines = await Promise.all(results);
  for (const c of children) c.stdin?.end();
  const ends = await Promise.all(done);
  for (const e of ends) if (e.code !== 0) throw new Error(`a contender failed: ${e.stderr}`);
  return { results: lines, winners: lines.filter((l) => l.startsWith('won ')).length };
}

t.test('lets exactly one of 10 racing processes take a free lock, then a stale one', async (t) => {
  const path = join(t.testdir(), 'arpd.lock');
  const free = await race(path, 10);
  t.equal(free.winners, 1, `one winner: ${free.results.join(' | ')}`);
  for (const l of free.results.filter((r) => !r.startsWith('won '))) t.match(l, /^lost E_LOCKED /);
  t.notOk(existsSync(path), 'the winner released the lock on exit');

  const dead = sleeper();
  writeLock(path, { ...identityOf(dead.pid as number), started_at: 'earlier' });
  await stop(dead);
  const stale = await race(path, 10);
  t.equal(stale.winners, 1, `one winner over a stale lock: ${stale.results.join(' | ')}`);
  for (const l of stale.results.filter((r) => !r.startsWith('won '))) t.match(l, /^lost E_LOCKED /);
  t.notOk(existsSync(path));
  t.notOk(existsSync(`${path}.takeover`));
});
