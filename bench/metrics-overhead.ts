import type { DaemonContext } from '../src/daemon/daemon-context.js';
import type { StoredEvent } from '../src/events/envelope.js';
import type { DomainEvent } from '../src/events/event-types.js';
import { LogStore } from '../src/events/log-store.js';
import { Projection } from '../src/projections/projection.js';
import { ArpdMetrics } from '../src/telemetry/arpd-metrics.js';
import { MetricsReactor } from '../src/telemetry/metrics-reactor.js';
import type { Bench, BenchContext } from './lib/bench.js';
import { traceData } from './lib/event-mix.js';
import { figure, type BenchResult } from './lib/report.js';
import { median } from './lib/stats.js';
import { withTempDir } from './lib/temp-dir.js';
import { nowMs } from './lib/timer.js';

/**
 * What metrics cost on the run path, in one process, metrics on ÷ off. A run is appended as the daemon's
 * commands append it (accepted+queued, routed, started, 10 trace lines in one batch, succeeded: 5 appends).
 * Metrics on = the store's onCommit into the log histograms, the metrics reactor on every event, the default
 * process metrics registered.
 * (a) the in-memory part of the run path: the events published and folded into the projections (what every
 *     event costs after its fsync), with onCommit called once per append: CPU per run. This is where metrics
 *     add work; it is measured without disk I/O, whose noise would hide it.
 * (b) the whole path through the real log store (encode, write, fdatasync, group commit, run logs), 16 runs
 *     at once: wall time per run (noisy on a shared machine: the disk dominates).
 * (c) a scrape of /metrics with 10,000 ended runs and 50 instances in memory, against one with 100 runs (the
 *     same series: the gauges read the projections' indexes, so a scrape should not grow with the runs).
 * The HTTP and socket hooks (one counter and one histogram observation per request) are not in these figures.
 */

const CONCURRENCY = 16;
const TRACE_LINES = 10;
const INSTANCES = 50;

function instanceEvents(): DomainEvent[] {
  const out: DomainEvent[] = [{ type: 'profile.upserted', data: { runtime_profile: 'bench', profile: { runtime_name: 'bench' } } }];
  for (let i = 0; i < INSTANCES; i++) {
    const id = `inst_bench${i}`;
    out.push(
      { type: 'instance.requested', data: { instance_id: id, runtime_profile: 'bench' } },
      { type: 'instance.starting', data: { instance_id: id, pid: 1000 + i, argv: ['bench'] } },
      { type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: `http://127.0.0.1:${20000 + i}` } },
    );
  }
  return out;
}

/** One run's appends, in the order and grouping the daemon uses. */
function runAppends(runId: string, i: number): DomainEvent[][] {
  const inst = `inst_bench${i % INSTANCES}`;
  const request = { run_id: runId, input: { goal: 'What is (19*23)?' }, runtime_selector: { runtime_profile: 'bench' } };
  const traces: DomainEvent[] = [];
  for (let s = 1; s <= TRACE_LINES; s++) traces.push({ type: 'run.trace', data: traceData(runId, s) });
  return [
    [{ type: 'run.accepted', data: { run_id: runId, request, request_hash: `h${i}` } }, { type: 'run.queued', data: { run_id: runId } }],
    [{ type: 'run.routed', data: { run_id: runId, instance_id: inst, runtime_api_endpoint: `http://127.0.0.1:${20000 + (i % INSTANCES)}` } }],
    [{ type: 'run.started', data: { run_id: runId, instance_id: inst } }],
    traces,
    [{ type: 'run.succeeded', data: { run_id: runId, result: { run_id: runId, ok: true, output: { text: '437' } } } }],
  ];
}

function metricsFor(projection: Projection): { metrics: ArpdMetrics; reactor: MetricsReactor } {
  const metrics = new ArpdMetrics({ version: 'bench' });
  const ctx = { state: projection.registry, events$: projection.events$ } as unknown as DaemonContext;
  metrics.bind({ state: projection.registry, head: () => projection.lastSeq, now: () => Date.now(), socketConnections: () => 0, openStreams: () => 0, logSizeBytes: () => undefined, snapshotAgeMs: () => undefined }, 0);
  return { metrics, reactor: new MetricsReactor(ctx, metrics) };
}

