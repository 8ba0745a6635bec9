import { spawn } from 'node:child_process';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { RpcClient } from '../src/client/rpc-client.js';
import type { Bench, BenchContext } from './lib/bench.js';
import { formatHot, readCpuProfile, topSelfTime } from './lib/cpu-profile.js';
import { afterFirst } from './lib/cpu-window.js';
import { BURST_RUNTIME, cpuMsOf, referenceProfile, startDaemon, waitExit, waitForLine } from './lib/daemon.js';
import { BareGroupCommit, fdatasyncLatencies } from './lib/group-commit.js';
import { figure, type BenchResult, type Figure } from './lib/report.js';
import { median, Samples, summarize } from './lib/stats.js';
import { makeTempDir, removeTempDir } from './lib/temp-dir.js';
import { measureTraceFloor } from './lib/trace-floor.js';
import { nowMs } from './lib/timer.js';

/**
 * Runs through arpd, two ways ((b), durable accepts, moved to accepts.ts):
 * (a) end to end: runs submitted and waited for over the socket (`runs.submit`, `runs.wait`), routed
 *     by arpd to 4 reference-runtime instances (max 4 runs each), against the same runs sent straight
 *     to the same instances (POST /v1/runs, then its SSE event stream to the end), same concurrency;
 * (c) trace lag: one run of a fixture runtime emitting 10,000 events as fast as it can; for each event,
 *     the time from its emit (in the runtime) to its line in `<data-dir>/runs/<id>/trace.jsonl`, against
 *     a bare follower of the same stream that appends each event through a bare group commit.
 */

const GOAL = 'What is (19*23)?';
const INSTANCES = 4;
const PER_INSTANCE = 4;
const CONCURRENCY = INSTANCES * PER_INSTANCE;
/** The reference runtime's pause before each of its run events (its default is 5 ms): small, so arpd's own cost shows. */
const STEP_DELAY_MS = 1;

interface RunStatus { run_id: string; state: string }
interface Instance { instance_id: string; runtime_api_endpoint: string; extensions: { 'arpd.instance': { pid: number } } }

// ---- (a) end to end --------------------------------------------------------------------------------

interface RunsTrial { perSec: number; p50Ms: number; p99Ms: number; daemonCpuMs: number; runtimesCpuMs: number }

async function workers(count: number, runs: number, one: (i: number, worker: number) => Promise<number>): Promise<RunsTrial> {
  const lat = new Samples();
  let next = 0;
  const t0 = nowMs();
  await Promise.all(Array.from({ length: count }, async (_, w) => {
    while (next < runs) lat.push(await one(next++, w));
  }));
  const elapsed = nowMs() - t0;
  const s = lat.summary();
  return { perSec: runs / (elapsed / 1000), p50Ms: s.p50, p99Ms: s.p99, daemonCpuMs: Number.NaN, runtimesCpuMs: Number.NaN };
}

/** Runs `trial` and adds the CPU time per run of the daemon and of the runtime processes. */
async function withCpu(daemonPid: number, runtimePids: number[], runs: number, trial: () => Promise<RunsTrial>): Promise<RunsTrial> {
  const sum = (): number => runtimePids.reduce((a, p) => a + cpuMsOf(p), 0);
  const d0 = cpuMsOf(daemonPid);
  const r0 = sum();
  const r = await trial();
  return { ...r, daemonCpuMs: (cpuMsOf(daemonPid) - d0) / runs, runtimesCpuMs: (sum() - r0) / runs };
}

function viaArpd(clients: RpcClient[], runs: number): Promise<RunsTrial> {
  return workers(CONCURRENCY, runs, async (_, w) => {
    const client = clients[w] as RpcClient;
    const t0 = nowMs();
    const st = await client.call<RunStatus>('runs.submit', { request: { input: { goal: GOAL }, runtime_selector: { runtime_profile: 'bench' } } });
    const end = await client.call<RunStatus>('runs.wait', { run_id: st.run_id, timeout_ms: 120_000 }, { timeoutMs: 130_000 });
    if (end.state !== 'succeeded') throw new Error(`run ${st.run_id} ended ${end.state}`);
    return nowMs() - t0;
  });
}

