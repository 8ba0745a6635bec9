/**
 * The run-log queue on its own, on a real file system in a temp dir, with the creation of a run's directory held on
 * its way through the thread pool: what a close (or a forget) does to a creation already under way.
 */
import { existsSync, mkdir, open, readdirSync, readFileSync, rmdir } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import { RunLogQueue, type RunLogIo } from '../../src/events/run-log-queue.js';
import { FIXED_TS } from '../fixtures-helpers/events.js';

const traceEvent = (runId: string, seq: number): StoredEvent => ({
  seq, id: `e${seq}`, ts: FIXED_TS, stream: `run:${runId}`, rev: seq, type: 'run.trace', v: 1,
  data: { run_id: runId, level: 'info', type: 'step', data: { n: seq } }, meta: {},
} as StoredEvent);

/**
 * Real file operations, with each `mkdir` held until `release()`: the mkdir then runs on the thread pool as it would
 * have. `settled` resolves once the creation it started has finished (the file opened, or the directory taken back).
 */
function heldIo(): { io: Partial<RunLogIo>; opened: string[]; release: () => void; settled: Promise<void>; asked: () => number } {
  const held: Array<() => void> = [];
  const opened: string[] = [];
  let settle = (): void => undefined;
  const settled = new Promise<void>((resolve) => { settle = resolve; });
  const io: Partial<RunLogIo> = {
    mkdir: (dir, cb) => { held.push(() => mkdir(dir, { mode: 0o700 }, (err) => cb(err !== null && err.code !== 'EEXIST' ? err : null))); },
    open: (path, cb) => {
      opened.push(path);
      open(path, 'a', 0o600, (err, fd) => { cb(err, fd); settle(); });
    },
    rmdir: (dir, cb) => rmdir(dir, () => { cb(); settle(); }),
  };
  return { io, opened, release: () => { for (const go of held.splice(0)) go(); }, settled, asked: () => held.length };
}

t.test('a close while a run directory is being created opens no file and leaves no directory behind', async (t) => {
  const runs = t.testdir();
  const h = heldIo();
  const q = new RunLogQueue(runs, h.io);
  q.add([traceEvent('r1', 1)]);
  t.equal(h.asked(), 1, 'the creation is on its way (its mkdir asked for)');
  q.close();
  h.release(); // the mkdir, already handed to the thread pool, finishes after the close
  await h.settled;
  t.same(h.opened, [], 'no file was opened after the close');
  t.notOk(existsSync(join(runs, 'r1')), 'and the directory the late mkdir made is gone');
  t.same(readdirSync(runs), []);
});

t.test('a forget while a run directory is being created opens no file, and the next run log is created after it', async (t) => {
  const runs = t.testdir();
  const h = heldIo();
  const q = new RunLogQueue(runs, h.io);
  q.add([traceEvent('r1', 1)]);
  q.forget('r1');
  q.add([traceEvent('r2', 2)]);
  t.equal(h.asked(), 1, 'the next creation waits its turn');
  h.release();
  await h.settled;
  t.same(h.opened, [], 'no file was opened for the forgotten run');
  t.notOk(existsSync(join(runs, 'r1')), 'and its directory is gone');
  t.equal(h.asked(), 1, 'then the next creation starts');
  h.release();
  await q.written('r2');
  t.same(h.opened, [join(runs, 'r2', 'trace.jsonl')], 'and its run log is created');
  t.match(readFileSync(join(runs, 'r2', 'trace.jsonl'), 'utf8'), /"seq":2/);
  q.close();
});
