import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bench, BenchContext } from './lib/bench.js';
import { formatHot, readCpuProfile, topSelfTime } from './lib/cpu-profile.js';
import { ARPD_CLI, daemonDir, daemonLogLines, startDaemon } from './lib/daemon.js';
import { figure, type BenchResult } from './lib/report.js';
import { median } from './lib/stats.js';
import { makeTempDir, removeTempDir } from './lib/temp-dir.js';
import { nowMs } from './lib/timer.js';

/**
 * `arpd daemon start --no-http` on an empty data dir, as a fresh process, to its exit (it returns once the
 * detached daemon answers `daemon.status` on its socket), against a bare pair started and polled the same way: a
 * one-shot Node script that spawns a detached Node child (own session, stdio to a file) which listens on a Unix
 * socket and answers an NDJSON status line, then polls that socket with the same probe and backoff as arpd's
 * starter (a connect + one `daemon.status` line, first retry after 20 ms, doubling to 50 ms). Then the boot's
 * phases, from the daemon's own log (pino `time`, ISO with ms) and the benchmark's clock.
 */

const BARE_LISTENER = `import net from 'node:net';
const answer = JSON.stringify({ state: 'running', pid: process.pid, version: '0.1.0' });
const server = net.createServer((s) => {
  let buf = '';
  s.setEncoding('utf8');
  s.on('data', (c) => {
    buf += c;
    let nl;
    while ((nl = buf.indexOf('\\n')) !== -1) {
      const req = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      s.write(JSON.stringify({ jsonrpc: '2.0', id: req.id, result: JSON.parse(answer) }) + '\\n');
    }
  });
  s.on('error', () => {});
});
server.listen(process.argv[2]);
process.on('SIGTERM', () => { server.close(); process.exit(0); });
`;

/** Mirrors src/client/daemon-start.ts: spawn detached, then probe (connect + status) with backoff 20 → 50 ms. */
const BARE_STARTER = `import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import net from 'node:net';
const [listener, sock, log] = process.argv.slice(2);
const fd = openSync(log, 'a', 0o600);
const child = spawn(process.execPath, [listener, sock], { detached: true, stdio: ['ignore', fd, fd] });
child.unref();
closeSync(fd);
const probe = () => new Promise((resolve) => {
  const s = net.createConnection(sock);
  const timer = setTimeout(() => { s.destroy(); resolve(false); }, 1000);
  s.setEncoding('utf8');
  s.once('connect', () => s.write('{"jsonrpc":"2.0","id":1,"method":"daemon.status","params":{}}\\n'));
  let buf = '';
  s.on('data', (c) => { buf += c; if (buf.includes('\\n')) { clearTimeout(timer); s.destroy(); resolve(true); } });
  s.once('error', () => { clearTimeout(timer); resolve(false); });
});
let delay = 20;
for (;;) {
  if (await probe()) break;
  await new Promise((r) => setTimeout(r, delay));
  delay = Math.min(delay * 2, 50);
}
process.stdout.write(String(child.pid) + '\\n');
`;

interface Outcome { ms: number; startEpochMs: number; code: number | null; stdout: string; stderr: string }

function timeProcess(args: string[], extraEnv: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const startEpochMs = Date.now();
    const t0 = nowMs();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', ...extraEnv } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
    child.once('error', reject);
    // 'exit', not 'close': the detached daemon inherits no pipe of ours, but be safe
    child.once('exit', (code) => resolve({ ms: nowMs() - t0, startEpochMs, code, stdout, stderr }));
  });
}

function kill(pid: number): Promise<void> {
  try { process.kill(pid, 'SIGTERM'); } catch { return Promise.resolve(); }
  return new Promise((resolve) => {
    const until = Date.now() + 20_000;
    const tick = (): void => {
      try {
        process.kill(pid, 0);
      } catch {
        resolve();
        return;
      }
      if (Date.now() > until) {
        try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
        resolve();
        return;
      }
      setTimeout(tick, 20);
    };
    tick();
  });
}

interface ArpdStart {
  ms: number;
  /** From the CLI's spawn to the daemon's first log line of this boot (both Node starts, the CLI's and the daemon's imports). */
  toFirstLogMs: number;
  /** The daemon's own `log replayed` ms (lock, snapshot/log, retention). */
  replayMs: number;
  /** `log replayed` → `ready` (StartDaemon, parts, socket listening). */
  partsMs: number;
  /** `ready` → the CLI's exit (its poll's quantization, the probe, exit). */
  pollMs: number;
}

