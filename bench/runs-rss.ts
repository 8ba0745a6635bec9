import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { StoredEvent } from '../src/events/envelope.js';
import { createEventIdFactory } from '../src/events/event-id.js';
import { CURRENT_VERSION, streamOf, type DomainEvent } from '../src/events/event-types.js';
import { encodeLine } from '../src/events/line-codec.js';
import { DEFAULT_PROFILE } from '../src/features/profile-ops.js';
import { bootId } from '../src/system/process-identity.js';
import type { Bench, BenchContext } from './lib/bench.js';
import { daemonDir, startDaemon } from './lib/daemon.js';
import { traceData } from './lib/event-mix.js';
import { figure, type BenchResult } from './lib/report.js';
import { median } from './lib/stats.js';
import { timed } from './lib/timer.js';

/**
 * Memory of a daemon that holds many ended runs: a realistic log of 100,000 runs (run.accepted,
 * queued, routed, started, 3 traces, succeeded each; instances that have stopped; written with the
 * real codec, a `daemon.started` of this machine's boot first and a clean `daemon.stopped` with
 * `run_logs_complete: true` last, so boot need not rebuild run logs and no per-run files are needed).
 * `arpd serve` boots on it; once `daemon.status` answers and one `runs.list` page was read, the
 * daemon's VmRSS is taken. Against the 300 MB budget, and next to an empty daemon measured the same way.
 */

const MB = 1e6;
const BUDGET_MB = 300;
const INSTANCES = ['inst-a1', 'inst-b2', 'inst-c3', 'inst-d4'];

export function generateEndedRuns(path: string, runs: number): { events: number; bytes: number } {
  let ms = Date.parse('2025-03-03T09:00:00.000Z');
  const nextId = createEventIdFactory(() => ms);
  const revs = new Map<string, number>();
  const fd = openSync(path, 'w', 0o600);
  let seq = 0;
  let bytes = 0;
  let chunk: string[] = [];
  let chars = 0;
  const flush = (): void => {
    const buf = Buffer.from(chunk.join(''), 'utf8');
    writeSync(fd, buf);
    bytes += buf.length;
    chunk = [];
    chars = 0;
  };
  const emit = (event: DomainEvent): void => {
    seq++;
    ms += 2;
    const stream = streamOf(event);
    const rev = (revs.get(stream) ?? 0) + 1;
    revs.set(stream, rev);
    const line = encodeLine({ seq, id: nextId(), ts: new Date(ms).toISOString(), stream, rev, type: event.type, v: CURRENT_VERSION[event.type], data: event.data, meta: {} } as StoredEvent);
    chunk.push(line);
    chars += line.length;
    if (chars >= 4 * 1024 * 1024) flush();
  };
  try {
    emit({ type: 'daemon.started', data: { pid: 4242, version: '0.1.0', boot_id: bootId(), host: hostname() } });
    emit({ type: 'profile.upserted', data: { runtime_profile: 'default', profile: { runtime_profile: 'default', ...DEFAULT_PROFILE } } });
    INSTANCES.forEach((id, k) => {
      emit({ type: 'instance.requested', data: { instance_id: id, runtime_profile: 'default' } });
      emit({ type: 'instance.starting', data: { instance_id: id, pid: 30000 + k, pid_start_time: String(900000 + k), boot_id: bootId(), argv: ['node', 'dist/src/runtime/main.js', '--host', '127.0.0.1', '--port', '0'], attempt: 1 } });
      emit({ type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: `http://127.0.0.1:${41000 + k}`, runtime_name: 'arpd-reference-runtime', runtime_version: '0.1.0' } });
    });
    for (let i = 0; i < runs; i++) {
      const runId = `run-${String(i).padStart(7, '0')}`;
      const instance = INSTANCES[i % INSTANCES.length] as string;
      const request = { run_id: runId, input: { goal: `Summarise the open bugs in acme/widgets-${i % 50} and propose a fix for the oldest` }, runtime_selector: { runtime_profile: 'default' } };
      emit({ type: 'run.accepted', data: { run_id: runId, request, request_hash: createHash('sha256').update(JSON.stringify(request)).digest('hex') } });
      emit({ type: 'run.queued', data: { run_id: runId, deadline: new Date(ms + 30_000).toISOString() } });
      emit({ type: 'run.routed', data: { run_id: runId, instance_id: instance, runtime_api_endpoint: `http://127.0.0.1:${41000 + (i % INSTANCES.length)}` } });
      emit({ type: 'run.started', data: { run_id: runId, instance_id: instance } });
      for (let s = 0; s < 3; s++) emit({ type: 'run.trace', data: traceData(runId, s) });
      emit({ type: 'run.succeeded', data: { run_id: runId, result: { run_id: runId, ok: true, output: { text: 'Found 12 open bugs; the oldest (#4312) crashes on an empty config file.' } } } });
    }
    for (const id of INSTANCES) {
      emit({ type: 'instance.stopping', data: { instance_id: id, reason: 'arpd is shutting down' } });
      emit({ type: 'instance.stopped', data: { instance_id: id, reason: 'arpd is shutting down', exit_code: 0, signal: null } });
    }
    emit({ type: 'daemon.stopped', data: { pid: 4242, reason: 'SIGTERM', run_logs_complete: true } });
    flush();
  } finally {
    closeSync(fd);
  }
  return { events: seq, bytes };
}

