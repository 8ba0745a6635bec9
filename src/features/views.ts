import type { JsonObject } from '../events/event-types.js';
import type { ReadModel } from '../projections/registry.js';
import type { InstanceView, RunProgress, RunView } from '../projections/registry-types.js';
import { restartDecision } from '../policy/restart-policy.js';
import { arpStateOf, loadOf } from '../policy/routing.js';
import { optionsOfInstance } from '../policy/runtime-options.js';
import type { RunStatus, RuntimeInstance } from '../schemas/index.js';

/** The ARP payloads of the projections' views. arpd's own details ride in `extensions["arpd.*"]`. */

/** The ARP RunStatus of a run; arpd's finer phase and error ride in `extensions["arpd.run"]`. */
export function toRunStatus(v: RunView, p: RunProgress | undefined): RunStatus {
  const details: JsonObject = { phase: v.phase, accepted_at: v.accepted_at, trace_lines: p?.trace_lines ?? 0 };
  if (v.error !== undefined) details['error'] = v.error as unknown as JsonObject;
  if (v.cancel_requested !== undefined) details['cancel_requested'] = v.cancel_requested;
  if (v.run_deadline !== undefined && v.phase !== 'ended') details['deadline'] = v.run_deadline;
  else if (v.deadline !== undefined && v.phase !== 'ended') details['queue_deadline'] = v.deadline;
  if (v.instance_id === undefined && v.runtime_api_endpoint !== undefined) details['runtime_api_endpoint'] = v.runtime_api_endpoint;
  return {
    run_id: v.run_id,
    state: v.state,
    ...(v.started_at === undefined ? {} : { started_at: v.started_at }),
    ...(v.ended_at === undefined ? {} : { ended_at: v.ended_at }),
    ...(v.instance_id === undefined ? {} : { runtime_instance_id: v.instance_id }),
    extensions: { 'arpd.run': details },
  };
}

/**
 * The ARP RuntimeInstance of an instance. `runtime_api_endpoint` is where it serves (or will serve,
 * once known); an instance still installing has none yet and the field is left out (the HTTP API
 * lists only instances that have one). The ARP state of a ready instance at capacity is `busy`.
 */
export function toRuntimeInstance(v: InstanceView, state: ReadModel): RuntimeInstance {
  const { active, capacity } = loadOf(state, v);
  const details: JsonObject = { created_at: v.created_at, updated_at: v.updated_at, active_runs: active, max_concurrent_runs: capacity, attempt: v.attempt };
  if (v.restarts > 0) details['restarts'] = v.restarts;
  if (v.pid !== undefined) details['pid'] = v.pid;
  if (v.ready_at !== undefined && (v.state === 'ready' || v.state === 'busy')) details['ready_at'] = v.ready_at;
  if (v.reason !== undefined) details['reason'] = v.reason;
  if (v.managed && v.state === 'error' && v.restarts > 0) {
    // its last failure says why it failed, not that arpd stopped trying: say so where the reason is read
    const opts = optionsOfInstance(state, v);
    if (opts.restart === 'on-failure' && !restartDecision(v, opts).restart) {
      details['restarts_exhausted'] = true;
      details['reason'] = `${v.reason ?? 'failed'} (arpd gave up after ${v.restarts} restart${v.restarts === 1 ? '' : 's'}, its restart_max: 'arpd instances start --profile ${v.runtime_profile ?? '<profile>'}' starts a new one)`;
    }
  }
  if (v.reason_started !== undefined) details['started_by'] = v.reason_started;
  if (v.error !== undefined) details['error'] = v.error as unknown as JsonObject;
  if (v.unsafe === true) details['unsafe'] = true;
  if (v.superseded_by !== undefined) details['superseded_by'] = v.superseded_by;
  // daemons sharing a store: the node it belongs to (absent with a single daemon, which records none)
  if (v.node !== undefined) details['node'] = v.node;
  return {
    instance_id: v.instance_id,
    state: arpStateOf(state, v),
    managed: v.managed,
    ...(v.runtime_profile === undefined ? {} : { runtime_profile: v.runtime_profile }),
    ...(v.runtime_name === undefined ? {} : { runtime_name: v.runtime_name }),
    ...(v.runtime_version === undefined ? {} : { runtime_version: v.runtime_version }),
    ...(v.runtime_api_endpoint === undefined ? {} : { runtime_api_endpoint: v.runtime_api_endpoint }),
    ...(v.metadata === undefined ? {} : { metadata: v.metadata as never }),
    extensions: { 'arpd.instance': details },
  } as RuntimeInstance;
}
