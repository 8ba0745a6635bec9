/**
 * A small in-memory EventStore (the port in src/events/event-store.ts) for unit tests of the bus and
 * the reactors: the same contract as the JSONL store (atomic appends with expected revisions, one
 * total order, publish on `live$` before an append resolves, catch-up then live, a final append
 * alone on close), without a disk. A test can hold appends at a gate (a controllable store), see
 * every append call as the bus made it, and write as another writer sharing the store.
 */
import { Subject, type Observable } from 'rxjs';
import { ArpdError } from '../../src/errors/index.js';
import { catchUpThenLive } from '../../src/events/catch-up.js';
import type { EventMeta, StoredEvent } from '../../src/events/envelope.js';
import { matchesFilter, runTraceFromStream, type AppendInput, type EventFilter, type EventStore, type EventSubscription, type ReadPage, type SubscribeHandlers } from '../../src/events/event-store.js';
import { CURRENT_VERSION, streamOf } from '../../src/events/event-types.js';
import type { TraceLine } from '../../src/events/trace-line.js';

export interface AppendCall {
  inputs: AppendInput[];
  meta: EventMeta | undefined;
}

export class MemoryEventStore implements EventStore {
  readonly kind = 'memory';
  /** Every stored event, in store order (seq = index + 1). */
  readonly events: StoredEvent[] = [];
  /** Every append call as it arrived, before the gate: what the caller asked for. */
  readonly calls: AppendCall[] = [];
  /** The events of each commit (one append call, or one write of another writer), in order. */
  readonly commits: StoredEvent[][] = [];
  /**
   * Awaited before an append commits (revisions are checked at commit, as a database checks them at
   * its commit). A test holds appends here to choose the order in which they land.
   */
  gate: ((inputs: readonly AppendInput[]) => Promise<void> | void) | undefined;
  failure: ArpdError | undefined;

  private readonly revs = new Map<string, number>();
  private readonly published = new Subject<StoredEvent>();
  private readonly failures = new Subject<ArpdError>();
  readonly live$: Observable<StoredEvent> = this.published.asObservable();
  readonly failure$: Observable<ArpdError> = this.failures.asObservable();
  private inflight = 0;
  private idle: Array<() => void> = [];
  private closing = false;
  private closed = false;

  constructor(private readonly clock: () => Date = () => new Date('2026-01-01T00:00:00.000Z')) {}

  get head(): number {
    return this.events.length;
  }

  streamRev(stream: string): number {
    return this.revs.get(stream) ?? 0;
  }

  async append(inputs: readonly AppendInput[], meta?: EventMeta): Promise<StoredEvent[]> {
    if (this.failure !== undefined) throw this.failure;
    if (this.closing) throw new ArpdError('E_UNAVAILABLE', 'the store is closing');
    this.calls.push({ inputs: inputs.map((i) => ({ ...i })), meta });
    this.inflight++;
    try {
      if (this.gate !== undefined) await this.gate(inputs);
      return this.commit(inputs, meta);
    } finally {
      if (--this.inflight === 0) {
        const idle = this.idle;
        this.idle = [];
        for (const cb of idle) cb();
      }
    }
  }

  /**
   * Writes at once, without the gate: what another writer sharing the store does. All or nothing:
   * an expected revision that does not match refuses the whole commit with E_CONFLICT. Every event is
   * published before this returns (so before the append that called it resolves).
   */
  commit(inputs: readonly AppendInput[], meta?: EventMeta): StoredEvent[] {
    const local = new Map<string, number>();
    const staged: StoredEvent[] = [];
    const ts = this.clock().toISOString();
    for (const input of inputs) {
      const stream = streamOf(input);
      const current = local.get(stream) ?? this.revs.get(stream) ?? 0;
      if (input.expectedRev !== undefined && input.expectedRev !== current) {
        throw new ArpdError('E_CONFLICT', `stream ${stream} is at revision ${current}, not ${input.expectedRev}`, { stream, expected: input.expectedRev, actual: current });
      }
      local.set(stream, current + 1);
      const seq = this.events.length + staged.length + 1;
      staged.push({ seq, id: `ev-${seq}`, ts, stream, rev: current + 1, type: input.type, v: CURRENT_VERSION[input.type], data: input.data, meta: input.meta ?? meta ?? {} } as StoredEvent);
    }
    if (staged.length === 0) return [];
    for (const [stream, rev] of local) this.revs.set(stream, rev);
    for (const e of staged) this.events.push(e);
    this.commits.push(staged);
    for (const e of staged) this.published.next(e);
    return staged;
  }

  readPage(after: number, limit: number, filter?: EventFilter): Promise<ReadPage> {
    const out: StoredEvent[] = [];
    let last = after;
    for (let i = after; i < this.events.length && out.length < limit; i++) {
      const e = this.events[i] as StoredEvent;
      last = e.seq;
      if (matchesFilter(e, filter)) out.push(e);
    }
    return Promise.resolve({ events: out, last, atHead: last >= this.events.length });
  }

  readStream(stream: string, fromRev: number, limit: number): Promise<StoredEvent[]> {
    return Promise.resolve(this.events.filter((e) => e.stream === stream && e.rev >= fromRev).slice(0, limit));
  }

  readRunTrace(runId: string, fromSeq: number, limit: number): Promise<TraceLine[]> {
    return runTraceFromStream(this, runId, fromSeq, limit);
  }

  subscribe(after: number, filter: EventFilter | undefined, handlers: SubscribeHandlers): EventSubscription {
    return catchUpThenLive<StoredEvent>({
      live$: this.live$,
      select: (e) => (matchesFilter(e, filter) ? e : undefined),
      position: (e) => e.seq,
      readPage: async (from) => {
        const page = await this.readPage(from, 100, filter);
        return { items: page.events, atEnd: page.atHead, scanned: page.last };
      },
    }, after, { send: (e) => handlers.event(e) !== false }, {
      ...(handlers.live === undefined ? {} : { live: handlers.live }),
      ...(handlers.error === undefined ? {} : { error: handlers.error }),
    });
  }

  /** Makes the writer fail: appends are refused with `err` from now on. */
  fail(err: ArpdError): void {
    this.failure = err;
    this.failures.next(err);
  }

  async close(final?: () => readonly AppendInput[]): Promise<void> {
    const first = !this.closing;
    this.closing = true;
    if (this.inflight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
    if (first && final !== undefined && this.failure === undefined) {
      const last = final();
      if (last.length > 0) this.commit(last);
    }
    if (this.closed) return;
    this.closed = true;
    this.published.complete();
    this.failures.complete();
  }
}
