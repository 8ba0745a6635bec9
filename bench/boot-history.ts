import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { logBytes } from '../src/events/log-compact.js';
import type { SnapshotLoad } from './boot-history-child.js';
import type { Bench, BenchContext } from './lib/bench.js';
import { runChild } from './lib/child.js';
import { ARPD_CLI, daemonDir, daemonLogLines, startDaemon } from './lib/daemon.js';
import type { History } from './lib/history.js';
import { figure, type BenchResult, type Figure, type Goal } from './lib/report.js';
import { median } from './lib/stats.js';
import { timed } from './lib/timer.js';

/**
 * Boot of a real daemon (`arpd serve`, HTTP on, `--no-autostart-instances`, default retention) on a data dir that
 * holds N ended runs, against the boot of an empty data dir measured alternately in the same run. The history is
 * written through the real LogStore in a child (lib/history.ts: realistic run lifecycles, run logs, segments), then
 * booted once and stopped cleanly, unmeasured, as a user's daemon does after an upgrade: that boot replays the
 * whole log, archives the ended runs past retention, and its clean stop writes the snapshot every later boot
 * starts from. Then, per N: start-to-ready and RSS against an empty daemon, the `log replayed` phase (the daemon's
 * own boot log) against loading the snapshot file alone in a fresh process, and the log's size after
 * `arpd log compact` (and with a budget) against the live state's size (the snapshot).
 */

const MB = 1e6;
/** Flags of every daemon here: the defaults a user has (HTTP on, retention 10,000 runs / 7 days), no instances started. */
const FLAGS = ['--no-autostart-instances'];
const CHILD = new URL('./boot-history-child.js', import.meta.url);
/** The smallest `--budget-bytes` arpd takes (1 MiB). */
const MIN_BUDGET = 1024 * 1024;

const BOOT_GOALS: Record<number, number> = { 20_000: 1.3, 100_000: 1.5, 1_000_000: 2 };
const RSS_GOALS: Record<number, number> = { 1_000_000: 1.5 };

interface Pass { bootMs: number; replayMs: number; rssMB: number; statusMs: number }

interface Counts { counts: { runs: Record<string, number> } }

/** Boots `arpd serve`, reads status and one page of runs, takes the RSS, stops it cleanly. */
async function pass(dataDir: string | undefined, expectRuns: number): Promise<Pass> {
  const d = await startDaemon({ args: FLAGS, readyTimeoutMs: 3_600_000, ...(dataDir === undefined ? {} : { dataDir }) });
  try {
    const c = await d.client();
    const status = await timed(() => c.call<Counts>('daemon.status', {}));
    const runs = status.value.counts.runs;
    const ended = (runs['succeeded'] ?? 0) + (runs['failed'] ?? 0);
    if (ended !== expectRuns) throw new Error(`the daemon counts ${ended} ended runs, expected ${expectRuns}`);
    const page = await c.call<{ runs: unknown[] }>('runs.list', { page_size: 100 });
    if (page.runs.length !== Math.min(100, expectRuns)) throw new Error(`runs.list gave ${page.runs.length} runs`);
    const line = daemonLogLines(d.dataDir, 'log replayed').at(-1);
    return { bootMs: d.readyMs, replayMs: Number(line?.['ms']), rssMB: d.rssBytes() / MB, statusMs: status.ms };
  } finally {
    // an explicit data dir is kept; this stop appends daemon.started/stopped and writes a snapshot, as a user's does
    await d.stop();
  }
}

function duBytes(path: string): number {
  try {
    return Number(execFileSync('du', ['-sb', path], { encoding: 'utf8' }).split('\t')[0]);
  } catch {
    return Number.NaN;
  }
}

function newestSnapshotBytes(dataDir: string): number {
  const dir = join(dataDir, 'snapshots');
  const names = readdirSync(dir).filter((n) => /^snapshot-\d{12}\.json$/.test(n)).sort();
  const newest = names.at(-1);
  if (newest === undefined) throw new Error(`no snapshot under ${dir}`);
  return statSync(join(dir, newest)).size;
}

