import { comparePos, EVENT_COLUMNS, posOf, type EventRow, type Pos } from './event-rows.js';
import { isConnectionError, reasonOf } from './pg-errors.js';
import type { DedicatedConnection } from './store-connection.js';
import type { StoreHealth, Warn } from './store-health.js';
import type { StoreTarget } from './store-url.js';
import { describeBlocker, findXminBlocker, type XminBlocker } from './xmin-blocker.js';

export interface XminStall {
  /** When the readers' horizon stopped at this xmin while committed events waited above it. */
  since: number;
  xmin: string;
  blocker: XminBlocker | undefined;
}

export interface TailOptions {
  conn: DedicatedConnection;
  schemaSql: string;
  target: StoreTarget;
  health: StoreHealth;
  start: Pos;
  pageSize: number;
  pollIntervalMs: number;
  stuckAfterMs: number;
  now: () => number;
  warn: Warn;
  publish(rows: readonly EventRow[]): void;
}

type PollRow = EventRow & { xmin: string; pending: boolean; seq: string | null };

/**
 * The one reader of the global order in this process. It reads the events whose writing
 * transaction is below the oldest transaction still running (`pg_snapshot_xmin`), in (tx, seq)
 * order, after the last one it published — so an event committed late by a slow transaction is
 * read when it commits, never skipped, and nothing is read twice. It wakes on NOTIFY and on this
 * process's own commits, and polls at least every `pollIntervalMs` whatever happens to
 * notifications. When committed events wait behind a transaction that stays open (an idle session
 * in the cluster), it says so after `stuckAfterMs`, naming the backend that holds them.
 */
export class StoreTail {
  private cursor: Pos;
  private stopped = false;
  private wanted = false;
  private wakeFn: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private stall: { xmin: string; since: number; reportedAt: number | undefined; blocker: XminBlocker | undefined } | undefined;
  private readonly sql: string;

  constructor(private readonly o: TailOptions) {
    this.cursor = o.start;
    this.sql = `
SELECT x.xmin::text AS xmin, x.pending, ${EVENT_COLUMNS}
  FROM (SELECT s.xmin, coalesce((SELECT p.tx FROM ${o.schemaSql}.events p ORDER BY p.tx DESC LIMIT 1) >= s.xmin, false) AS pending
          FROM (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin) s) x
  LEFT JOIN LATERAL (
    SELECT ev.* FROM ${o.schemaSql}.events ev
     WHERE (ev.tx, ev.seq) > ($1::xid8, $2::bigint) AND ev.tx < x.xmin
     ORDER BY ev.tx, ev.seq
     LIMIT $3) e ON true`;
  }

  get position(): Pos {
    return this.cursor;
  }

  /** Set while committed events wait behind an open transaction for longer than stuckAfterMs. */
  get stalled(): XminStall | undefined {
    const s = this.stall;
    return s === undefined || s.reportedAt === undefined ? undefined : { since: s.since, xmin: s.xmin, blocker: s.blocker };
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** The writer published up to `pos` (read back with its commit): read on from there. */
  skipTo(pos: Pos): void {
    if (comparePos(pos, this.cursor) > 0) this.cursor = pos;
  }

  /** Read now (a notification came, or this process committed). */
  wake(): void {
    this.wanted = true;
    const w = this.wakeFn;
    this.wakeFn = undefined;
    w?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake();
    await this.loop;
  }

  private sleep(ms: number): Promise<void> {
    if (this.wanted || this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wakeFn = undefined; resolve(); }, ms);
      this.wakeFn = () => { clearTimeout(t); resolve(); };
    });
  }

  private async run(): Promise<void> {
    let failures = 0;
    let pendingDelay = 2;
    let pendingXmin: string | undefined;
    while (!this.stopped) {
      this.wanted = false;
      let rows: PollRow[];
      try {
        const c = this.cursor;
        rows = (await this.o.conn.query<PollRow>(this.sql, [c.tx.toString(), c.seq, this.o.pageSize])).rows;
      } catch (err) {
        if (this.stopped) break;
        if (isConnectionError(err)) this.o.health.down(err, 'reader');
        else this.o.warn(`reading the event store failed (${reasonOf(err)}): retrying`, { store: this.o.target.redacted, reason: reasonOf(err) });
        await this.sleep(Math.min(1000, 50 * 2 ** Math.min(failures++, 5)));
        this.wanted = false;
        continue;
      }
      failures = 0;
      this.o.health.up();
      const head = rows[0] as PollRow;
      const events = head.seq === null ? [] : rows;
      if (events.length > 0) {
        this.o.publish(events);
        const last = events[events.length - 1] as PollRow;
        // the writer may have published past this read meanwhile (skipTo): never go back
        this.skipTo(posOf({ tx: last.tx, seq: last.seq as string }));
      }
      if (events.length >= this.o.pageSize) continue;
      if (head.pending) {
        await this.watchStall(head.xmin);
        // committed events wait above the horizon: look again soon. Back off only while the same
        // transaction holds it (a stuck one); when it moved on, other writers are simply busy: look again soon
        if (events.length > 0 || head.xmin !== pendingXmin) pendingDelay = 2;
        pendingXmin = head.xmin;
        await this.sleep(pendingDelay);
        pendingDelay = Math.min(pendingDelay * 2, 100);
      } else {
        this.clearStall();
        pendingDelay = 2;
        pendingXmin = undefined;
        await this.sleep(this.o.pollIntervalMs);
      }
    }
  }

  private async watchStall(xmin: string): Promise<void> {
    const now = this.o.now();
    if (this.stall === undefined || this.stall.xmin !== xmin) {
      if (this.stall?.reportedAt !== undefined) this.resumed(now);
      this.stall = { xmin, since: now, reportedAt: undefined, blocker: undefined };
      return;
    }
    const s = this.stall;
    if (now - s.since < this.o.stuckAfterMs) return;
    if (s.reportedAt !== undefined && now - s.reportedAt < this.o.stuckAfterMs) return;
    try {
      s.blocker = await findXminBlocker((text) => this.o.conn.query(text));
    } catch {
      s.blocker = undefined;
    }
    s.reportedAt = now;
    this.o.warn(
      `readers of the event store are held back for ${((now - s.since) / 1000).toFixed(1)} s: events are committed but not readable while an older transaction stays open — ${describeBlocker(s.blocker)}; end that session (pg_terminate_backend) and set idle_in_transaction_session_timeout on the server`,
      { store: this.o.target.redacted, xmin, stalled_ms: now - s.since, ...(s.blocker === undefined ? {} : { blocker: s.blocker }) },
    );
  }

  private clearStall(): void {
    if (this.stall?.reportedAt !== undefined) this.resumed(this.o.now());
    this.stall = undefined;
  }

  private resumed(now: number): void {
    const s = this.stall;
    if (s === undefined) return;
    this.o.warn(`readers of the event store move again after ${((now - s.since) / 1000).toFixed(1)} s held back`, { store: this.o.target.redacted, stalled_ms: now - s.since });
  }
}
