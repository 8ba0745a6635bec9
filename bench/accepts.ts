import autocannon from 'autocannon';
import { join } from 'node:path';
import type { Bench, BenchContext } from './lib/bench.js';
import { startBaseline, type Baseline, type BaselineConfig } from './lib/baseline-server.js';
import { formatHot, readCpuProfile, topSelfTime } from './lib/cpu-profile.js';
import { afterFirst } from './lib/cpu-window.js';
import { cpuMsOf, startDaemon, type Daemon } from './lib/daemon.js';
import { fdatasyncLatencies } from './lib/group-commit.js';
import { figure, type BenchResult, type Figure } from './lib/report.js';
import { rpcLoad } from './lib/rpc-load.js';
import { median } from './lib/stats.js';
import { makeTempDir, removeTempDir } from './lib/temp-dir.js';

/**
 * Durable run accepts: how many runs per second arpd takes and makes durable (its answer comes after the fdatasync
 * of `run.accepted` + `run.queued`), over HTTP (`POST /v1/runs`, autocannon, 32 connections) and over the socket
 * (`runs.submit`, 16 connections × 4 in flight = 64, the lean loop of lib/rpc-load.ts), each against a bare server
 * in its own process that appends the same request through a bare group commit (one write + fdatasync per batch)
 * before it answers: node:http for HTTP, an NDJSON socket server for the socket.
 * The runs are accepted and queue but do not run: their profile's one instance never becomes ready (PARKED below),
 * with `--no-autostart-instances --queue-timeout 3600000`, so after each accept the router looks for a ready
 * instance for the run's selector, finds none, and the run waits. This measures the whole accept path (edge validation, SubmitRun's decision, the append,
 * the projections and the router's reaction) and nothing of running; the queue grows by every accepted run (tens of
 * thousands by the end of a trial), so an accept path that were O(queue) would show.
 */

const GOAL = 'What is (19*23)?';
/**
 * The profile every accepted run names: its one instance runs a Node process that never listens, so the instance
 * stays `starting` (with `--health-timeout` an hour) and every run for the profile queues behind it. arpd refuses a
 * run nothing could ever take (no live instance, no autostart), so the queue needs a live instance to wait for.
 */
const PARKED = 'parked';
const PARKED_PROFILE = { runtime_name: 'parked-runtime', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '-e', 'setInterval(() => {}, 1 << 30)'] } } };
const REQUEST = { input: { goal: GOAL }, runtime_selector: { runtime_profile: PARKED } };
const POST_BODY = JSON.stringify(REQUEST);
const submitLine = (id: number): string => `{"jsonrpc":"2.0","id":${id},"method":"runs.submit","params":{"request":${POST_BODY}}}`;
const FLAGS = ['--no-autostart-instances', '--queue-timeout', '3600000', '--health-timeout', '3600000'];

interface Trial { perSec: number; p50Ms: number; p99Ms: number; cpuUs: number; requests: number }
type Side = 'arpd' | 'baseline';

async function cannonPost(url: string, token: string, seconds: number, pid: number): Promise<Trial> {
  const cpu0 = cpuMsOf(pid);
  const r = await autocannon({
    url: `${url}/v1/runs`,
    connections: 32,
    duration: seconds,
    method: 'POST',
    body: POST_BODY,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  });
  if (r.errors > 0 || r.non2xx > 0) throw new Error(`POST ${url}/v1/runs: ${r.errors} errors, ${r.non2xx} non-2xx answers of ${r.requests.total}`);
  return { perSec: r.requests.total / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99, cpuUs: ((cpuMsOf(pid) - cpu0) * 1000) / r.requests.total, requests: r.requests.total };
}

async function socketLoad(socket: string, durationMs: number, pid: number): Promise<Trial> {
  const cpu0 = cpuMsOf(pid);
  const r = await rpcLoad({ socket, connections: 16, inFlight: 4, durationMs, line: submitLine });
  if (r.errors > 0) throw new Error(`runs.submit: ${r.errors} errors of ${r.requests}, the first: ${r.firstError ?? '?'}`);
  return { perSec: r.perSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, cpuUs: ((cpuMsOf(pid) - cpu0) * 1000) / r.requests, requests: r.requests };
}

