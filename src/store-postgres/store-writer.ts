import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import type { EventRow, Pos } from './event-rows.js';
import { isConnectionError, reasonOf, sqlState, unavailable, unexpected } from './pg-errors.js';
import { ConnectFailed, type DedicatedConnection } from './store-connection.js';
import type { StoreHealth } from './store-health.js';
import type { StoreTarget } from './store-url.js';

/**
 * One append call: its staged events (ids and timestamps made before the first attempt, so a retry
 * is recognised) and its promise. It resolves once every one of its events was published on live$
 * (the store calls `published`), or rejects with a conflict or an error.
 */
export class AppendGroup {
  private readonly out: Array<StoredEvent | undefined>;
  private left: number;
  settled = false;
  /** Known to be written (the append function said so). */
  written = false;

  constructor(
    readonly events: readonly StoredEvent[],
    readonly expected: ReadonlyArray<number | undefined>,
    private readonly done: (group: AppendGroup) => void,
    private readonly resolveFn: (events: StoredEvent[]) => void,
    private readonly rejectFn: (err: ArpdError) => void,
  ) {
    this.out = events.map(() => undefined);
    this.left = events.length;
  }

  /** The tail published event number `index` of this group. */
  published(index: number, e: StoredEvent): void {
    if (this.settled || this.out[index] !== undefined) return;
    this.out[index] = e;
    this.left--;
    if (this.left === 0) {
      this.written = true;
      this.settled = true;
      this.done(this);
      this.resolveFn(this.out as StoredEvent[]);
    }
  }

  get allPublished(): boolean {
    return this.left === 0;
  }

  reject(err: ArpdError): void {
    if (this.settled) return;
    this.settled = true;
    this.done(this);
    this.rejectFn(err);
  }
}

interface OutcomeRow {
  outcome: 'ok' | 'exists' | 'conflict';
  g: number | null;
  id: string | null;
  stream: string | null;
  expected: number | null;
  actual: number | null;
}

/** A row of `append_read`: an outcome of append, or ('event') an event read back in the same round trip. */
type AppendReadRow = (OutcomeRow & { seq: null }) | (EventRow & { outcome: 'event' });

export interface WriterOptions {
  conn: DedicatedConnection;
  schemaSql: string;
  target: StoreTarget;
  health: StoreHealth;
  lockTimeoutMs: number;
  resolveTimeoutMs: number;
  maxBatchEvents: number;
  maxBatchBytes: number;
  now: () => number;
  /** Where the store's published order is now: the batch reads back the events after it. */
  readFrom: () => Pos;
  /** At most this many events are read back with a batch. */
  readLimit: number;
  /** Events read back with a committed batch, in store order, from `readFrom()` on (called before onCommitted). */
  publish: (rows: readonly EventRow[]) => void;
  /**
   * After each commit that wrote something: tell other processes; `wakeTail` when some event of the
   * batch was not read back with it (an older transaction was still running), so the tail reads it.
   */
  onCommitted: (wakeTail: boolean) => void;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The group commit: appends that arrive while a batch is in flight go together in the next one,
 * one statement (`<schema>.append_read`) in its own transaction, one round trip. The function decides each
 * group alone, so one caller's conflict never fails another's events. In the same round trip it reads back
 * the events from the store's published position up to the batch's own when no older transaction is still
 * running (see migration 3), so an append usually resolves without waiting for a read by the tail; when one
 * is running, the tail publishes them once it ends. A connection lost while a
 * batch is in flight leaves its outcome unknown: the same batch (same ids) is sent again once the
 * server answers, and the function reports the ids it already holds instead of writing them twice.
 */
export class StoreWriter {
  private queue: Array<{ group: AppendGroup; bytes: number }> = [];
  private running = false;
  private idle: Array<() => void> = [];
  /** Set while a batch's outcome is unknown (for status). */
  unresolvedSince: number | undefined;
  private readonly sql: string;

  constructor(private readonly o: WriterOptions) {
    this.sql = `SELECT outcome, g, id, stream, expected, actual, seq, tx::text AS tx, ts, rev, type, v, data, meta
      FROM ${o.schemaSql}.append_read($1::json, $2, $3::xid8, $4::bigint, $5)`;
  }

  get pendingGroups(): number {
    return this.queue.length;
  }

  enqueue(group: AppendGroup, bytes: number): void {
    this.queue.push({ group, bytes });
    if (!this.running) {
      this.running = true;
      // appends made in the same synchronous run join the first batch
      queueMicrotask(() => void this.loop());
    }
  }

  /** Resolves when nothing is queued or in flight. */
  drain(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Rejects every queued (not yet sent) append: they were not written. */
  failQueued(err: ArpdError): void {
    const q = this.queue;
    this.queue = [];
    for (const { group } of q) group.reject(err);
  }

  private async loop(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch: AppendGroup[] = [];
        let events = 0;
        let bytes = 0;
        while (this.queue.length > 0) {
          const next = this.queue[0] as { group: AppendGroup; bytes: number };
          if (batch.length > 0 && (events + next.group.events.length > this.o.maxBatchEvents || bytes + next.bytes > this.o.maxBatchBytes)) break;
          this.queue.shift();
          if (next.group.settled) continue;
          batch.push(next.group);
          events += next.group.events.length;
          bytes += next.bytes;
        }
        if (batch.length > 0) await this.commit(batch);
      }
    } finally {
      this.running = false;
      const idle = this.idle;
      this.idle = [];
      for (const cb of idle) cb();
    }
  }

