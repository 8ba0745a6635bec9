import type { Logger } from 'pino';
import type { Observable, Subscription } from 'rxjs';
import type { Component } from '../daemon/daemon-context.js';
import type { StoredEvent } from '../events/envelope.js';
import type { Registry } from '../projections/registry.js';
import type { RunArchive } from './run-archive.js';
import { runsLeavingMemory, type RetentionPolicy } from './retention-policy.js';

/** Runs archived per slice: a large backlog (a first boot after an upgrade) is worked off without blocking requests. */
const SLICE = 2000;

/**
 * Ended runs leave memory by the retention policy (retention-policy.ts): each is written to the archive (its
 * summary beside its run log), then the registry forgets it; from then on status/result/trace/list answer it from
 * disk, with the same answer. This is memory management, not a change of state: nothing is appended to the log,
 * and a boot that replays the log archives the same runs again (`sweepAll` as it folds).
 * Swept after runs end (coalesced), and once a minute for the age limit. An archive write that fails (a full disk)
 * keeps the run in memory and is tried again later: degraded memory, never a lost answer.
 */
export class RunRetention implements Component {
  readonly name = 'retention';
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private scheduled: NodeJS.Immediate | undefined;
  private stopped = false;
  private failing: string | undefined;
  private lastFailLog = 0;

  constructor(
    private readonly registry: Registry,
    private readonly archive: RunArchive,
    readonly policy: RetentionPolicy,
    private readonly deps: { events$?: Observable<StoredEvent>; logger: Logger; now: () => Date },
  ) {}

  start(): void {
    this.sub = this.deps.events$?.subscribe((e) => {
      if (e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.canceled') this.schedule();
    });
    this.timer = setInterval(() => this.schedule(), 60_000);
    this.timer.unref();
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    this.sub?.unsubscribe();
    if (this.timer !== undefined) clearInterval(this.timer);
    if (this.scheduled !== undefined) clearImmediate(this.scheduled);
  }

  private schedule(): void {
    if (this.stopped || this.scheduled !== undefined) return;
    this.scheduled = setImmediate(() => {
      this.scheduled = undefined;
      if (this.sweep(SLICE) === SLICE) this.schedule();
    });
  }

  /** Archives what the policy says leaves memory now, at most `max` runs; returns how many left. */
  sweep(max = Number.MAX_SAFE_INTEGER): number {
    const reg = this.registry;
    const ended = reg.endedInMemory();
    const ids = runsLeavingMemory(ended, ended.size, (id) => Date.parse(reg.runs.get(id)?.ended_at ?? '') || 0, this.policy, this.deps.now().getTime(), max);
    let n = 0;
    for (const id of ids) {
      const view = reg.runs.get(id);
      const progress = reg.progress(id);
      if (view === undefined || progress === undefined) continue;
      try {
        if (!this.archive.add(view, progress)) continue;
      } catch (err) {
        this.failed(err);
        break;
      }
      reg.forget(id);
      n++;
    }
    try {
      this.archive.flush();
    } catch (err) {
      this.failed(err); // the lines stay waiting and are written at the next sweep
    }
    if (n > 0 && this.failing !== undefined) {
      this.deps.logger.info({ archived: n }, 'archiving ended runs works again');
      this.failing = undefined;
    }
    return n;
  }

  /** Everything the policy lets go, now (a boot, after the log is folded). */
  sweepAll(): number {
    let total = 0;
    for (;;) {
      const n = this.sweep(SLICE);
      total += n;
      if (n < SLICE) return total;
    }
  }

  private failed(err: unknown): void {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    this.failing = code;
    const now = Date.now();
    if (now - this.lastFailLog > 60_000) {
      this.lastFailLog = now;
      this.deps.logger.warn({ err }, `could not archive ended runs (${code}): they stay in memory (more memory, same answers) and are tried again; free disk space under the data dir`);
    }
  }

  status(): Record<string, unknown> {
    return {
      retention: {
        retain_runs: this.policy.retainRuns,
        retain_days: this.policy.retainDays,
        ended_runs_in_memory: this.registry.endedInMemory().size,
        runs_archived: this.archive.archived,
        runs_pruned: this.registry.prunedCount,
        ...(this.failing === undefined ? {} : { archive_failing: this.failing }),
      },
    };
  }
}
