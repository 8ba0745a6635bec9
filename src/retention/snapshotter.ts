import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Observable, Subscription } from 'rxjs';
import type { Component } from '../daemon/daemon-context.js';
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { compactLog, type CompactResult } from '../events/log-compact.js';
import type { LogPosition } from '../events/log-store.js';
import { isValidId } from '../ids/id-rules.js';
import type { Registry } from '../projections/registry.js';
import type { RunArchive } from './run-archive.js';
import { listSnapshotSeqs, writeSnapshot } from './snapshot-file.js';

/** What the snapshotter needs of the store: where the log stands, and whether its derived files are whole. */
export interface SnapshotSource {
  position(): LogPosition;
  readonly failure: ArpdError | undefined;
  readonly runLogsComplete?: boolean;
  /** Queued runs whose log is not created yet: a snapshot would have them created first. */
  readonly runLogsWaiting?: number;
  /** Resolves once every run log line of the events published so far is written (they are written after the ack). */
  runLogsWritten?(): Promise<void>;
  readonly root: string;
}

export interface SnapshotPolicy {
  /** A snapshot after this many events since the last one (default 50,000). */
  everyEvents: number;
  /** ...or after this long with at least one new event (default 10 minutes). */
  everyMs: number;
  /** Keep the log under this many bytes (compress, then remove what the oldest snapshot holds). */
  logBudgetBytes?: number | undefined;
}

export const DEFAULT_SNAPSHOT_POLICY: SnapshotPolicy = { everyEvents: 50_000, everyMs: 10 * 60_000 };

export interface SnapshotInfo { seq: number; path: string; bytes: number; ms: number; taken_at: string }

/**
 * Checkpoints the projections so a boot replays only the log after them (snapshot-file.ts has the format).
 * Taken in the background on a size/time policy, on request (`arpd log snapshot`), and at a clean stop.
 * The state and the log position are read in one tick (between commits: exact), then, off the event loop:
 * the run logs written since the last snapshot and the run archive are fsynced (after an OS crash a boot then
 * reconciles only the tail's run logs), and the file is written durably. Appends never wait for it.
 * With a log budget, each snapshot is followed by a compaction (log-compact.ts).
 */
