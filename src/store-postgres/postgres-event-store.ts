/**
 * The PostgreSQL event store: appends through the writer, reads and subscriptions through the tail.
 *
 * Length: over 300 lines because it is the whole EventStore port for this adapter (append, read, subscribe,
 * status, close) in one place; the writer, tail, listener, subscription and health are their own files.
 */
import pg from 'pg';
import { map, Subject, type Observable } from 'rxjs';
import { ArpdError } from '../errors/index.js';
import type { EventMeta, StoredEvent } from '../events/envelope.js';
import { runTraceFromStream, type AppendInput, type EventFilter, type EventStore, type EventSubscription, type ReadPage, type SubscribeHandlers } from '../events/event-store.js';
import type { TraceLine } from '../events/trace-line.js';
import { createEventIdFactory } from '../events/event-id.js';
import { CURRENT_VERSION, isEventType, streamOf } from '../events/event-types.js';
import { checkCount, checkFilter, comparePos, EVENT_COLUMNS, filterSql, posOf, START, toStoredEvent, type EventRow, type Pos } from './event-rows.js';
import { isConnectionError, sqlState, unavailable, unexpected } from './pg-errors.js';
import { DedicatedConnection } from './store-connection.js';
import { StoreHealth, type Warn } from './store-health.js';
import { StoreListener } from './store-listener.js';
import { NodeLeases } from './node-leases.js';
import { PgSubscription, type Published } from './store-subscription.js';
import { StoreTail, type XminStall } from './store-tail.js';
import type { StoreTarget } from './store-url.js';
import { AppendGroup, StoreWriter } from './store-writer.js';

/** Tunables of an open store (all have defaults; see `openPostgresStore`). */
export interface PostgresStoreTuning {
  /** Connections for reads (readPage, readStream, subscriptions catching up). Default 4. */
  readPoolSize: number;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  lockTimeoutMs: number;
  pollIntervalMs: number;
  stuckAfterMs: number;
  resolveTimeoutMs: number;
  maxBatchEvents: number;
  maxBatchBytes: number;
  maxEventBytes: number;
}

/** What `arpd daemon status` shows about the store. Never the password. */
export interface PostgresStoreStatus {
  kind: 'postgres';
  /** The URL, password redacted. */
  store: string;
  schema: string;
  schema_version: number;
  /** False while PostgreSQL does not answer (appends fail with E_UNAVAILABLE meanwhile). */
  available: boolean;
  unavailable_since?: string;
  last_error?: string;
  head: number;
  /** Appends waiting to be committed or published. */
  pending_appends: number;
  /** Set while a committed batch's outcome is being resolved after a lost connection. */
  resolving_since?: string;
  /** Set while readers are held back by an open transaction (and who holds it, when visible). */
  readers_held_back?: { since: string; xmin: string; blocker?: XminStall['blocker'] };
}

export interface StoreParts {
  target: StoreTarget;
  schema: string;
  schemaVersion: number;
  clientConfig: pg.ClientConfig;
  tuning: PostgresStoreTuning;
  start: Pos;
  clock: () => Date;
  warn: Warn;
}

const SEQ_CACHE = 20_000;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * The PostgreSQL adapter of the EventStore port (see ../events/event-store.ts for the contract).
 * Several processes on several hosts may open the same store: each sees every event, its own and
 * the others', in one store order, (transaction id, seq). Open it with `openPostgresStore`.
 */
export class PostgresEventStore implements EventStore {
  readonly kind = 'postgres';
  readonly failure: ArpdError | undefined = undefined;
  readonly failure$: Observable<ArpdError>;
  readonly live$: Observable<StoredEvent>;

  private readonly published$ = new Subject<Published>();
  private readonly failureSubject = new Subject<ArpdError>();
  private readonly target: StoreTarget;
  private readonly S: string;
  private readonly pool: pg.Pool;
  private readonly health: StoreHealth;
  private readonly writer: StoreWriter;
  private readonly tail: StoreTail;
  private readonly listener: StoreListener;
  private readonly writerConn: DedicatedConnection;
  private readonly tailConn: DedicatedConnection;
  private readonly nextId: () => string;
  private readonly awaiting = new Map<string, { group: AppendGroup; index: number }>();
  private readonly groups = new Set<AppendGroup>();
  private readonly subs = new Set<PgSubscription>();
  private readonly seqTx = new Map<number, bigint>();
  private headPosition: Pos;
  private closing = false;
  private ended = false;
  private closed: Promise<void> | undefined;

