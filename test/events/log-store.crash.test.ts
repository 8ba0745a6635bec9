/**
 * Real crashes of a real writer process, reopened as the next daemon would (take over the lock,
 * recover, reconcile run logs):
 * - a child appends with several concurrent appenders and prints each acknowledged event; the test
 *   SIGKILLs it at a random moment after its first acknowledgement. The kill lands between commits,
 *   during a write or during a sync, wherever it falls: every acknowledged event survives, seqs run
 *   from 1 without a gap, run logs match the global log, and appends work again. (A SIGKILL almost
 *   never lands inside one write(): this part does not claim to tear lines, the next one does.)
 * - a child whose injected `write` (StoreIo) puts only part of one group commit in the file, ending
 *   inside a line, and is then SIGKILLed while the store waits to write the rest: recovery cuts
 *   exactly the partial line, keeps every whole line (every acknowledged event among them), and the
 *   store takes appends again.
 * `npm test` kills a few times; `npm run soak` (ARPD_SOAK=1) hundreds of times. ARPD_CRASH_KILLS
 * (per dir) and ARPD_CRASH_TEARS override the counts, ARPD_CRASH_SEED replays a schedule.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { acquireLock } from '../../src/events/data-lock.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { ACTIVE_LOG, listLogFiles } from '../../src/events/log-files.js';
import { LogStore } from '../../src/events/log-store.js';
import { lastTraceSeq } from '../../src/events/run-log-reconcile.js';
import { finished, spawnHelper } from '../fixtures-helpers/child.js';
import { removeDir, runLogProblems, tempDir, waitsInQueue } from '../fixtures-helpers/events.js';
import { SOAK, soakCount } from '../helpers/soak.js';

const KILLS_PER_DIR = soakCount('ARPD_CRASH_KILLS', { ci: 2, soak: 50 });
const TEARS = soakCount('ARPD_CRASH_TEARS', { ci: 4, soak: 100 });
// a small segment size rolls the log often (kills and tears land just after a roll too)
const DIRS = SOAK
  ? [{ segmentBytes: 256 * 1024 }, { segmentBytes: 256 * 1024 }, { segmentBytes: 128 * 1024 * 1024 }, { segmentBytes: 128 * 1024 * 1024 }]
  : [{ segmentBytes: 256 * 1024 }, { segmentBytes: 128 * 1024 * 1024 }];
const MAX_DELAY_MS = 25;

/** A small seeded PRNG so a failing schedule can be replayed (the seed is in the test output). */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
    s = Math.imul(s ^ (s >>> 12), 0x297a2d39) >>> 0;
    return ((s ^ (s >>> 15)) >>> 0) / 0x100000000;
  };
}

interface Life { acks: Array<[number, string]>; signal: NodeJS.Signals | null; code: number | null; stderr: string }

/**
 * Starts the appender, which SIGKILLs itself `delayMs` after its first acknowledgement; returns what it acknowledged.
 * The test kills it too, later, in case it did not (the test's own timer may fire late: it checks the other data dirs
 * in the same process, synchronously, while this appender runs).
 */
async function liveAndDie(dir: string, segmentBytes: number, delayMs: number): Promise<Life> {
  const child = spawnHelper('crash-appender.ts', [dir, String(segmentBytes), '6', String(delayMs)]);
  child.stdin?.end();
  let pending = '';
  const acks: Array<[number, string]> = [];
  let timer: NodeJS.Timeout | undefined;
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    pending += s;
    const nl = pending.lastIndexOf('\n');
    if (nl === -1) return;
    for (const line of pending.slice(0, nl).split('\n')) {
      const [seq, id] = line.split(' ');
      acks.push([Number(seq), id as string]);
    }
    pending = pending.slice(nl + 1);
    if (timer === undefined) timer = setTimeout(() => child.kill('SIGKILL'), delayMs + 5000);
  });
  const r = await finished(child);
  if (timer !== undefined) clearTimeout(timer);
  return { acks, signal: r.signal, code: r.code, stderr: r.stderr };
}

interface DirStats { kills: number; acked: number; cuts: number; runLogsCompleted: number; events: number; problems: string[] }

