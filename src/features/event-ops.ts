import type { DaemonContext } from '../daemon/daemon-context.js';
import type { ArpdError } from '../errors/index.js';
import { catchUpThenLive, type CatchUpHandle, type StreamConsumer } from '../events/catch-up.js';
import type { StoredEvent } from '../events/envelope.js';
import { matchesFilter, type EventFilter } from '../events/event-store.js';
import { traceLineOf, type TraceLine } from '../events/trace-line.js';
import { isEnded } from '../projections/registry.js';

/**
 * About how much memory an event held for a stream keeps alive: a runtime event's own size (`bytes`, counted against
 * the trace limits when it was recorded) and an allowance for the envelope; other events are small.
 */
export function eventBytes(e: StoredEvent): number {
  const bytes = e.type === 'run.trace' ? (e.data as { bytes?: unknown }).bytes : undefined;
  return 512 + (typeof bytes === 'number' && bytes > 0 ? bytes : 0);
}

/** Pages of a catch-up read. */
const PAGE = 500;

export interface StreamHooks {
  live?(): void;
  /** The stream ended with an error (the consumer should be told why before it closes). */
  error?(err: ArpdError): void;
  /** The stream is over (a followed run ended and every line was sent). */
  end?(): void;
}

/**
 * Reading the event log: pages (`events.read`) and streams (`events.subscribe`, SSE `/v1/events`,
 * `runs.follow`, SSE `/v1/runs/{id}/events`), all on the one catch-up-then-live engine.
 */
export class EventOps {
  /** Streams handed out; closed ones are let go when counted or when the set doubles. */
  private readonly streams = new Set<CatchUpHandle>();
  private pruneAt = 64;

  constructor(private readonly ctx: DaemonContext) {}

  /** Streams open now, on any transport (metrics). */
  openStreams(): number {
    for (const h of this.streams) if (h.closed) this.streams.delete(h);
    this.pruneAt = Math.max(64, this.streams.size * 2);
    return this.streams.size;
  }

  private track(h: CatchUpHandle): CatchUpHandle {
    this.streams.add(h);
    if (this.streams.size >= this.pruneAt) this.openStreams();
    return h;
  }

  async read(o: { fromSeq: number; limit: number; filter: EventFilter }): Promise<{ events: StoredEvent[]; next_seq: number; head_seq: number }> {
    const head = this.ctx.log.head;
    const page = await this.ctx.log.readPage(o.fromSeq - 1, o.limit, o.filter);
    return { events: page.events, next_seq: Math.min(page.last, head) + 1, head_seq: head };
  }

  /**
   * Ends a stream with the storage error once the log's writer fails (nothing more will come), or at once when it
   * goes live after the failure: a follower is told why before its stream ends.
   */
  private endOnStorageFailure(handle: CatchUpHandle, hooks: StreamHooks): { live(): void; close(): void } {
    let told = false;
    const tell = (err: ArpdError): void => {
      if (told || handle.closed) return;
      told = true;
      handle.close();
      hooks.error?.(err);
    };
    const sub = this.ctx.log.failure$.subscribe(tell);
    return {
      live: () => { const f = this.ctx.log.failure; if (f !== undefined) tell(f); },
      close: () => sub.unsubscribe(),
    };
  }

  /** The global log from `after` (0: from the start), then live. */
  subscribe(after: number, filter: EventFilter, consumer: StreamConsumer<StoredEvent>, hooks: StreamHooks = {}): CatchUpHandle {
    // eslint-disable-next-line prefer-const -- set once the handle it guards exists; the hooks above read it later
    let guard: { live(): void; close(): void } | undefined;
    const handle = catchUpThenLive<StoredEvent>({
      live$: this.ctx.events$,
      select: (e) => (matchesFilter(e, filter) ? e : undefined),
      position: (e) => e.seq,
      sizeOf: eventBytes,
      readPage: async (from) => {
        const page = await this.ctx.log.readPage(from, PAGE, filter);
        return { items: page.events, atEnd: page.atHead, scanned: page.last };
      },
    }, after, consumer, { ...hooks, live: () => { hooks.live?.(); guard?.live(); } });
    guard = this.endOnStorageFailure(handle, hooks);
    return this.track({ get closed() { return handle.closed; }, close: () => { guard?.close(); handle.close(); } });
  }

  /**
   * One run's trace from line `fromSeq`, then live, ending once the run has ended and its last line
   * was sent. The catch-up reads the run's own trace (not the whole log).
   */
  followRun(runId: string, fromSeq: number, consumer: StreamConsumer<TraceLine>, hooks: StreamHooks = {}): CatchUpHandle {
    const stream = `run:${runId}`;
    let over = false;
    const finishedAt = (seq: number): boolean => {
      const run = this.ctx.state.run(runId);
      return run !== undefined && isEnded(run) && seq >= (this.ctx.state.progress(runId)?.trace_lines ?? 0);
    };
    const finish = (): void => {
      if (over) return;
      over = true;
      queueMicrotask(() => { handle.close(); hooks.end?.(); });
    };
    let lastSent = fromSeq - 1;
    // eslint-disable-next-line prefer-const -- set once the handle it guards exists; the hooks above read it later
    let guard: { live(): void; close(): void } | undefined;
    const handle: CatchUpHandle = catchUpThenLive<TraceLine>({
      live$: this.ctx.events$,
      select: (e) => {
        if (e.stream !== stream) return undefined;
        // a follower that asked from past the last line never gets one: the run's end must still end the stream
        if (e.rev < fromSeq && (e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.canceled')) {
          queueMicrotask(() => { if (finishedAt(Math.max(lastSent, fromSeq - 1))) finish(); });
        }
        return traceLineOf(e, runId);
      },
      position: (l) => l.seq,
      readPage: async (after) => {
        const lines = await this.ctx.log.readRunTrace(runId, after + 1, PAGE);
        const expected = this.ctx.state.progress(runId)?.trace_lines ?? 0;
        return { items: lines, atEnd: lines.length < PAGE || (lines.at(-1)?.seq ?? after) >= expected };
      },
    }, fromSeq - 1, {
      send: (line) => {
        lastSent = line.seq;
        if (!consumer.send(line)) return false;
        if (finishedAt(line.seq)) finish();
        return true;
      },
      ...(consumer.hasRoom === undefined ? {} : { hasRoom: () => (consumer.hasRoom as () => boolean)() }),
      ...(consumer.drained === undefined ? {} : { drained: () => (consumer.drained as () => Promise<void>)() }),
    }, {
      live: () => {
        hooks.live?.();
        if (finishedAt(lastSent)) finish();
        else guard?.live();
      },
      ...(hooks.error === undefined ? {} : { error: hooks.error }),
    });
    guard = this.endOnStorageFailure(handle, hooks);
    return this.track({ get closed() { return handle.closed; }, close: () => { guard?.close(); handle.close(); } });
  }
}