async function arpdStart(nodeArgs: string[] = []): Promise<ArpdStart> {
  const scratch = daemonDir();
  try {
    const o = await timeProcess([...nodeArgs, ARPD_CLI, 'daemon', 'start', '--no-http', '--data-dir', scratch.dir]);
    if (o.code !== 0) throw new Error(`arpd daemon start exited ${o.code}:\n${o.stdout}${o.stderr}`);
    const pid = (JSON.parse(readFileSync(join(scratch.dir, 'arpd.pid'), 'utf8')) as { pid: number }).pid;
    const endEpoch = o.startEpochMs + o.ms;
    await kill(pid);
    // pino's \`time\` here is an ISO string (ms precision)
    const at = (t: unknown): number => (typeof t === 'number' ? t : Date.parse(String(t)));
    const lines = readFileSync(join(scratch.dir, 'logs', 'daemon.log'), 'utf8').split('\n').filter((l) => l !== '').map((l) => {
      const o = JSON.parse(l) as { time: unknown; msg: string };
      return { time: at(o.time), msg: o.msg };
    });
    const first = lines[0];
    const replayedLine = daemonLogLines(scratch.dir, 'log replayed')[0];
    const replayed = replayedLine === undefined ? undefined : { time: at(replayedLine['time']), ms: Number(replayedLine['ms']) };
    const ready = lines.find((l) => l.msg === 'ready');
    if (first === undefined || replayed === undefined || ready === undefined) throw new Error(`the daemon log of ${scratch.dir} lacks its boot lines`);
    // the first line is 'log replayed' itself when nothing is logged before it: its time is the end of the replay
    const firstAt = first.msg === 'log replayed' ? first.time - replayed.ms : first.time;
    return { ms: o.ms, toFirstLogMs: firstAt - o.startEpochMs, replayMs: replayed.ms, partsMs: ready.time - replayed.time, pollMs: endEpoch - ready.time };
  } finally {
    scratch.remove();
  }
}

async function bareStart(dir: string, listener: string, starter: string, n: number): Promise<number> {
  const sock = join(dir, `bare-${n}.sock`);
  const o = await timeProcess([starter, listener, sock, join(dir, 'bare.log')]);
  if (o.code !== 0) throw new Error(`the bare starter exited ${o.code}:\n${o.stderr}`);
  await kill(Number(o.stdout.trim()));
  return o.ms;
}