async function crashLoop(dir: string, segmentBytes: number, random: () => number): Promise<DirStats> {
  const stats: DirStats = { kills: 0, acked: 0, cuts: 0, runLogsCompleted: 0, events: 0, problems: [] };
  let checkedUpTo = 0;
  for (let i = 0; i < KILLS_PER_DIR && stats.problems.length === 0; i++) {
    const delay = Math.floor(random() * MAX_DELAY_MS);
    const life = await liveAndDie(dir, segmentBytes, delay);
    const where = `${dir} kill ${i} (after ${delay} ms)`;
    if (life.signal !== 'SIGKILL') {
      stats.problems.push(`${where}: the appender ended by itself (${String(life.code)}): ${life.stderr}`);
      break;
    }
    stats.kills++;
    stats.acked += life.acks.length;

    // reopen as the next daemon would: take over the dead writer's lock, recover, reconcile
    const lock = acquireLock(join(dir, 'arpd.lock'));
    const events: StoredEvent[] = [];
    const store = LogStore.open({
      root: dir, segmentBytes,
      onEvent: (e) => events.push(e),
      onWarning: (message, details) => {
        if (typeof details['offset'] === 'number') stats.cuts++;
        else if (typeof details['completed'] === 'number') stats.runLogsCompleted += details['completed'];
        else stats.problems.push(`${where}: unexpected warning ${message}`);
      },
    });
    try {
      for (const [index, e] of events.entries()) {
        if (e.seq !== index + 1) { stats.problems.push(`${where}: seq ${e.seq} at position ${index + 1}`); break; }
      }
      for (const [seq, id] of life.acks) {
        if (events[seq - 1]?.id !== id) stats.problems.push(`${where}: acknowledged seq ${seq} (${id}) is ${events[seq - 1]?.id ?? 'missing'}`);
      }
      // the runs this life wrote to (earlier ones were checked after earlier kills, and at the end)
      const revs = new Map<string, number>();
      for (const e of events) revs.set(e.stream, e.rev);
      const touched = new Set<string>();
      for (const e of events.slice(checkedUpTo)) if (e.stream.startsWith('run:')) touched.add(e.stream.slice(4));
      for (const runId of touched) {
        const rev = revs.get(`run:${runId}`);
        const traceSeq = lastTraceSeq(join(dir, 'runs', runId, 'trace.jsonl'), false);
        if (traceSeq === 0 && waitsInQueue(events, runId)) continue; // its log is created when it leaves the queue
        if (traceSeq !== rev) stats.problems.push(`${where}: run log of ${runId} ends at seq ${traceSeq}, the stream is at rev ${String(rev)}`);
      }
      const last = i === KILLS_PER_DIR - 1;
      stats.problems.push(...runLogProblems(dir, events, last ? undefined : touched).map((p) => `${where}: ${p}`));
      checkedUpTo = events.length;
      const again = await store.append({ type: 'profile.upserted', data: { runtime_profile: 'after-crash', profile: { i } } });
      if (again[0]?.seq !== events.length + 1) stats.problems.push(`${where}: the append after reopening got seq ${again[0]?.seq}, want ${events.length + 1}`);
      stats.events = events.length + 1;
    } finally {
      await store.close();
      lock.release();
    }
    if (existsSync(join(dir, 'arpd.lock'))) stats.problems.push(`${where}: the lock file outlived its release`);
  }
  return stats;
}

const SEED = Number(process.env['ARPD_CRASH_SEED'] ?? Date.now() % 0x7fffffff);

t.test(`keeps every acknowledged event and takes appends again after ${KILLS_PER_DIR * DIRS.length} SIGKILLs at random moments`, async (t) => {
  const seed = SEED;
  t.comment(`seed ${seed} (set ARPD_CRASH_SEED to replay the same delays)`);
  const dirs = DIRS.map(() => tempDir('crash'));
  t.teardown(() => { for (const d of dirs) removeDir(d); });
  const started = Date.now();
  const results = await Promise.all(DIRS.map((d, i) => crashLoop(dirs[i] as string, d.segmentBytes, prng(seed + i))));
  const seconds = (Date.now() - started) / 1000;
  const total = (k: keyof Omit<DirStats, 'problems'>): number => results.reduce((n, r) => n + r[k], 0);
  t.comment(`${total('kills')} kills in ${seconds.toFixed(1)} s: ${total('acked')} acknowledged events, ${total('events')} events in the logs, ${total('cuts')} torn tails cut (a kill inside a write is rare), ${total('runLogsCompleted')} run logs completed`);
  t.same(results.flatMap((r) => r.problems), [], 'no acknowledged event was lost and every run log matches');
  t.equal(total('kills'), KILLS_PER_DIR * DIRS.length, 'every life ended in SIGKILL');
  t.ok(total('acked') > total('kills'), 'each life acknowledged events before dying');
});

interface TornLife { acks: Array<[number, string]>; torn: { before: number; written: number; total: number } | undefined; signal: NodeJS.Signals | null; code: number | null; stderr: string }