export class Snapshotter implements Component {
  readonly name = 'snapshots';
  private sub: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private since = 0;
  private touched = new Set<string>();
  private running: Promise<SnapshotInfo | undefined> | undefined;
  private again = false;
  private stopped = false;
  last: SnapshotInfo | undefined;
  lastCompaction: (CompactResult & { at: string }) | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly archive: RunArchive,
    private readonly store: SnapshotSource,
    private readonly dir: string,
    readonly policy: SnapshotPolicy,
    private readonly deps: { events$: Observable<StoredEvent>; logger: Logger; now: () => Date; loaded?: SnapshotInfo | undefined; replayed?: number },
  ) {
    this.last = deps.loaded;
  }

  start(): void {
    this.sub = this.deps.events$.subscribe((e) => {
      this.since++;
      if (e.stream.startsWith('run:')) this.touched.add(e.stream.slice(4));
      if (this.since >= this.policy.everyEvents) this.request();
    });
    this.timer = setInterval(() => { if (this.since > 0) this.request(); }, this.policy.everyMs);
    this.timer.unref();
    // a boot that replayed much of the log snapshots soon, so the next one need not
    this.since += this.deps.replayed ?? 0;
    if ((this.deps.replayed ?? 0) >= Math.min(10_000, this.policy.everyEvents)) this.request();
  }

  /** No more snapshots on the policy; events are still tracked until `final` (the shutdown's last appends). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** At a clean stop, after the last append: a snapshot of everything, so the next boot replays nothing. */
  async final(): Promise<SnapshotInfo | undefined> {
    try {
      const waiting = this.store.runLogsWaiting ?? 0;
      if (waiting > 0) {
        // a snapshot would create and fsync their logs first (about a millisecond a run): a stop stays quick, and the
        // next boot replays the log since the last snapshot, where it finds these runs still queued
        this.deps.logger.info({ queued_runs_without_log: waiting, events_since_snapshot: this.since }, 'no snapshot at the stop: runs are queued; the next start replays the log since the last snapshot');
        return undefined;
      }
      return await this.take(true);
    } finally {
      this.sub?.unsubscribe();
    }
  }

  /** Asks for a snapshot soon (coalesced with one running). */
  private request(): void {
    if (this.stopped) return;
    if (this.running !== undefined) { this.again = true; return; }
    setImmediate(() => { void this.take().catch(() => undefined); });
  }

  /**
   * Takes a snapshot now (or joins the one being written and then takes another, so the answer holds every event
   * acknowledged before the call). `final`: at a clean stop, after the last append.
   */
  async take(final = false): Promise<SnapshotInfo | undefined> {
    if (this.stopped && !final) return undefined;
    while (this.running !== undefined) await this.running.catch(() => undefined);
    const p = this.write(final);
    this.running = p;
    try {
      return await p;
    } finally {
      this.running = undefined;
      if (this.again && !this.stopped) { this.again = false; this.request(); }
    }
  }

  private async write(final = false): Promise<SnapshotInfo | undefined> {
    const failure = this.store.failure;
    if (failure !== undefined) throw new ArpdError('E_STORAGE', `no snapshot while the log's writer is stopped: ${failure.message}`);
    if (this.store.runLogsComplete === false) {
      // a run log may lack lines the next boot must complete from the log: a snapshot would hide them
      this.note('a run log write failed in this process: no snapshot until the next start completes the run logs');
      return undefined;
    }
    const t0 = Date.now();
    // one tick: the state, the archive index and the log position agree
    const position = this.store.position();
    if (position.seq !== this.registry.lastSeq) {
      this.again = true; // between a commit and its publication (not expected): try again shortly
      return undefined;
    }
    if (this.last !== undefined && position.seq === this.last.seq) return this.last;
    const registry = this.registry.exportState();
    const index = this.archive.captureIndex();
    const touched = this.touched;
    this.touched = new Set();
    this.since = 0;
    try {
      // the run logs' lines up to `position` are written after their ack: wait for them before making them durable
      await this.store.runLogsWritten?.();
      if (!runLogsWhole(this.store)) {
        for (const id of touched) this.touched.add(id);
        this.note('a run log write failed in this process: no snapshot until the next start completes the run logs');
        return undefined;
      }
      // at a clean stop no commit waits for the thread pool: the fsyncs may take all of it
      await syncRunLogs(join(this.store.root, 'runs'), touched, final ? 4 : 2);
      // archive.jsonl fsynced, then the index file the snapshot refers to
      const body = { registry, archive: await this.archive.writeIndex(index) };
      const { path, bytes } = await writeSnapshot(this.dir, position, body, this.deps.now());
      this.last = { seq: position.seq, path, bytes, ms: Date.now() - t0, taken_at: this.deps.now().toISOString() };
      this.lastError = undefined;
      this.deps.logger.info({ seq: position.seq, bytes, ms: this.last.ms }, 'snapshot written');
    } catch (err) {
      for (const id of touched) this.touched.add(id);
      this.note(`writing a snapshot failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): boots replay more of the log until one is written`);
      throw err;
    }
    if (this.policy.logBudgetBytes !== undefined && !this.stopped) await this.compact(this.policy.logBudgetBytes).catch((err: unknown) => this.note(`compacting the log failed: ${(err as Error).message}`));
    return this.last;
  }

  /** Compresses what the newest snapshot holds and, past `budgetBytes`, removes what the oldest one holds. */
  async compact(budgetBytes: number | undefined): Promise<CompactResult & { at: string }> {
    const seqs = listSnapshotSeqs(this.dir);
    if (seqs.length === 0) throw new ArpdError('E_UNAVAILABLE', 'no snapshot yet: nothing of the log may be compacted; take one first (arpd log snapshot)');
    const pos = this.store.position();
    const r = await compactLog(this.store.root, pos.fileFirstSeq, {
      newestSnapshotSeq: seqs[0] as number,
      oldestSnapshotSeq: seqs[seqs.length - 1] as number,
      budgetBytes,
      clock: this.deps.now,
    });
    this.lastCompaction = { ...r, at: this.deps.now().toISOString() };
    if (r.compressed.length > 0 || r.removed.length > 0) this.deps.logger.info({ compressed: r.compressed.length, removed: r.removed.length, bytes_before: r.bytesBefore, bytes_after: r.bytesAfter }, 'log compacted');
    if (r.overBudget && budgetBytes !== undefined) this.note(`the log takes ${r.bytesAfter} bytes, over the budget of ${budgetBytes}: the rest is not held by any snapshot yet (or is the active file); it is removed once snapshots hold it`);
    return this.lastCompaction;
  }

  private note(message: string): void {
    if (this.lastError === message) return;
    this.lastError = message;
    this.deps.logger.warn(message);
  }

  status(): Record<string, unknown> {
    return {
      snapshots: {
        every_events: this.policy.everyEvents,
        every_s: Math.round(this.policy.everyMs / 1000),
        events_since_last: this.since,
        ...(this.last === undefined ? {} : { last_seq: this.last.seq, last_bytes: this.last.bytes, last_ms: this.last.ms, last_taken_at: this.last.taken_at }),
        ...(this.policy.logBudgetBytes === undefined ? {} : { log_budget_bytes: this.policy.logBudgetBytes }),
        ...(this.lastError === undefined ? {} : { problem: this.lastError }),
      },
    };
  }
}

/** False once a run log line could not be written in this process (read afresh: it may change while awaiting). */
function runLogsWhole(store: SnapshotSource): boolean {
  return store.runLogsComplete !== false;
}

/**
 * fsyncs each run's log (and its directory entry), `parallel` at a time: derived files a snapshot relies on after an OS
 * crash. In the background two, so the log's own fdatasync still finds a free thread (the pool has four).
 */
async function syncRunLogs(runsDir: string, runIds: ReadonlySet<string>, parallel: number): Promise<void> {
  const ids = [...runIds].filter(isValidId);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      for (const path of [join(runsDir, id, 'trace.jsonl'), join(runsDir, id)]) {
        let fh;
        try {
          fh = await open(path, 'r');
          await fh.sync();
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // a pruned run
        } finally {
          await fh?.close();
        }
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  if (ids.length > 0) {
    const fh = await open(runsDir, 'r');
    try { await fh.sync(); } finally { await fh.close(); }
  }
}
