/**
 * Run logs are written off the commit path: an append is acknowledged after the global fdatasync, and its run's
 * directory, file and line come a moment later. These tests hold the run-log file operations (`runLogIo`) to stand
 * in the gap between the ack and the run-log write, and check that readers, a clean stop and the next boot still see
 * every line.
 */
import { existsSync, mkdir, readFileSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { LogStore, type LogStoreOptions } from '../../src/events/log-store.js';
import type { RunLogIo } from '../../src/events/run-log-queue.js';
import { bootId } from '../../src/system/process-identity.js';
import { readLogEvents, runLogProblems } from '../fixtures-helpers/events.js';

const trace = (runId: string, n: number): DomainEvent => ({ type: 'run.trace', data: { run_id: runId, level: 'info', type: 'step', data: { n } } });
/** What a submit appends for a run no instance takes yet. */
const queued = (runId: string): DomainEvent[] => [
  { type: 'run.accepted', data: { run_id: runId, request: { run_id: runId, input: { goal: 'x' } }, request_hash: 'h' } },
  { type: 'run.queued', data: { run_id: runId } },
];
const routed = (runId: string): DomainEvent => ({ type: 'run.routed', data: { run_id: runId, instance_id: 'i1' } } as DomainEvent);
/** Lets the thread pool's callbacks and the queue's timers run. */
const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 50));
const tracePath = (root: string, run: string): string => join(root, 'runs', run, 'trace.jsonl');

/**
 * Holds every new run directory's `mkdir` until `release()` (or forever: a process that dies in the gap); after
 * `release()` they go on at once. `calls` is every directory asked for, in order.
 */
class HeldMkdir {
  private held: Array<() => void> = [];
  private dirs: string[] = [];
  private released = false;
  readonly calls: string[] = [];
  readonly io: Partial<RunLogIo> = {
    mkdir: (dir, cb) => {
      this.calls.push(basename(dir));
      const go = (): void => mkdir(dir, { mode: 0o700 }, (err) => cb(err !== null && err.code !== 'EEXIST' ? err : null));
      if (this.released) { go(); return; }
      this.dirs.push(basename(dir));
      this.held.push(go);
    },
  };

  get waiting(): number {
    return this.held.length;
  }

  release(): void {
    this.released = true;
    const held = this.held;
    this.held = [];
    this.dirs = [];
    for (const go of held) go();
  }

  /** Lets the creation of one run's directory go on, holding the others. */
  releaseRun(runId: string): void {
    const i = this.dirs.indexOf(runId);
    if (i === -1) throw new Error(`no held directory for ${runId}`);
    this.dirs.splice(i, 1);
    const [go] = this.held.splice(i, 1);
    go?.();
  }
}

function open(root: string, extra: Partial<LogStoreOptions> = {}): { store: LogStore; recovered: StoredEvent[]; warnings: Array<Record<string, unknown>> } {
  const recovered: StoredEvent[] = [];
  const warnings: Array<Record<string, unknown>> = [];
  const store = LogStore.open({ root, onEvent: (e) => recovered.push(e), onWarning: (_m, d) => warnings.push(d), ...extra });
  return { store, recovered, warnings };
}

t.test('acknowledges an append before its new run has a directory: the run log is created off the commit path', async (t) => {
  const root = t.testdir();
  const held = new HeldMkdir();
  const { store } = open(root, { runLogIo: held.io });
  const acked = await store.append([trace('r1', 1), trace('r1', 2)]);
  t.equal(acked.length, 2, 'acknowledged');
  t.equal(existsSync(join(root, 'runs', 'r1')), false, 'no run directory yet at the ack');
  t.equal(held.waiting, 1, 'its creation is under way');
  held.release();
  await store.close();
  t.same(runLogProblems(root, acked), [], 'the run log is whole after the stop');
});

