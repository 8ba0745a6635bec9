import type { DomainEvent } from '../events/event-types.js';
import { isEnded, type ReadModel } from '../projections/registry.js';
import type { CommandOf } from './command-types.js';
import type { Decision } from './decision.js';

/** Pure decisions about the daemon's own stream: it started, it stopped. */

export function decideStartDaemon(cmd: CommandOf<'StartDaemon'>): Decision {
  return [{ type: 'daemon.started', data: { ...cmd.data } }];
}

export function decideStopDaemon(cmd: CommandOf<'StopDaemon'>): Decision {
  return [{ type: 'daemon.stopped', data: { pid: cmd.data.pid, reason: cmd.data.reason, run_logs_complete: cmd.data.run_logs_complete } }];
}

/**
 * A repaired log: the repair is recorded, and every run it named that has not ended is failed E_LOG_REPAIRED (its
 * runtime may have run it, or may still be running it: arpd will not send it again).
 */
export function decideRecordLogRepair(state: ReadModel, cmd: CommandOf<'RecordLogRepair'>): Decision {
  const d = cmd.data;
  const failed: string[] = [];
  const events: DomainEvent[] = [];
  for (const r of d.runs) {
    const run = state.runs.get(r.run_id);
    if (run === undefined || isEnded(run)) continue;
    failed.push(r.run_id);
    events.push({ type: 'run.failed', data: { run_id: r.run_id, error: { code: 'E_LOG_REPAIRED', message: `the event log was repaired and ${r.why}: arpd failed the run rather than run it twice; submit it again if it must run` } } });
  }
  return [{ type: 'log.repaired', data: { restored: d.restored, lost: d.lost, runs_failed: failed, copies: d.copies } }, ...events];
}