  constructor(private readonly p: StoreParts) {
    this.target = p.target;
    this.S = pg.escapeIdentifier(p.schema);
    this.headPosition = p.start;
    this.failure$ = this.failureSubject.asObservable();
    this.live$ = this.published$.pipe(map((x) => x.e));
    this.nextId = createEventIdFactory(() => p.clock().getTime());
    const now = (): number => p.clock().getTime();
    this.health = new StoreHealth(p.target, p.warn, now);
    this.pool = new pg.Pool({ ...p.clientConfig, max: p.tuning.readPoolSize, idleTimeoutMillis: 30_000 });
    this.pool.on('error', () => { /* an idle read connection died: the next read reconnects */ });
    this.writerConn = new DedicatedConnection(p.clientConfig);
    this.tailConn = new DedicatedConnection(p.clientConfig);
    this.listener = new StoreListener(p.clientConfig, `${p.schema}.events`, () => this.tail.wake(), 1000);
    this.writer = new StoreWriter({
      conn: this.writerConn,
      schemaSql: this.S,
      target: p.target,
      health: this.health,
      lockTimeoutMs: p.tuning.lockTimeoutMs,
      resolveTimeoutMs: p.tuning.resolveTimeoutMs,
      maxBatchEvents: p.tuning.maxBatchEvents,
      maxBatchBytes: p.tuning.maxBatchBytes,
      now,
      readFrom: () => this.headPosition,
      readLimit: 1000,
      publish: (rows) => {
        this.publish(rows);
        this.tail.skipTo(this.headPosition);
      },
      onCommitted: (wakeTail) => {
        if (wakeTail) this.tail.wake();
        // after the callers' next appends are sent (they resume in microtasks): the NOTIFY is off their path
        setImmediate(() => this.listener.notify());
      },
    });
    this.tail = new StoreTail({
      conn: this.tailConn,
      schemaSql: this.S,
      target: p.target,
      health: this.health,
      start: p.start,
      pageSize: 1000,
      pollIntervalMs: p.tuning.pollIntervalMs,
      stuckAfterMs: p.tuning.stuckAfterMs,
      now,
      warn: p.warn,
      publish: (rows) => this.publish(rows),
    });
    this.health.onUp(() => this.tail.wake());
  }

  /** Starts the reader and the listener (called once by openPostgresStore). */
  start(): void {
    this.tail.start();
    this.listener.start();
  }

  get head(): number {
    return this.headPosition.seq;
  }

  /** The schema (namespace) in PostgreSQL that holds this store's tables. */
  get schema(): string {
    return this.p.schema;
  }

  /** The leases of the nodes (daemons) sharing this store, read and written on the store's read connections. */
  leases(): NodeLeases {
    return new NodeLeases((text, params, what) => this.read(text, params, what), this.S);
  }

  status(): PostgresStoreStatus {
    const stall = this.tail.stalled;
    const down = this.health.unavailableSince;
    const resolving = this.writer.unresolvedSince;
    return {
      kind: 'postgres',
      store: this.target.redacted,
      schema: this.p.schema,
      schema_version: this.p.schemaVersion,
      available: this.health.available,
      ...(down === undefined ? {} : { unavailable_since: new Date(down).toISOString() }),
      ...(this.health.lastReason === undefined ? {} : { last_error: this.health.lastReason }),
      head: this.head,
      pending_appends: this.groups.size,
      ...(resolving === undefined ? {} : { resolving_since: new Date(resolving).toISOString() }),
      ...(stall === undefined ? {} : { readers_held_back: { since: new Date(stall.since).toISOString(), xmin: stall.xmin, ...(stall.blocker === undefined ? {} : { blocker: stall.blocker }) } }),
    };
  }

  append(inputs: readonly AppendInput[], meta?: EventMeta): Promise<StoredEvent[]> {
    if (this.closing) return Promise.reject(new ArpdError('E_UNAVAILABLE', 'the event store is closing: the daemon is shutting down; try again after it restarts', { retryable: true }));
    return this.stage(inputs, meta);
  }

  /** A run's trace: the events of its stream as trace lines (there is no run log file here). */
  readRunTrace(runId: string, fromSeq: number, limit: number): Promise<TraceLine[]> {
    return runTraceFromStream(this, runId, Math.max(1, fromSeq), limit);
  }

