/**
 * Fake `setTimeout`/`clearTimeout` on a virtual clock the test moves, for reactors that arm real
 * timers (run deadlines, the router's retry). Nothing waits on the wall clock: `advance(ms)` fires
 * each due timer at its own virtual time, in order, and lets the work it started finish (`settle`)
 * before the next one. Timers not made here (the test runner's) pass through to the real ones.
 */
type Callback = (...args: unknown[]) => void;

export class FakeTimeout {
  private refed = true;
  constructor(readonly id: number, readonly at: number) {}
  unref(): this { this.refed = false; return this; }
  ref(): this { this.refed = true; return this; }
  hasRef(): boolean { return this.refed; }
  refresh(): this { return this; }
  [Symbol.toPrimitive](): number { return this.id; }
}

export class FakeTimers {
  now: number;
  private nextId = 1;
  private readonly timers = new Map<number, { handle: FakeTimeout; fn: Callback; args: unknown[] }>();
  private readonly realSet = globalThis.setTimeout;
  private readonly realClear = globalThis.clearTimeout;
  /** Every delay asked for, in order (to see what a reactor armed). */
  readonly armed: number[] = [];

  constructor(start: number | string) {
    this.now = typeof start === 'number' ? start : Date.parse(start);
  }

  /** The virtual clock as a Date (give it to the code under test as its clock). */
  readonly date = (): Date => new Date(this.now);

  /** Replaces the global timers until the returned function is called. */
  install(): () => void {
    const set = (fn: Callback, ms?: number, ...args: unknown[]): FakeTimeout => {
      const delay = Math.max(0, Number(ms ?? 0));
      this.armed.push(delay);
      const handle = new FakeTimeout(this.nextId++, this.now + delay);
      this.timers.set(handle.id, { handle, fn, args });
      return handle;
    };
    const clear = (handle: unknown): void => {
      if (handle instanceof FakeTimeout) this.timers.delete(handle.id);
      else this.realClear(handle as NodeJS.Timeout);
    };
    globalThis.setTimeout = set as unknown as typeof setTimeout;
    globalThis.clearTimeout = clear as typeof clearTimeout;
    return () => {
      globalThis.setTimeout = this.realSet;
      globalThis.clearTimeout = this.realClear;
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
      let due: { handle: FakeTimeout; fn: Callback; args: unknown[] } | undefined;
      for (const t of this.timers.values()) if (t.handle.at <= target && (due === undefined || t.handle.at < due.handle.at)) due = t;
      if (due === undefined) break;
      this.timers.delete(due.handle.id);
      this.now = Math.max(this.now, due.handle.at);
      due.fn(...due.args);
      await settle();
    }
    this.now = target;
    await settle();
  }
}
