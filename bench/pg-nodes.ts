import type { Bench, BenchContext } from './lib/bench.js';
import { startDaemon, type Daemon } from './lib/daemon.js';
import { figure, type BenchResult, type Figure } from './lib/report.js';
import { rpcLoad, type LoadResult } from './lib/rpc-load.js';
import { median } from './lib/stats.js';
import { startPgCluster, type PgCluster } from '../test/helpers/pg-cluster.js';
import { startTcpProxy, type TcpProxy } from '../test/helpers/tcp-proxy.js';

/**
 * Daemons sharing one PostgreSQL store (`--store`), as nodes, on a throwaway cluster of this machine:
 * (a) durable accepts (`runs.submit` over each daemon's socket, for a profile whose one instance never gets
 *     ready: runs just queue) with three daemons on the same database, against one daemon with the same load,
 *     twice: (a1) on this host as they are (16 connections × 4 in flight per daemon): the daemons and PostgreSQL
 *     share this machine's cores, so it measures CPU sharing more than the store; (a2) each daemon reaching
 *     PostgreSQL through its own link with LINK_DELAY_MS added each way (a TCP proxy, as separate hosts would),
 *     with a light load (LINK_CONNECTIONS × 1 in flight per daemon), so each daemon is bound by its round
 *     trips and not by the CPU: 3 vs 1 then shows whether the store serialises the daemons' appends;
 * (b) submit-to-start of one run at a time (the time between its `run.accepted` and `run.started` events, both
 *     stamped by the same machine's clock) when it is submitted to a node without an instance and claimed by the
 *     node that has the ready instance, against the same runs submitted to that node itself.
 */

const GOAL = 'What is (19*23)?';
/** Runs for the profile 'parked': its one instance never gets ready (a process that does not serve), so runs just queue. */
const submitLine = (id: number): string => `{"jsonrpc":"2.0","id":${id},"method":"runs.submit","params":{"request":{"input":{"goal":"${GOAL}"},"runtime_selector":{"runtime_profile":"parked"}}}}`;
const PARKED = { runtime_name: 'parked', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['sleep', '3600'] } } };

let databases = 0;

/** One-way delay of each daemon's link to PostgreSQL in the with-latency variant (a round trip: twice that). */
const LINK_DELAY_MS = 5;
const LINK_CONNECTIONS = 4;

/** How the daemons reach PostgreSQL and how hard each is driven. */
interface Setup {
  /** Added one-way delay on each daemon's own link (0: straight to the server). */
  delayMs: number;
  connections: number;
  inFlight: number;
}

const SAME_HOST: Setup = { delayMs: 0, connections: 16, inFlight: 4 };
const WITH_LATENCY: Setup = { delayMs: LINK_DELAY_MS, connections: LINK_CONNECTIONS, inFlight: 1 };

function nodeArgs(cluster: PgCluster, db: string, id: string, extra: string[] = [], port?: number): string[] {
  return ['--store', cluster.url({ database: db, ...(port === undefined ? {} : { port }) }), '--node-id', id, '--no-http', ...extra];
}

async function acceptsTrial(ctx: BenchContext, cluster: PgCluster, nodes: number, durationMs: number, setup: Setup): Promise<LoadResult> {
  const db = await cluster.createDatabase(`accepts_${++databases}`);
  const daemons: Daemon[] = [];
  const proxies: TcpProxy[] = [];
  try {
    // one after another: the first creates the schema
    for (let i = 0; i < nodes; i++) {
      let port: number | undefined;
      if (setup.delayMs > 0) {
        const proxy = await startTcpProxy(cluster.port, cluster.host, { delayMs: setup.delayMs });
        proxies.push(proxy);
        port = proxy.port;
      }
      daemons.push(await startDaemon({ args: nodeArgs(cluster, db, `n${i + 1}`, ['--no-autostart-instances', '--queue-timeout', '3600000', '--health-timeout', '3600000'], port) }));
    }
    const c = await (daemons[0] as Daemon).client();
    await c.call('profiles.upsert', { runtime_profile: 'parked', request: PARKED });
    await c.call('instances.create', { request: { runtime_profile: 'parked', count: 1 } });
    // warm: connections made, first appends done
    await Promise.all(daemons.map((d) => rpcLoad({ socket: d.socket, connections: setup.connections, inFlight: setup.inFlight, durationMs: ctx.quick ? 100 : 300, line: submitLine })));
    await ctx.settle();
    const rs = await Promise.all(daemons.map((d) => rpcLoad({ socket: d.socket, connections: setup.connections, inFlight: setup.inFlight, durationMs, line: submitLine })));
    const requests = rs.reduce((a, r) => a + r.requests, 0);
    const errors = rs.reduce((a, r) => a + r.errors, 0);
    const elapsedMs = Math.max(...rs.map((r) => r.elapsedMs));
    return {
      requests, errors, firstError: rs.find((r) => r.firstError !== undefined)?.firstError, elapsedMs,
      perSec: (requests - errors) / (elapsedMs / 1000), p50Ms: median(rs.map((r) => r.p50Ms)), p99Ms: Math.max(...rs.map((r) => r.p99Ms)),
    };
  } finally {
    await Promise.all(daemons.map((d) => d.stop()));
    await Promise.all(proxies.map((p) => p.close()));
  }
}