function direct(endpoints: string[], runs: number, tag: string): Promise<RunsTrial> {
  return workers(CONCURRENCY, runs, async (i) => {
    const endpoint = endpoints[i % endpoints.length] as string;
    const runId = `direct-${tag}-${i}`;
    const t0 = nowMs();
    const res = await fetch(`${endpoint}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ run_id: runId, input: { goal: GOAL } }) });
    if (!res.ok) throw new Error(`POST /v1/runs answered ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
    const events = await fetch(`${endpoint}/v1/runs/${runId}/events`, { headers: { accept: 'text/event-stream' } });
    const text = await events.text();
    if (!text.includes('"type":"final"')) throw new Error(`run ${runId}: the event stream ended without a final event:\n${text.slice(-500)}`);
    return nowMs() - t0;
  });
}

async function endToEnd(ctx: BenchContext, figures: Figure[], notes: string[], raw: Record<string, unknown>): Promise<void> {
  // 1,000 runs per side, as 2 trials of 500 (alternating sides, so drift of the machine hits both)
  const runs = ctx.quick ? 100 : 500;
  const trials = ctx.quick ? 1 : 2;
  const daemon = await startDaemon({ args: ['--no-autostart-instances', '--no-http'] });
  try {
    const admin = await daemon.client();
    await admin.call('profiles.upsert', { runtime_profile: 'bench', request: referenceProfile(['--step-delay-ms', String(STEP_DELAY_MS)], PER_INSTANCE) });
    const created = await admin.call<{ instances: Instance[] }>('instances.create', { request: { runtime_profile: 'bench', count: INSTANCES }, wait: true }, { timeoutMs: 120_000 });
    const endpoints = created.instances.map((i) => i.runtime_api_endpoint);
    const runtimePids = created.instances.map((i) => i.extensions['arpd.instance'].pid);
    const clients = await Promise.all(Array.from({ length: CONCURRENCY }, () => daemon.client()));
    // warm-up, unmeasured: JIT on every side, connections open
    await viaArpd(clients, ctx.quick ? 32 : 50);
    await direct(endpoints, ctx.quick ? 32 : 50, 'warm');
    const got: Record<'arpd' | 'baseline', RunsTrial[]> = { arpd: [], baseline: [] };
    for (let t = 0; t < trials; t++) {
      const order: Array<'arpd' | 'baseline'> = t % 2 === 0 ? ['arpd', 'baseline'] : ['baseline', 'arpd'];
      for (const side of order) {
        await ctx.settle();
        const r = await withCpu(daemon.pid, runtimePids, runs, () => (side === 'arpd' ? viaArpd(clients, runs) : direct(endpoints, runs, String(t))));
        got[side].push(r);
        ctx.log(`runs ${runs} ${side === 'arpd' ? 'through arpd' : 'direct'}: ${r.perSec.toFixed(0)} runs/s, p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms; CPU per run: daemon ${r.daemonCpuMs.toFixed(2)} ms, runtimes ${r.runtimesCpuMs.toFixed(2)} ms`);
      }
    }
    const m = (side: 'arpd' | 'baseline', k: keyof RunsTrial): number => median(got[side].map((r) => r[k]));
    const label = `${(runs * trials).toLocaleString('en-US')} runs (${trials} × ${runs})`;
    figures.push(
      figure(`${label}: latency p50`, 'ms', m('arpd', 'p50Ms'), m('baseline', 'p50Ms'), { op: '<=', ratio: 1.3 }),
      figure(`${label}: latency p99`, 'ms', m('arpd', 'p99Ms'), m('baseline', 'p99Ms')),
      figure(`${label}: throughput`, 'runs/s', m('arpd', 'perSec'), m('baseline', 'perSec'), { op: '>=', ratio: 0.7 }),
      figure(`${label}: CPU per run, daemon + runtimes (baseline: runtimes)`, 'ms', m('arpd', 'daemonCpuMs') + m('arpd', 'runtimesCpuMs'), m('baseline', 'runtimesCpuMs')),
    );
    notes.push(
      `(a) ${runs} runs of "${GOAL}" per trial, ${trials} trial(s) per side alternating, after 50 unmeasured runs each; medians of the trials shown. ${INSTANCES} reference-runtime instances started by arpd with \`--step-delay-ms ${STEP_DELAY_MS}\` (default 5), \`max_concurrent_runs\` ${PER_INSTANCE}; ${CONCURRENCY} runs in flight on both sides`,
      `(a) CPU per run (/proc, user + system): arpd's daemon ${m('arpd', 'daemonCpuMs').toFixed(2)} ms, the 4 runtimes ${m('arpd', 'runtimesCpuMs').toFixed(2)} ms through arpd and ${m('baseline', 'runtimesCpuMs').toFixed(2)} ms direct; the machine has ${availableParallelism()} CPUs for the daemon, the runtimes and the benchmark's client`,
      `(a) through arpd: each of ${CONCURRENCY} workers (one socket client each) loops runs.submit + runs.wait; latency is submit to the wait's answer. Direct: the same ${CONCURRENCY} workers send each run round-robin to the same instances (fetch: POST /v1/runs, then GET /v1/runs/{id}/events to its end)`,
    );
    raw['end_to_end'] = got;
    if (ctx.profileDir !== undefined) notes.push(...(await profileEndToEnd(ctx, ctx.profileDir, runs)));
  } finally {
    await daemon.stop();
  }
}

async function profileEndToEnd(ctx: BenchContext, profileDir: string, runs: number): Promise<string[]> {
  const name = 'runs-arpd.cpuprofile';
  const daemon = await startDaemon({ args: ['--no-autostart-instances', '--no-http'], execArgv: ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', name] });
  let skipMs: number;
  try {
    const admin = await daemon.client();
    await admin.call('profiles.upsert', { runtime_profile: 'bench', request: referenceProfile(['--step-delay-ms', String(STEP_DELAY_MS)], PER_INSTANCE) });
    await admin.call('instances.create', { request: { runtime_profile: 'bench', count: INSTANCES }, wait: true }, { timeoutMs: 120_000 });
    skipMs = daemon.readyMs + 200;
    const clients = await Promise.all(Array.from({ length: CONCURRENCY }, () => daemon.client()));
    await viaArpd(clients, runs);
  } finally {
    await daemon.stop();
  }
  ctx.log(`runs: profile written to ${join(profileDir, name)}`);
  return [`profile of the daemon during ${runs} runs (${join(profileDir, name)}; boot left out), top self time:`, ...formatHot(topSelfTime(afterFirst(readCpuProfile(join(profileDir, name)), skipMs), 12)).map((l) => `    ${l}`)];
}

// ---- (c) trace lag -------------------------------------------------------------------------------

interface TraceLine { type: string; time: string; data: { seq?: number; data?: { emit_ms?: number } } }

/** Reads a growing file every ~1 ms from where it left off; remembers when each whole line was first seen. */
class Tailer {
  private fd: number | undefined;
  private offset = 0;
  private rest = '';
  private timer: NodeJS.Timeout | undefined;
  readonly lines: Array<{ text: string; seenMs: number }> = [];

  constructor(private readonly path: string) {}

  start(): void {
    this.timer = setInterval(() => this.poll(), 1);
  }

  poll(): void {
    if (this.fd === undefined) {
      try { this.fd = openSync(this.path, 'r'); } catch { return; }
    }
    const size = fstatSync(this.fd).size;
    if (size <= this.offset) return;
    const buf = Buffer.allocUnsafe(size - this.offset);
    const n = readSync(this.fd, buf, 0, buf.length, this.offset);
    this.offset += n;
    const seenMs = performance.timeOrigin + performance.now();
    const parts = (this.rest + buf.toString('utf8', 0, n)).split('\n');
    this.rest = parts.pop() ?? '';
    for (const text of parts) if (text !== '') this.lines.push({ text, seenMs });
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.poll();
    if (this.fd !== undefined) closeSync(this.fd);
  }
}

interface LagTrial { events: number; tsP50: number; tsP99: number; seenP50: number; seenP99: number; perSec: number }

async function traceLag(ctx: BenchContext, figures: Figure[], notes: string[], raw: Record<string, unknown>): Promise<void> {
  const count = ctx.quick ? 1000 : 10_000;
  const trials = ctx.quick ? 1 : 3;
  const daemon = await startDaemon({ args: ['--no-autostart-instances', '--no-http'] });
  const got: LagTrial[] = [];
  try {
    const c = await daemon.client();
    await c.call('profiles.upsert', {
      runtime_profile: 'burst',
      request: { runtime_name: 'arpd-burst-runtime', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', BURST_RUNTIME, '--host', '{host}', '--port', '0'] } } },
    });
    await c.call('instances.create', { request: { runtime_profile: 'burst', count: 1 }, wait: true }, { timeoutMs: 60_000 });
    const burst = async (runId: string, n: number): Promise<Tailer> => {
      const tailer = new Tailer(join(daemon.dataDir, 'runs', runId, 'trace.jsonl'));
      tailer.start();
      try {
        await c.call('runs.submit', { request: { run_id: runId, input: { goal: `burst:${n}` }, runtime_selector: { runtime_profile: 'burst' } } });
        const end = await c.call<RunStatus>('runs.wait', { run_id: runId, timeout_ms: 120_000 }, { timeoutMs: 130_000 });
        if (end.state !== 'succeeded') throw new Error(`burst run ${runId} ended ${end.state}`);
      } finally {
        tailer.stop();
      }
      return tailer;
    };
    await burst('burst-warm', 1000);
    for (let t = 0; t < trials; t++) {
      await ctx.settle();
      const tailer = await burst(`burst-${t}`, count);
      const ts: number[] = [];
      const seen: number[] = [];
      let first = Number.POSITIVE_INFINITY;
      let last = 0;
      for (const { text, seenMs } of tailer.lines) {
        const line = JSON.parse(text) as TraceLine;
        const emit = line.data.data?.emit_ms;
        if (line.type !== 'token' || emit === undefined) continue;
        ts.push(Date.parse(line.time) - emit);
        seen.push(seenMs - emit);
        first = Math.min(first, emit);
        last = Math.max(last, seenMs);
      }
      if (ts.length !== count) throw new Error(`burst run: ${ts.length} token lines in trace.jsonl, expected ${count}`);
      const a = summarize(ts);
      const b = summarize(seen);
      const r = { events: ts.length, tsP50: a.p50, tsP99: a.p99, seenP50: b.p50, seenP99: b.p99, perSec: count / ((last - first) / 1000) };
      got.push(r);
      ctx.log(`runs trace lag ${count} events: envelope ts p50 ${r.tsP50.toFixed(1)} ms p99 ${r.tsP99.toFixed(1)} ms; seen in trace.jsonl p50 ${r.seenP50.toFixed(1)} ms p99 ${r.seenP99.toFixed(1)} ms; ${r.perSec.toFixed(0)} events/s`);
    }
  } finally {
    await daemon.stop();
  }
  const bare = await bareLag(ctx, count, trials);
  await ctx.settle();
  const floor = measureTraceFloor(ctx.quick ? 5000 : 20_000, ctx.quick ? 3 : 7);
  const m = (k: keyof LagTrial): number => median(got.map((r) => r[k]));
  const b = (k: 'p50' | 'p99'): number => median(bare.trials.map((r) => r[k]));
  figures.push(
    figure(`trace lag p50, one run of ${count.toLocaleString('en-US')} events`, 'ms', m('seenP50'), b('p50'), { op: '<=', ratio: 2 }),
    figure(`trace lag p99, one run of ${count.toLocaleString('en-US')} events`, 'ms', m('seenP99'), b('p99')),
    figure('CPU per runtime event: the contract\'s steps alone (no daemon) vs the bare follower\'s loop', 'µs', floor.floorUs, floor.bareUs),
  );
  notes.push(
    `(c) fixture runtime fixtures/runtimes/burst-runtime (goal \`burst:${count}\`: ${count} token events written to its SSE stream as fast as the stream takes them, each stamped with its emit time); ${trials} run(s) per side, medians shown; arpd recorded ${m('perSec').toFixed(0)} events/s`,
    `(c) arpd's lag = when the line was first seen in runs/<id>/trace.jsonl (a tailer polling the file every ~1 ms) − the event's emit time; by arpd's envelope ts instead (ms resolution, stamped before the write and fdatasync): p50 ${m('tsP50').toFixed(1)} ms, p99 ${m('tsP99').toFixed(1)} ms`,
    `(c) the floor of the lag ratio (bench/lib/trace-floor.ts): ${floor.lines.toLocaleString('en-US')} runtime events in a tight loop in the benchmark process, CPU time, medians of alternating rounds. The bare follower's loop (split the SSE text, JSON.parse, JSON.stringify, batch) costs ${floor.bareUs.toFixed(2)} µs per event; the same loop with only what arpd's contract asks of each event (the nesting limit, the ARP RunEvent schema, the size counted against the trace limits, an envelope line of the global log with its seq, id, time and CRC-32, a TraceEvent line of trace.jsonl), with arpd's own functions and no daemon around them, costs ${floor.floorUs.toFixed(2)} µs: ${floor.ratio.toFixed(2)}×. A lag is a drain time, so its ratio follows the per-event cost: the goal (≤ 2×) is under what the design itself needs`,
    `(c) baseline: a bare follower in the benchmark process reads the same runtime's SSE stream (fetch), JSON.parses each event and appends it through a bare group commit; its lag = the append's fdatasync done − emit time. Context: one write + fdatasync of a trace-sized line alone takes p50 ${bare.sync.p50.toFixed(3)} ms, p99 ${bare.sync.p99.toFixed(3)} ms on this disk`,
  );
  raw['trace_lag'] = { trials: got, bare, floor };
}

/** The raw limit of (c): follow the runtime's event stream and append each event durably, nothing else. */
async function bareLag(ctx: BenchContext, count: number, trials: number): Promise<{ trials: Array<{ p50: number; p99: number }>; sync: { p50: number; p99: number } }> {
  const dir = makeTempDir('lag');
  const child = spawn(process.execPath, [BURST_RUNTIME, '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = (JSON.parse(await waitForLine(child, 'stdout', (l) => l.includes('"listening"'), 30_000, 'the burst runtime')) as { url: string }).url;
    const once = async (runId: string, n: number): Promise<number[]> => {
      const res = await fetch(`${url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ run_id: runId, input: { goal: `burst:${n}` } }) });
      if (!res.ok) throw new Error(`burst runtime: POST /v1/runs answered ${res.status}`);
      await res.arrayBuffer();
      const commit = new BareGroupCommit(join(dir, `${runId}.jsonl`));
      const lags: number[] = [];
      const pending: Array<Promise<void>> = [];
      const stream = await fetch(`${url}/v1/runs/${runId}/events`, { headers: { accept: 'text/event-stream' } });
      const decoder = new TextDecoder();
      let buf = '';
      for await (const chunk of stream.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (!line.startsWith('data: ')) continue;
          const ev = JSON.parse(line.slice(6)) as { type: string; data?: { emit_ms?: number } };
          const emit = ev.data?.emit_ms;
          const done = commit.append(`${JSON.stringify(ev)}\n`);
          if (ev.type === 'token' && emit !== undefined) pending.push(done.then(() => { lags.push(performance.timeOrigin + performance.now() - emit); }));
        }
      }
      await Promise.all(pending);
      commit.close();
      if (lags.length !== n) throw new Error(`bare follower: ${lags.length} token events, expected ${n}`);
      return lags;
    };
    await once('bare-warm', 1000);
    const out: Array<{ p50: number; p99: number }> = [];
    for (let t = 0; t < trials; t++) {
      await ctx.settle();
      const s = summarize(await once(`bare-${t}`, count));
      out.push({ p50: s.p50, p99: s.p99 });
      ctx.log(`runs trace lag ${count} events, bare follower: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms`);
    }
    const line = `${JSON.stringify({ seq: 1, type: 'run.trace', data: { run_id: 'burst-0', type: 'token', data: { text: 'tok1 ', emit_ms: Date.now() } } })}\n`;
    const s = summarize(fdatasyncLatencies(join(dir, 'f.jsonl'), line, ctx.quick ? 50 : 300));
    return { trials: out, sync: { p50: s.p50, p99: s.p99 } };
  } finally {
    child.kill('SIGTERM');
    await waitExit(child, 10_000);
    removeTempDir(dir);
  }
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const figures: Figure[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  await endToEnd(ctx, figures, notes, raw);
  await traceLag(ctx, figures, notes, raw);
  notes.push('durable accepts (runs.submit, the runs parked in the queue, against a bare group-commit server) are measured by `accepts`');
  return {
    name: 'runs',
    title: 'runs through arpd',
    baseline: '(a) the same runs sent straight to the same runtime instances; (c) a bare follower of the same event stream appending each event through a bare group commit',
    figures,
    notes,
    raw,
  };
}

export const bench: Bench = { name: 'runs', title: 'runs', run };