interface Trial { cpuMsPerRun: number; wallMsPerRun: number }

async function runTrial(withMetrics: boolean, runs: number, tag: string): Promise<Trial> {
  return withTempDir('metrics', async (dir) => {
    const projection = new Projection();
    const m = withMetrics ? metricsFor(projection) : undefined;
    const store = LogStore.open({ root: dir, ...(m === undefined ? {} : { onCommit: (s) => m.metrics.onCommit(s) }) });
    projection.follow(store.live$);
    m?.reactor.start();
    for (const e of instanceEvents()) await store.append(e);
    let next = 0;
    const cpu0 = process.cpuUsage();
    const t0 = nowMs();
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < runs) {
        const i = next++;
        for (const batch of runAppends(`run_${tag}_${i}`, i)) await store.append(batch);
      }
    }));
    const wall = nowMs() - t0;
    const cpu = process.cpuUsage(cpu0);
    m?.reactor.stop();
    await store.close();
    if (projection.registry.runIdsInState('succeeded').size !== runs) throw new Error('not every run ended');
    return { cpuMsPerRun: (cpu.user + cpu.system) / 1000 / runs, wallMsPerRun: wall / runs };
  });
}

/** (a): every run's events pushed through the projections as the store publishes them; CPU ms per run. */
function foldTrial(withMetrics: boolean, runs: number, tag: string): number {
  const projection = new Projection();
  const m = withMetrics ? metricsFor(projection) : undefined;
  m?.reactor.start();
  let seq = 0;
  const revs = new Map<string, number>();
  const stamp = (e: DomainEvent, stream: string): StoredEvent => {
    const rev = (revs.get(stream) ?? 0) + 1;
    revs.set(stream, rev);
    return { seq: ++seq, id: `e${seq}`, ts: new Date(1_700_000_000_000 + seq).toISOString(), stream, rev, type: e.type, v: 1, data: e.data, meta: {} } as StoredEvent;
  };
  for (const e of instanceEvents()) projection.push(stamp(e, e.type.startsWith('profile') ? 'profile:bench' : `instance:${(e.data as { instance_id: string }).instance_id}`));
  // stamped beforehand: only the publish and what follows it is timed
  const batches: StoredEvent[][] = [];
  for (let i = 0; i < runs; i++) for (const batch of runAppends(`run_${tag}_${i}`, i)) batches.push(batch.map((e) => stamp(e, `run:run_${tag}_${i}`)));
  const stats = { events: 0, bytes: 0, writeMs: 0.05, syncMs: 0.8, ackMs: [0.9] };
  const cpu0 = process.cpuUsage();
  for (const batch of batches) {
    for (const e of batch) projection.push(e);
    if (m !== undefined) { stats.events = batch.length; stats.bytes = 300 * batch.length; m.metrics.onCommit(stats); }
  }
  const cpu = process.cpuUsage(cpu0);
  m?.reactor.stop();
  if (projection.registry.runIdsInState('succeeded').size !== runs) throw new Error('not every run ended');
  return (cpu.user + cpu.system) / 1000 / runs;
}

/** A registry holding `runs` ended runs and the instances, bound to a metrics registry; ms per scrape. */
async function scrapeMs(runs: number, scrapes: number): Promise<number> {
  const projection = new Projection();
  const { metrics, reactor } = metricsFor(projection);
  reactor.start();
  let seq = 0;
  const revs = new Map<string, number>();
  const push = (e: DomainEvent, stream: string): void => {
    const rev = (revs.get(stream) ?? 0) + 1;
    revs.set(stream, rev);
    projection.push({ seq: ++seq, id: `e${seq}`, ts: new Date(1_700_000_000_000 + seq).toISOString(), stream, rev, type: e.type, v: 1, data: e.data, meta: {} } as StoredEvent);
  };
  for (const e of instanceEvents()) push(e, e.type.startsWith('profile') ? 'profile:bench' : `instance:${(e.data as { instance_id: string }).instance_id}`);
  for (let i = 0; i < runs; i++) for (const batch of runAppends(`run_s_${i}`, i)) for (const e of batch) push(e, `run:run_s_${i}`);
  await metrics.exposition(); // warm
  const t0 = nowMs();
  for (let i = 0; i < scrapes; i++) await metrics.exposition();
  reactor.stop();
  return (nowMs() - t0) / scrapes;
}

