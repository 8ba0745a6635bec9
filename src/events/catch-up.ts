import type { Observable } from 'rxjs';
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from './envelope.js';

/**
 * The one read side for streams: catch-up from storage, then live, never a gap or a repeat, with
 * backpressure. Live events are buffered from the first moment; pages are read from storage until
 * one reaches the end; then the buffer is replayed past what was read, and the stream is live.
 * While the consumer has no room (a slow socket or HTTP reader) catch-up pauses; live events wait in
 * the buffer, and a consumer more than `maxBuffered` items (or `maxBufferedBytes`) behind is ended with E_SLOW_CONSUMER (the
 * daemon's memory stays bounded; the consumer resumes from the last position it got).
 *
 * Used for the global log (`events.subscribe`, SSE `/v1/events`, `arpd events --follow`; position =
 * the event's seq) and for one run's trace (`runs.follow`, SSE `/v1/runs/{id}/events`; position = the
 * trace line's seq).
 */

export interface StreamConsumer<T> {
  /** Delivers one item; false when the consumer is gone (the stream then stops). */
  send(item: T): boolean;
  /** Is there room for more now? */
  hasRoom?(): boolean;
  /** Resolves when there is room again. */
  drained?(): Promise<void>;
}

export interface CatchUpSource<T> {
  live$: Observable<StoredEvent>;
  /** The item of a live event, or undefined when the stream does not carry it. */
  select(e: StoredEvent): T | undefined;
  position(item: T): number;
  /**
   * Items after `after` from storage, in order; `atEnd` once nothing more is stored. `scanned`: the
   * position the page read up to, when items were skipped (a filter), so the next page starts there.
   */
  readPage(after: number): Promise<{ items: T[]; atEnd: boolean; scanned?: number }>;
  /** About how many bytes an item holds, for `maxBufferedBytes` (absent: items are counted, not weighed). */
  sizeOf?(item: T): number;
}

/**
 * The most a stream's buffer may hold, by the sources' `sizeOf`: 10,000 runtime events of up to 256 KiB each would be
 * 2.5 GB behind one reader that stopped reading. The items are shared by every stream (not copied), but a buffer keeps
 * the ones it holds alive.
 */
export const DEFAULT_MAX_BUFFERED_BYTES = 64 * 1024 * 1024;

export interface CatchUpHandle {
  close(): void;
  readonly closed: boolean;
}

export function catchUpThenLive<T>(src: CatchUpSource<T>, after: number, consumer: StreamConsumer<T>, hooks: { live?(): void; error?(err: ArpdError): void; end?(): void } = {}, maxBuffered = 10_000, maxBufferedBytes = DEFAULT_MAX_BUFFERED_BYTES): CatchUpHandle {
  let last = after;
  let live = false;
  let announced = false;
  let sourceDone = false;
  let closed = false;
  let draining = false;
  const buffered: T[] = [];
  let bufferedBytes = 0;
  const sizeOf = src.sizeOf;
  const handle = { closed: false, close: () => stop() };
  function stop(): void {
    if (closed) return;
    closed = true;
    handle.closed = true;
    sub.unsubscribe();
    buffered.length = 0;
    bufferedBytes = 0;
  }
  const fail = (err: ArpdError): void => {
    if (closed) return;
    stop();
    hooks.error?.(err);
  };
  const deliver = (item: T): boolean => {
    if (closed) return false;
    const pos = src.position(item);
    if (pos <= last) return true;
    last = pos;
    if (!consumer.send(item)) { stop(); return false; }
    return true;
  };
  // the live source completed (the store closed): end once everything before it was delivered
  const endIfDone = (): void => {
    if (sourceDone && announced && !closed && !draining && buffered.length === 0) {
      stop();
      hooks.end?.();
    }
  };
  const flush = async (): Promise<void> => {
    if (draining) return;
    draining = true;
    try {
      while (!closed && buffered.length > 0) {
        if (consumer.hasRoom !== undefined && !consumer.hasRoom()) await (consumer.drained?.() ?? Promise.resolve());
        const item = buffered.shift() as T;
        if (sizeOf !== undefined) bufferedBytes -= sizeOf(item);
        if (!deliver(item)) return;
      }
    } finally {
      draining = false;
      endIfDone();
    }
  };
  const sub = src.live$.subscribe({
    next: (e) => {
      const item = src.select(e);
      if (item === undefined || closed) return;
      if (live && buffered.length === 0 && !draining && (consumer.hasRoom?.() ?? true)) { deliver(item); return; }
      buffered.push(item);
      if (sizeOf !== undefined) bufferedBytes += sizeOf(item);
      if (buffered.length > maxBuffered || bufferedBytes > maxBufferedBytes) {
        const behind = buffered.length > maxBuffered ? `${maxBuffered} items` : (maxBufferedBytes >= 1048576 ? `${Math.round(maxBufferedBytes / 1048576)} MiB` : `${maxBufferedBytes} bytes`);
        fail(new ArpdError('E_SLOW_CONSUMER', `this stream fell more than ${behind} behind and was dropped: reconnect from the last position you received (Last-Event-ID / from_seq)`));
        return;
      }
      if (live) void flush();
    },
    complete: () => { sourceDone = true; endIfDone(); },
  });
  void (async () => {
    try {
      for (;;) {
        if (closed) return;
        if (consumer.hasRoom !== undefined && !consumer.hasRoom()) await (consumer.drained?.() ?? Promise.resolve());
        const before = last;
        const page = await src.readPage(last);
        for (const item of page.items) if (!deliver(item)) return;
        if (page.scanned !== undefined && page.scanned > last) last = page.scanned;
        if (page.atEnd) break;
        if (page.items.length === 0 && page.scanned === undefined) break;
        // a page that moved nothing would be read again and again, in microtasks: the process would answer no one
        if (last === before) throw new ArpdError('E_UNAVAILABLE', `reading stored events made no progress after position ${before}: run 'arpd log verify'`);
      }
      if (closed) return;
      live = true;
      await flush();
      if (!closed) hooks.live?.();
      announced = true;
      endIfDone();
    } catch (err) {
      fail(err instanceof ArpdError ? err : new ArpdError('E_UNAVAILABLE', `reading stored events failed: ${(err as Error).message}: try again; if it persists run 'arpd log verify'`, undefined, { cause: err }));
    }
  })();
  return handle;
}
