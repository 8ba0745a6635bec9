/**
 * Fake `setTimeout`/`clearTimeout` and `setInterval`/`clearInterval` (and, when asked, `Date.now`) on
 * a virtual clock the test moves, for reactors that arm real timers (run deadlines, the router's
 * retry, health checks). Nothing waits on the wall clock: `advance(ms)` fires each due timer at its
 * own virtual time, in order, and lets the work it started finish (`settle`) before the next one.
 * Timers not made here (the test runner's) pass through to the real ones.
 */
type Callback = (...args: unknown[]) => void;

export class FakeTimeout {
  private refed = true;
  constructor(readonly id: number, public at: number) {}
  unref(): this { this.refed = false; return this; }
  ref(): this { this.refed = true; return this; }
  hasRef(): boolean { return this.refed; }
  refresh(): this { return this; }
  [Symbol.toPrimitive](): number { return this.id; }
}

export class FakeTimers {
  now: number;
  private nextId = 1;
  private readonly timers = new Map<number, { handle: FakeTimeout; fn: Callback; args: unknown[]; every?: number }>();
  private readonly realSet = globalThis.setTimeout;
  private readonly realClear = globalThis.clearTimeout;
  private readonly realSetInterval = globalThis.setInterval;
  private readonly realClearInterval = globalThis.clearInterval;
  private readonly realNow = Date.now;
  /** Every delay asked for, in order (to see what a reactor armed). */
  readonly armed: number[] = [];

  constructor(start: number | string) {
    this.now = typeof start === 'number' ? start : Date.parse(start);
  }

  /** The virtual clock as a Date (give it to the code under test as its clock). */
  readonly date = (): Date => new Date(this.now);

  /** Replaces the global timers (and `Date.now` with `dateNow`) until the returned function is called. */
  install(opts: { dateNow?: boolean } = {}): () => void {
    const arm = (fn: Callback, ms: number | undefined, args: unknown[], repeat: boolean): FakeTimeout => {
      const delay = Math.max(repeat ? 1 : 0, Number(ms ?? 0));
      this.armed.push(delay);
      const handle = new FakeTimeout(this.nextId++, this.now + delay);
      this.timers.set(handle.id, { handle, fn, args, ...(repeat ? { every: delay } : {}) });
      return handle;
    };
    const clear = (real: (h: NodeJS.Timeout) => void) => (handle: unknown): void => {
      if (handle instanceof FakeTimeout) this.timers.delete(handle.id);
      else real(handle as NodeJS.Timeout);
    };
    globalThis.setTimeout = ((fn: Callback, ms?: number, ...args: unknown[]) => arm(fn, ms, args, false)) as unknown as typeof setTimeout;
    globalThis.clearTimeout = clear(this.realClear) as typeof clearTimeout;
    globalThis.setInterval = ((fn: Callback, ms?: number, ...args: unknown[]) => arm(fn, ms, args, true)) as unknown as typeof setInterval;
    globalThis.clearInterval = clear(this.realClearInterval) as typeof clearInterval;
    if (opts.dateNow === true) Date.now = () => this.now;
    return () => {
      globalThis.setTimeout = this.realSet;
      globalThis.clearTimeout = this.realClear;
      globalThis.setInterval = this.realSetInterval;
      globalThis.clearInterval = this.realClearInterval;
      Date.now = this.realNow;
    };
  }

  /** Timers armed and not yet fired or cleared. */
  pending(): number {
    return this.timers.size;
  }

  /** When the earliest pending timer fires, if any. */
  nextAt(): number | undefined {
    let at: number | undefined;
    for (const { handle } of this.timers.values()) if (at === undefined || handle.at < at) at = handle.at;
    return at;
  }

  /**
   * Moves the clock `ms` forward. Each timer due on the way fires at its own time, earliest first
   * (ties in the order they were armed), and `settle` runs after each, so the work a timer started
   * (and any timer it armed) is done before time moves on.
   */
  async advance(ms: number, settle: () => Promise<void> = async () => undefined): Promise<void> {
    const target = this.now + ms;
    for (;;) {
      let due: { handle: FakeTimeout; fn: Callback; args: unknown[]; every?: number } | undefined;
      for (const t of this.timers.values()) if (t.handle.at <= target && (due === undefined || t.handle.at < due.handle.at)) due = t;
      if (due === undefined) break;
      this.timers.delete(due.handle.id);
      this.now = Math.max(this.now, due.handle.at);
      if (due.every !== undefined) {
        // an interval: armed again, same handle, for its next time
        due.handle.at += due.every;
        this.timers.set(due.handle.id, due);
      }
      due.fn(...due.args);
      await settle();
    }
    this.now = target;
    await settle();
  }
}
