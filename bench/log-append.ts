import { randomUUID } from 'node:crypto';
import { closeSync, constants, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { StoredEvent } from '../src/events/envelope.js';
import { encodeLine } from '../src/events/line-codec.js';
import { LogStore } from '../src/events/log-store.js';
import type { Bench, BenchContext } from './lib/bench.js';
import { formatHot, profileInProcess, topSelfTime, type CpuProfile } from './lib/cpu-profile.js';
import { traceData } from './lib/event-mix.js';
import { figure, type BenchResult, type Figure, type Goal } from './lib/report.js';
import { median, Samples } from './lib/stats.js';
import { withTempDir } from './lib/temp-dir.js';
import { nowMs } from './lib/timer.js';

/**
 * Durable append: N producers each loop "await append; next" for a fixed time. arpd is `LogStore`
 * (encode + CRC, async write + fdatasync on the thread pool, group commit, publish, run-log write);
 * the baseline is a bare, good group commit on the same disk with the same event data: producers
 * queue a JSON line and a promise, one committer (scheduled by setImmediate while the queue is not
 * empty) writes every queued line with one writeSync, one fdatasyncSync, then resolves them all.
 */

const PRODUCERS = [1, 8, 64] as const;

interface Sink {
  append(producer: number, step: number): Promise<unknown>;
  close(): Promise<void>;
}

function openArpd(dir: string): Sink {
  const store = LogStore.open({ root: dir });
  return {
    append: (p, step) => store.append({ type: 'run.trace', data: traceData(`bench-run-${p}`, step) }),
    close: () => store.close(),
  };
}

/** The raw limit: one JSON line per event, group-committed with one write and one fdatasync per batch. */
class BareGroupCommit implements Sink {
  private lines: string[] = [];
  private waiters: Array<() => void> = [];
  private scheduled = false;
  private seq = 0;
  private readonly revs = new Map<string, number>();
  private readonly fd: number;

  constructor(dir: string) {
    this.fd = openSync(join(dir, 'events.jsonl'), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  }

  append(p: number, step: number): Promise<void> {
    const data = traceData(`bench-run-${p}`, step);
    const stream = `run:${data.run_id}`;
    const rev = (this.revs.get(stream) ?? 0) + 1;
    this.revs.set(stream, rev);
    const line = `${JSON.stringify({ seq: ++this.seq, id: randomUUID(), ts: new Date().toISOString(), stream, rev, type: 'run.trace', v: 1, data, meta: {} })}\n`;
    return new Promise((resolve) => {
      this.lines.push(line);
      this.waiters.push(resolve);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.commit);
      }
    });
  }

  private readonly commit = (): void => {
    const lines = this.lines;
    const waiters = this.waiters;
    this.lines = [];
    this.waiters = [];
    const buf = Buffer.from(lines.join(''), 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    fdatasyncSync(this.fd);
    for (const w of waiters) w();
    if (this.lines.length > 0) setImmediate(this.commit);
    else this.scheduled = false;
  };

  close(): Promise<void> {
    closeSync(this.fd);
    return Promise.resolve();
  }
}

interface Trial {
  eventsPerSec: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
  /** Process CPU time (all threads, user + system) per acknowledged event, in µs. */
  cpuUsPerEvent: number;
}

/** `around` wraps the measured phase only (the profiler uses it), not opening, closing or cleaning up. */
type Around = (fn: () => Promise<number>) => Promise<number>;

async function trial(kind: 'arpd' | 'baseline', producers: number, durationMs: number, around: Around = (fn) => fn()): Promise<Trial> {
  return withTempDir(`append-${kind}`, async (dir) => {
    const sink = kind === 'arpd' ? openArpd(dir) : new BareGroupCommit(dir);
    const lat = new Samples();
    let events = 0;
    let stopAt = 0;
    const producer = async (p: number): Promise<void> => {
      let step = 0;
      while (nowMs() < stopAt) {
        const a = nowMs();
        await sink.append(p, step++);
        lat.push(nowMs() - a);
        events++;
      }
    };
    let cpuUs = 0;
    const elapsed = await around(async () => {
      const cpu0 = process.cpuUsage();
      const t0 = nowMs();
      stopAt = t0 + durationMs;
      await Promise.all(Array.from({ length: producers }, (_, p) => producer(p)));
      const ms = nowMs() - t0;
      const cpu = process.cpuUsage(cpu0);
      cpuUs = cpu.user + cpu.system;
      return ms;
    });
    await sink.close();
    const s = lat.summary();
    return { eventsPerSec: events / (elapsed / 1000), events, p50Ms: s.p50, p99Ms: s.p99, cpuUsPerEvent: cpuUs / events };
  });
}

const THROUGHPUT_GOALS: Partial<Record<number, Goal>> = { 1: { op: '>=', ratio: 0.8 }, 64: { op: '>=', ratio: 0.6 } };
const P99_GOAL: Goal = { op: '<=', ratio: 2 };

async function run(ctx: BenchContext): Promise<BenchResult> {
  const durationMs = ctx.quick ? 300 : 2500;
  const trials = ctx.quick ? 1 : 3;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  const sample = { seq: 1, id: randomUUID(), ts: new Date().toISOString(), stream: 'run:bench-run-0', rev: 1, type: 'run.trace', v: 1, data: traceData('bench-run-0', 0), meta: {} } as StoredEvent;
  notes.push(`event: run.trace, a ${Buffer.byteLength(encodeLine(sample))}-byte line; each producer is one run (its own stream, so arpd also writes its run log)`);
  notes.push(`${trials} trial(s) of ${durationMs} ms per side and producer count, alternating sides, each in a fresh temp dir; medians shown`);
  notes.push('CPU per event is the process CPU time (main thread and libuv pool, user + system) over the trial divided by acknowledged events: other load on the machine disturbs it less than throughput');

  // warm up both code paths (JIT) before anything is measured
  await trial('arpd', 8, ctx.quick ? 100 : 500);
  await trial('baseline', 8, ctx.quick ? 100 : 500);

  for (const n of PRODUCERS) {
    const got: Record<'arpd' | 'baseline', Trial[]> = { arpd: [], baseline: [] };
    for (let t = 0; t < trials; t++) {
      // alternate which side goes first so slow drift of the disk does not favour one
      const order: Array<'arpd' | 'baseline'> = t % 2 === 0 ? ['arpd', 'baseline'] : ['baseline', 'arpd'];
      for (const kind of order) {
        await ctx.settle();
        const r = await trial(kind, n, durationMs);
        got[kind].push(r);
        ctx.log(`append ${n} producer(s) ${kind}: ${Math.round(r.eventsPerSec)} events/s, p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms, ${r.cpuUsPerEvent.toFixed(1)} CPU-µs/event`);
      }
    }
    const m = (kind: 'arpd' | 'baseline', k: keyof Trial): number => median(got[kind].map((r) => r[k]));
    const label = `${n} producer${n === 1 ? '' : 's'}`;
    figures.push(figure(`throughput, ${label}`, 'events/s', m('arpd', 'eventsPerSec'), m('baseline', 'eventsPerSec'), THROUGHPUT_GOALS[n]));
    figures.push(figure(`ack latency p50, ${label}`, 'ms', m('arpd', 'p50Ms'), m('baseline', 'p50Ms')));
    figures.push(figure(`ack latency p99, ${label}`, 'ms', m('arpd', 'p99Ms'), m('baseline', 'p99Ms'), P99_GOAL));
    figures.push(figure(`CPU per event, ${label}`, 'µs', m('arpd', 'cpuUsPerEvent'), m('baseline', 'cpuUsPerEvent')));
    raw[`producers_${n}`] = got;
  }

  if (ctx.profileDir !== undefined) {
    for (const n of [1, 64]) {
      const path = join(ctx.profileDir, `append-arpd-${n}.cpuprofile`);
      let profile: CpuProfile | undefined;
      await trial('arpd', n, durationMs, async (fn) => {
        const r = await profileInProcess(fn, path);
        profile = r.profile;
        return r.value;
      });
      if (profile !== undefined) notes.push(`profile of arpd, ${n} producer(s) (${path}), top self time:`, ...formatHot(topSelfTime(profile, 10)).map((l) => `    ${l}`));
    }
  }
  return { name: 'append', title: 'durable append through LogStore (group commit)', baseline: 'bare group commit: queued lines, one writeSync + fdatasyncSync per batch, same disk, same event data', figures, notes, raw };
}

export const bench: Bench = { name: 'append', title: 'durable append', run };