t.test('a trace read right after a run\'s first events is complete although the run log is written after the ack', async (t) => {
  const root = t.testdir();
  const held = new HeldMkdir();
  const { store } = open(root, { runLogIo: held.io });
  await store.append([trace('r1', 1), trace('r1', 2)]);
  await store.append(trace('r1', 3));
  t.equal(existsSync(tracePath(root, 'r1')), false, 'the run log is not there yet');
  const reading = store.readRunTrace('r1', 1, 100);
  const last = store.readRunTrace('r1', 3, 1);
  held.release();
  const lines = await reading;
  t.same(lines.map((l) => l.seq), [1, 2, 3], 'every acknowledged line, in order');
  t.same((await last).map((l) => l.seq), [3], 'the newest line, looked up alone');
  // once the file exists, lines handed over but not written yet are written before the read
  await store.append(trace('r1', 4));
  t.same((await store.readRunTrace('r1', 1, 100)).map((l) => l.seq), [1, 2, 3, 4], 'a line queued behind an open file is written before the read');
  await store.close();
});

t.test('a follower of a run gets every line, without a gap, while the run log lags the global log', async (t) => {
  const root = t.testdir();
  const held = new HeldMkdir();
  const { store } = open(root, { runLogIo: held.io });
  await store.append([trace('r1', 1), trace('r1', 2)]);
  // what runs.follow does: live first, then the run log from the start
  const seen: number[] = [];
  store.live$.subscribe((e) => { if (e.stream === 'run:r1') seen.push(e.rev); });
  const page = store.readRunTrace('r1', 1, 500);
  await store.append(trace('r1', 3));
  held.release();
  const fromLog = (await page).map((l) => l.seq);
  const all = [...new Set([...fromLog, ...seen])].sort((a, b) => a - b);
  t.same(all, [1, 2, 3], 'the run log page and the live events together hold every line');
  t.ok(fromLog.includes(1) && fromLog.includes(2), 'the lines published before the read are in the page');
  await store.close();
});

t.test('a clean stop writes every run log line before the final event says the run logs are complete', async (t) => {
  const root = t.testdir();
  const held = new HeldMkdir();
  const { store } = open(root, { runLogIo: held.io });
  const acked = await store.append([trace('a', 1), trace('b', 1), trace('a', 2)]);
  let seenAtFinal: string[] = [];
  const closing = store.close(() => {
    seenAtFinal = runLogProblems(root, acked);
    return [{ type: 'daemon.stopped', data: { pid: process.pid, reason: 'stop', run_logs_complete: store.runLogsComplete } }];
  });
  held.release();
  await closing;
  t.same(seenAtFinal, [], 'when the final event is built, every run log is whole');
  t.equal(store.runLogsComplete, true);
});

t.test('a crash between the ack and the run-log write loses nothing: boot reconciles the run log from the global log', async (t) => {
  const root = t.testdir();
  const held = new HeldMkdir();
  const first = open(root, { runLogIo: held.io });
  const acked = [
    ...(await first.store.append([trace('new-run', 1), trace('new-run', 2)])),
    ...(await first.store.append(trace('other', 1))),
  ];
  t.equal(existsSync(join(root, 'runs', 'new-run')), false, 'the first process dies before the run directories exist');
  // never released nor closed: the process is gone; the next one opens the same data dir
  const next = open(root);
  t.same(next.recovered.map((e) => e.seq), acked.map((e) => e.seq), 'every acknowledged event is in the global log');
  t.match(next.warnings, [{ completed: 2, linesWritten: 3 }], 'boot completed both run logs');
  t.same(runLogProblems(root, next.recovered), [], 'the run logs match the global log again');
  t.same((await next.store.readRunTrace('new-run', 1, 10)).map((l) => l.seq), [1, 2]);
  await next.store.close();
});