  private stage(inputs: readonly AppendInput[], meta?: EventMeta): Promise<StoredEvent[]> {
    if (!this.health.available) return Promise.reject(unavailable(this.target, { code: this.health.lastReason }, 'the change was not recorded'));
    let staged: StoredEvent[];
    let expected: Array<number | undefined>;
    let bytes = 0;
    try {
      if (!Array.isArray(inputs)) throw new ArpdError('E_VALIDATION', 'append takes a list of events');
      const ts = this.p.clock().toISOString();
      staged = [];
      expected = [];
      for (const input of inputs) {
        if (input === null || typeof input !== 'object' || !isEventType((input as { type?: unknown }).type)) {
          throw new ArpdError('E_VALIDATION', `unknown event type '${String((input as { type?: unknown } | null)?.type)}': use one of the types in src/events/event-types.ts`);
        }
        const stream = streamOf(input);
        if (stream.includes('\u0000') || LONE_SURROGATE.test(stream)) throw new ArpdError('E_VALIDATION', `stream name ${JSON.stringify(stream)} contains a NUL character or a lone surrogate: ids must be plain text`);
        const exp = input.expectedRev;
        if (exp !== undefined && (typeof exp !== 'number' || !Number.isSafeInteger(exp) || exp < 0 || exp > 2 ** 31 - 2)) {
          throw new ArpdError('E_VALIDATION', `expectedRev must be a whole number >= 0 (got ${String(exp)})`, { stream });
        }
        const e = { seq: 0, id: this.nextId(), ts, stream, rev: 0, type: input.type, v: CURRENT_VERSION[(input as AppendInput).type], data: input.data, meta: input.meta ?? meta ?? {} } as StoredEvent;
        const size = Buffer.byteLength(JSON.stringify(e));
        if (size > this.p.tuning.maxEventBytes) {
          throw new ArpdError('E_TOO_LARGE', `event ${e.type} is ${size} bytes, over the ${this.p.tuning.maxEventBytes}-byte event limit: store large payloads as artifacts and reference them`, { bytes: size, limit: this.p.tuning.maxEventBytes, type: e.type });
        }
        bytes += size;
        staged.push(e);
        expected.push(exp);
      }
    } catch (err) {
      return Promise.reject(err instanceof ArpdError ? err : new ArpdError('E_VALIDATION', `the events cannot be stored: ${(err as Error).message}`));
    }
    if (staged.length === 0) return Promise.resolve([]);
    return new Promise<StoredEvent[]>((resolve, reject) => {
      const group = new AppendGroup(staged, expected, (g) => this.settled(g), resolve, reject);
      this.groups.add(group);
      staged.forEach((e, index) => this.awaiting.set(e.id, { group, index }));
      this.writer.enqueue(group, bytes);
    });
  }

  private settled(g: AppendGroup): void {
    this.groups.delete(g);
    for (const e of g.events) this.awaiting.delete(e.id);
  }

  private publish(rows: readonly EventRow[]): void {
    for (const r of rows) {
      const e = toStoredEvent(r);
      const pos = posOf(r);
      if (comparePos(pos, this.headPosition) <= 0) continue; // never twice
      this.headPosition = pos;
      this.seqTx.set(pos.seq, pos.tx);
      if (this.seqTx.size > SEQ_CACHE) {
        const oldest = this.seqTx.keys().next().value as number;
        this.seqTx.delete(oldest);
      }
      this.published$.next({ e, pos });
      const w = this.awaiting.get(e.id);
      if (w !== undefined) w.group.published(w.index, e);
    }
  }

  /**
   * Resolves once this store has published every event that was visible in store order when it was called (committed
   * by any node, with no older transaction still running), or after `timeoutMs`: one query for the last such event,
   * then the tail is woken and this waits for it to be published.
   */
  async caughtUp(timeoutMs: number): Promise<void> {
    const r = await this.read<{ tx: string; seq: string }>(
      `SELECT tx::text AS tx, seq::text AS seq FROM ${this.S}.events WHERE tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx DESC, seq DESC LIMIT 1`,
      [], 'find the end of the store order');
    const row = r.rows[0];
    if (row === undefined) return;
    const target: Pos = { tx: BigInt(row.tx), seq: Number(row.seq) };
    if (comparePos(this.headPosition, target) >= 0) return;
    await new Promise<void>((resolve) => {
      const done = (): void => { clearTimeout(timer); sub.unsubscribe(); resolve(); };
      const timer = setTimeout(done, timeoutMs);
      const sub = this.published$.subscribe(({ pos }) => { if (comparePos(pos, target) >= 0) done(); });
      this.tail.wake();
    });
  }

  /** Where `seq` lies in the store order. E_VALIDATION when no event has that seq. */
  async positionOf(seq: number): Promise<Pos> {
    checkCount('after', seq, 0, Number.MAX_SAFE_INTEGER);
    if (seq === 0) return START;
    if (seq === this.headPosition.seq) return this.headPosition;
    const tx = this.seqTx.get(seq);
    if (tx !== undefined) return { tx, seq };
    const r = await this.read<{ tx: string }>(`SELECT tx::text AS tx FROM ${this.S}.events WHERE seq = $1`, [seq], 'look up an event');
    const row = r.rows[0];
    if (row === undefined) throw new ArpdError('E_VALIDATION', `seq ${seq} is not an event of this store: pass 0 or the seq of an event read from it`, { after: seq });
    return { tx: BigInt(row.tx), seq };
  }

