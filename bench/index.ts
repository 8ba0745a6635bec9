import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Bench, BenchContext } from './lib/bench.js';
import { describeMachine, finishMachine, formatMachine, idleShare, waitForIdle } from './lib/machine.js';
import { formatMarkdown, formatText, type BenchResult } from './lib/report.js';
import { scratchParent } from './lib/temp-dir.js';

/**
 * `npm run bench [-- <name>...] [--json] [--markdown] [--quick] [--profile <dir>]`
 * Runs the named benchmarks (all by default) and prints each figure as a ratio to a baseline
 * measured in the same run. Goals are printed next to the ratios; the exit code never depends on them.
 * To add a benchmark: write `bench/<name>.ts` exporting `bench: Bench` and add one line below.
 */
const REGISTRY: Record<string, () => Promise<Bench>> = {
  append: async () => (await import('./log-append.js')).bench,
  replay: async () => (await import('./log-replay.js')).bench,
  'socket-rpc': async () => (await import('./socket-rpc.js')).bench,
  'cli-status': async () => (await import('./cli-status.js')).bench,
  'instance-start': async () => (await import('./instance-start.js')).bench,
  runs: async () => (await import('./runs.js')).bench,
  'runs-rss': async () => (await import('./runs-rss.js')).bench,
  http: async () => (await import('./http.js')).bench,
  'ui-trace': async () => (await import('./ui-trace.js')).bench,
  'pg-append': async () => (await import('./pg-append.js')).bench,
  'pg-nodes': async () => (await import('./pg-nodes.js')).bench,
  'metrics-overhead': async () => (await import('./metrics-overhead.js')).bench,
  'boot-history': async () => (await import('./boot-history.js')).bench,
  'daemon-start': async () => (await import('./daemon-start.js')).bench,
  accepts: async () => (await import('./accepts.js')).bench,
};

const USAGE = `usage: node dist/bench/index.js [name...] [--json] [--markdown] [--quick] [--profile <dir>] [--wait-idle <s>]
  name        one of: ${Object.keys(REGISTRY).join(', ')} (default: all)
  --json      print one JSON document (machine + results) on stdout
  --markdown  print Markdown tables (the form of BENCHMARKS.md)
  --quick     short trials, to check the harness (figures are not stable)
  --profile   write CPU profiles of arpd's side to <dir> and list the hot functions
  --wait-idle before each trial wait up to <s> seconds for the CPUs to be 80% idle (a shared machine)
progress goes to stderr; set ARPD_BENCH_TMPDIR to choose the scratch dir (same disk as the project by default);
ARPD_BENCH_BOOT_RUNS=20000,100000 picks the history sizes of boot-history (default 20k, 100k, 1M; --quick: 2k)`;

interface Args { names: string[]; json: boolean; markdown: boolean; quick: boolean; profileDir: string | undefined; waitIdleMs: number }

function parseArgs(argv: string[]): Args {
  const args: Args = { names: [], json: false, markdown: false, quick: false, profileDir: undefined, waitIdleMs: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--json') args.json = true;
    else if (a === '--markdown') args.markdown = true;
    else if (a === '--quick') args.quick = true;
    else if (a === '--profile') {
      const dir = argv[++i];
      if (dir === undefined) throw new Error('--profile needs a directory: --profile ./profiles');
      args.profileDir = resolve(dir);
    } else if (a === '--wait-idle') {
      const s = Number(argv[++i]);
      if (!Number.isFinite(s) || s < 0) throw new Error('--wait-idle needs a number of seconds: --wait-idle 60');
      args.waitIdleMs = s * 1000;
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(`${USAGE}\n`);
      process.exit(0);
    } else if (a in REGISTRY) args.names.push(a);
    else throw new Error(`unknown benchmark or option '${a}': use one of ${Object.keys(REGISTRY).join(', ')} or --json, --markdown, --quick, --profile <dir>`);
  }
  if (args.names.length === 0) args.names = Object.keys(REGISTRY);
  return args;
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n${USAGE}\n`);
    process.exitCode = 2;
    return;
  }
  if (args.profileDir !== undefined) mkdirSync(args.profileDir, { recursive: true });
  const machine = describeMachine(scratchParent());
  let busyTrials = 0;
  let trials = 0;
  const ctx: BenchContext = {
    quick: args.quick,
    profileDir: args.profileDir,
    log: (m) => process.stderr.write(`${m}\n`),
    settle: async () => {
      trials++;
      const idle = args.waitIdleMs > 0 ? await waitForIdle(args.waitIdleMs) : await idleShare(200);
      if (idle < 0.8) busyTrials++;
    },
  };
  const results: BenchResult[] = [];
  for (const name of args.names) {
    const load = REGISTRY[name] as () => Promise<Bench>;
    const bench = await load();
    ctx.log(`-- ${name}: ${bench.title}`);
    const t0 = performance.now();
    results.push(await bench.run(ctx));
    ctx.log(`-- ${name} took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  finishMachine(machine);
  machine.busy_trials = `${busyTrials} of ${trials}`;
  if (args.json) {
    process.stdout.write(`${JSON.stringify({ machine, quick: args.quick, results }, null, 2)}\n`);
  } else if (args.markdown) {
    process.stdout.write(`${[...formatMachine(machine).map((l) => `- ${l}`), '', ...results.map(formatMarkdown)].join('\n')}\n`);
  } else {
    process.stdout.write(`${[formatMachine(machine).join('\n'), ...results.map(formatText)].join('\n\n')}\n`);
  }
}

await main();
