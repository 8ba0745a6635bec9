import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import type { RpcClient } from '../src/client/rpc-client.js';
import type { Bench, BenchContext } from './lib/bench.js';
import { REFERENCE_RUNTIME, startDaemon, waitExit, waitForLine, type Daemon } from './lib/daemon.js';
import { figure, type BenchResult } from './lib/report.js';
import { median } from './lib/stats.js';
import { nowMs } from './lib/timer.js';

/**
 * Start-to-ready of one runtime instance: through arpd (`instances.create` with `wait: true` over the
 * socket, profile `default`: the bundled reference runtime), against spawning the same command
 * directly, reading its listening line for the URL and polling `GET /v1/health` until it answers 200.
 * Then 20 instances at once through arpd, with 20 × the direct start as context.
 */

interface Created { instances: Array<{ instance_id: string; state: string }> }
interface StoredEvent { type: string; ts: string; stream: string }

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function direct(): Promise<number> {
  const t0 = nowMs();
  const child = spawn(process.execPath, [REFERENCE_RUNTIME, '--host', '127.0.0.1', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await waitForLine(child, 'stdout', (l) => l.includes('"listening"'), 30_000, 'the reference runtime');
    const url = (JSON.parse(line) as { url: string }).url;
    for (;;) {
      const ok = await fetch(`${url}/v1/health`).then((r) => r.ok, () => false);
      if (ok) break;
      await sleep(10);
    }
    return nowMs() - t0;
  } finally {
    child.kill('SIGTERM');
    await waitExit(child, 10_000);
  }
}

async function throughArpd(client: RpcClient, count: number): Promise<{ ms: number; ids: string[] }> {
  const t0 = nowMs();
  const r = await client.call<Created>('instances.create', { request: { runtime_profile: 'default', count }, wait: true }, { timeoutMs: 300_000 });
  const ms = nowMs() - t0;
  const bad = r.instances.filter((i) => i.state !== 'ready');
  if (bad.length > 0) throw new Error(`${bad.length} of ${count} instance(s) were not ready: ${bad.map((i) => `${i.instance_id} ${i.state}`).join(', ')}`);
  return { ms, ids: r.instances.map((i) => i.instance_id) };
}

/** requested → starting (spawned) → ready, from the instance's events (envelope ts, ms resolution). */
async function phases(client: RpcClient, id: string): Promise<{ spawnMs: number; healthyMs: number }> {
  const r = await client.call<{ events: StoredEvent[] }>('events.read', { stream: `instance:${id}`, limit: 20 });
  const at = (type: string): number => Date.parse(r.events.find((e) => e.type === type)?.ts ?? '');
  return { spawnMs: at('instance.starting') - at('instance.requested'), healthyMs: at('instance.ready') - at('instance.starting') };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const trials = ctx.quick ? 2 : 5;
  const many = ctx.quick ? 4 : 20;
  let daemon: Daemon | undefined;
  const got = { arpd: [] as number[], direct: [] as number[], spawn: [] as number[], healthy: [] as number[] };
  try {
    daemon = await startDaemon({ args: ['--no-autostart-instances', '--no-http'] });
    const client = await daemon.client();
    const stop = async (ids: string[]): Promise<void> => {
      await Promise.all(ids.map((instance_id) => client.call('instances.delete', { instance_id }, { timeoutMs: 60_000 })));
    };
    // one of each first, unmeasured (page cache, JIT of the daemon's paths)
    await stop((await throughArpd(client, 1)).ids);
    await direct();
    for (let t = 0; t < trials; t++) {
      const order = t % 2 === 0 ? (['arpd', 'direct'] as const) : (['direct', 'arpd'] as const);
      for (const side of order) {
        await ctx.settle();
        if (side === 'direct') {
          got.direct.push(await direct());
        } else {
          const r = await throughArpd(client, 1);
          got.arpd.push(r.ms);
          const p = await phases(client, r.ids[0] as string);
          got.spawn.push(p.spawnMs);
          got.healthy.push(p.healthyMs);
          await stop(r.ids);
        }
      }
      ctx.log(`instance-start ${t + 1}/${trials}: arpd ${got.arpd.at(-1)?.toFixed(0)} ms (requested→starting ${got.spawn.at(-1)} ms, starting→ready ${got.healthy.at(-1)} ms), direct ${got.direct.at(-1)?.toFixed(0)} ms`);
    }
    await ctx.settle();
    const burst = await throughArpd(client, many);
    ctx.log(`instance-start: ${many} at once, all ready in ${burst.ms.toFixed(0)} ms`);
    await stop(burst.ids);

    const directMs = median(got.direct);
    return {
      name: 'instance-start',
      title: 'runtime instance start to ready',
      baseline: 'the same command (`node dist/src/runtime/main.js --host 127.0.0.1 --port 0`) spawned directly: read its listening line, poll GET /v1/health every 10 ms until 200',
      figures: [
        figure('start to ready, 1 instance', 'ms', median(got.arpd), directMs, { op: '<=', ratio: 1.2 }),
        figure(`${many} instances at once, all ready (baseline: ${many} × one direct start)`, 'ms', burst.ms, many * directMs),
      ],
      notes: [
        `${trials} starts per side, alternating, after one unmeasured start each; medians shown; through arpd: \`instances.create\` {count: 1, wait: true} over the socket, the instance deleted after each trial`,
        `arpd's phases (from the instance's events, ms resolution): requested → starting (spawned) ${median(got.spawn).toFixed(0)} ms, starting → ready ${median(got.healthy).toFixed(0)} ms`,
        `the ${many} at once: one \`instances.create\` {count: ${many}, wait: true}; the starts share ${availableParallelism()} CPUs, so ${many} × one direct start is context, not a baseline`,
      ],
      raw: { ...got, burst_ms: burst.ms, many },
    };
  } finally {
    await daemon?.stop();
  }
}

export const bench: Bench = { name: 'instance-start', title: 'instance start', run };