  private batchJson(batch: readonly AppendGroup[]): string {
    const rows: unknown[] = [];
    let i = 0;
    batch.forEach((group, g) => {
      group.events.forEach((e, k) => {
        rows.push({ i: ++i, g, id: e.id, ts: e.ts, stream: e.stream, expected: group.expected[k] ?? null, type: e.type, v: e.v, data: JSON.stringify(e.data), meta: JSON.stringify(e.meta) });
      });
    });
    return JSON.stringify(rows);
  }

  private async commit(batch: AppendGroup[]): Promise<void> {
    const json = this.batchJson(batch);
    let firstFailure: number | undefined;
    let retries = 0;
    /** True once a statement of this batch may have reached the server. */
    let maybeSent = false;
    for (;;) {
      let rows: AppendReadRow[];
      try {
        const from = this.o.readFrom();
        rows = (await this.o.conn.query<AppendReadRow>(this.sql, [json, `${this.o.lockTimeoutMs}ms`, from.tx.toString(), from.seq, this.o.readLimit])).rows;
      } catch (err) {
        if (!(err instanceof ConnectFailed)) maybeSent = true;
        if (isConnectionError(err) && !maybeSent) {
          // never sent: nothing was written
          this.o.health.down(err, 'writer');
          const failure = unavailable(this.o.target, err, 'the change was not recorded');
          for (const g of batch) g.reject(failure);
          this.failQueued(failure);
          break;
        }
        if (isConnectionError(err)) {
          // The statement may or may not have committed: keep the batch, fail what waits behind it.
          this.o.health.down(err, 'writer');
          this.unresolvedSince ??= this.o.now();
          firstFailure ??= this.o.now();
          this.failQueued(unavailable(this.o.target, err, 'the change was not recorded'));
          const open = batch.filter((g) => !g.settled);
          if (open.length === 0) break;
          if (this.o.now() - firstFailure >= this.o.resolveTimeoutMs) {
            for (const g of open) {
              g.reject(new ArpdError(
                'E_UNAVAILABLE',
                `PostgreSQL at ${this.o.target.host}:${this.o.target.port}/${this.o.target.database} became unreachable (${reasonOf(err)}) while this change was being committed, and stayed so for ${Math.round(this.o.resolveTimeoutMs / 1000)} s: it may or may not be recorded (if it is, every reader sees it once); read the stream again before you retry`,
                { store: this.o.target.redacted, reason: reasonOf(err), retryable: true, outcome: 'unknown', ids: g.events.map((e) => e.id) },
                { cause: err },
              ));
            }
            break;
          }
          await sleep(Math.min(1000, 50 * 2 ** Math.min(retries++, 5)));
          continue;
        }
        this.o.health.up(); // the server answered (with an error about this statement)
        const state = sqlState(err);
        if ((state === '40P01' || state === '40001') && retries++ < 8) continue; // deadlock, serialization: nothing was written
        if (batch.length > 1) {
          // one group's bad input must not fail the others: decide each alone
          for (const g of batch) if (!g.settled) await this.commit([g]);
          break;
        }
        for (const g of batch) g.reject(this.errorFor(err, g));
        break;
      }
      this.o.health.up();
      this.apply(batch, rows);
      break;
    }
    this.unresolvedSince = undefined;
  }

  private apply(batch: readonly AppendGroup[], rows: readonly AppendReadRow[]): void {
    let wrote = false;
    const conflicts = new Map<number, OutcomeRow>();
    const events: EventRow[] = [];
    for (const r of rows) {
      if (r.outcome === 'event') events.push(r);
      else if (r.outcome === 'conflict' && r.g !== null) conflicts.set(r.g, r);
      else wrote = true;
    }
    batch.forEach((group, g) => {
      const c = conflicts.get(g);
      if (c === undefined) {
        group.written = true;
        return;
      }
      group.reject(new ArpdError(
        'E_CONFLICT',
        `stream ${c.stream ?? '?'} is at revision ${c.actual ?? '?'}, not ${c.expected ?? '?'}: read it again and retry`,
        { stream: c.stream, expected: c.expected, actual: c.actual },
      ));
    });
    if (events.length > 0) this.o.publish(events);
    if (wrote) this.o.onCommitted(batch.some((g) => !g.settled));
  }

  private errorFor(err: unknown, g: AppendGroup): ArpdError {
    const state = sqlState(err);
    if (state === '55P03') {
      return new ArpdError('E_UNAVAILABLE', `a stream of this append (${[...new Set(g.events.map((e) => e.stream))].join(', ')}) stayed locked by another transaction for ${this.o.lockTimeoutMs} ms: nothing was recorded; retry, and if it persists look for a stuck session in pg_stat_activity`, { store: this.o.target.redacted, reason: state, retryable: true });
    }
    if (state === '23505') {
      return new ArpdError('E_CONFLICT', `another writer took the same stream revision (${g.events[0]?.stream ?? '?'}): read it again and retry`, { reason: state });
    }
    if (state === '42501') {
      return new ArpdError('E_FORBIDDEN', `PostgreSQL user '${this.o.target.user}' may no longer write the event store (${reasonOf(err)}): grant it INSERT on the store's tables again`, { store: this.o.target.redacted, reason: state });
    }
    return unexpected(this.o.target, err, 'append events');
  }
}