t.test('a run log that cannot be created is read from the global log, and the stop says the run logs are incomplete', async (t) => {
  const root = t.testdir();
  const io: Partial<RunLogIo> = {
    open: (_path, cb) => { const err = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }); setImmediate(() => cb(err, -1)); },
  };
  const { store } = open(root, { runLogIo: io });
  await store.append([trace('r1', 1), trace('r1', 2)]);
  await store.append(trace('r2', 1));
  const lines = await store.readRunTrace('r1', 1, 100);
  t.same(lines.map((l) => l.seq), [1, 2], 'the trace is answered from the global log');
  t.same(lines.map((l) => l.extensions?.['arpd.event']?.seq), [1, 2], 'with the same lines a run log holds');
  t.equal(store.runLogsComplete, false, 'this process lost run log lines');
  await store.close();
  t.equal(existsSync(tracePath(root, 'r1')), false, 'the file that failed to open holds nothing');
  const next = open(root);
  t.same(runLogProblems(root, next.recovered), [], 'the next boot completes them');
  await next.store.close();
});

t.test('waiting for the written run logs is not held up by runs that arrive afterwards', async (t) => {
  const root = t.testdir();
  const held = new HeldMkdir();
  const { store } = open(root, { runLogIo: held.io });
  const before = await store.append(trace('before', 1));
  const waiting = store.runLogsWritten();
  await store.append(trace('after', 1));
  held.releaseRun('before');
  await waiting;
  t.same(runLogProblems(root, before, new Set(['before'])), [], 'the run log handed over before the wait is written');
  t.equal(existsSync(join(root, 'runs', 'after')), false, 'the later run is still held');
  held.release();
  await store.close();
});