  private async read<R extends pg.QueryResultRow>(text: string, params: unknown[], what: string): Promise<pg.QueryResult<R>> {
    if (this.ended) throw new ArpdError('E_UNAVAILABLE', 'the event store is closed');
    try {
      const r = await this.pool.query<R>(text, params);
      this.health.up();
      return r;
    } catch (err) {
      if (isConnectionError(err)) {
        this.health.down(err, 'reads');
        throw unavailable(this.target, err, `could not ${what}`);
      }
      if (sqlState(err) !== undefined) this.health.up();
      throw unexpected(this.target, err, what);
    }
  }

  private async readRange(from: Pos, to: Pos, filter: EventFilter | undefined, limit: number): Promise<Published[]> {
    const f = filterSql(filter, 6);
    const r = await this.read<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${this.S}.events e
        WHERE (e.tx, e.seq) > ($1::xid8, $2::bigint) AND (e.tx, e.seq) <= ($3::xid8, $4::bigint) AND ${f.sql}
        ORDER BY e.tx, e.seq LIMIT $5`,
      [from.tx.toString(), from.seq, to.tx.toString(), to.seq, limit, ...f.params],
      'read events',
    );
    return r.rows.map((row) => ({ e: toStoredEvent(row), pos: posOf(row) }));
  }

  async readPage(after: number, limit: number, filter?: EventFilter): Promise<ReadPage> {
    checkCount('limit', limit, 1, 10_000);
    checkFilter(filter);
    const from = await this.positionOf(after);
    const bound = this.headPosition;
    if (comparePos(from, bound) >= 0) return { events: [], last: after, atHead: true };
    const page = await this.readRange(from, bound, filter, limit);
    const last = page[page.length - 1];
    return {
      events: page.map((x) => x.e),
      last: last === undefined ? after : last.e.seq,
      atHead: page.length < limit || (last !== undefined && comparePos(last.pos, bound) === 0),
    };
  }

  async readStream(stream: string, fromRev: number, limit: number): Promise<StoredEvent[]> {
    if (typeof stream !== 'string' || stream === '' || stream.includes('\u0000')) throw new ArpdError('E_VALIDATION', "stream must be a stream name like 'run:abc'");
    checkCount('fromRev', fromRev, 0, 2 ** 31 - 1);
    checkCount('limit', limit, 1, 10_000);
    const r = await this.read<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM ${this.S}.events e WHERE e.stream = $1 AND e.rev >= $2 ORDER BY e.rev LIMIT $3`,
      [stream, fromRev, limit],
      'read a stream',
    );
    return r.rows.map(toStoredEvent);
  }

  subscribe(after: number, filter: EventFilter | undefined, handlers: SubscribeHandlers): EventSubscription {
    checkCount('after', after, 0, Number.MAX_SAFE_INTEGER);
    checkFilter(filter);
    if (this.closed !== undefined) throw new ArpdError('E_UNAVAILABLE', 'the event store is closed');
    const sub: PgSubscription = new PgSubscription(
      {
        published$: this.published$,
        headPos: () => this.headPosition,
        positionOf: (seq) => this.positionOf(seq),
        readRange: (a, b, f, n) => this.readRange(a, b, f, n),
      },
      after,
      filter,
      {
        event: (e) => handlers.event(e),
        live: () => handlers.live?.(),
        error: (err) => {
          this.subs.delete(sub);
          handlers.error?.(err);
        },
      },
      () => this.closed === undefined,
    );
    this.subs.add(sub);
    return sub;
  }

  /**
   * Stops accepting appends, lets pending ones commit and be published (a batch whose outcome is
   * unknown is resolved first, up to resolveTimeoutMs), then closes every connection. Idempotent.
   */
  close(final?: () => readonly AppendInput[]): Promise<void> {
    this.closed ??= this.doClose(final);
    return this.closed;
  }

  private async doClose(final: (() => readonly AppendInput[]) | undefined): Promise<void> {
    this.closing = true;
    await this.writer.drain();
    if (final !== undefined) {
      // the last commit, alone, after everything before it (e.g. daemon.stopped)
      try {
        const last = final();
        if (last.length > 0) await this.stage(last);
      } catch { /* an unavailable server: the next start records what it finds */ }
      await this.writer.drain();
    }
    const waiting = [...this.groups];
    // committed but not yet seen by the reader: wait for it, bounded
    const deadline = Date.now() + this.p.tuning.resolveTimeoutMs;
    while (waiting.some((g) => !g.settled) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const g of waiting) {
      g.reject(new ArpdError('E_UNAVAILABLE', 'the event store closed before this append was seen by its readers: it is committed and other readers will see it', { retryable: false, outcome: 'committed' }));
    }
    this.ended = true;
    for (const s of this.subs) s.close();
    this.subs.clear();
    await this.tail.stop();
    await this.listener.stop();
    await Promise.all([this.writerConn.end(), this.tailConn.end(), this.pool.end().catch(() => undefined)]);
    this.published$.complete();
    this.failureSubject.complete();
  }
}