interface Transport {
  key: 'http' | 'socket';
  label: string;
  goal: number;
  /** One trial on a fresh daemon; returns the trial and how many runs were queued at its end. */
  arpd(ctx: BenchContext, profile?: string): Promise<{ trial: Trial; queued: number; sample: unknown; skipMs: number }>;
  baseline(ctx: BenchContext, sample: unknown): Promise<Trial>;
}

async function onFreshDaemon<T>(ctx: BenchContext, http: boolean, profile: string | undefined, fn: (d: Daemon) => Promise<T>): Promise<{ value: T; queued: number; sample: unknown; skipMs: number }> {
  const d = await startDaemon({
    args: http ? FLAGS : [...FLAGS, '--no-http'],
    ...(profile === undefined ? {} : { execArgv: ['--cpu-prof', '--cpu-prof-dir', ctx.profileDir as string, '--cpu-prof-name', profile] }),
  });
  try {
    const c = await d.client();
    await c.call('profiles.upsert', { runtime_profile: PARKED, request: PARKED_PROFILE });
    await c.call('instances.create', { request: { runtime_profile: PARKED, count: 1 }, wait: false });
    const sample = await c.call('runs.submit', { request: REQUEST });
    const skipMs = d.readyMs + 200;
    const value = await fn(d);
    const status = await c.call<{ counts: { runs: { queued: number } } }>('daemon.status', {});
    return { value, queued: status.counts.runs.queued, sample, skipMs };
  } finally {
    await d.stop();
  }
}

async function onBaseline<T>(config: (dir: string) => BaselineConfig, fn: (b: Baseline) => Promise<T>): Promise<T> {
  const dir = makeTempDir('acc');
  let b: Baseline | undefined;
  try {
    b = await startBaseline(config(dir), dir);
    return await fn(b);
  } finally {
    await b?.stop();
    removeTempDir(dir);
  }
}

