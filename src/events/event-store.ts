import type { Observable } from 'rxjs';
import type { ArpdError } from '../errors/index.js';
import type { EventMeta, StoredEvent } from './envelope.js';
import type { DomainEvent } from './event-types.js';
import { traceLineOf, type TraceLine } from './trace-line.js';

/**
 * The port every event store implements: the JSONL log on local disk (`log-store.ts`, the default)
 * and PostgreSQL (`src/store-postgres`, several daemons on several hosts). Everything above it
 * (the command bus, projections, reactors, snapshots) is the same code for both.
 *
 * Order: every store has one total order of its events, the *store order*, the same for every
 * reader. `seq` identifies an event's global position; in the JSONL store it is dense and equals
 * the store order; in PostgreSQL it is unique but may have gaps, and the store order is
 * (transaction id, seq). A reader resumes "after seq N" and the store maps N to its place in the
 * store order, so callers only ever hold a seq.
 */

/** One event to append. `expectedRev`: the stream's current revision must equal it (0 = a new stream). */
export type AppendInput = DomainEvent & { expectedRev?: number; meta?: EventMeta };

export interface EventFilter {
  /** Event types; an entry ending in '.' matches a family ('run.'). */
  types?: readonly string[] | undefined;
  /** One stream ('run:abc'), or a prefix ending in ':' ('run:'). */
  stream?: string | undefined;
}

export interface ReadPage {
  events: StoredEvent[];
  /** The seq to pass as `after` for the next page (the last event read, or `after` when none). */
  last: number;
  /** True when the page reached the store's published head. */
  atHead: boolean;
}

export interface EventSubscription {
  /** Stops the subscription; no event is delivered after it returns. */
  close(): void;
  readonly closed: boolean;
}

export interface SubscribeHandlers {
  /** Called once per event in store order, never twice, never skipping one. false: stop. */
  event(e: StoredEvent): boolean | void;
  /** Called once when catch-up reached the head and the subscription is live. */
  live?(): void;
  /** Called once if the subscription ends with an error (the store failed, the reader fell too far behind). */
  error?(err: ArpdError): void;
}

export interface EventStore {
  /** 'jsonl' or 'postgres'. */
  readonly kind: string;
  /** The last event published (acknowledged) in store order; 0 when none. */
  readonly head: number;
  /** Set once the writer failed: appends are refused with this error, reads go on. */
  readonly failure: ArpdError | undefined;
  /** Emits once when the writer fails. */
  readonly failure$: Observable<ArpdError>;

  /**
   * Appends atomically: either every input is written or none (a too large event or an expected
   * revision that does not match refuses the whole call with E_TOO_LARGE / E_CONFLICT). Resolves
   * with the stored events once they are durable AND published on `live$`, so a caller that awaits
   * an append reads its own write from anything that folds `live$`.
   */
  append(inputs: readonly AppendInput[], meta?: EventMeta): Promise<StoredEvent[]>;

  /** Every event once durable, in store order: this process's appends and (shared stores) everyone else's. */
  readonly live$: Observable<StoredEvent>;

  /** Up to `limit` events after `after` (0: from the first) in store order, up to the published head. */
  readPage(after: number, limit: number, filter?: EventFilter): Promise<ReadPage>;

  /**
   * Events of one stream with revision >= fromRev, in revision order. A run stream that started over at revision 1
   * (the id of a pruned run used again; JSONL only, PostgreSQL keeps a revision once) is read from its last start.
   */
  readStream(stream: string, fromRev: number, limit: number): Promise<StoredEvent[]>;

  /**
   * A run's trace: the events of stream `run:<runId>` with seq (= revision) >= fromSeq, as ARP
   * TraceEvent lines (`traceLineOf`). The JSONL store reads the run's own log file; a store without
   * one can answer with `runTraceFromStream`.
   */
  readRunTrace(runId: string, fromSeq: number, limit: number): Promise<TraceLine[]>;

  /** Catch-up from `after` then live, without a gap or a repeat. */
  subscribe(after: number, filter: EventFilter | undefined, handlers: SubscribeHandlers): EventSubscription;

  /**
   * Stops accepting appends, finishes pending ones, then appends what `final` returns ALONE (built
   * after the drain, so it can state facts about everything before it, e.g. `daemon.stopped`), and
   * closes. Idempotent.
   */
  close(final?: () => readonly AppendInput[]): Promise<void>;

  /**
   * Shared stores only: resolves once every event that other writers had committed when it was called is published
   * here (so a decision refused on this node's projection can be taken again on what the others already wrote), or
   * after `timeoutMs`. A store with one writer (JSONL) has nothing to catch up with and leaves it out.
   */
  caughtUp?(timeoutMs: number): Promise<void>;

  /** JSONL only: every run log line of this process was written (a clean stop says so). */
  readonly runLogsComplete?: boolean;
  /** JSONL only: queued runs whose log is not created yet (it is when they leave the queue). */
  readonly runLogsWaiting?: number;
}

/** The most events one `readStream` call is asked for (the PostgreSQL store's cap on a read). */
export const STREAM_PAGE = 10_000;

/** `readRunTrace` for a store that can read a stream: its events as trace lines, read a page at a time. */
export async function runTraceFromStream(store: Pick<EventStore, 'readStream'>, runId: string, fromSeq: number, limit: number): Promise<TraceLine[]> {
  const lines: TraceLine[] = [];
  let from = fromSeq;
  while (lines.length < limit) {
    const want = Math.min(STREAM_PAGE, limit - lines.length);
    const page = await store.readStream(`run:${runId}`, from, want);
    for (const e of page) lines.push(traceLineOf(e, runId));
    const last = page.at(-1);
    if (page.length < want || last === undefined) break;
    from = last.rev + 1;
  }
  return lines;
}

export function matchesFilter(e: { type: string; stream: string }, f: EventFilter | undefined): boolean {
  if (f === undefined) return true;
  if (f.types !== undefined && f.types.length > 0 && !f.types.some((t) => (t.endsWith('.') ? e.type.startsWith(t) : e.type === t))) return false;
  if (f.stream !== undefined && !(f.stream.endsWith(':') ? e.stream.startsWith(f.stream) : e.stream === f.stream)) return false;
  return true;
}
