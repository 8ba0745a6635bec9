import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * LISTEN/NOTIFY, used only to wake readers early: the events table is the truth, and a reader that
 * missed a notification (this connection was down, a pooler dropped it) still finds every event on
 * its next poll. One connection: it LISTENs, and it also sends this process's NOTIFYs after each
 * commit, outside the writing transaction (so commits never queue on PostgreSQL's notify lock) and
 * without waiting for a WAL flush (a notification need not survive a crash).
 * It reconnects by itself; each (re)connect wakes the reader, since notifications may have been lost.
 */
export class StoreListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private sending = false;
  private again = false;
  private loop: Promise<void> | undefined;
  private wakeLoop: (() => void) | undefined;
  /** This process's notifications carry it, so that it ignores its own (its writer wakes its reader directly). */
  private readonly token = randomBytes(8).toString('hex');

  constructor(
    private readonly config: pg.ClientConfig,
    private readonly channel: string,
    private readonly onWake: () => void,
    private readonly retryMs: number,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  /** Tells other processes that new events are committed. Coalesced; dropped while disconnected. */
  notify(): void {
    if (this.client === undefined || this.stopped) return;
    if (this.sending) {
      this.again = true;
      return;
    }
    this.sending = true;
    const c = this.client;
    c.query("SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, $2)", [this.channel, this.token])
      .catch(() => undefined)
      .finally(() => {
        this.sending = false;
        if (this.again) {
          this.again = false;
          this.notify();
        }
      });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const c = new pg.Client(this.config);
      let closed!: Promise<void>;
      try {
        closed = new Promise<void>((resolve) => {
          c.on('error', () => resolve());
          c.on('end', () => resolve());
        });
        await c.connect();
        await c.query(`LISTEN ${pg.escapeIdentifier(this.channel)}`);
        c.on('notification', (m) => { if (m.payload !== this.token) this.onWake(); });
        this.client = c;
        this.onWake(); // anything committed while we were not listening
        // stop() may have come while connecting: look again before waiting
        if (!this.stopped) await Promise.race([closed, new Promise<void>((resolve) => { this.wakeLoop = resolve; })]);
      } catch {
        // unreachable: try again below
      }
      if (this.client === c) this.client = undefined;
      await c.end().catch(() => undefined);
      if (this.stopped) break;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.retryMs);
        this.wakeLoop = () => { clearTimeout(t); resolve(); };
        if (this.stopped) this.wakeLoop();
      });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wakeLoop?.();
    await this.loop;
  }
}
