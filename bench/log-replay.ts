import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { Bench, BenchContext } from './lib/bench.js';
import { runChild } from './lib/child.js';
import { formatHot, readCpuProfile, topSelfTime } from './lib/cpu-profile.js';
import { generateLog } from './lib/event-mix.js';
import { figure, type BenchResult } from './lib/report.js';
import { median } from './lib/stats.js';
import { withTempDir } from './lib/temp-dir.js';
import { timed } from './lib/timer.js';
import type { ReplayOutcome } from './log-replay-child.js';

/**
 * Boot replay of a large realistic log (generated once per run with the real codec, no run trace
 * files), each side in a fresh child process: arpd's `LogStore.open` + `Projection` against a bare
 * read-split-parse-fold loop. Events/s and peak RSS.
 */

interface Pass { ms: number; eventsPerSec: number; eventsPerCpuSec: number; rssMiB: number; retainedMiB: number }

const CHILD = new URL('./log-replay-child.js', import.meta.url);
const MiB = 1024 * 1024;

async function run(ctx: BenchContext): Promise<BenchResult> {
  const count = ctx.quick ? 100_000 : 1_000_000;
  const trials = ctx.quick ? 1 : 3;
  return withTempDir('replay', async (root) => {
    const logPath = join(root, 'events.jsonl');
    ctx.log(`replay: generating ${count.toLocaleString('en-US')} events`);
    const gen = await timed(() => generateLog(logPath, count));
    const log = gen.value;
    ctx.log(`replay: ${(log.bytes / MiB).toFixed(0)} MiB, ${log.runs} runs, in ${(gen.ms / 1000).toFixed(1)} s`);

    const got: Record<'arpd' | 'baseline', Pass[]> = { arpd: [], baseline: [] };
    const once = async (kind: 'arpd' | 'baseline', profileDir?: string): Promise<Pass> => {
      const out = await runChild<ReplayOutcome>(CHILD, [kind, root], { execArgv: ['--expose-gc'], cpuProfDir: profileDir, cpuProfName: `replay-${kind}.cpuprofile` });
      const v = out.value;
      if (v.events !== log.events || v.streams !== log.streams) {
        throw new Error(`replay ${kind} folded ${v.events} events in ${v.streams} streams; the log has ${log.events} in ${log.streams}`);
      }
      if (v.runLogsChecked !== 0) throw new Error(`replay ${kind} checked ${v.runLogsChecked} run logs: the generated log should end with a clean stop so that boot checks none`);
      return {
        ms: v.ms,
        eventsPerSec: v.events / (v.ms / 1000),
        eventsPerCpuSec: v.events / (v.cpuMs / 1000),
        rssMiB: out.maxRssBytes / MiB,
        retainedMiB: v.retainedBytes / MiB,
      };
    };
    for (let t = 0; t < trials; t++) {
      const order: Array<'arpd' | 'baseline'> = t % 2 === 0 ? ['baseline', 'arpd'] : ['arpd', 'baseline'];
      for (const kind of order) {
        await ctx.settle();
        const r = await once(kind);
        got[kind].push(r);
        ctx.log(`replay ${kind}: ${(r.ms / 1000).toFixed(2)} s, ${Math.round(r.eventsPerSec)} events/s (${Math.round(r.eventsPerCpuSec)} per CPU-s), peak RSS ${r.rssMiB.toFixed(0)} MiB, retained heap ${r.retainedMiB.toFixed(0)} MiB`);
      }
    }
    if (statSync(logPath).size !== log.bytes) throw new Error('replay changed the log file; the benchmark must not write to it');

    const m = (kind: 'arpd' | 'baseline', k: keyof Pass): number => median(got[kind].map((r) => r[k]));
    const notes = [
      `log: ${log.events.toLocaleString('en-US')} events (${log.runs.toLocaleString('en-US')} runs, ${log.streams.toLocaleString('en-US')} streams), ${(log.bytes / MiB).toFixed(0)} MiB, ${Math.round(log.bytes / log.events)} bytes/line on average; generated in ${(gen.ms / 1000).toFixed(1)} s`,
      `${trials} trial(s) per side, each a fresh child process, alternating sides; the file was just written, so every pass reads it from the page cache; medians shown`,
      'time is the fold alone (after module loading); the per-CPU-second rate counts user + system CPU time of the fold, which other load on the machine disturbs less than wall time',
      'peak RSS is the whole child process, Node itself included; retained heap is heapUsed after the fold and a full GC, with the folded state (and for arpd the open store) alive',
    ];
    if (ctx.profileDir !== undefined) {
      for (const kind of ['arpd', 'baseline'] as const) {
        await once(kind, ctx.profileDir);
        const path = join(ctx.profileDir, `replay-${kind}.cpuprofile`);
        notes.push(`profile of ${kind} (${path}), top self time:`, ...formatHot(topSelfTime(readCpuProfile(path), 12)).map((l) => `    ${l}`));
      }
    }
    return {
      name: 'replay',
      title: `boot replay of a ${(log.events / 1e6).toFixed(log.events >= 1e6 ? 0 : 1)}M-event log`,
      baseline: 'bare loop: 8 MiB reads, split on \\n at the Buffer level, JSON.parse per line, fold stream → small object in a Map',
      figures: [
        figure('replay rate', 'events/s', m('arpd', 'eventsPerSec'), m('baseline', 'eventsPerSec'), { op: '>=', ratio: 0.7 }),
        figure('replay rate per CPU second', 'events/CPU-s', m('arpd', 'eventsPerCpuSec'), m('baseline', 'eventsPerCpuSec')),
        figure('peak RSS', 'MiB', m('arpd', 'rssMiB'), m('baseline', 'rssMiB'), { op: '<=', ratio: 1.5 }),
        figure('retained heap after the fold', 'MiB', m('arpd', 'retainedMiB'), m('baseline', 'retainedMiB')),
      ],
      notes,
      raw: { log, generate_ms: gen.ms, trials: got },
    };
  });
}

export const bench: Bench = { name: 'replay', title: 'boot replay', run };