export const bench: Bench = {
  name: 'metrics-overhead',
  title: 'metrics on the run path: CPU and wall time per run with metrics on ÷ off; a scrape at 10,000 runs',
  async run(ctx: BenchContext): Promise<BenchResult> {
    const foldRuns = ctx.quick ? 2000 : 20_000;
    const runs = ctx.quick ? 300 : 2000;
    const trials = ctx.quick ? 1 : 3;
    foldTrial(true, 1000, 'warm-on');
    foldTrial(false, 1000, 'warm-off');
    await runTrial(true, 100, 'warm-on');
    await runTrial(false, 100, 'warm-off');
    const foldOn: number[] = [];
    const foldOff: number[] = [];
    const on: Trial[] = [];
    const off: Trial[] = [];
    for (let t = 0; t < trials; t++) {
      for (const side of t % 2 === 0 ? [true, false] : [false, true]) {
        await ctx.settle();
        const cpu = foldTrial(side, foldRuns, `f${t}${side ? 'on' : 'off'}`);
        (side ? foldOn : foldOff).push(cpu);
        ctx.log(`${foldRuns} runs folded in memory, metrics ${side ? 'on' : 'off'}: CPU ${(cpu * 1000).toFixed(1)} µs/run`);
      }
    }
    for (let t = 0; t < trials; t++) {
      for (const side of t % 2 === 0 ? [true, false] : [false, true]) {
        await ctx.settle();
        const r = await runTrial(side, runs, `${t}${side ? 'on' : 'off'}`);
        (side ? on : off).push(r);
        ctx.log(`${runs} runs through the store, metrics ${side ? 'on' : 'off'}: CPU ${r.cpuMsPerRun.toFixed(3)} ms/run, wall ${r.wallMsPerRun.toFixed(3)} ms/run`);
      }
    }
    const scrapeRuns = ctx.quick ? 2000 : 10_000;
    const full = await scrapeMs(scrapeRuns, 50);
    const empty = await scrapeMs(100, 50);
    ctx.log(`scrape: ${full.toFixed(2)} ms with ${scrapeRuns} runs, ${empty.toFixed(2)} ms with 100`);
    const med = (xs: Trial[], k: keyof Trial): number => median(xs.map((x) => x[k]));
    return {
      name: 'metrics-overhead',
      title: this.title,
      baseline: 'the same runs with metrics off',
      figures: [
        figure(`(a) CPU per run, its events folded in memory (${foldRuns.toLocaleString('en-US')} runs × ${trials}, 15 events each)`, 'µs', median(foldOn) * 1000, median(foldOff) * 1000),
        figure('(a) CPU metrics add to a run ÷ CPU of the run through the log store (metrics off)', 'µs', (median(foldOn) - median(foldOff)) * 1000, med(off, 'cpuMsPerRun') * 1000, { op: '<=', ratio: 0.05 }),
        figure(`(b) wall time per run through the log store (${runs} runs × ${trials}, 16 at once)`, 'ms', med(on, 'wallMsPerRun'), med(off, 'wallMsPerRun')),
        figure('(b) CPU per run through the log store', 'ms', med(on, 'cpuMsPerRun'), med(off, 'cpuMsPerRun')),
        figure(`(c) one scrape with ${scrapeRuns.toLocaleString('en-US')} runs and ${INSTANCES} instances (baseline: 100 runs, the same series)`, 'ms', full, empty, { op: '<=', ratio: 1.5 }),
      ],
      notes: [
        'metrics on: onCommit feeds three histograms and two counters per group commit; the metrics reactor moves one or two series per run event; process metrics are registered',
        '(b) is dominated by the disk (fdatasync, run-log files); on a busy machine its trials vary more than metrics cost',
        'not measured here: the HTTP onResponse and socket onRequest hooks (one counter and one histogram observation per request)',
      ],
      raw: { fold_cpu_us: { on: foldOn.map((x) => x * 1000), off: foldOff.map((x) => x * 1000) }, store: { on, off }, scrape_ms: { runs: scrapeRuns, full, empty } },
    };
  },
};