/** Starts the torn appender and SIGKILLs it as soon as it reports the half-written commit. */
async function tearAndDie(dir: string, segmentBytes: number, tearAt: number, fraction: number): Promise<TornLife> {
  const child = spawnHelper('torn-appender.ts', [dir, String(segmentBytes), String(tearAt), String(fraction), '4']);
  child.stdin?.end();
  const life: Omit<TornLife, 'signal' | 'code' | 'stderr'> = { acks: [], torn: undefined };
  let pending = '';
  // a child that never tears is a failure of the test, not a hang: it is killed and reported
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  child.stdout?.setEncoding('utf8').on('data', (s: string) => {
    pending += s;
    const nl = pending.lastIndexOf('\n');
    if (nl === -1) return;
    for (const line of pending.slice(0, nl).split('\n')) {
      const [first, second, third, fourth] = line.split(' ');
      if (first === 'torn') {
        life.torn = { before: Number(second), written: Number(third), total: Number(fourth) };
        child.kill('SIGKILL');
      } else {
        life.acks.push([Number(first), second as string]);
      }
    }
    pending = pending.slice(nl + 1);
  });
  const r = await finished(child);
  clearTimeout(guard);
  return { ...life, signal: r.signal, code: r.code, stderr: r.stderr };
}

const newlines = (b: Buffer): number => b.reduce((n, x) => n + (x === 0x0a ? 1 : 0), 0);

t.test(`cuts exactly the torn part of a half-written commit after ${TEARS} real kills, keeping every whole line and every acknowledged event`, async (t) => {
  t.comment(`seed ${SEED} (set ARPD_CRASH_SEED to replay the same tears)`);
  const random = prng(SEED ^ 0x5eed);
  const dirs = [tempDir('torn'), tempDir('torn')];
  t.teardown(() => { for (const d of dirs) removeDir(d); });
  let acked = 0;
  let wholeLinesOfTornCommits = 0;
  for (let i = 0; i < TEARS; i++) {
    const dir = dirs[i % 2] as string;
    const segmentBytes = i % 2 === 0 ? 64 * 1024 : 128 * 1024 * 1024;
    const tearAt = 1 + Math.floor(random() * 40);
    const fraction = random();
    const where = `tear ${i} (commit ${tearAt}, fraction ${fraction.toFixed(3)}, segments of ${segmentBytes} bytes)`;
    const life = await tearAndDie(dir, segmentBytes, tearAt, fraction);
    const torn = life.torn;
    if (torn === undefined || life.signal !== 'SIGKILL') {
      t.fail(`${where}: the writer did not tear a commit and die by SIGKILL (${String(life.code ?? life.signal)}): ${life.stderr}`);
      break;
    }
    acked += life.acks.length;

    // what the dead writer left: whole lines in every file, and a partial line at the end of the active one
    const active = readFileSync(join(dir, ACTIVE_LOG));
    const wholeEnd = active.lastIndexOf(0x0a) + 1;
    const wholeLines = listLogFiles(dir).filter((f) => existsSync(f.path)).reduce((n, f) => n + newlines(readFileSync(f.path)), 0);
    wholeLinesOfTornCommits += newlines(active.subarray(torn.before));

    const lock = acquireLock(join(dir, 'arpd.lock'));
    const events: StoredEvent[] = [];
    const cuts: Array<Record<string, unknown>> = [];
    const store = LogStore.open({ root: dir, segmentBytes, onEvent: (e) => events.push(e), onWarning: (_m, details) => { if (typeof details['offset'] === 'number') cuts.push(details); } });
    try {
      const recoveredBytes = statSync(join(dir, ACTIVE_LOG)).size;
      const again = await store.append({ type: 'profile.upserted', data: { runtime_profile: 'after-tear', profile: { i } } });
      t.same({
        'the torn file': { bytes: active.length, 'ends inside a line': active[active.length - 1] !== 0x0a, 'whole lines reach at least to the torn commit': wholeEnd >= torn.before },
        'cut at': cuts.map((c) => c['offset']),
        'file bytes after recovery': recoveredBytes,
        // only the cut bytes are set aside (a full disk needs no room for a copy of the whole log)
        'the cut bytes kept aside as they were': cuts[0] !== undefined && readFileSync(cuts[0]['copy'] as string).equals(active.subarray(wholeEnd)),
        'events recovered': events.length,
        'seqs without a gap': events.every((e, k) => e.seq === k + 1),
        'acknowledged events lost': life.acks.filter(([seq, id]) => events[seq - 1]?.id !== id),
        'run log problems': runLogProblems(dir, events),
        'seq of the next append': again[0]?.seq,
      }, {
        'the torn file': { bytes: torn.before + torn.written, 'ends inside a line': true, 'whole lines reach at least to the torn commit': true },
        'cut at': [wholeEnd],
        'file bytes after recovery': wholeEnd,
        'the cut bytes kept aside as they were': true,
        'events recovered': wholeLines,
        'seqs without a gap': true,
        'acknowledged events lost': [],
        'run log problems': [],
        'seq of the next append': wholeLines + 1,
      }, `${where}: ${life.acks.length} events acknowledged by this writer, ${wholeLines} whole lines in the log; recovery cut the partial line alone`);
    } finally {
      await store.close();
      lock.release();
    }
  }
  t.ok(acked > TEARS, `${acked} acknowledged events, ${wholeLinesOfTornCommits} whole lines of torn commits kept`);
});
