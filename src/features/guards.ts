import type { DaemonContext } from '../daemon/daemon-context.js';
import { ArpdError } from '../errors/index.js';

/** Changes are refused once shutdown began (reads go on). */
export function refuseWhileStopping(ctx: DaemonContext): void {
  if (ctx.stopping()) throw new ArpdError('E_UNAVAILABLE', 'the daemon is shutting down: try again once it has restarted');
}
