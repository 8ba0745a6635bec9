import { join } from 'node:path';
import type { Bench, BenchContext } from './lib/bench.js';
import { startBaseline, type Baseline } from './lib/baseline-server.js';
import { formatHot, readCpuProfile, topSelfTime } from './lib/cpu-profile.js';
import { afterFirst } from './lib/cpu-window.js';
import { cpuMsOf, startDaemon, type Daemon } from './lib/daemon.js';
import { figure, type BenchResult, type Figure } from './lib/report.js';
import { rpcLoad, type LoadResult } from './lib/rpc-load.js';
import { median } from './lib/stats.js';
import { makeTempDir, removeTempDir } from './lib/temp-dir.js';

/**
 * `daemon.status` over the daemon's Unix socket, pipelined, against a bare NDJSON server in its own
 * process that JSON.parses each line and answers with JSON.stringify of the same status object (same
 * size), driven by the same lean client loop (`lib/rpc-load.ts`) in the same run.
 */

interface Mode { label: string; connections: number; inFlight: number }

const MODES: Mode[] = [
  { label: '1 connection × 64 in flight', connections: 1, inFlight: 64 },
  { label: '16 connections × 4 in flight', connections: 16, inFlight: 4 },
];

const statusLine = (id: number): string => `{"jsonrpc":"2.0","id":${id},"method":"daemon.status","params":{}}`;

interface Trial extends LoadResult {
  /** CPU time of the server process per request (µs): steadier than req/s on a shared machine. */
  cpuUs: number;
}

async function load(socket: string, mode: Mode, durationMs: number, pid?: number): Promise<Trial> {
  const cpu0 = pid === undefined ? Number.NaN : cpuMsOf(pid);
  const r = await rpcLoad({ socket, connections: mode.connections, inFlight: mode.inFlight, durationMs, line: statusLine });
  if (r.errors > 0) throw new Error(`${r.errors} of ${r.requests} answers were errors, the first: ${r.firstError ?? '?'}`);
  return { ...r, cpuUs: pid === undefined ? Number.NaN : ((cpuMsOf(pid) - cpu0) * 1000) / r.requests };
}

async function profileDaemon(ctx: BenchContext, profileDir: string, durationMs: number): Promise<string[]> {
  const name = 'socket-rpc-arpd.cpuprofile';
  const d = await startDaemon({ execArgv: ['--cpu-prof', '--cpu-prof-dir', profileDir, '--cpu-prof-name', name] });
  const bootMs = d.readyMs;
  try {
    await load(d.socket, MODES[0] as Mode, durationMs);
  } finally {
    await d.stop();
  }
  ctx.log(`socket-rpc: profile written to ${join(profileDir, name)}`);
  const hot = topSelfTime(afterFirst(readCpuProfile(join(profileDir, name)), bootMs + 200), 12);
  return [`profile of the daemon, ${(MODES[0] as Mode).label} (${join(profileDir, name)}; boot left out), top self time:`, ...formatHot(hot).map((l) => `    ${l}`)];
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const durationMs = ctx.quick ? 300 : 1200;
  const trials = ctx.quick ? 1 : 3;
  const dir = makeTempDir('rpc');
  let daemon: Daemon | undefined;
  let baseline: Baseline | undefined;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  try {
    daemon = await startDaemon();
    const client = await daemon.client();
    const status = await client.call<Record<string, unknown>>('daemon.status', {});
    await client.close();
    const answerBytes = Buffer.byteLength(JSON.stringify({ jsonrpc: '2.0', id: 1, result: status }));
    baseline = await startBaseline({ mode: 'ndjson', socket: join(dir, 'echo.sock'), result: status }, dir);
    const sockets = { arpd: daemon.socket, baseline: baseline.address };
    const pids = { arpd: daemon.pid, baseline: baseline.pid };

    // warm both up (JIT, connection setup paths) before anything is measured
    for (const side of ['arpd', 'baseline'] as const) await load(sockets[side], MODES[0] as Mode, ctx.quick ? 100 : 500);

    for (const mode of MODES) {
      const got: Record<'arpd' | 'baseline', Trial[]> = { arpd: [], baseline: [] };
      for (let t = 0; t < trials; t++) {
        const order: Array<'arpd' | 'baseline'> = t % 2 === 0 ? ['arpd', 'baseline'] : ['baseline', 'arpd'];
        for (const side of order) {
          await ctx.settle();
          const r = await load(sockets[side], mode, durationMs, pids[side]);
          got[side].push(r);
          ctx.log(`socket-rpc ${mode.label} ${side}: ${Math.round(r.perSec)} req/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, ${r.cpuUs.toFixed(1)} µs CPU/request`);
        }
      }
      const m = (side: 'arpd' | 'baseline', k: 'perSec' | 'p50Ms' | 'p99Ms' | 'cpuUs'): number => median(got[side].map((r) => r[k]));
      figures.push(figure(`daemon.status, ${mode.label}`, 'req/s', m('arpd', 'perSec'), m('baseline', 'perSec'), { op: '>=', ratio: 0.5 }));
      figures.push(figure(`latency p50, ${mode.label}`, 'ms', m('arpd', 'p50Ms'), m('baseline', 'p50Ms')));
      figures.push(figure(`server CPU per request, ${mode.label}`, 'µs', m('arpd', 'cpuUs'), m('baseline', 'cpuUs')));
      raw[`c${mode.connections}_f${mode.inFlight}`] = got;
    }
    notes.push(
      `answer: ${answerBytes} bytes (the daemon's status of an idle daemon; the bare server answers the same object)`,
      `${trials} trial(s) of ${durationMs} ms per side and mode, alternating sides, after a warm-up; medians shown`,
      'client: one lean loop in the benchmark process (write the next request on each answer, JSON.parse every answer); each server in its own process',
      'server CPU per request: user + system time of the server process over the trial (/proc, 10 ms steps) ÷ requests; less disturbed by other load than req/s',
    );
    if (ctx.profileDir !== undefined) {
      await daemon.stop();
      daemon = undefined;
      notes.push(...(await profileDaemon(ctx, ctx.profileDir, durationMs)));
    }
  } finally {
    await daemon?.stop();
    await baseline?.stop();
    removeTempDir(dir);
  }
  return {
    name: 'socket-rpc',
    title: 'daemon.status over the Unix socket, pipelined',
    baseline: 'bare NDJSON server over a Unix socket in its own process: JSON.parse each line, JSON.stringify an answer of the same size',
    figures,
    notes,
    raw,
  };
}

export const bench: Bench = { name: 'socket-rpc', title: 'socket RPC throughput', run };
