/**
 * The JSONL event store: the one writer of `<data-dir>/events.jsonl` (group commit, fdatasync before the ack,
 * segment rotation, run logs handed to `run-log-queue.ts` after the ack) and its reader (catch-up then live).
 *
 * Length: over 300 lines because the commit path (queue, write, sync, publish, failure) is one state machine whose
 * steps share the open file and the pending batch; split, each part would need the others' private state. Recovery,
 * repair, codec, segments and run logs live in their own files.
 */
import { closeSync, constants, fdatasync, ftruncate, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Subject, type Observable } from 'rxjs';
import { ArpdError, storageErrno } from '../errors/index.js';
import { bootId } from '../system/process-identity.js';
import type { EventMeta, StoredEvent } from './envelope.js';
import { CURRENT_VERSION, isEventType, streamOf } from './event-types.js';
import { createEventIdFactory } from './event-id.js';
import { encodeUnsealedLine, MAX_LINE_BYTES, sealLines } from './line-codec.js';
import { ACTIVE_LOG, segmentName } from './log-files.js';
import { fsyncPath, recoverLog, type RecoveryResult, type RecoveryStart } from './log-recovery.js';
import { applyRepair, planRepair, type RepairPlan } from './log-repair.js';
import { reconcileRunLogs, type ReconcileResult } from './run-log-reconcile.js';
import { defersRunLog, RunLogQueue, type RunLogIo } from './run-log-queue.js';

