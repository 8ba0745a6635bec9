import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { openPostgresStore, type PostgresEventStore } from '../src/store-postgres/index.js';
import { startPgCluster, type PgCluster } from '../test/helpers/pg-cluster.js';
import type { Bench, BenchContext } from './lib/bench.js';
import { traceData } from './lib/event-mix.js';
import { figure, type BenchResult, type Figure, type Goal } from './lib/report.js';
import { median, Samples } from './lib/stats.js';
import { nowMs } from './lib/timer.js';
import { cpuMsOf } from './lib/proc.js';

/**
 * Durable appends to PostgreSQL: N producers each loop "await append; next" for a fixed time, on a
 * throwaway cluster of this machine (fsync and synchronous_commit on). arpd is `PostgresEventStore`
 * (group commit into one `append()` call per batch, per-stream revisions under row locks, the
 * idempotency check by id, then the reader publishing each event before the append resolves). The
 * baseline is a bare node-postgres client doing the same inserts with the same batching: producers
 * queue an event and a promise, one committer sends every queued event in one INSERT … SELECT FROM
 * json_to_recordset (its own transaction, into a table with the same indexes), then resolves them all.
 */

const PRODUCERS = [1, 64] as const;

interface Sink {
  append(producer: number, step: number): Promise<unknown>;
  close(): Promise<void>;
}

async function openArpd(cluster: PgCluster, schema: string): Promise<Sink> {
  const store: PostgresEventStore = await openPostgresStore({ url: cluster.url({ database: 'bench' }), schema });
  return {
    append: (p, step) => store.append([{ type: 'run.trace', data: traceData(`bench-run-${p}`, step) }]),
    close: () => store.close(),
  };
}

/** The bare limit: queued events, one INSERT per batch, the same table and indexes, revisions kept in memory. */
class BareBatchInsert implements Sink {
  private rows: unknown[] = [];
  private waiters: Array<() => void> = [];
  private busy = false;
  private readonly revs = new Map<string, number>();
  private readonly sql: string;

  constructor(private readonly client: pg.Client, schema: string) {
    this.sql = `INSERT INTO ${schema}.events (tx, id, ts, stream, rev, type, v, data, meta)
      SELECT pg_current_xact_id(), b.id, b.ts, b.stream, b.rev, b.type, b.v, b.data::json, b.meta::json
        FROM json_to_recordset($1::json) AS b(i integer, id uuid, ts timestamptz, stream text, rev integer, type text, v integer, data text, meta text)
       ORDER BY b.i`;
  }

  append(p: number, step: number): Promise<void> {
    const data = traceData(`bench-run-${p}`, step);
    const stream = `run:${data.run_id}`;
    const rev = (this.revs.get(stream) ?? 0) + 1;
    this.revs.set(stream, rev);
    return new Promise((resolve) => {
      this.rows.push({ i: this.rows.length + 1, id: crypto.randomUUID(), ts: new Date().toISOString(), stream, rev, type: 'run.trace', v: 1, data: JSON.stringify(data), meta: '{}' });
      this.waiters.push(resolve);
      if (!this.busy) {
        this.busy = true;
        setImmediate(() => void this.commit());
      }
    });
  }

  private async commit(): Promise<void> {
    while (this.rows.length > 0) {
      const rows = this.rows;
      const waiters = this.waiters;
      this.rows = [];
      this.waiters = [];
      await this.client.query(this.sql, [JSON.stringify(rows)]);
      for (const w of waiters) w();
    }
    this.busy = false;
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

async function openBaseline(cluster: PgCluster, schema: string): Promise<Sink> {
  // the same schema (tables, indexes) as the store's, made by the store's own migrations
  const s = await openPostgresStore({ url: cluster.url({ database: 'bench' }), schema });
  await s.close();
  const client = new pg.Client({ connectionString: cluster.url({ database: 'bench' }) });
  await client.connect();
  return new BareBatchInsert(client, schema);
}

interface Trial {
  eventsPerSec: number;
  events: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU per event, in µs: this process (the store or the bare client) and every PostgreSQL process. */
  nodeCpuUs: number;
  pgCpuUs: number;
}

/** CPU (ms) used so far by the PostgreSQL server's processes (the postmaster's children: backends, WAL writer, checkpointer). */
function pgCpuMs(cluster: PgCluster): number {
  const pm = cluster.postmasterPid();
  let total = cpuMsOf(pm);
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const f = readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
      if (Number(f[1]) === pm) total += cpuMsOf(Number(d));
    } catch { /* gone meanwhile */ }
  }
  return total;
}

let schemas = 0;