/** `arpd log compact [--budget-bytes N] --json` against the running daemon of `dataDir`. */
function cliCompact(dataDir: string, budget?: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const args = [ARPD_CLI, 'log', 'compact', '--data-dir', dataDir, '--json', ...(budget === undefined ? [] : ['--budget-bytes', String(budget)])];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString('utf8'); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString('utf8'); });
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`arpd log compact exited ${code}: ${err}${out}`));
      else resolve(JSON.parse(out) as Record<string, unknown>);
    });
  });
}

interface Disk { logBefore: number; logCompressed: number; logBudget: number; snapshot: number; runsDir: number; compressMs: number }

async function disk(dataDir: string): Promise<Disk> {
  const logBefore = logBytes(dataDir);
  const d = await startDaemon({ args: FLAGS, dataDir, readyTimeoutMs: 3_600_000 });
  try {
    const compressed = await timed(() => cliCompact(dataDir));
    const logCompressed = logBytes(dataDir);
    // the smallest budget: everything the oldest snapshot holds may go (the active file and the rest stay)
    await cliCompact(dataDir, MIN_BUDGET);
    const logBudget = logBytes(dataDir);
    return { logBefore, logCompressed, logBudget, snapshot: newestSnapshotBytes(dataDir), runsDir: duBytes(join(dataDir, 'runs')), compressMs: compressed.ms };
  } finally {
    await d.stop();
  }
}