/** Imports, in a fresh process, what `arpd serve` loads before its boot (each step's cost after the one above it). */
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
    ['cac', import.meta.resolve('cac')],
    ['rxjs', import.meta.resolve('rxjs')],
    ['pino', import.meta.resolve('pino')],
    ['src/cli/serve-command.js', dist('cli/serve-command.js')],
    ['src/daemon/daemon.js (and everything it imports)', dist('daemon/daemon.js')],
    ['src/daemon/parts.js', dist('daemon/parts.js')],
    ['fastify (not needed with --no-http)', import.meta.resolve('fastify')],
  ];
  const trials: Array<Array<[string, number]>> = [];
  for (let i = 0; i < runs; i++) {
    const o = await timeProcess([script, JSON.stringify(steps)]);
    if (o.code !== 0) throw new Error(`import-steps.mjs failed:\n${o.stderr}`);
    trials.push(JSON.parse(o.stdout) as Array<[string, number]>);
  }
  return [
    `what the daemon's imports cost (each imported in a fresh process after the one above it, median of ${runs}; ~0 ms = already loaded by a step above it):`,
    ...steps.map(([label], i) => `    ${median(trials.map((t) => t[i]?.[1] ?? Number.NaN)).toFixed(0).padStart(5)} ms  ${label}`),
  ];
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const n = ctx.quick ? 3 : 9;
  const dir = makeTempDir('dstart');
  const listener = join(dir, 'bare-listener.mjs');
  const starter = join(dir, 'bare-starter.mjs');
  writeFileSync(listener, BARE_LISTENER);
  writeFileSync(starter, BARE_STARTER);
  const got = { arpd: [] as ArpdStart[], bare: [] as number[], node: [] as number[] };
  const notes: string[] = [];
  try {
    // one of each first, unmeasured: the page cache then holds every file both read
    await arpdStart();
    await bareStart(dir, listener, starter, -1);
    for (let i = 0; i < n; i++) {
      await ctx.settle();
      const order = i % 2 === 0 ? (['arpd', 'bare', 'node'] as const) : (['node', 'bare', 'arpd'] as const);
      for (const side of order) {
        if (side === 'arpd') got.arpd.push(await arpdStart());
        else if (side === 'bare') got.bare.push(await bareStart(dir, listener, starter, i));
        else got.node.push((await timeProcess(['-e', '0'])).ms);
      }
      const a = got.arpd.at(-1) as ArpdStart;
      ctx.log(`daemon-start ${i + 1}/${n}: arpd ${a.ms.toFixed(0)} ms (to its first log line ${a.toFirstLogMs.toFixed(0)}, log replayed ${a.replayMs}, parts + socket ${a.partsMs.toFixed(0)}, ready → CLI exit ${a.pollMs.toFixed(0)}), bare ${got.bare.at(-1)?.toFixed(0)} ms, node -e ${got.node.at(-1)?.toFixed(0)} ms`);
    }
    const m = (k: keyof ArpdStart): number => median(got.arpd.map((a) => a[k]));
    const f = figure('`arpd daemon start --no-http` (empty data dir) to ready', 'ms', m('ms'), median(got.bare), { op: '<=', ratio: 3 });
    notes.push(
      `${n} starts per side, each on a fresh data dir / socket (plus one unmeasured start each first), alternating; medians shown. Both are stopped (SIGTERM) after each start, outside the time`,
      `phases of arpd's start (medians; the daemon's log times are ISO times with ms): CLI spawn → the daemon's first log line ${m('toFirstLogMs').toFixed(0)} ms (Node starts twice, the CLI's imports, spawn, the daemon's imports, lock); "log replayed" ${m('replayMs').toFixed(0)} ms; then StartDaemon + SeedDefaultProfile + parts + socket listening ${m('partsMs').toFixed(0)} ms; "ready" → the CLI's exit ${m('pollMs').toFixed(0)} ms (the starter's poll backoff, the status probe, exit). \`node -e 0\` alone: ${median(got.node).toFixed(0)} ms`,
    );
    if (f.met === false || ctx.profileDir !== undefined) notes.push(...(await importCosts(dir, ctx.quick ? 1 : 5)));
    if (ctx.profileDir !== undefined) {
      const pdir = join(ctx.profileDir, 'daemon-start');
      mkdirSync(pdir, { recursive: true });
      // Node refuses --cpu-prof in NODE_OPTIONS, and the detached daemon gets no flag of the CLI's: the CLI's
      // \`daemon start\` is profiled as is, the daemon's boot through a foreground \`arpd serve --no-http\`
      await arpdStart(['--cpu-prof', '--cpu-prof-dir', pdir, '--cpu-prof-name', 'cli-daemon-start.cpuprofile']);
      const d = await startDaemon({ args: ['--no-http'], execArgv: ['--cpu-prof', '--cpu-prof-dir', pdir, '--cpu-prof-name', 'daemon-serve.cpuprofile'] });
      await d.stop();
      for (const [label, name] of [["the CLI's `arpd daemon start`", 'cli-daemon-start.cpuprofile'], ['the daemon (`arpd serve --no-http`, to ready and a SIGTERM stop)', 'daemon-serve.cpuprofile']] as const) {
        const path = join(pdir, name);
        notes.push(`profile of ${label} (${path}), top self time:`, ...formatHot(topSelfTime(readCpuProfile(path), 10)).map((l) => `    ${l}`));
      }
    }
    return {
      name: 'daemon-start',
      title: '`arpd daemon start` to ready',
      baseline: 'a bare one-shot Node script that spawns a detached Node child listening on a Unix socket and polls it the same way (connect + one status line; retries after 20 ms doubling to 50 ms)',
      figures: [f, figure('`node -e 0` (context: Node start alone)', 'ms', median(got.node), median(got.bare))],
      notes,
      raw: got,
    };
  } finally {
    removeTempDir(dir);
  }
}

export const bench: Bench = { name: 'daemon-start', title: 'daemon start', run };