function transports(quick: boolean): Transport[] {
  const seconds = quick ? 1 : 2;
  const durationMs = seconds * 1000;
  const warm = quick ? 0.3 : 0.5;
  return [
    {
      key: 'http',
      label: 'POST /v1/runs, 32 connections',
      goal: 0.4,
      async arpd(ctx, profile) {
        const r = await onFreshDaemon(ctx, true, profile, async (d) => {
          const { httpUrl, token } = d;
          if (httpUrl === undefined || token === undefined) throw new Error(`the daemon wrote no http.url or http.token in ${d.dataDir}`);
          await cannonPost(httpUrl, token, warm, d.pid);
          await ctx.settle();
          return cannonPost(httpUrl, token, seconds, d.pid);
        });
        return { trial: r.value, queued: r.queued, sample: r.sample, skipMs: r.skipMs };
      },
      async baseline(ctx, sample) {
        return onBaseline((dir) => ({ mode: 'node-http', postBody: sample, durableDir: dir }), async (b) => {
          await cannonPost(b.address, 'x', warm, b.pid);
          await ctx.settle();
          return cannonPost(b.address, 'x', seconds, b.pid);
        });
      },
    },
    {
      key: 'socket',
      label: 'runs.submit over the socket, 16 connections × 4 in flight',
      goal: 0.5,
      async arpd(ctx, profile) {
        const r = await onFreshDaemon(ctx, false, profile, async (d) => {
          await socketLoad(d.socket, warm * 1000, d.pid);
          await ctx.settle();
          return socketLoad(d.socket, durationMs, d.pid);
        });
        return { trial: r.value, queued: r.queued, sample: r.sample, skipMs: r.skipMs };
      },
      async baseline(ctx, sample) {
        return onBaseline((dir) => ({ mode: 'ndjson', socket: join(dir, 'b.sock'), result: sample, durableDir: dir }), async (b) => {
          await socketLoad(b.address, warm * 1000, b.pid);
          await ctx.settle();
          return socketLoad(b.address, durationMs, b.pid);
        });
      },
    },
  ];
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const trials = ctx.quick ? 1 : 3;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  for (const t of transports(ctx.quick)) {
    const got: Record<Side, Trial[]> = { arpd: [], baseline: [] };
    let sample: unknown = { run_id: 'run-sample', state: 'queued' };
    const queued: number[] = [];
    for (let i = 0; i < trials; i++) {
      const order: Side[] = i % 2 === 0 ? ['arpd', 'baseline'] : ['baseline', 'arpd'];
      for (const side of order) {
        let r: Trial;
        if (side === 'arpd') {
          const a = await t.arpd(ctx);
          r = a.trial;
          sample = a.sample;
          queued.push(a.queued);
        } else {
          r = await t.baseline(ctx, sample);
        }
        got[side].push(r);
        ctx.log(`accepts ${t.key} ${side}: ${r.perSec.toFixed(0)} runs/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${r.cpuUs.toFixed(0)} µs server CPU/run`);
      }
    }
    const m = (side: Side, k: keyof Trial): number => median(got[side].map((r) => r[k]));
    figures.push(
      figure(`durable accepts, ${t.label}`, 'runs/s', m('arpd', 'perSec'), m('baseline', 'perSec'), { op: '>=', ratio: t.goal }),
      figure(`answer latency p50, ${t.label}`, 'ms', m('arpd', 'p50Ms'), m('baseline', 'p50Ms')),
      figure(`answer latency p99, ${t.label}`, 'ms', m('arpd', 'p99Ms'), m('baseline', 'p99Ms')),
      figure(`server CPU per accepted run, ${t.label}`, 'µs', m('arpd', 'cpuUs'), m('baseline', 'cpuUs')),
    );
    notes.push(`${t.key}: ${trials} trial(s) per side, alternating, each on a fresh daemon / bare server after a warm-up; medians shown; runs queued at the end of arpd's trials: ${queued.join(', ')}`);
    raw[t.key] = { trials: got, queued };
    if (ctx.profileDir !== undefined) {
      const name = `accepts-${t.key}-arpd.cpuprofile`;
      const a = await t.arpd(ctx, name);
      const path = join(ctx.profileDir, name);
      notes.push(`profile of the daemon, ${t.label} (${path}; boot left out), top self time:`, ...formatHot(topSelfTime(afterFirst(readCpuProfile(path), a.skipMs), 14)).map((l) => `    ${l}`));
    }
  }
  const dir = makeTempDir('fsync');
  try {
    const lat = fdatasyncLatencies(join(dir, 'f.jsonl'), `${JSON.stringify({ type: 'run.accepted', data: { goal: GOAL, pad: 'x'.repeat(300) } })}\n`, 200);
    notes.push(`context: one write + fdatasync at a time (no batching) manages ${(1000 / median(lat)).toFixed(0)}/s on this disk (p50 ${median(lat).toFixed(3)} ms)`);
  } finally {
    removeTempDir(dir);
  }
  notes.push(
    `arpd: \`arpd serve ${FLAGS.join(' ')}\` and one instance of a profile whose process never listens (it stays starting): every accepted run names that profile, is durable (run.accepted + run.queued, fdatasynced before the answer) and waits in the queue; the router looks for a ready instance on each accept and finds none. The bare servers append the request body as one JSON line and answer the body arpd answered (202 / the JSON-RPC result)`,
    'load generators (autocannon; the lean NDJSON loop) run in the benchmark process, each server in its own; server CPU per run = user + system time of the server process over the trial (/proc, 10 ms steps) ÷ runs',
  );
  return {
    name: 'accepts',
    title: 'durable run accepts over HTTP and the socket',
    baseline: 'a bare server in its own process appending the same request through a bare group commit (write + fdatasync per batch) before it answers: node:http for POST /v1/runs, an NDJSON Unix socket server for runs.submit',
    figures,
    notes,
    raw,
  };
}

export const bench: Bench = { name: 'accepts', title: 'durable accepts', run };