/** `ARPD_BENCH_BOOT_RUNS=20000,100000` picks the sizes (e.g. the 1M boot alone, once, at the end of a session). */
function bootSizes(quick: boolean): number[] {
  const env = process.env['ARPD_BENCH_BOOT_RUNS'];
  if (env === undefined || env.trim() === '') return quick ? [2_000] : [20_000, 100_000, 1_000_000];
  const sizes = env.split(',').map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`ARPD_BENCH_BOOT_RUNS must be a comma-separated list of run counts (e.g. 20000,100000), not ${JSON.stringify(env)}`);
  return sizes;
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const sizes = bootSizes(ctx.quick);
  // 5 alternating pairs: an empty boot alone moves by ±15 % from one to the next on this machine
  const trials = ctx.quick ? 1 : 5;
  const figures: Figure[] = [];
  const notes: string[] = [];
  const raw: Record<string, unknown> = {};
  const label = (n: number): string => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1000}k`);
  for (const n of sizes) {
    const scratch = daemonDir();
    try {
      ctx.log(`boot-history ${label(n)}: writing the history through LogStore`);
      const gen = await runChild<History>(CHILD, ['generate', scratch.dir, String(n)], { timeoutMs: 3_600_000 });
      const h = gen.value;
      ctx.log(`boot-history ${label(n)}: ${h.events.toLocaleString('en-US')} events, log ${(h.logBytes / MB).toFixed(0)} MB, in ${(h.ms / 1000).toFixed(1)} s; first boot (whole log, archiving)`);
      // the first boot: no snapshot yet (a full replay that archives as it folds); its clean stop writes one
      const first = await pass(scratch.dir, n);
      ctx.log(`boot-history ${label(n)}: first boot ${(first.bootMs / 1000).toFixed(1)} s (log replayed ${(first.replayMs / 1000).toFixed(1)} s), RSS ${first.rssMB.toFixed(0)} MB`);
      const got: Record<'full' | 'empty', Pass[]> = { full: [], empty: [] };
      const loads: SnapshotLoad[] = [];
      for (let t = 0; t < trials; t++) {
        const order: Array<'full' | 'empty'> = t % 2 === 0 ? ['empty', 'full'] : ['full', 'empty'];
        for (const side of order) {
          await ctx.settle();
          const r = side === 'full' ? await pass(scratch.dir, n) : await pass(undefined, 0);
          got[side].push(r);
          ctx.log(`boot-history ${label(n)} ${side === 'full' ? `${label(n)} runs` : 'empty'}: ready in ${r.bootMs.toFixed(0)} ms (log replayed ${r.replayMs} ms), RSS ${r.rssMB.toFixed(0)} MB`);
        }
        await ctx.settle();
        const l = await runChild<SnapshotLoad>(CHILD, ['load-snapshot', scratch.dir]);
        loads.push(l.value);
        ctx.log(`boot-history ${label(n)} snapshot alone: ${l.value.ms.toFixed(0)} ms (read + parse ${l.value.readMs.toFixed(0)} ms), ${(l.value.bytes / MB).toFixed(1)} MB, ${l.value.runsInMemory} runs in memory, ${l.value.archived} archived`);
      }
      ctx.log(`boot-history ${label(n)}: compacting`);
      const dk = await disk(scratch.dir);
      const m = (side: 'full' | 'empty', k: keyof Pass): number => median(got[side].map((r) => r[k]));
      const lm = (k: keyof SnapshotLoad): number => median(loads.map((l) => l[k]));
      const bootGoal: Goal | undefined = BOOT_GOALS[n] === undefined ? undefined : { op: '<=', ratio: BOOT_GOALS[n] };
      const rssGoal: Goal | undefined = RSS_GOALS[n] === undefined ? undefined : { op: '<=', ratio: RSS_GOALS[n] };
      figures.push(
        figure(`${label(n)} ended runs: start to ready vs an empty data dir`, 'ms', m('full', 'bootMs'), m('empty', 'bootMs'), bootGoal),
        figure(`${label(n)}: its "log replayed" phase vs loading the snapshot alone`, 'ms', m('full', 'replayMs'), lm('ms')),
        figure(`${label(n)}: RSS vs an empty daemon`, 'MB', m('full', 'rssMB'), m('empty', 'rssMB'), rssGoal),
        figure(`${label(n)}: first boot with no snapshot (whole log, archiving) vs an empty data dir (context)`, 'ms', first.bootMs, m('empty', 'bootMs')),
        figure(`${label(n)}: log after \`arpd log compact\` vs the live state (the snapshot)`, 'MB', dk.logCompressed / MB, dk.snapshot / MB),
        figure(`${label(n)}: log after \`arpd log compact --budget-bytes 1048576\` (the smallest budget) vs the live state`, 'MB', dk.logBudget / MB, dk.snapshot / MB),
      );
      notes.push(
        `${label(n)}: ${h.events.toLocaleString('en-US')} events, log ${(h.logBytes / MB).toFixed(0)} MB (${Math.round(h.logBytes / h.events)} bytes/line), written through LogStore in ${(h.ms / 1000).toFixed(1)} s; snapshot ${(lm('bytes') / MB).toFixed(2)} MB (${lm('runsInMemory').toLocaleString('en-US')} ended runs in memory, ${lm('archived').toLocaleString('en-US')} archived); snapshot alone: ${lm('ms').toFixed(0)} ms (${lm('cpuMs').toFixed(0)} ms CPU; reading + checksum + JSON.parse ${lm('readMs').toFixed(0)} ms). First boot: ${(first.bootMs / 1000).toFixed(1)} s, RSS ${first.rssMB.toFixed(0)} MB`,
        `${label(n)}: disk: log ${(dk.logBefore / MB).toFixed(0)} MB before compaction, ${(dk.logCompressed / MB).toFixed(1)} MB after \`arpd log compact\` (gzip of sealed segments, ${(dk.compressMs / 1000).toFixed(1)} s), ${(dk.logBudget / MB).toFixed(1)} MB with the smallest budget (what remains is the active file and what no kept snapshot holds); the run logs and summaries under runs/ take ${(dk.runsDir / MB).toFixed(0)} MB (they go only with \`arpd runs prune\`)`,
      );
      raw[`n${n}`] = { history: h, first, trials: got, snapshot_loads: loads, disk: dk };
    } finally {
      scratch.remove();
    }
  }
  notes.push(
    `${trials} boot(s) per side and size, alternating with an empty data dir (a fresh one each time), medians shown; boot = spawn of \`arpd serve ${FLAGS.join(' ')}\` (HTTP on) to its "arpd ready" line; "log replayed" = the daemon's own boot log (snapshot read, tail folded, retention sweep); RSS = VmRSS after \`daemon.status\` and one \`runs.list\` page answered`,
    'every boot is stopped cleanly (SIGTERM): it writes a snapshot, so the next boot of the same data dir replays only its own start and stop; the data dir was just written, so boots read it from the page cache',
  );
  return {
    name: 'boot-history',
    title: 'boot with a long history of ended runs',
    baseline: 'the boot of an empty data dir (same flags, measured alternately); for the replay phase, loading the snapshot file alone (readSnapshot + Registry.importState + the archive index) in a fresh process',
    figures,
    notes,
    raw,
  };
}

export const bench: Bench = { name: 'boot-history', title: 'boot with history', run };
