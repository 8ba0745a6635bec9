import type { DaemonContext } from '../daemon/daemon-context.js';
import { ArpdError } from '../errors/index.js';
import { checkIsoTime } from '../ids/iso-time.js';
import { isEnded } from '../projections/registry.js';
import { refuseWhileStopping, unlessStorageFails } from './guards.js';

/** What the snapshotter (src/retention) offers the operations; an interface so features need not import it. */
export interface LogMaintenance {
  take(): Promise<{ seq: number; path: string; bytes: number; ms: number; taken_at: string } | undefined>;
  compact(budgetBytes: number | undefined): Promise<{
    compressed: Array<{ file: string; before: number; after: number }>;
    removed: Array<{ file: string; bytes: number }>;
    bytesBefore: number;
    bytesAfter: number;
    overBudget: boolean;
    horizon: number | undefined;
  }>;
  readonly policy: { logBudgetBytes?: number | undefined };
}

/** Runs pruned per event (one `runs.pruned` event names at most this many). */
const PRUNE_BATCH = 500;

/**
 * Log maintenance and run pruning: `arpd log snapshot`, `arpd log compact`, `arpd runs prune --before DATE`.
 * Socket only (the socket is the owner's), and over HTTP with the admin token.
 */
export class LogOps {
  constructor(private readonly ctx: DaemonContext, private readonly maintenance: LogMaintenance) {}

  /** Takes a snapshot now: the next boot replays only what comes after it. */
  async snapshot(): Promise<Record<string, unknown>> {
    refuseWhileStopping(this.ctx);
    const s = await this.maintenance.take();
    if (s === undefined) throw new ArpdError('E_UNAVAILABLE', 'no snapshot was taken: a run log write failed in this process (see daemon status); restart the daemon, which completes the run logs, then try again');
    return { seq: s.seq, path: s.path, bytes: s.bytes, ms: s.ms, taken_at: s.taken_at };
  }

  /**
   * A snapshot, then: sealed segments it holds are compressed, and with a budget (the daemon's --log-budget-bytes or
   * this call's) the oldest ones the oldest snapshot holds are removed. Nothing no snapshot holds is ever removed.
   */
  async compact(o: { budgetBytes?: number | undefined } = {}): Promise<Record<string, unknown>> {
    refuseWhileStopping(this.ctx);
    await this.snapshot();
    const r = await this.maintenance.compact(o.budgetBytes ?? this.maintenance.policy.logBudgetBytes);
    return {
      compressed: r.compressed.length,
      removed: r.removed.length,
      bytes_before: r.bytesBefore,
      bytes_after: r.bytesAfter,
      over_budget: r.overBudget,
      ...(r.horizon === undefined ? {} : { log_starts_at_seq: r.horizon }),
      files: [...r.compressed.map((c) => ({ file: c.file, action: 'compressed', bytes_before: c.before, bytes_after: c.after })), ...r.removed.map((x) => ({ file: x.file, action: 'removed', bytes: x.bytes }))],
    };
  }

  /**
   * Deletes the directories (run log, summary) of runs that ended before `before`, as `runs.pruned` events (their
   * facts stay in the global log; `log replay` still shows them). A pruned run is no longer answered (E_NOT_FOUND).
   * `dryRun`: only counts them.
   */
  async prune(o: { before: string; dryRun?: boolean | undefined }): Promise<Record<string, unknown>> {
    // strictly: Date.parse alone reads 2026-02-30 as March 2, and '2026-01-01 junk' as another day
    const before = checkIsoTime(o.before, 'before');
    if (before > this.ctx.now().getTime()) throw new ArpdError('E_VALIDATION', `before (${o.before}) is in the future: only runs that already ended can be pruned`, { field: 'before' });
    const iso = new Date(before).toISOString();
    const state = this.ctx.state;
    const ids: string[] = [];
    for (let i = 0; i < state.orderCount; i++) {
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r)); // archived runs are read from disk: let requests in
      const v = state.runAtOrder(i);
      if (v === undefined || !isEnded(v) || v.ended_at === undefined || Date.parse(v.ended_at) >= before) continue;
      ids.push(v.run_id);
    }
    if (o.dryRun === true) return { before: iso, runs: ids.length, dry_run: true, run_ids: ids.slice(0, 100) };
    refuseWhileStopping(this.ctx);
    let pruned = 0;
    for (let i = 0; i < ids.length; i += PRUNE_BATCH) {
      const events = await unlessStorageFails(this.ctx, this.ctx.bus.execute(this.ctx.command('PruneRuns', { run_ids: ids.slice(i, i + PRUNE_BATCH), before: iso }, 'prune')));
      for (const e of events) if (e.type === 'runs.pruned') pruned += e.data.runs.length;
    }
    return { before: iso, runs: pruned, dry_run: false };
  }
}