t.test('after a failed run-log write nothing more is appended to that run log, and the next boot completes it', async (t) => {
  const root = t.testdir();
  let failNext = false;
  const io: Partial<RunLogIo> = {
    write: (fd, text) => {
      if (failNext) { failNext = false; throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' }); }
      writeSync(fd, text);
    },
  };
  const { store } = open(root, { runLogIo: io });
  await store.append(trace('r1', 1));
  t.same((await store.readRunTrace('r1', 1, 10)).map((l) => l.seq), [1]);
  failNext = true;
  await store.append(trace('r1', 2));
  t.same((await store.readRunTrace('r1', 1, 10)).map((l) => l.seq), [1, 2], 'the failed line is read from the global log');
  await store.append(trace('r1', 3));
  t.same((await store.readRunTrace('r1', 1, 10)).map((l) => l.seq), [1, 2, 3], 'and so are the later ones');
  t.equal(readFileSync(tracePath(root, 'r1'), 'utf8').split('\n').length - 1, 1, 'the run log stops at its last whole line: no gap in the middle');
  t.equal(store.runLogsComplete, false);
  await store.close();
  const next = open(root);
  t.same(runLogProblems(root, next.recovered), [], 'the next boot completes it from the global log');
  await next.store.close();
});

t.test('a run is seen ended only once its run log holds the ending line: a reader of the file after the end reads it whole', async (t) => {
  const root = t.testdir();
  const held = new HeldMkdir();
  const { store } = open(root, { runLogIo: held.io });
  const seen: string[] = [];
  const sub = store.live$.subscribe((e) => {
    if (e.type !== 'run.succeeded') return;
    // what a client does once it is told the run ended: read the trace file
    const lines = existsSync(tracePath(root, 'r1')) ? readFileSync(tracePath(root, 'r1'), 'utf8').trim().split('\n') : [];
    seen.push(JSON.parse(lines.at(-1) ?? '{}').type ?? 'nothing');
  });
  await store.append([trace('r1', 1), trace('r1', 2)]);
  const ending = store.append({ type: 'run.succeeded', data: { run_id: 'r1', result: { ok: true } } });
  let acked = false;
  void ending.then(() => { acked = true; });
  await new Promise((r) => setTimeout(r, 50));
  t.same(seen, [], 'not seen ended while the run log cannot be written yet');
  t.equal(acked, false, 'nor acknowledged');
  held.release();
  await ending;
  t.same(seen, ['succeeded'], 'seen ended with the ending line already in the file');
  sub.unsubscribe();
  await store.close();
});

t.test('a queued run has no directory: its log is created, with every line in order, when the run leaves the queue', async (t) => {
  const root = t.testdir();
  const held = new HeldMkdir();
  held.release();
  const { store } = open(root, { runLogIo: held.io });
  const acked = await store.append(queued('q1'));
  await settle();
  t.equal(existsSync(join(root, 'runs', 'q1')), false, 'no directory while the run waits in the queue');
  t.same(held.calls, [], 'and no mkdir was asked for');
  acked.push(...(await store.append(routed('q1'))));
  await store.readRunTrace('q1', 1, 10);
  t.same(held.calls, ['q1'], 'routing creates it');
  t.same(runLogProblems(root, acked), [], 'with the lines of the acceptance before the routing line');
  t.same(readFileSync(tracePath(root, 'q1'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).extensions['arpd.event'].type), ['run.accepted', 'run.queued', 'run.routed']);
  await store.close();
});

t.test('reading the trace of a queued run creates its log and answers every line', async (t) => {
  const root = t.testdir();
  const { store } = open(root);
  await store.append(queued('q1'));
  t.same((await store.readRunTrace('q1', 1, 10)).map((l) => l.seq), [1, 2], 'both lines of the acceptance');
  t.ok(existsSync(tracePath(root, 'q1')), 'the file is there for tail -f from now on');
  await store.close();
});

t.test('a snapshot waits for the queued runs\' logs to be created: a boot from it completes only the tail', async (t) => {
  const root = t.testdir();
  const { store } = open(root);
  const acked = await store.append([...queued('q1'), ...queued('q2')]);
  await store.runLogsWritten();
  t.same(runLogProblems(root, acked), [], 'every queued run\'s log is whole once the snapshot\'s wait is over');
  await store.close();
});

t.test('a clean stop writes the logs of a few queued runs', async (t) => {
  const root = t.testdir();
  const { store } = open(root, { queuedLogsAtStop: 2 });
  const acked = await store.append([...queued('q1'), ...queued('q2')]);
  await store.close();
  t.same(runLogProblems(root, acked), [], 'both logs are on disk after the stop');
  t.ok(existsSync(tracePath(root, 'q1')) && existsSync(tracePath(root, 'q2')));
});

t.test('a clean stop leaves the logs of many queued runs uncreated and says the run logs are not complete; the next boot leaves them so', async (t) => {
  const root = t.testdir();
  const { store } = open(root, { queuedLogsAtStop: 0 });
  const acked = await store.append(queued('q1'));
  t.equal(store.runLogsWaiting, 1, 'one queued run without a log');
  let complete: boolean | undefined;
  await store.close(() => {
    complete = store.runLogsComplete && store.runLogsWaiting === 0;
    return [{ type: 'daemon.stopped', data: { pid: process.pid, reason: 'stop', run_logs_complete: complete } }];
  });
  t.equal(existsSync(join(root, 'runs', 'q1')), false, 'the stop creates no directory for it');
  t.equal(complete, false, 'the stop does not claim every run log is written');
  const next = open(root);
  t.match(next.store.reconciled, { leftQueued: 1, completed: 0, rebuilt: 0 }, 'a boot that replays the whole log leaves it queued');
  t.equal(existsSync(join(root, 'runs', 'q1')), false);
  await next.store.readRunTrace('q1', 1, 10);
  t.same(runLogProblems(root, acked), [], 'a read of its trace creates it whole');
  await next.store.close();
});

t.test('a boot that replays the tail after a snapshot leaves the logs of runs still queued uncreated, until they leave the queue', async (t) => {
  const root = t.testdir();
  const first = open(root);
  await first.store.append(trace('older', 1));
  await first.store.runLogsWritten();
  const snapshotAt = first.store.position();
  const acked = await first.store.append([...queued('q1'), ...queued('q2')]);
  await first.store.close(); // below the default: their logs are written
  rmSync(join(root, 'runs', 'q1'), { recursive: true });
  rmSync(join(root, 'runs', 'q2'), { recursive: true }); // as a stop with many queued runs leaves them
  const next = open(root, { from: snapshotAt });
  t.match(next.store.reconciled, { leftQueued: 2, completed: 0, rebuilt: 0 }, 'both runs are left queued');
  t.equal(existsSync(join(root, 'runs', 'q1')), false, 'no directory at boot');
  t.equal(next.store.runLogsWaiting, 2);
  acked.push(...(await next.store.append(routed('q1'))));
  t.same((await next.store.readRunTrace('q1', 1, 10)).map((l) => l.extensions?.['arpd.event']?.type), ['run.accepted', 'run.queued', 'run.routed'], 'leaving the queue creates it with every line');
  t.same((await next.store.readRunTrace('q2', 1, 10)).map((l) => l.seq), [1, 2], 'a read creates the other one');
  t.same(runLogProblems(root, acked, new Set(['q1', 'q2'])), [], 'both run logs match the global log');
  await next.store.close();
});

t.test('a crash while runs are queued loses nothing: the next boot knows their lines and writes them when asked', async (t) => {
  const root = t.testdir();
  const first = open(root);
  const acked = await first.store.append([...queued('q1'), ...queued('q2')]);
  t.equal(existsSync(join(root, 'runs', 'q1')), false, 'the process dies while the runs wait');
  const next = open(root);
  t.equal(next.store.runLogsWaiting, 2, 'both are queued without a log again');
  t.same((await next.store.readRunTrace('q2', 1, 10)).map((l) => l.extensions?.['arpd.event']?.seq), [3, 4], 'a read answers its lines');
  await next.store.close(); // a snapshot-less stop: q1 stays without a log
  t.same(runLogProblems(root, acked, new Set(['q2'])), [], 'q2\'s log is whole');
});

t.test('a run queued before two crashes in a row gets every line in its log once it leaves the queue', async (t) => {
  // found by the model test: the boot after the second crash checked only the runs written since the last start,
  // so it did not know q1 had waited without a log, and created it with the routed line alone
  const root = t.testdir();
  const started = (host: string): DomainEvent => ({ type: 'daemon.started', data: { pid: process.pid, version: 'test', boot_id: bootId(), host } } as DomainEvent);
  const first = open(root);
  await first.store.append(started('first'));
  await first.store.append(queued('q1'));
  const second = open(root); // the first process died with q1 queued
  t.equal(second.store.runLogsWaiting, 1, 'q1 waits without a log');
  await second.store.append(started('second'));
  const third = open(root); // the second process died too, having written nothing of q1's
  t.equal(third.store.runLogsWaiting, 1, 'q1 still waits without a log');
  await third.store.append(routed('q1'));
  await third.store.close();
  t.same(runLogProblems(root, readLogEvents(root)), [], 'q1\'s log holds its acceptance, its queueing and its routing, in order');
  t.same(readFileSync(tracePath(root, 'q1'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { extensions: Record<string, { type: string }> }).extensions['arpd.event']?.type), ['run.accepted', 'run.queued', 'run.routed']);
});

t.test('run logs are created one at a time, and a run that needs its file goes before those a snapshot asks for', async (t) => {
  const root = t.testdir();
  const held = new HeldMkdir();
  const { store } = open(root, { runLogIo: held.io });
  await store.append(trace('busy', 1));
  await store.append([...queued('x'), ...queued('y'), ...queued('z')]);
  await store.append([trace('a', 1), trace('b', 1)]);
  t.equal(held.waiting, 1, 'one creation under way, the others wait their turn');
  const snapshotWait = store.runLogsWritten();
  const acked = await store.append(routed('z'));
  const zRead = store.readRunTrace('z', 1, 10);
  held.release();
  await snapshotWait;
  t.same((await zRead).map((l) => l.extensions?.['arpd.event']?.seq), [6, 7, acked[0]?.seq], 'the routed run\'s trace is whole');
  t.same(held.calls, ['busy', 'a', 'b', 'z', 'x', 'y'], 'the runs that need a file first, then the queued ones');
  await store.close();
});
