import autocannon from 'autocannon';
import type { Bench, BenchContext } from './lib/bench.js';
import { startBaseline, type Baseline } from './lib/baseline-server.js';
import { formatHot, readCpuProfile, topSelfTime } from './lib/cpu-profile.js';
import { afterFirst } from './lib/cpu-window.js';
import { cpuMsOf, startDaemon, type Daemon } from './lib/daemon.js';
import { figure, type BenchResult, type Figure } from './lib/report.js';
import { median } from './lib/stats.js';
import { makeTempDir, removeTempDir } from './lib/temp-dir.js';
import { join } from 'node:path';

/**
 * The ARP Daemon API over HTTP: `GET /v1/runs/{run_id}` (an ended run) and `GET /v1/instances` (two
 * ready instances) through arpd, against a bare fastify process answering the very same bodies on
 * the same paths, both driven by autocannon (programmatic, in the benchmark process, the bearer token
 * sent to both). Durable `POST /v1/runs` accepts are measured by accepts.ts.
 */

interface Cannon { perSec: number; p50Ms: number; p99Ms: number; cpuUs: number }

async function cannon(o: { url: string; token: string; connections: number; seconds: number; post?: string; pid?: number }): Promise<Cannon> {
  const cpu0 = o.pid === undefined ? Number.NaN : cpuMsOf(o.pid);
  const r = await autocannon({
    url: o.url,
    connections: o.connections,
    duration: o.seconds,
    headers: { authorization: `Bearer ${o.token}`, ...(o.post === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(o.post === undefined ? {} : { method: 'POST' as const, body: o.post }),
  });
  if (r.errors > 0 || r.non2xx > 0) throw new Error(`autocannon ${o.post === undefined ? 'GET' : 'POST'} ${o.url}: ${r.errors} errors, ${r.non2xx} non-2xx answers of ${r.requests.total}`);
  const cpuUs = o.pid === undefined ? Number.NaN : ((cpuMsOf(o.pid) - cpu0) * 1000) / r.requests.total;
  return { perSec: r.requests.total / r.duration, p50Ms: r.latency.p50, p99Ms: r.latency.p99, cpuUs };
}

async function json(url: string, token: string): Promise<{ body: unknown; bytes: number }> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${url} answered ${res.status}: ${text}`);
  return { body: JSON.parse(text) as unknown, bytes: Buffer.byteLength(text) };
}

const POST_BODY = JSON.stringify({ input: { goal: 'What is (19*23)?' } });

async function run(ctx: BenchContext): Promise<BenchResult> {
  const seconds = ctx.quick ? 1 : 1.5;
  const trials = ctx.quick ? 1 : 3;
  const dir = makeTempDir('http');
  let daemon: Daemon | undefined;
  let baseline: Baseline | undefined;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  try {
    daemon = await startDaemon({ args: ['--no-autostart-instances', '--queue-timeout', '3600000'], ...(ctx.profileDir === undefined ? {} : { execArgv: ['--cpu-prof', '--cpu-prof-dir', ctx.profileDir, '--cpu-prof-name', 'http-arpd.cpuprofile'] }) });
    const { httpUrl, token } = daemon;
    if (httpUrl === undefined || token === undefined) throw new Error(`the daemon wrote no http.url or http.token in ${daemon.dataDir}`);
    const c = await daemon.client();
    await c.call('instances.create', { request: { runtime_profile: 'default', count: 2 }, wait: true }, { timeoutMs: 120_000 });
    const submitted = await c.call<{ run_id: string }>('runs.submit', { request: { input: { goal: 'What is (19*23)?' } } });
    const ended = await c.call<{ state: string }>('runs.wait', { run_id: submitted.run_id, timeout_ms: 60_000 });
    if (ended.state !== 'succeeded') throw new Error(`the sample run ended ${ended.state}`);
    const runPath = `/v1/runs/${submitted.run_id}`;
    const runBody = await json(`${httpUrl}${runPath}`, token);
    const instBody = await json(`${httpUrl}/v1/instances`, token);
    const postSample = await fetch(`${httpUrl}/v1/runs`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: POST_BODY });
    const postBody = (await postSample.json()) as unknown;
    baseline = await startBaseline({ mode: 'http', routes: { [runPath]: runBody.body, '/v1/instances': instBody.body }, postBody, durableDir: dir }, dir);
    const urls = { arpd: httpUrl, baseline: baseline.address };
    const pids = { arpd: daemon.pid, baseline: baseline.pid };

    const gets = [
      { label: `GET /v1/runs/{run_id} (${runBody.bytes} bytes)`, path: runPath, key: 'get_run' },
      { label: `GET /v1/instances (2 instances, ${instBody.bytes} bytes)`, path: '/v1/instances', key: 'get_instances' },
    ];
    for (const side of ['arpd', 'baseline'] as const) for (const g of gets) await cannon({ url: `${urls[side]}${g.path}`, token, connections: 10, seconds: 0.5 });
    for (const g of gets) {
      const got: Record<'arpd' | 'baseline', Cannon[]> = { arpd: [], baseline: [] };
      for (let t = 0; t < trials; t++) {
        const order: Array<'arpd' | 'baseline'> = t % 2 === 0 ? ['arpd', 'baseline'] : ['baseline', 'arpd'];
        for (const side of order) {
          await ctx.settle();
          const r = await cannon({ url: `${urls[side]}${g.path}`, token, connections: 10, seconds, pid: pids[side] });
          got[side].push(r);
          ctx.log(`http ${g.label} ${side}: ${r.perSec.toFixed(0)} req/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, ${r.cpuUs.toFixed(0)} µs CPU/request`);
        }
      }
      const m = (side: 'arpd' | 'baseline', k: keyof Cannon): number => median(got[side].map((r) => r[k]));
      figures.push(figure(`${g.label}, 10 connections`, 'req/s', m('arpd', 'perSec'), m('baseline', 'perSec'), { op: '>=', ratio: 0.7 }));
      figures.push(figure(`${g.label}: server CPU per request`, 'µs', m('arpd', 'cpuUs'), m('baseline', 'cpuUs')));
      raw[g.key] = got;
    }

    notes.push(
      `GET: ${trials} trial(s) of ${seconds} s per side and route (autocannon, 10 connections, no pipelining, \`Authorization: Bearer\` on both), alternating, after 0.5 s of warm-up each; medians shown. The bare fastify answers the bodies arpd gave for the same paths (an ended run; 2 ready reference-runtime instances)`,
      'durable accepts (`POST /v1/runs`, against a bare node:http group commit) are measured by `accepts`',
      'autocannon runs in the benchmark process, each server in its own process; server CPU per request = user + system time of the server process over the trial (/proc, 10 ms steps) ÷ requests, less disturbed by other load than req/s',
    );
  } finally {
    const readyMs = daemon?.readyMs ?? 0;
    await daemon?.stop();
    await baseline?.stop();
    removeTempDir(dir);
    if (ctx.profileDir !== undefined && daemon !== undefined) {
      const path = join(ctx.profileDir, 'http-arpd.cpuprofile');
      notes.push(`profile of the daemon over the whole benchmark (${path}; boot left out), top self time:`, ...formatHot(topSelfTime(afterFirst(readCpuProfile(path), readyMs + 200), 12)).map((l) => `    ${l}`));
    }
  }
  return {
    name: 'http',
    title: 'the ARP Daemon API over HTTP',
    baseline: 'a bare fastify process answering the same JSON bodies on the same paths',
    figures,
    notes,
    raw,
  };
}

export const bench: Bench = { name: 'http', title: 'HTTP API', run };
