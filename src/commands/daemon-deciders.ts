import type { DomainEvent } from '../events/event-types.js';
import { isEnded, type ReadModel } from '../projections/registry.js';
import { ArpdError } from '../errors/index.js';
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
    const run = state.run(r.run_id);
    if (run === undefined || isEnded(run)) continue;
    failed.push(r.run_id);
    events.push({ type: 'run.failed', data: { run_id: r.run_id, error: { code: 'E_LOG_REPAIRED', message: `the event log was repaired and ${r.why}: arpd failed the run rather than run it twice; submit it again if it must run` } } });
  }
  return [{ type: 'log.repaired', data: { restored: d.restored, lost: d.lost, runs_failed: failed, copies: d.copies } }, ...events];
}

/**
 * Pruning run directories: each named run must have ended before `before` (a run still going, or one that ended
 * later, is refused: nothing is pruned). Runs already pruned (no longer known) are skipped, so pruning again is a
 * no-op. One event for the batch.
 */
export function decidePruneRuns(state: ReadModel, cmd: CommandOf<'PruneRuns'>): Decision {
  const before = Date.parse(cmd.data.before);
  if (Number.isNaN(before)) throw new ArpdError('E_VALIDATION', `--before takes an ISO-8601 time (e.g. 2026-01-31T00:00:00Z), not '${cmd.data.before}'`, { field: 'before' });
  const runs: Array<{ run_id: string; state: 'succeeded' | 'failed' | 'canceled' }> = [];
  for (const id of cmd.data.run_ids) {
    const run = state.run(id);
    if (run === undefined) continue;
    if (!isEnded(run) || run.ended_at === undefined || Date.parse(run.ended_at) >= before) {
      throw new ArpdError('E_CONFLICT', `run '${id}' has not ended before ${cmd.data.before}: only runs that ended before it are pruned`, { run_id: id });
    }
    runs.push({ run_id: id, state: run.state as 'succeeded' | 'failed' | 'canceled' });
  }
  if (runs.length === 0) return [];
  return [{ type: 'runs.pruned', data: { runs, before: cmd.data.before } }];
}