/** The I/O the store does per commit, injectable so tests can make a sync fail. */
export interface StoreIo {
  write(fd: number, buf: Buffer, offset: number, length: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  /** Cuts the file back to `length` bytes, durably: a commit that failed is taken back (see `flushLoop`). */
  truncate(fd: number, length: number): Promise<void>;
}

/**
 * The batch is written with one `write` on this thread (it lands in the page cache: microseconds) and made durable
 * with one `fdatasync` on the thread pool: one pool hop per commit, not two.
 */
const realIo: StoreIo = {
  write: (fd, buf, offset, length) => {
    try {
      return Promise.resolve(writeSync(fd, buf, offset, length));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  },
  fdatasync: (fd) => new Promise((resolve, reject) => {
    fdatasync(fd, (err) => (err ? reject(err) : resolve()));
  }),
  truncate: (fd, length) => new Promise((resolve, reject) => {
    ftruncate(fd, length, (err) => {
      if (err) reject(err);
      else fdatasync(fd, (e) => (e ? reject(e) : resolve()));
    });
  }),
};

export interface LogStoreOptions {
  /** The data dir; the log is `<root>/events.jsonl` (+ segments), run logs under `<root>/runs`. */
  root: string;
  /** Roll the active file into a segment past this size. Default 128 MiB. */
  segmentBytes?: number;
  maxLineBytes?: number;
  /** At most this many queued runs have their logs created by a clean stop (default QUEUED_LOGS_AT_STOP). */
  queuedLogsAtStop?: number;
  /** Repair a damaged log (log-repair.ts) instead of refusing to start. */
  repair?: boolean;
  io?: Partial<StoreIo>;
  /** The run logs' file operations (tests hold or fail them). */
  runLogIo?: Partial<RunLogIo>;
  clock?: () => Date;
  /** Receives every recovered event, in order, before `open` resolves (the boot fold). */
  onEvent?: (event: StoredEvent) => void;
  onWarning?: (message: string, details: Record<string, unknown>) => void;
  /**
   * Start right after this place (a snapshot holds everything before it): only the tail is read and folded.
   * Throws StaleStartError when the place is not in the log as it is (the caller replays the whole log instead).
   */
  from?: RecoveryStart | undefined;
  /**
   * The revision of a stream as folded by the caller (the projections). When given, the store keeps revisions only
   * for streams with appends not yet published (bounded memory, whatever the history), and asks this for the rest.
   * Without it the store keeps every stream's revision itself (tools and tests that have no projections).
   */
  revOf?: ((stream: string) => number) | undefined;
  /** Called after each group commit is durable and acknowledged (metrics): what it wrote and what it cost. */
  onCommit?: (stats: CommitStats) => void;
}

/** One group commit: events and bytes written, the write and fdatasync times, and each append's time to its ack. */
export interface CommitStats {
  events: number;
  bytes: number;
  writeMs: number;
  syncMs: number;
  ackMs: number[];
}

/** A place in the log: right after `seq`, in the file that starts at `fileFirstSeq`, at byte `offset`. */
export type LogPosition = RecoveryStart;

export type { AppendInput } from './event-store.js';
import { matchesFilter, runTraceFromStream, type AppendInput, type EventFilter, type EventStore, type EventSubscription, type ReadPage, type SubscribeHandlers } from './event-store.js';
import { readEvents } from './log-read.js';
import { catchUpThenLive } from './catch-up.js';
import { readTraceLineAt, readTraceLines } from './run-log-read.js';
import type { TraceLine } from './trace-line.js';

interface Pending {
  /** Lines from encodeUnsealedLine: their checksums are filled in once they are bytes (sealLines). */
  buf: string[];
  events: StoredEvent[];
  waiters: Array<{ resolve: (events: StoredEvent[]) => void; reject: (err: unknown) => void; events: StoredEvent[]; at: number }>;
}

export const DEFAULT_SEGMENT_BYTES = 128 * 1024 * 1024;

/**
 * The one writer of the global log. An append is acknowledged (its promise resolves) only after its
 * bytes are written and fdatasynced, and after it was published to `appended$` (so a caller that
 * awaits its append can read its own write from the projections). Concurrent appends are
 * group-committed: everything that arrives while one write + sync runs goes out in the next one.
 * A write or sync error is fatal: pending and later appends are rejected with E_STORAGE.
 */
export class LogStore implements EventStore {
  readonly kind = 'jsonl';
  private readonly published = new Subject<StoredEvent>();
  private readonly failures = new Subject<ArpdError>();
  /** Every durable event, in seq order, published once. */
  readonly live$: Observable<StoredEvent> = this.published.asObservable();
  /** Emits once if the writer fails (then no append is accepted). */
  readonly failure$: Observable<ArpdError> = this.failures.asObservable();

  private fd: number;
  private lastSeq: number;
  private activeFirstSeq: number;
  private activeBytes: number;
  /** Stream revisions: of every stream (no `revOf`), or only of streams with appends not yet published. */
  private readonly revs: Map<string, number>;
  private readonly revOf: ((stream: string) => number) | undefined;
  private pending: Pending = { buf: [], events: [], waiters: [] };
  private flushing = false;
  private scheduled = false;
  private failed: ArpdError | undefined;
  private closing = false;
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly nextId: () => string;
  private readonly io: StoreIo;
  private readonly clock: () => Date;
  private readonly segmentBytes: number;
  private readonly maxLineBytes: number;
  private readonly queuedLogsAtStop: number;
  private readonly runLogs: RunLogQueue;
  private durableSeq: number;
  private readonly onCommit: ((stats: CommitStats) => void) | undefined;

  private constructor(readonly root: string, opts: LogStoreOptions, rec: RecoveryResult, fd: number, readonly reconciled: ReconcileResult, queuedRunLogs: ReadonlyMap<string, readonly StoredEvent[]>) {
    this.fd = fd;
    this.lastSeq = rec.lastSeq;
    this.durableSeq = rec.lastSeq;
    this.activeFirstSeq = rec.activeFirstSeq;
    this.activeBytes = rec.activeBytes;
    this.revOf = opts.revOf;
    this.revs = opts.revOf === undefined ? rec.streamRevs : new Map();
    this.clock = opts.clock ?? (() => new Date());
    const clock = opts.clock;
    // one id per event: Date.now, not a Date object per id, unless a test gave a clock
    this.nextId = createEventIdFactory(clock === undefined ? Date.now : () => clock().getTime());
    this.io = { ...realIo, ...opts.io };
    this.segmentBytes = opts.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.maxLineBytes = opts.maxLineBytes ?? MAX_LINE_BYTES;
    this.queuedLogsAtStop = opts.queuedLogsAtStop ?? QUEUED_LOGS_AT_STOP;
    this.runLogs = new RunLogQueue(join(root, 'runs'), opts.runLogIo, undefined, queuedRunLogs);
    this.onCommit = opts.onCommit;
  }

  /**
   * Recovers the log (see log-recovery.ts), folds every event through `onEvent`, completes run logs
   * that are behind, and opens the active file for appending. The caller must hold `arpd.lock`.
   */
  static open(opts: LogStoreOptions): LogStore {
    const root = opts.root;
    mkdirSync(root, { recursive: true, mode: 0o700 });
    let repaired: LogStore['repaired'];
    if (opts.repair === true) {
      // damaged lines are set aside and what the run logs hold is restored, before recovery reads the log
      const plan = planRepair(root);
      if (!plan.clean) {
        const { copies } = applyRepair(root, plan, opts.clock);
        repaired = { plan, copies };
        opts.onWarning?.(`repaired the event log: ${plan.damaged.length} damaged place(s), ${plan.restored.length} event(s) restored from run logs, ${plan.lost.length} lost, ${plan.runsToFail.length} run(s) to fail rather than run twice; the damaged bytes are kept in ${copies.join(', ')}`, { restored: plan.restored.length, lost: plan.lost.length, runs_to_fail: plan.runsToFail.map((r) => r.run_id), copies });
      }
    }
    // Where each run born in the tail after a snapshot began: a run log completed at boot is read from there, not from
    // the first segment. Not kept in a full replay (one entry per run).
    const firstSeqs = new Map<string, number>();
    const tail = opts.from !== undefined;
    // The runs that have only waited in the queue so far, with their events (a few at any point of a replay): their
    // logs stay uncreated until they leave it, as before the stop or crash (run-log-queue.ts).
    const queued = new Map<string, StoredEvent[]>();
    // Runs pruned in the replayed log and not begun again since: their logs were deleted on purpose.
    const pruned = new Set<string>();
    const onEvent = opts.onEvent;
    const rec = recoverLog(root, {
      bootId: bootId(),
      from: opts.from,
      ...(opts.clock === undefined ? {} : { clock: opts.clock }),
      onEvent: (e: StoredEvent) => {
        if (e.type === 'runs.pruned') for (const r of e.data.runs) pruned.add(r.run_id);
        if (e.stream.startsWith('run:')) {
          if (e.rev === 1) {
            const runId = e.stream.slice(4);
            pruned.delete(runId);
            if (tail) firstSeqs.set(runId, e.seq);
            if (defersRunLog(e.type)) queued.set(runId, [e]);
          } else if (queued.size > 0) {
            const runId = e.stream.slice(4);
            const q = queued.get(runId);
            if (q !== undefined && defersRunLog(e.type)) q.push(e);
            else if (q !== undefined) queued.delete(runId);
          }
        }
        onEvent?.(e);
      },
    });
    for (const w of rec.warnings) opts.onWarning?.(w.message, w.details);
    const runsDir = join(root, 'runs');
    mkdirSync(runsDir, { recursive: true, mode: 0o700 });
    const { result: reconciled, leftQueued } = reconcileRunLogs(root, runsDir, rec.streamRevs, rec.runsToReconcile, firstSeqs, queued, pruned);
    if (reconciled.completed + reconciled.rebuilt > 0) {
      opts.onWarning?.(`completed ${reconciled.completed} and rebuilt ${reconciled.rebuilt} run logs from the global log (${reconciled.linesWritten} lines)`, { ...reconciled });
    }
    const activePath = join(root, ACTIVE_LOG);
    const fd = openSync(activePath, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    fsyncPath(root, true); // the active file may be new
    const store = new LogStore(root, opts, rec, fd, reconciled, leftQueued);
    store.repaired = repaired;
    return store;
  }

  /** Set when this open repaired the log (`repair: true` on a damaged log): what the daemon must record. */
  repaired: { plan: RepairPlan; copies: string[] } | undefined;

  get seq(): number {
    return this.lastSeq;
  }

  /** The last seq that is durable and published. */
  get head(): number {
    return this.durableSeq;
  }

  get failure(): ArpdError | undefined {
    return this.failed;
  }

  streamRev(stream: string): number {
    return this.revs.get(stream) ?? this.revOf?.(stream) ?? 0;
  }

  /**
   * Where the log stands right after the last published event: what a snapshot of projections folded up to `head`
   * records, so a boot can read on from there. Exact between commits (everything published is written, nothing
   * else is), which is whenever other code runs.
   */
  position(): LogPosition {
    return { seq: this.durableSeq, fileFirstSeq: this.activeFirstSeq, offset: this.activeBytes };
  }

  /**
   * Appends events atomically with respect to validation: if any is too large or any expected
   * revision does not match, nothing is written. Resolves with the stored events once durable.
   */
  append(inputs: AppendInput | readonly AppendInput[], meta?: EventMeta): Promise<StoredEvent[]> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.closing) return Promise.reject(new ArpdError('E_UNAVAILABLE', 'the event log is closing: the daemon is shutting down; try again after it restarts'));
    return this.stage(Array.isArray(inputs) ? inputs : [inputs as AppendInput], meta);
  }

  private stage(list: readonly AppendInput[], meta: EventMeta | undefined): Promise<StoredEvent[]> {
    const now = this.clock().toISOString();
    const staged: StoredEvent[] = [];
    const lines: string[] = [];
    const localRevs = new Map<string, number>();
    let seq = this.lastSeq;
    try {
      for (const input of list) {
        if (input === null || typeof input !== 'object' || !isEventType((input as { type?: unknown }).type)) {
          throw new ArpdError('E_VALIDATION', `unknown event type '${String((input as { type?: unknown } | null)?.type)}': use one of the types in src/events/event-types.ts`);
        }
        const exp = input.expectedRev;
        if (exp !== undefined && (!Number.isSafeInteger(exp) || exp < 0)) throw new ArpdError('E_VALIDATION', `expectedRev must be a whole number >= 0 (got ${String(exp)})`);
        const stream = streamOf(input);
        const current = localRevs.get(stream) ?? this.streamRev(stream);
        if (input.expectedRev !== undefined && input.expectedRev !== current) {
          throw new ArpdError('E_CONFLICT', `stream ${stream} is at revision ${current}, not ${input.expectedRev}: read it again and retry`, { stream, expected: input.expectedRev, actual: current });
        }
        const rev = current + 1;
        localRevs.set(stream, rev);
        seq++;
        const m = input.meta ?? meta ?? {};
        const event = { seq, id: this.nextId(), ts: now, stream, rev, type: input.type, v: CURRENT_VERSION[input.type], data: input.data, meta: m } as StoredEvent;
        lines.push(encodeUnsealedLine(event, this.maxLineBytes)); // its checksum is filled in as bytes, by flushLoop
        staged.push(event);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    if (staged.length === 0) return Promise.resolve([]);
    this.lastSeq = seq;
    for (const [stream, rev] of localRevs) this.revs.set(stream, rev);
    return new Promise<StoredEvent[]>((resolve, reject) => {
      const p = this.pending;
      for (const l of lines) p.buf.push(l);
      for (const e of staged) p.events.push(e);
      p.waiters.push({ resolve, reject, events: staged, at: this.onCommit === undefined ? 0 : performance.now() });
      this.schedule();
    });
  }

  // ---- reads (EventStore) -------------------------------------------------------------------------

  readPage(after: number, limit: number, filter?: EventFilter): Promise<ReadPage> {
    if (!Number.isSafeInteger(after) || after < 0) return Promise.reject(new ArpdError('E_VALIDATION', `a read starts after a seq >= 0, not ${String(after)}`));
    if (!Number.isSafeInteger(limit) || limit < 1) return Promise.reject(new ArpdError('E_VALIDATION', `a page holds at least 1 event, not ${String(limit)}`));
    const head = this.durableSeq;
    if (after >= head) return Promise.resolve({ events: [], last: after, atHead: true });
    const { events, nextSeq } = readEvents(this.root, { fromSeq: after + 1, toSeq: head, limit, ...(filter === undefined ? {} : { filter }) });
    const last = Math.min(nextSeq - 1, head);
    if (last <= after) {
      // the read stopped at once, before the head, at a line it cannot decode: damage the boot did not read (it is
      // before the snapshot this daemon started from); a reader told to go on from `last` would read nothing forever
      return Promise.reject(new ArpdError('E_LOG_CORRUPT', `the event log is damaged at seq ${last + 1} (before the snapshot this daemon started from, so the start did not read it): the events from there on cannot be read; see 'arpd log verify' for where and what 'arpd serve --repair' would do`, { seq: last + 1 }));
    }
    return Promise.resolve({ events, last, atHead: last >= head });
  }

  async readStream(stream: string, fromRev: number, limit: number): Promise<StoredEvent[]> {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new ArpdError('E_VALIDATION', `a stream read returns at least 1 event, not ${String(limit)}`);
    let out: StoredEvent[] = [];
    let after = 0;
    for (;;) {
      const page = await this.readPage(after, 10_000, { stream });
      for (const e of page.events) {
        // a stream that starts over at rev 1 (the id of a pruned run used again) is read from there: what came
        // before is the pruned run's, so the whole stream is read
        if (e.rev === 1) out = [];
        if (e.rev >= fromRev && out.length < limit) out.push(e);
      }
      if (page.atHead || page.last === after) return out;
      after = page.last;
    }
  }

  /**
   * A run's trace from its run log (the fast path: no scan of the global log). Run logs are written just after the
   * ack: this waits until every published line of the run is in the file, so the answer holds everything published
   * before the call. A run whose log lost a line in this process is read from the global log instead.
   */
  async readRunTrace(runId: string, fromSeq: number, limit: number): Promise<TraceLine[]> {
    await this.runLogs.written(runId);
    if (this.runLogs.failed(runId)) return runTraceFromStream(this, runId, fromSeq, limit);
    const path = join(this.root, 'runs', runId, 'trace.jsonl');
    if (limit === 1) {
      const line = readTraceLineAt(path, fromSeq);
      return line === undefined ? [] : [line];
    }
    return readTraceLines(path, { fromSeq, limit });
  }

  /** Resolves once every run log line of every event published so far is written (before a snapshot fsyncs them). */
  runLogsWritten(): Promise<void> {
    return this.runLogs.allWritten();
  }

  subscribe(after: number, filter: EventFilter | undefined, handlers: SubscribeHandlers): EventSubscription {
    const sub = catchUpThenLive<StoredEvent>({
      live$: this.live$,
      select: (e) => (matchesFilter(e, filter) ? e : undefined),
      position: (e) => e.seq,
      readPage: async (after) => {
        const page = await this.readPage(after, 500, filter);
        return { items: page.events, atHead: page.atHead, atEnd: page.atHead, scanned: page.last };
      },
    }, after, { send: (e) => handlers.event(e) !== false }, {
      ...(handlers.live === undefined ? {} : { live: handlers.live }),
      ...(handlers.error === undefined ? {} : { error: handlers.error }),
    });
    const failed = this.failure$.subscribe((err) => { sub.close(); handlers.error?.(err); });
    return { get closed() { return sub.closed; }, close: () => { failed.unsubscribe(); sub.close(); } };
  }

  private schedule(): void {
    if (this.flushing || this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      void this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.pending.waiters.length > 0 && this.failed === undefined) {
        const batch = this.pending;
        this.pending = { buf: [], events: [], waiters: [] };
        let bytes = 0;
        let t0 = 0;
        let t1 = 0;
        let t2 = 0;
        try {
          const buf = Buffer.from(batch.buf.join(''), 'utf8');
          sealLines(buf);
          bytes = buf.length;
          t0 = performance.now();
          let off = 0;
          while (off < buf.length) off += await this.io.write(this.fd, buf, off, buf.length - off);
          t1 = performance.now();
          await this.io.fdatasync(this.fd);
          t2 = performance.now();
          this.activeBytes += buf.length;
        } catch (err) {
          // A refused change must not come back: the lines of this batch that reached the file (whole ones before a
          // write failed, or all of them when the sync failed) would be replayed by the next boot, and a client told
          // E_STORAGE would see its run accepted after all (and run it twice by sending it again under a new id).
          // The file is cut back to where the batch began; when even that fails, the refusal says the outcome is unknown.
          let undone = true;
          try {
            await this.io.truncate(this.fd, this.activeBytes);
          } catch {
            undone = false;
          }
          this.fail(err, batch, undone);
          break;
        }
        this.durableSeq = (batch.events[batch.events.length - 1] as StoredEvent).seq;
        // Run logs are derived: their lines are written just after the ack, off the commit path (a reader waits for
        // them: readRunTrace; the next boot completes any that lag). Handed over before publishing, so whoever sees
        // an event published can read it from its run's trace.
        this.runLogs.add(batch.events);
        // A run is seen ended only once its run log holds its last line: a client that waits for the end and then
        // reads runs/<id>/trace.jsonl reads it whole (one write per ended run, on the rare batch that ends one).
        const ending = endedRuns(batch.events);
        if (ending !== undefined) await Promise.all(ending.map((runId) => this.runLogs.written(runId)));
        for (const e of batch.events) this.published.next(e);
        if (this.revOf !== undefined) {
          // published: the projections hold these revisions now; keep only those of appends still in flight
          for (const e of batch.events) if (this.revs.get(e.stream) === e.rev) this.revs.delete(e.stream);
        }
        for (const w of batch.waiters) w.resolve(w.events);
        if (this.onCommit !== undefined) {
          const now = performance.now();
          try {
            this.onCommit({ events: batch.events.length, bytes, writeMs: t1 - t0, syncMs: t2 - t1, ackMs: batch.waiters.map((w) => now - w.at) });
          } catch { /* an observer never stops the writer */ }
        }
        if (this.activeBytes >= this.segmentBytes) {
          try {
            this.roll();
          } catch (err) {
            this.fail(err, undefined);
            break;
          }
        }
      }
    } finally {
      this.flushing = false;
      if (this.pending.waiters.length > 0 && this.failed === undefined) this.schedule();
      else if (this.pending.waiters.length === 0) {
        const idle = this.idle;
        this.idle = [];
        for (const cb of idle) cb();
      }
    }
  }

  private fail(err: unknown, batch: Pending | undefined, undone = true): void {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    const known = storageErrno(code) ?? { what: 'a write error', fix: 'fix the disk (space, permissions, health)' };
    // --keep-instances: the runs in flight go on (a plain restart stops their instances and fails them)
    const unknown = batch !== undefined && !undone
      ? '; the changes being written when it failed could not be taken back, so they may have been recorded: send them again with the same ids (the same run_id and request is recognised, never run twice)'
      : '';
    const failure = new ArpdError(
      'E_STORAGE',
      `writing the event log failed (${code}): ${known.what} at ${this.root}: ${known.fix}, then 'arpd daemon restart --keep-instances' (until then the daemon answers reads but refuses changes; the restart recovers the log, and runs in flight carry on)${unknown}`,
      { errno: code, path: this.root, ...(batch !== undefined ? { outcome: undone ? 'not_recorded' : 'unknown' } : {}) },
      { cause: err },
    );
    this.failed = failure;
    const rejected = [...(batch?.waiters ?? []), ...this.pending.waiters];
    this.pending = { buf: [], events: [], waiters: [] };
    for (const w of rejected) w.reject(failure);
    this.failures.next(failure);
    const idle = this.idle;
    this.idle = [];
    for (const cb of idle) cb();
  }

  /** Seals the active file as `events-<firstSeq>.jsonl` and starts a new one. */
  private roll(): void {
    const active = join(this.root, ACTIVE_LOG);
    closeSync(this.fd);
    renameSync(active, join(this.root, segmentName(this.activeFirstSeq)));
    this.fd = openSync(active, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL, 0o600);
    fsyncPath(this.root, true);
    this.activeFirstSeq = this.durableSeq + 1;
    this.activeBytes = 0;
  }

  /** True while every run log line of this process was written (a clean stop can say so). */
  get runLogsComplete(): boolean {
    return this.runLogs.failures === 0;
  }

  /** Queued runs whose log is not created yet (run-log-queue.ts): a clean stop leaves them so. */
  get runLogsWaiting(): number {
    return this.runLogs.waiting;
  }

  /** Resolves when nothing is pending (or the writer failed). */
  drain(): Promise<void> {
    if (!this.flushing && !this.scheduled && this.pending.waiters.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * Stops accepting appends, lets every pending one finish (run logs included), then writes what
   * `final` returns ALONE in the last commit (built after the drain, so it can state facts about
   * everything before it, e.g. that every run log line was written), and closes. Idempotent.
   */
  async close(final?: () => readonly AppendInput[]): Promise<void> {
    const first = !this.closing;
    this.closing = true;
    await this.drain();
    // every line is written; a few runs still queued get their logs too (a copy of their lines that a repair can
    // restore from), many are left without (about a millisecond each with the snapshot's fsync): their logs are created
    // when they leave the queue, the next boot finds them in the tail it replays, and the stop takes no snapshot
    await this.runLogs.allWritten({ queuedToo: this.runLogs.waiting <= this.queuedLogsAtStop });
    if (first && final !== undefined && this.failed === undefined) {
      try {
        const last = final();
        if (last.length > 0) await this.stage(last, undefined);
      } catch {
        // a write failure is reported through failure$; closing goes on
      }
    }
    if (this.closed) return;
    this.closed = true;
    this.runLogs.close();
    try { closeSync(this.fd); } catch { /* already closed */ }
    this.published.complete();
    this.failures.complete();
  }
}

const ENDS = new Set(['run.succeeded', 'run.failed', 'run.canceled']);

/** At most this many queued runs have their logs created by a clean stop (more would make the stop slow). */
export const QUEUED_LOGS_AT_STOP = 1000;

/** The runs a batch ends, if any. */
function endedRuns(events: readonly StoredEvent[]): string[] | undefined {
  let out: string[] | undefined;
  for (const e of events) if (ENDS.has(e.type) && e.stream.startsWith('run:')) (out ??= []).push(e.stream.slice(4));
  return out;
}
