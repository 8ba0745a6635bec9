import type { CommandOf } from './command-types.js';
import type { Decision } from './decision.js';

/** Pure decisions about the daemon's own stream: it started, it stopped. */

export function decideStartDaemon(cmd: CommandOf<'StartDaemon'>): Decision {
  return [{ type: 'daemon.started', data: { ...cmd.data } }];
}

export function decideStopDaemon(cmd: CommandOf<'StopDaemon'>): Decision {
  return [{ type: 'daemon.stopped', data: { pid: cmd.data.pid, reason: cmd.data.reason, run_logs_complete: cmd.data.run_logs_complete } }];
}
