import { ArpdError } from '../errors/index.js';

/** What a push stream asks of the source that feeds it. */
export interface PushSource {
  /** Stop sending for now (the queue is at its high-water mark). */
  pause(): void;
  /** The reader caught up: send again. */
  resume(): void;
  /** The reader left (or the stream failed): stop for good and free what the source holds. */
  cancel(): void;
}

export interface PushStreamOptions {
  /** Items queued before the source is paused. Default 256. */
  highWater?: number;
  /**
   * Items queued at most. A source that goes on sending after pause() (one socket chunk of lines) stays
   * under it; a source that ignores pause() fails the stream with E_SLOW_CONSUMER. Default 16 x highWater.
   */
  hardLimit?: number;
}

type Ending<R> = { ok: true; value: R } | { ok: false; error: unknown };

/**
 * Turns a source that pushes (socket notifications) into an async iterator that pulls, with a bounded
 * queue between them: the source is paused at `highWater` items and resumed once the reader has taken
 * half of them. The iterator's last result carries the source's end value.
 */
export class PushStream<T, R> implements AsyncIterableIterator<T, R, undefined> {
  private readonly items: T[] = [];
  private head = 0;
  private ending: Ending<R> | undefined;
  private waiter: { resolve: (r: IteratorResult<T, R>) => void; reject: (e: unknown) => void } | undefined;
  private paused = false;
  private canceled = false;
  private readonly highWater: number;
  private readonly hardLimit: number;

  constructor(private readonly source: PushSource, options: PushStreamOptions = {}) {
    this.highWater = Math.max(1, options.highWater ?? 256);
    this.hardLimit = Math.max(this.highWater, options.hardLimit ?? this.highWater * 16);
  }

  /** Items waiting for the reader. */
  get queued(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.ending !== undefined || this.canceled) return;
    if (this.waiter !== undefined) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ done: false, value: item });
      return;
    }
    if (this.queued >= this.hardLimit) {
      this.fail(new ArpdError('E_SLOW_CONSUMER', `more than ${this.hardLimit} items waited for the reader: read the stream faster, or follow from a later seq`, { limit: this.hardLimit }));
      this.source.cancel();
      return;
    }
    this.items.push(item);
    if (!this.paused && this.queued >= this.highWater) {
      this.paused = true;
      this.source.pause();
    }
  }

  /** The source ended normally with `value` (what the iterator returns after the last item). */
  end(value: R): void {
    this.finish({ ok: true, value });
  }

  /** The source failed: the reader gets the items already queued, then this error. */
  fail(error: unknown): void {
    this.finish({ ok: false, error });
  }

  next(): Promise<IteratorResult<T, R>> {
    if (this.queued > 0) {
      const value = this.items[this.head] as T;
      this.items[this.head] = undefined as T;
      this.head += 1;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items.splice(0, this.head);
        this.head = 0;
      }
      if (this.paused && this.queued <= this.highWater / 2) {
        this.paused = false;
        this.source.resume();
      }
      return Promise.resolve({ done: false, value });
    }
    if (this.ending !== undefined) {
      return this.ending.ok ? Promise.resolve({ done: true, value: this.ending.value }) : Promise.reject(this.ending.error);
    }
    if (this.canceled) return Promise.reject(canceledError());
    if (this.waiter !== undefined) return Promise.reject(new ArpdError('E_VALIDATION', 'a stream has one reader: wait for next() before calling it again'));
    return new Promise((resolve, reject) => { this.waiter = { resolve, reject }; });
  }

  /** The reader leaves (a `break` out of `for await`): the source is canceled and the queue dropped. */
  return(): Promise<IteratorResult<T, R>> {
    this.cancel();
    return Promise.resolve({ done: true, value: undefined as unknown as R });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private cancel(): void {
    if (this.canceled) return;
    this.canceled = true;
    this.items.length = 0;
    this.head = 0;
    if (this.ending === undefined) this.source.cancel();
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(canceledError());
  }

  private finish(ending: Ending<R>): void {
    if (this.ending !== undefined || this.canceled) return;
    this.ending = ending;
    const w = this.waiter;
    if (w === undefined) return;
    this.waiter = undefined;
    if (ending.ok) w.resolve({ done: true, value: ending.value });
    else w.reject(ending.error);
  }
}

function canceledError(): ArpdError {
  return new ArpdError('E_CANCELED', 'the stream was closed by its reader');
}