interface Pass { rssMB: number; bootMs: number; statusMs: number }

/** Boots `arpd serve` on `dataDir`, reads status and one page of runs, takes the RSS, stops it. */
async function pass(dataDir: string | undefined, expectRuns: number): Promise<Pass> {
  const d = await startDaemon({ args: ['--no-http', '--no-autostart-instances'], readyTimeoutMs: 300_000, ...(dataDir === undefined ? {} : { dataDir }) });
  try {
    const c = await d.client();
    const status = await timed(() => c.call<{ counts: { runs: Record<string, number> } }>('daemon.status', {}));
    const succeeded = status.value.counts.runs['succeeded'] ?? 0;
    if (succeeded !== expectRuns) throw new Error(`the daemon counts ${succeeded} succeeded runs, expected ${expectRuns}`);
    const page = await c.call<{ runs: unknown[] }>('runs.list', { page_size: 100 });
    if (page.runs.length !== Math.min(100, expectRuns)) throw new Error(`runs.list gave ${page.runs.length} runs`);
    return { rssMB: d.rssBytes() / MB, bootMs: d.readyMs, statusMs: status.ms };
  } finally {
    // an explicit data dir is kept (the generated log is reused); stopping appends a few events to it
    await d.stop();
  }
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const runs = ctx.quick ? 10_000 : 100_000;
  // a boot on the full log takes ~10 s: once; the empty daemon (under a second) twice, before and after
  const order: Array<'full' | 'empty'> = ctx.quick ? ['full', 'empty'] : ['empty', 'full', 'empty'];
  const scratch = daemonDir();
  try {
    ctx.log(`runs-rss: generating a log of ${runs.toLocaleString('en-US')} ended runs`);
    const gen = await timed(() => generateEndedRuns(join(scratch.dir, 'events.jsonl'), runs));
    ctx.log(`runs-rss: ${gen.value.events.toLocaleString('en-US')} events, ${(gen.value.bytes / MB).toFixed(0)} MB, in ${(gen.ms / 1000).toFixed(1)} s`);
    const got: Record<'full' | 'empty', Pass[]> = { full: [], empty: [] };
    for (const side of order) {
      await ctx.settle();
      const r = side === 'full' ? await pass(scratch.dir, runs) : await pass(undefined, 0);
      got[side].push(r);
      ctx.log(`runs-rss ${side === 'full' ? `${runs} runs` : 'empty'}: RSS ${r.rssMB.toFixed(0)} MB, boot to ready ${r.bootMs.toFixed(0)} ms, first status ${r.statusMs.toFixed(1)} ms`);
    }
    const m = (side: 'full' | 'empty', k: keyof Pass): number => median(got[side].map((r) => r[k]));
    const label = `${(runs / 1000).toFixed(0)}k ended runs`;
    return {
      name: 'runs-rss',
      title: `daemon memory holding ${label}`,
      baseline: `the ${BUDGET_MB} MB budget for RSS; boot and RSS of an empty daemon (fresh data dir) measured the same way, as context`,
      figures: [
        figure(`daemon RSS, ${label} (baseline: the budget)`, 'MB', m('full', 'rssMB'), BUDGET_MB, { op: '<=', ratio: 1 }),
        figure(`daemon RSS, ${label} vs an empty daemon`, 'MB', m('full', 'rssMB'), m('empty', 'rssMB')),
        figure(`boot to ready, ${label} vs an empty daemon`, 'ms', m('full', 'bootMs'), m('empty', 'bootMs')),
      ],
      notes: [
        `log: ${gen.value.events.toLocaleString('en-US')} events, ${(gen.value.bytes / MB).toFixed(0)} MB (${Math.round(gen.value.bytes / gen.value.events)} bytes/line), generated in ${(gen.ms / 1000).toFixed(1)} s with the real codec; the file was just written, so boot reads it from the page cache`,
        `boots: ${got.full.length} on the full log, ${got.empty.length} of an empty daemon (around it); medians shown. RSS is /proc/<pid>/status VmRSS after \`daemon.status\` and one \`runs.list\` page (100 runs) answered; boot is spawn to "arpd ready" (log replayed, socket listening)`,
      ],
      raw: { generated: gen.value, generate_ms: gen.ms, trials: got },
    };
  } finally {
    scratch.remove();
  }
}

export const bench: Bench = { name: 'runs-rss', title: 'daemon RSS with many ended runs', run };