async function accepts(ctx: BenchContext, cluster: PgCluster, setup: Setup, figures: Figure[], notes: string[], raw: Record<string, unknown>): Promise<void> {
  const durationMs = ctx.quick ? 300 : 2000;
  const trials = ctx.quick ? 1 : 2;
  const where = setup.delayMs === 0 ? 'same host' : `${setup.delayMs} ms link each way`;
  const got: Record<'three' | 'one', LoadResult[]> = { three: [], one: [] };
  for (let t = 0; t < trials; t++) {
    for (const side of t % 2 === 0 ? (['three', 'one'] as const) : (['one', 'three'] as const)) {
      const r = await acceptsTrial(ctx, cluster, side === 'three' ? 3 : 1, durationMs, setup);
      got[side].push(r);
      ctx.log(`pg-nodes accepts (${where}), ${side === 'three' ? '3 daemons' : '1 daemon'}: ${Math.round(r.perSec)} runs/s, p50 ${r.p50Ms.toFixed(1)} ms (${r.errors} errors${r.firstError === undefined ? '' : `: ${r.firstError}`})`);
    }
  }
  figures.push(figure(`durable accepts, 3 daemons vs 1 (${where})`, 'runs/s', median(got.three.map((r) => r.perSec)), median(got.one.map((r) => r.perSec)), { op: '>=', ratio: 2 }));
  figures.push(figure(`accept latency p50, 3 daemons vs 1 (${where})`, 'ms', median(got.three.map((r) => r.p50Ms)), median(got.one.map((r) => r.p50Ms))));
  notes.push(setup.delayMs === 0
    ? `accepts (same host): ${trials} trial(s) of ${durationMs} ms per side, alternating, each on a fresh database; ${setup.connections} connections × ${setup.inFlight} requests in flight per daemon; medians shown. The three daemons, PostgreSQL and the load share this machine's cores: this shows CPU sharing, not whether the store serialises`
    : `accepts (${where}): each daemon reaches PostgreSQL through its own TCP proxy holding every chunk ${setup.delayMs} ms each way (a round trip ≥ ${2 * setup.delayMs} ms, as to another host); ${setup.connections} connections × ${setup.inFlight} in flight per daemon, so a daemon waits on its round trips, not on the CPU; ${trials} trial(s) of ${durationMs} ms per side, medians. 3 vs 1 near 3× means the store does not serialise the daemons; the proxies add CPU in the bench process and the daemons still share this machine`);
  raw[setup.delayMs === 0 ? 'accepts' : 'accepts_with_latency'] = got;
}

interface Timed { run_id: string }

async function submitToStart(ctx: BenchContext, cluster: PgCluster, figures: Figure[], notes: string[], raw: Record<string, unknown>): Promise<void> {
  const runs = ctx.quick ? 6 : 40;
  const db = await cluster.createDatabase(`latency_${++databases}`);
  const remote = await startDaemon({ args: nodeArgs(cluster, db, 'front') });
  const local = await startDaemon({ args: nodeArgs(cluster, db, 'worker') });
  try {
    const front = await remote.client();
    const worker = await local.client();
    await worker.call('instances.create', { request: { runtime_profile: 'default', count: 1 }, wait: true }, { timeoutMs: 120_000 });
    const one = async (c: typeof front): Promise<number> => {
      const s = await c.call<Timed>('runs.submit', { request: { input: { goal: GOAL } } });
      await c.call('runs.wait', { run_id: s.run_id, timeout_ms: 60_000 }, { timeoutMs: 70_000 });
      const r = await cluster.query<{ type: string; ts: Date }>("SELECT type, ts FROM arpd.events WHERE stream = $1 AND type IN ('run.accepted', 'run.started')", [`run:${s.run_id}`], db);
      const at = (type: string): number => r.rows.find((row) => row.type === type)?.ts.getTime() ?? Number.NaN;
      return at('run.started') - at('run.accepted');
    };
    for (let i = 0; i < 3; i++) { await one(front); await one(worker); }
    await ctx.settle();
    const got: Record<'remote' | 'same', number[]> = { remote: [], same: [] };
    for (let i = 0; i < runs; i++) {
      got.remote.push(await one(front));
      got.same.push(await one(worker));
    }
    figures.push(figure('submit-to-start p50, instance on another node vs the same node', 'ms', median(got.remote), median(got.same), { op: '<=', ratio: 1.5 }));
    notes.push(`submit-to-start: ${runs} runs per side, alternating, one at a time, one reference-runtime instance on the node 'worker'; the time between the run's run.accepted and run.started events`);
    raw['submit_to_start_ms'] = got;
  } finally {
    await Promise.all([remote.stop(), local.stop()]);
  }
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const figures: Figure[] = [];
  const raw: Record<string, unknown> = {};
  ctx.log('pg-nodes: starting a throwaway PostgreSQL cluster');
  const cluster = await startPgCluster({ settings: { max_connections: '200' } });
  try {
    const version = (await cluster.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?';
    const notes = [`PostgreSQL ${version} on this machine (a throwaway cluster, fsync=on, synchronous_commit=on), every daemon on this machine too: the daemons share its cores with PostgreSQL`];
    await accepts(ctx, cluster, SAME_HOST, figures, notes, raw);
    await accepts(ctx, cluster, WITH_LATENCY, figures, notes, raw);
    await submitToStart(ctx, cluster, figures, notes, raw);
    return {
      name: 'pg-nodes',
      title: 'daemons as nodes of one PostgreSQL store',
      baseline: 'accepts: one daemon on the same PostgreSQL with the same per-daemon load; submit-to-start: the same runs submitted to the node that has the instance',
      figures,
      notes,
      raw,
    };
  } finally {
    await cluster.destroy();
  }
}

export const bench: Bench = { name: 'pg-nodes', title: 'daemons as nodes of one PostgreSQL store', run };
