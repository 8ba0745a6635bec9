import type { DaemonContext } from '../daemon/daemon-context.js';
import { ArpdError } from '../errors/index.js';

/** Changes are refused once shutdown began (reads go on). */
export function refuseWhileStopping(ctx: DaemonContext): void {
  if (ctx.stopping()) throw new ArpdError('E_UNAVAILABLE', 'the daemon is shutting down: try again once it has restarted');
}

/**
 * Waits for `until` to resolve, unless the event log's writer fails first (a full or read-only disk): then nothing
 * more can be recorded, so waiting would never end, and the storage error is thrown instead, saying what to do.
 */
export async function unlessStorageFails<T>(ctx: DaemonContext, until: Promise<T>): Promise<T> {
  const now = ctx.log.failure;
  if (now !== undefined) throw now;
  let sub: { unsubscribe(): void } | undefined;
  const failed = new Promise<never>((_, reject) => {
    sub = ctx.log.failure$.subscribe((err) => reject(err));
  });
  try {
    return await Promise.race([until, failed]);
  } finally {
    sub?.unsubscribe();
  }
}