async function trial(cluster: PgCluster, kind: 'arpd' | 'baseline', producers: number, durationMs: number): Promise<Trial> {
  const schema = `${kind}_${++schemas}`;
  const sink = kind === 'arpd' ? await openArpd(cluster, schema) : await openBaseline(cluster, schema);
  // connected and warm before the clock starts (both sides)
  for (let p = 0; p < Math.min(producers, 8); p++) await sink.append(p, 0);
  const lat = new Samples();
  let events = 0;
  const cpu0 = process.cpuUsage();
  const pg0 = pgCpuMs(cluster);
  const t0 = nowMs();
  const stopAt = t0 + durationMs;
  await Promise.all(Array.from({ length: producers }, async (_, p) => {
    let step = 1;
    while (nowMs() < stopAt) {
      const a = nowMs();
      await sink.append(p, step++);
      lat.push(nowMs() - a);
      events++;
    }
  }));
  const elapsed = nowMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  const pgMs = pgCpuMs(cluster) - pg0;
  await sink.close();
  await cluster.query(`DROP SCHEMA ${schema} CASCADE`, [], 'bench');
  const s = lat.summary();
  return { eventsPerSec: events / (elapsed / 1000), events, p50Ms: s.p50, p99Ms: s.p99, nodeCpuUs: (cpu.user + cpu.system) / events, pgCpuUs: (pgMs * 1000) / events };
}

const THROUGHPUT_GOAL: Goal = { op: '>=', ratio: 0.5 };

async function run(ctx: BenchContext): Promise<BenchResult> {
  const durationMs = ctx.quick ? 300 : 2500;
  const trials = ctx.quick ? 1 : 3;
  const figures: Figure[] = [];
  const raw: Record<string, unknown> = {};
  ctx.log('pg-append: starting a throwaway PostgreSQL cluster');
  const cluster = await startPgCluster();
  try {
    await cluster.createDatabase('bench');
    const version = (await cluster.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version ?? '?';
    const notes = [
      `PostgreSQL ${version} on this machine (a throwaway cluster, fsync=on, synchronous_commit=on, shared_buffers=32MB), over TCP on 127.0.0.1`,
      'event: run.trace; each producer is one run (its own stream)',
      `${trials} trial(s) of ${durationMs} ms per side and producer count, alternating sides, each on a fresh schema; medians shown`,
      'CPU per event: this process (user + system) and every PostgreSQL process (from /proc, 10 ms ticks), over the trial: less noisy than throughput on a shared machine',
    ];
    await trial(cluster, 'arpd', 8, ctx.quick ? 100 : 500);
    await trial(cluster, 'baseline', 8, ctx.quick ? 100 : 500);
    for (const n of PRODUCERS) {
      const got: Record<'arpd' | 'baseline', Trial[]> = { arpd: [], baseline: [] };
      for (let t = 0; t < trials; t++) {
        const order: Array<'arpd' | 'baseline'> = t % 2 === 0 ? ['arpd', 'baseline'] : ['baseline', 'arpd'];
        for (const kind of order) {
          await ctx.settle();
          const r = await trial(cluster, kind, n, durationMs);
          got[kind].push(r);
          ctx.log(`pg-append ${n} producer(s) ${kind}: ${Math.round(r.eventsPerSec)} events/s, p50 ${r.p50Ms.toFixed(3)} ms, p99 ${r.p99Ms.toFixed(3)} ms, CPU/event ${Math.round(r.nodeCpuUs)} µs node + ${Math.round(r.pgCpuUs)} µs PostgreSQL`);
        }
      }
      const m = (kind: 'arpd' | 'baseline', k: keyof Trial): number => median(got[kind].map((r) => r[k]));
      const label = `${n} producer${n === 1 ? '' : 's'}`;
      figures.push(figure(`throughput, ${label}`, 'events/s', m('arpd', 'eventsPerSec'), m('baseline', 'eventsPerSec'), THROUGHPUT_GOAL));
      figures.push(figure(`ack latency p50, ${label}`, 'ms', m('arpd', 'p50Ms'), m('baseline', 'p50Ms')));
      figures.push(figure(`ack latency p99, ${label}`, 'ms', m('arpd', 'p99Ms'), m('baseline', 'p99Ms')));
      figures.push(figure(`CPU per event in this process, ${label}`, 'µs', m('arpd', 'nodeCpuUs'), m('baseline', 'nodeCpuUs')));
      figures.push(figure(`CPU per event in PostgreSQL, ${label}`, 'µs', m('arpd', 'pgCpuUs'), m('baseline', 'pgCpuUs')));
      raw[`producers_${n}`] = got;
    }
    return {
      name: 'pg-append',
      title: 'durable append through PostgresEventStore',
      baseline: 'a bare node-postgres client: the same inserts with the same batching (one INSERT … FROM json_to_recordset per batch) into the same table',
      figures,
      notes,
      raw,
    };
  } finally {
    await cluster.destroy();
  }
}

export const bench: Bench = { name: 'pg-append', title: 'durable append to PostgreSQL', run };
