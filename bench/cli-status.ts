import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bench, BenchContext } from './lib/bench.js';
import { formatHot, readCpuProfile, topSelfTime } from './lib/cpu-profile.js';
import { ARPD_CLI, startDaemon, type Daemon } from './lib/daemon.js';
import { figure, type BenchResult } from './lib/report.js';
import { median } from './lib/stats.js';
import { makeTempDir, removeTempDir } from './lib/temp-dir.js';
import { nowMs } from './lib/timer.js';

/**
 * Wall time of `arpd daemon status` (a daemon running) as a fresh process, against a bare one-shot
 * Node script that connects to the same socket, sends one JSON-RPC line, prints the answer and exits.
 * Both are spawned the same way, N times, alternating; medians. Node's own start (`node -e 0`) is
 * measured too, as the floor both stand on. When the goal is missed (or with --profile) the cost of
 * each import the command makes is measured in fresh processes, and one CLI run is profiled.
 */

const BARE_CLIENT = `import net from 'node:net';
const socket = net.createConnection(process.argv[2]);
socket.setEncoding('utf8');
socket.on('connect', () => socket.write('{"jsonrpc":"2.0","id":1,"method":"daemon.status","params":{}}\\n'));
let buf = '';
socket.on('data', (chunk) => {
  buf += chunk;
  const nl = buf.indexOf('\\n');
  if (nl === -1) return;
  process.stdout.write(buf.slice(0, nl + 1));
  socket.destroy();
});
socket.on('error', (err) => { process.stderr.write(String(err) + '\\n'); process.exitCode = 1; });
`;

interface Outcome { ms: number; code: number | null; stdout: string; stderr: string }

function timeProcess(args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const t0 = nowMs();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ ms: nowMs() - t0, code, stdout, stderr }));
  });
}

function check(o: Outcome, what: string, expect: string): number {
  if (o.code !== 0 || !o.stdout.includes(expect)) throw new Error(`${what} exited ${o.code} without '${expect}':\n${o.stdout}${o.stderr}`);
  return o.ms;
}

/** Imports, in a fresh process, what `arpd daemon status` loads, in the order it loads it; prints each step's cost. */
const IMPORT_STEPS = `const steps = JSON.parse(process.argv[2]);
let last = performance.now();
const out = [];
for (const [label, url] of steps) {
  await import(url);
  const now = performance.now();
  out.push([label, now - last]);
  last = now;
}
process.stdout.write(JSON.stringify(out));
`;

async function importCosts(dir: string, runs: number): Promise<string[]> {
  const script = join(dir, 'import-steps.mjs');
  writeFileSync(script, IMPORT_STEPS);
  const dist = (p: string): string => new URL(`../src/${p}`, import.meta.url).href;
  const steps: Array<[string, string]> = [
    ['cac (bin/arpd.js)', import.meta.resolve('cac')],
    ['src/cli/argv-check.js (and src/errors)', dist('cli/argv-check.js')],
    ['src/cli/serve-options.js (the daemon group declares start/restart flags)', dist('cli/serve-options.js')],
    ['src/cli/global-options.js (and src/config, src/ids)', dist('cli/global-options.js')],
    ['src/client/rpc-client.js (and src/protocol)', dist('client/rpc-client.js')],
    ['src/cli/daemon-status.js (and src/cli/output.js)', dist('cli/daemon-status.js')],
  ];
  const trials: Array<Array<[string, number]>> = [];
  for (let i = 0; i < runs; i++) {
    const o = await timeProcess([script, JSON.stringify(steps)]);
    if (o.code !== 0) throw new Error(`import-steps.mjs failed:\n${o.stderr}`);
    trials.push(JSON.parse(o.stdout) as Array<[string, number]>);
  }
  return [
    `what the CLI's imports cost (each imported in a fresh process after the one above it, median of ${runs}):`,
    ...steps.map(([label], i) => `    ${median(trials.map((t) => t[i]?.[1] ?? Number.NaN)).toFixed(0).padStart(5)} ms  ${label}`),
  ];
}

async function profileCli(dir: string, dataDir: string, keep: boolean): Promise<string[]> {
  const name = 'cli-status-arpd.cpuprofile';
  check(await timeProcess(['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', name, ARPD_CLI, 'daemon', 'status', '--data-dir', dataDir]), 'arpd daemon status --cpu-prof', 'running');
  const profile = readCpuProfile(join(dir, name));
  return [
    `profile of one \`arpd daemon status\`${keep ? ` (${join(dir, name)})` : ''}, the whole process (module loading dominates), top self time:`,
    ...formatHot(topSelfTime(profile, 8)).map((l) => `    ${l}`),
  ];
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.quick ? 3 : 9;
  const dir = makeTempDir('cli');
  const bare = join(dir, 'bare-status.mjs');
  writeFileSync(bare, BARE_CLIENT);
  let daemon: Daemon | undefined;
  const got = { arpd: [] as number[], baseline: [] as number[], node: [] as number[] };
  const notes: string[] = [];
  try {
    daemon = await startDaemon({ args: ['--no-http'] });
    const cli = [ARPD_CLI, 'daemon', 'status', '--data-dir', daemon.dataDir];
    // one of each first, unmeasured: the page cache then holds every file both read
    check(await timeProcess(cli), 'arpd daemon status', 'running');
    check(await timeProcess([bare, daemon.socket]), 'the bare client', '"result"');
    for (let i = 0; i < n; i++) {
      await ctx.settle();
      const order = i % 2 === 0 ? (['arpd', 'baseline', 'node'] as const) : (['node', 'baseline', 'arpd'] as const);
      for (const side of order) {
        if (side === 'arpd') got.arpd.push(check(await timeProcess(cli), 'arpd daemon status', 'running'));
        else if (side === 'baseline') got.baseline.push(check(await timeProcess([bare, daemon.socket]), 'the bare client', '"result"'));
        else got.node.push(check(await timeProcess(['-e', 'process.stdout.write("ok")']), 'node -e', 'ok'));
      }
      ctx.log(`cli-status ${i + 1}/${n}: arpd ${got.arpd.at(-1)?.toFixed(0)} ms, bare ${got.baseline.at(-1)?.toFixed(0)} ms, node -e ${got.node.at(-1)?.toFixed(0)} ms`);
    }
    const f = figure('`arpd daemon status`, wall time', 'ms', median(got.arpd), median(got.baseline), { op: '<=', ratio: 1.25 });
    const nodeMs = median(got.node);
    notes.push(
      `${n} runs per side, each a fresh process (plus one unmeasured run each first), alternating; medians shown`,
      `Node's own start and exit (\`node -e\`): ${nodeMs.toFixed(0)} ms median; above it: arpd +${(f.arpd - nodeMs).toFixed(0)} ms, the bare client +${(f.baseline - nodeMs).toFixed(0)} ms`,
    );
    if (f.met === false || ctx.profileDir !== undefined) {
      notes.push(...(await importCosts(dir, ctx.quick ? 1 : 5)), ...(await profileCli(ctx.profileDir ?? dir, daemon.dataDir, ctx.profileDir !== undefined)));
    }
    return {
      name: 'cli-status',
      title: '`arpd daemon status` as a fresh process',
      baseline: 'a bare one-shot Node script (.mjs): connect to the socket, send one JSON-RPC line, print the answer, exit',
      figures: [f, figure('`node -e` (context: Node start alone)', 'ms', nodeMs, median(got.baseline))],
      notes,
      raw: got,
    };
  } finally {
    await daemon?.stop();
    removeTempDir(dir);
  }
}

export const bench: Bench = { name: 'cli-status', title: 'CLI start', run };
