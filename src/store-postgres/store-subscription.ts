import type { Observable, Subscription } from 'rxjs';
import { ArpdError, toArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { matchesFilter, type EventFilter, type EventSubscription, type SubscribeHandlers } from '../events/event-store.js';
import { comparePos, type Pos } from './event-rows.js';

export interface Published {
  e: StoredEvent;
  pos: Pos;
}

/** What a subscription needs from the store. */
export interface SubscriptionSource {
  published$: Observable<Published>;
  /** The last published position now. */
  headPos(): Pos;
  positionOf(seq: number): Promise<Pos>;
  /** Events in (from, to], filtered, in store order; at most `limit`. */
  readRange(from: Pos, to: Pos, filter: EventFilter | undefined, limit: number): Promise<Array<{ e: StoredEvent; pos: Pos }>>;
}

const PAGE = 500;
/** Live events held while catching up; past this the buffer is dropped and catch-up reads them from the table. */
const MAX_BUFFER = 10_000;

/**
 * Catch-up then live, without a gap or a repeat. It listens to the published events first (held in
 * a buffer), then reads the table up to the published head in pages; once a page ends at the head
 * it delivers the buffered events past what it read and from then on follows the live events. Each
 * event is compared by its place in the store order, so none is delivered twice. While PostgreSQL
 * is unreachable, catch-up waits and tries again (the store reconnects by itself).
 */
export class PgSubscription implements EventSubscription {
  closed = false;
  private cursor: Pos | undefined;
  private buffer: Published[] | undefined = [];
  private drops = 0;
  private readonly sub: Subscription;

  constructor(
    private readonly src: SubscriptionSource,
    after: number,
    private readonly filter: EventFilter | undefined,
    private readonly h: SubscribeHandlers,
    private readonly isOpen: () => boolean,
  ) {
    this.sub = src.published$.subscribe((x) => this.onLive(x));
    void this.catchUp(after);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer = undefined;
    this.sub.unsubscribe();
  }

  private onLive(x: Published): void {
    if (this.closed) return;
    if (this.buffer !== undefined) {
      this.buffer.push(x);
      if (this.buffer.length > MAX_BUFFER) {
        this.buffer = [];
        this.drops++;
      }
      return;
    }
    if (this.cursor !== undefined && comparePos(x.pos, this.cursor) <= 0) return;
    this.cursor = x.pos;
    if (matchesFilter(x.e, this.filter)) this.deliver(x.e);
  }

  private deliver(e: StoredEvent): void {
    if (this.closed) return;
    let more: boolean | void;
    try {
      more = this.h.event(e);
    } catch (err) {
      this.fail(toArpdError(err));
      return;
    }
    if (more === false) this.close();
  }

  private fail(err: ArpdError): void {
    if (this.closed) return;
    this.close();
    this.h.error?.(err);
  }

  /** Runs `op`, waiting and retrying while the store is unreachable. */
  private async retrying<T>(op: () => Promise<T>): Promise<T | undefined> {
    for (let n = 0; ; n++) {
      if (this.closed || !this.isOpen()) return undefined;
      try {
        return await op();
      } catch (err) {
        if (!(err instanceof ArpdError) || err.code !== 'E_UNAVAILABLE') throw err;
        await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** Math.min(n, 5))));
      }
    }
  }

  private async catchUp(after: number): Promise<void> {
    try {
      const start = await this.retrying(() => this.src.positionOf(after));
      if (start === undefined) return;
      let cursor = start;
      for (;;) {
        if (this.closed) return;
        const drops = this.drops;
        const bound = this.src.headPos();
        if (comparePos(cursor, bound) < 0) {
          const from = cursor;
          const page = await this.retrying(() => this.src.readRange(from, bound, this.filter, PAGE));
          if (page === undefined) return;
          for (const x of page) {
            if (this.closed) return;
            this.deliver(x.e);
          }
          if (page.length === PAGE) {
            cursor = (page[page.length - 1] as Published).pos;
            continue;
          }
          cursor = bound;
        }
        // events dropped from the buffer after this round began may lie past `bound`: read again
        if (this.drops !== drops) continue;
        const buf = this.buffer ?? [];
        this.buffer = undefined;
        this.cursor = cursor;
        for (const x of buf) this.onLive(x);
        if (!this.closed) this.h.live?.();
        return;
      }
    } catch (err) {
      this.fail(toArpdError(err));
    }
  }
}
