import { appendFileSync, existsSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { ACTIVE_LOG, listLogFiles } from '../../src/events/log-files.js';
import { recoverLog } from '../../src/events/log-recovery.js';
import { LogStore } from '../../src/events/log-store.js';
import { lastTraceSeq } from '../../src/events/run-log-reconcile.js';
import { bootId } from '../../src/system/process-identity.js';
import { abandonStore, readLogEvents, runLogProblems } from '../fixtures-helpers/events.js';

const trace = (run: string, n: number, pad = ''): DomainEvent => ({ type: 'run.trace', data: { run_id: run, level: 'info', type: 'step', data: { n, pad } } });
const started = (boot: string): DomainEvent => ({ type: 'daemon.started', data: { pid: process.pid, version: 't', boot_id: boot, host: 'h' } });
const stopped = (complete: boolean): DomainEvent => ({ type: 'daemon.stopped', data: { pid: process.pid, reason: 'stop', run_logs_complete: complete } });
const tracePath = (root: string, run: string): string => join(root, 'runs', run, 'trace.jsonl');

async function write(root: string, events: DomainEvent[][]): Promise<StoredEvent[]> {
  const store = LogStore.open({ root });
  const out: StoredEvent[] = [];
  for (const batch of events) out.push(...(await store.append(batch)));
  await store.close();
  return out;
}

function reopen(root: string): { warnings: Array<Record<string, unknown>>; events: StoredEvent[]; store: LogStore } {
  const warnings: Array<Record<string, unknown>> = [];
  const events: StoredEvent[] = [];
  const store = LogStore.open({ root, onEvent: (e) => events.push(e), onWarning: (_m, d) => warnings.push(d) });
  return { warnings, events, store };
}

function dropLastLines(path: string, n: number): void {
  const lines = readFileSync(path, 'utf8').split('\n');
  lines.pop();
  writeFileSync(path, lines.slice(0, Math.max(0, lines.length - n)).map((l) => `${l}\n`).join(''));
}

t.test('completes a run log that is behind the global log', async (t) => {
  const root = t.testdir();
  await write(root, [[trace('a', 1), trace('b', 1)], [trace('a', 2)], [trace('a', 3), trace('b', 2)], [trace('a', 4)]]);
  dropLastLines(tracePath(root, 'a'), 2);
  rmSync(join(root, 'runs', 'b'), { recursive: true });
  const { warnings, events, store } = reopen(root);
  await store.close();
  t.match(warnings, [{ completed: 2, rebuilt: 0, linesWritten: 4 }]);
  t.same(runLogProblems(root, events), [], 'both run logs match again');
});

t.test('rebuilds a run log that is ahead of the global log or unreadable', async (t) => {
  const root = t.testdir();
  await write(root, [[trace('a', 1)], [trace('a', 2), trace('b', 1)], [trace('b', 2)]]);
  const a = tracePath(root, 'a');
  const lines = readFileSync(a, 'utf8').split('\n');
  appendFileSync(a, `${(lines[1] as string).replace('"seq":2', '"seq":3')}\n`); // one line more than the log has
  appendFileSync(tracePath(root, 'b'), 'not json\n');
  const { warnings, events, store } = reopen(root);
  await store.close();
  t.match(warnings, [{ completed: 0, rebuilt: 2 }]);
  t.same(runLogProblems(root, events), []);
});

t.test('cuts a torn last line of a run log and completes it', async (t) => {
  const root = t.testdir();
  await write(root, [[trace('a', 1)], [trace('a', 2)], [trace('a', 3)]]);
  const a = tracePath(root, 'a');
  const text = readFileSync(a, 'utf8');
  truncateSync(a, text.length - 10);
  t.equal(lastTraceSeq(a, false), -1, 'a torn run log is unreadable without fixing');
  const { events, store } = reopen(root);
  await store.close();
  t.same(runLogProblems(root, events), []);
});

t.test('reads the last seq of run logs with lines longer than its read window', async (t) => {
  const root = t.testdir();
  const big = 'x'.repeat(150 * 1024);
  await write(root, [[trace('a', 1, big)], [trace('a', 2, big)], [trace('a', 3, big)]]);
  const a = tracePath(root, 'a');
  t.equal(lastTraceSeq(a, false), 3);
  const size = readFileSync(a).length;
  truncateSync(a, size - 100 * 1024); // a torn third line longer than the 64 KiB window
  t.equal(lastTraceSeq(a, true), 2, 'the torn line is cut');
  t.equal(readFileSync(a, 'utf8').split('\n').length, 3, 'two whole lines remain');
  truncateSync(a, 1000); // a torn first line
  t.equal(lastTraceSeq(a, true), 0);
  t.equal(readFileSync(a).length, 0);
  t.equal(lastTraceSeq(join(root, 'runs', 'none', 'trace.jsonl'), true), 0, 'a missing run log is at 0');
  const { events, store } = reopen(root);
  await store.close();
  t.same(runLogProblems(root, events), [], 'reopening rebuilds it whole');
});

t.test('checks only the runs written since the last start of this boot, unless a stop says run logs are complete', async (t) => {
  const root = t.testdir();
  const boot = bootId();
  t.not(boot, '');
  const runsOf = async (batches: DomainEvent[][]): Promise<string[] | undefined> => {
    await write(root, batches);
    const set = recoverLog(root, { bootId: boot }).runsToReconcile;
    return set === undefined ? undefined : [...set].sort();
  };
  t.equal(await runsOf([[trace('a', 1)]]), undefined, 'no start recorded: every run');
  t.equal(await runsOf([[started('another-boot')], [trace('b', 1)]]), undefined, 'a start of another boot: every run');
  t.same(await runsOf([[started(boot)], [trace('c', 1)], [trace('d', 1)], [trace('c', 2)]]), ['c', 'd'], 'the runs since the start of this boot');
  t.same(await runsOf([[stopped(false)]]), ['c', 'd'], 'a stop without complete run logs keeps them');
  t.same(await runsOf([[stopped(true)], [trace('e', 1)]]), ['e'], 'a stop with complete run logs clears them');
  t.same(await runsOf([[started(boot)]]), [], 'a new start begins an empty set');
});

t.test('rebuilds the run log of a run whose acknowledged last event was cut as a damaged last line', async (t) => {
  // The run log line of an acknowledged event is written at once; if that event is later cut from
  // the global log (its last line was damaged on disk), the run log is one line ahead. Recovery
  // only checks the runs with events since this boot's last start, so a run whose only event since
  // then was the cut one is not checked, and the next append to it duplicates seq 2 in its run log.
  const root = t.testdir();
  await write(root, [[trace('a', 1)], [started(bootId())], [trace('a', 2)]]);
  const path = join(root, ACTIVE_LOG);
  const buf = readFileSync(path);
  const lastStart = buf.lastIndexOf(0x0a, buf.length - 2) + 1;
  buf[lastStart + 25] = (buf[lastStart + 25] as number) ^ 0x02;
  writeFileSync(path, buf);
  const { warnings, events, store } = reopen(root);
  t.match(warnings[0], { offset: lastStart }, 'the damaged last line was cut');
  t.equal(events.length, 2);
  t.same(runLogProblems(root, events), [], 'run log of a matches the global log after recovery');
  await store.append(trace('a', 3));
  await store.close();
  const seqs = readFileSync(tracePath(root, 'a'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
  t.same(seqs, [1, 2], 'no seq appears twice in the run log');
  t.same(runLogProblems(root, readLogEvents(root)), []);
  t.ok(existsSync(tracePath(root, 'a')));
});

t.test('keeps every run log whole after a repair sets a damaged line aside', async (t) => {
  // Repair no longer cuts the log at the damage: the runs after a damaged line keep their events and their run logs,
  // and the run logs agree with the repaired log line for line.
  const root = t.testdir();
  await write(root, [[trace('a', 1)], [trace('a', 2)], [{ type: 'profile.upserted', data: { runtime_profile: 'p', profile: {} } }], [trace('b', 1)], [trace('b', 2)]]);
  const path = join(root, ACTIVE_LOG);
  const before = readFileSync(tracePath(root, 'b'), 'utf8');
  const buf = readFileSync(path);
  const third = buf.indexOf(0x0a, buf.indexOf(0x0a) + 1) + 1;
  buf[third + 25] = (buf[third + 25] as number) ^ 0x02;
  writeFileSync(path, buf);
  const events: StoredEvent[] = [];
  const store = LogStore.open({ root, repair: true, onEvent: (e) => events.push(e) });
  t.same(events.map((e) => e.type), ['run.trace', 'run.trace', 'log.line_lost', 'run.trace', 'run.trace'], 'only the damaged line is replaced');
  t.same(runLogProblems(root, events), [], 'the run logs agree with the repaired log');
  t.equal(readFileSync(tracePath(root, 'b'), 'utf8'), before, 'the run log of b is untouched');
  await store.append(trace('b', 3));
  await store.close();
  const seqs = readFileSync(tracePath(root, 'b'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
  t.same(seqs, [1, 2, 3], 'and continues where it was');
});

/** Many small segments: each append of a padded line seals one. */
const SMALL = { segmentBytes: 600 };

t.test('completes a run log from the segment after its last line, not from the first segment', async (t) => {
  const root = t.testdir();
  const store = LogStore.open({ root, ...SMALL });
  for (let n = 1; n <= 12; n++) await store.append(trace('a', n, 'x'.repeat(300)));
  await store.close();
  dropLastLines(tracePath(root, 'a'), 1);
  const files = listLogFiles(root).length;
  const { warnings, events, store: again } = reopen(root);
  await again.close();
  t.ok(files > 6, `the log has ${files} files`);
  t.match(warnings, [{ completed: 1, linesWritten: 1 }]);
  t.ok((warnings[0]?.['filesRead'] as number) <= 2, `only the files from the missing line on are read (${String(warnings[0]?.['filesRead'])} of ${files})`);
  t.same(runLogProblems(root, events), [], 'the run log matches again');
});

t.test('a run born after the snapshot whose log a crash left uncreated is written from the tail alone; one still queued is left so', async (t) => {
  const root = t.testdir();
  // the first process never gets to create a run directory: it dies first
  const first = LogStore.open({ root, ...SMALL, runLogIo: { mkdir: () => undefined } });
  for (let n = 1; n <= 12; n++) await first.append(trace('old', n, 'x'.repeat(300)));
  const snapshotAt = first.position();
  const accepted = (run: string): DomainEvent[] => [
    { type: 'run.accepted', data: { run_id: run, request: { run_id: run, input: { goal: 'x' } }, request_hash: 'h' } },
    { type: 'run.queued', data: { run_id: run } },
  ];
  const ran = await first.append([...accepted('ran'), { type: 'run.routed', data: { run_id: 'ran', instance_id: 'i1' } } as DomainEvent]);
  await first.append(accepted('waits'));
  abandonStore(first);
  t.equal(existsSync(tracePath(root, 'ran')), false, 'the crash comes before the run that left the queue has a log');
  const files = listLogFiles(root).length;
  const warnings: Array<Record<string, unknown>> = [];
  const next = LogStore.open({ root, from: snapshotAt, onWarning: (_m, d) => warnings.push(d) });
  t.match(warnings, [{ rebuilt: 0, completed: 1, linesWritten: 3, leftQueued: 1 }], 'one written, the queued one left');
  t.ok((warnings[0]?.['filesRead'] as number) <= 2, `only the tail is read (${String(warnings[0]?.['filesRead'])} of ${files} files)`);
  t.same(runLogProblems(root, ran, new Set(['ran'])), [], 'its run log holds all three lines');
  t.equal(existsSync(tracePath(root, 'waits')), false, 'the run still queued has no log yet');
  t.same((await next.readRunTrace('waits', 1, 10)).map((l) => l.seq), [1, 2], 'and a read of it creates it whole');
  await next.close();
});

t.test('a run log whose last line points past its missing lines is still completed, from the whole log', async (t) => {
  const root = t.testdir();
  const store = LogStore.open({ root, ...SMALL });
  for (let n = 1; n <= 12; n++) await store.append(trace('a', n, 'x'.repeat(300)));
  await store.close();
  const path = tracePath(root, 'a');
  dropLastLines(path, 3);
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  const last = JSON.parse(lines.pop() as string) as { extensions: { 'arpd.event': { seq: number } } };
  last.extensions['arpd.event'].seq = 1_000_000;
  writeFileSync(path, [...lines, JSON.stringify(last)].map((l) => `${l}\n`).join(''));
  const { warnings, events, store: again } = reopen(root);
  await again.close();
  t.match(warnings, [{ completed: 1, linesWritten: 3 }], 'the three missing lines are written');
  const seqs = readFileSync(path, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { seq: number }).seq);
  t.same(seqs, events.map((e) => e.rev), 'every line of the run, in order, once');
});

/**
 * A log where run 'a' is pruned and its id then used again (its stream starts over at rev 1, as the registry asks for
 * a pruned run), and run 'b' is pruned for good. The run dirs are deleted at the prune, as the fold does.
 */
async function writeReused(root: string): Promise<StoredEvent[]> {
  const revs = new Map<string, number>();
  const store = LogStore.open({ root, revOf: (s) => revs.get(s) ?? 0 });
  const out: StoredEvent[] = [];
  const append = async (batch: DomainEvent[]): Promise<void> => {
    const got = await store.append(batch);
    for (const e of got) {
      revs.set(e.stream, e.rev);
      if (e.type === 'runs.pruned') for (const r of e.data.runs) revs.delete(`run:${r.run_id}`);
    }
    out.push(...got);
  };
  await append([trace('a', 1, 'old'), trace('b', 1, 'old')]);
  await append([trace('a', 2, 'old'), trace('a', 3, 'old')]);
  await store.runLogsWritten();
  await append([{ type: 'runs.pruned', data: { runs: [{ run_id: 'a', state: 'succeeded' }, { run_id: 'b', state: 'succeeded' }], before: '2026-01-01T00:00:00.000Z' } }]);
  rmSync(join(root, 'runs', 'a'), { recursive: true });
  rmSync(join(root, 'runs', 'b'), { recursive: true });
  await append([trace('a', 1, 'new')]);
  await append([trace('a', 2, 'new')]);
  await store.close();
  return out;
}

const pads = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '')
  .map((l) => (JSON.parse(l) as { data: { pad: string } }).data.pad);

t.test('a lost run log of a run id used again after a prune is rebuilt with the new run alone, and a pruned run\'s is not made again', async (t) => {
  const root = t.testdir();
  await writeReused(root);
  t.same(pads(tracePath(root, 'a')), ['new', 'new'], 'the new run has a log of its own');
  rmSync(join(root, 'runs', 'a'), { recursive: true });
  const { warnings, store } = reopen(root); // no daemon.started of this boot: every run log is checked
  await store.close();
  t.match(warnings, [{ completed: 1, rebuilt: 0 }]);
  t.same(pads(tracePath(root, 'a')), ['new', 'new'], 'rebuilt from the prune on');
  t.notOk(existsSync(join(root, 'runs', 'b')), 'the pruned run\'s directory stays deleted');
});

t.test('a stream read of a run id used again after a prune gives the new run\'s events alone', async (t) => {
  const root = t.testdir();
  await writeReused(root);
  const { store } = reopen(root);
  t.same((await store.readStream('run:a', 1, 100)).map((e) => (e.data as unknown as { data: { pad: string } }).data.pad), ['new', 'new']);
  t.same((await store.readStream('run:a', 2, 1)).map((e) => [e.rev, (e.data as unknown as { data: { pad: string } }).data.pad]), [[2, 'new']], 'from a rev, with a limit');
  await store.close();
});
