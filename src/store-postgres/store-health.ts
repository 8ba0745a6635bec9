import { reasonOf } from './pg-errors.js';
import type { StoreTarget } from './store-url.js';

export type Warn = (message: string, details: Record<string, unknown>) => void;

/**
 * Whether PostgreSQL answers now. Every part of the store reports here: a connection failure marks
 * it down (new appends then fail at once with E_UNAVAILABLE), the next statement that succeeds marks
 * it up. One warning per change, never with the password.
 */
export class StoreHealth {
  private downSince: number | undefined;
  private reason: string | undefined;
  private readonly upListeners: Array<() => void> = [];

  constructor(private readonly target: StoreTarget, private readonly warn: Warn, private readonly now: () => number) {}

  get available(): boolean {
    return this.downSince === undefined;
  }

  get unavailableSince(): number | undefined {
    return this.downSince;
  }

  get lastReason(): string | undefined {
    return this.reason;
  }

  onUp(cb: () => void): void {
    this.upListeners.push(cb);
  }

  down(err: unknown, where: string): void {
    this.reason = reasonOf(err);
    if (this.downSince !== undefined) return;
    this.downSince = this.now();
    this.warn(`PostgreSQL at ${this.target.host}:${this.target.port}/${this.target.database} is unreachable (${this.reason}, seen by the ${where}): appends fail with E_UNAVAILABLE until it answers again; arpd keeps trying`, { store: this.target.redacted, reason: this.reason });
  }

  up(): void {
    if (this.downSince === undefined) return;
    const ms = this.now() - this.downSince;
    this.downSince = undefined;
    this.warn(`PostgreSQL at ${this.target.host}:${this.target.port}/${this.target.database} answers again after ${(ms / 1000).toFixed(1)} s: appends are accepted again`, { store: this.target.redacted, down_ms: ms });
    for (const cb of this.upListeners) cb();
  }
}
