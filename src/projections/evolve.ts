import type { StoredEvent } from '../events/envelope.js';
import type { InstanceView, ProfileView, RunView } from './registry-types.js';

/**
 * Pure evolve functions, one per entity: (previous view | undefined, event) → next view.
 * They read no clock (time comes from the event's `ts`) and never reject a known event: events are
 * facts; rules are checked in `src/commands` before anything is written.
 */

export function evolveProfile(prev: ProfileView | undefined, e: StoredEvent): ProfileView | undefined {
  switch (e.type) {
    case 'profile.upserted':
      return { runtime_profile: e.data.runtime_profile, profile: e.data.profile, created_at: prev?.created_at ?? e.ts, updated_at: e.ts, rev: e.rev };
    case 'profile.deleted':
      return undefined;
    default:
      return prev;
  }
}

type Loose<T> = { [K in keyof T]?: T[K] | undefined };

/** Drops keys whose value is undefined, so views stay plain JSON. */
function clean<T extends object>(o: Loose<T>): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o as T;
}

export function evolveInstance(prev: InstanceView | undefined, e: StoredEvent): InstanceView | undefined {
  const base: InstanceView = prev ?? { instance_id: (e.data as { instance_id?: string }).instance_id ?? e.stream.slice(9), managed: true, state: 'starting', attempt: 0, active_runs: 0, created_at: e.ts, updated_at: e.ts };
  switch (e.type) {
    case 'instance.requested':
      return clean<InstanceView>({
        ...base, instance_id: e.data.instance_id, managed: true, state: 'starting', runtime_profile: e.data.runtime_profile,
        overrides: e.data.overrides, metadata: e.data.metadata, unsafe: e.data.unsafe, created_at: prev?.created_at ?? e.ts, updated_at: e.ts,
      });
    case 'instance.starting':
      return clean<InstanceView>({ ...base, state: 'starting', pid: e.data.pid, pid_start_time: e.data.pid_start_time, boot_id: e.data.boot_id, argv: e.data.argv, attempt: e.data.attempt ?? base.attempt + 1, reason: undefined, error: undefined, runtime_api_endpoint: undefined, active_runs: 0, updated_at: e.ts });
    case 'instance.ready':
      return clean<InstanceView>({
        ...base, state: base.active_runs > 0 && base.state === 'busy' ? 'busy' : 'ready', runtime_api_endpoint: e.data.runtime_api_endpoint,
        runtime_name: e.data.runtime_name ?? base.runtime_name, runtime_version: e.data.runtime_version ?? base.runtime_version, updated_at: e.ts,
      });
    case 'instance.busy':
      return { ...base, state: 'busy', active_runs: e.data.active_runs, updated_at: e.ts };
    case 'instance.idle':
      return { ...base, state: base.state === 'busy' || base.state === 'ready' ? 'ready' : base.state, active_runs: e.data.active_runs, updated_at: e.ts };
    case 'instance.stopping':
      return { ...base, state: 'stopping', reason: e.data.reason, updated_at: e.ts };
    case 'instance.stopped':
      return { ...base, state: 'stopped', reason: e.data.reason, active_runs: 0, updated_at: e.ts };
    case 'instance.failed':
      return clean<InstanceView>({
        ...base, state: 'error', reason: e.data.reason, active_runs: 0, updated_at: e.ts,
        error: { code: e.data.code, message: e.data.reason, ...(e.data.stderr_tail === undefined ? {} : { details: { stderr_tail: e.data.stderr_tail, exit_code: e.data.exit_code ?? null, signal: e.data.signal ?? null } }) },
      });
    case 'instance.registered':
      return clean<InstanceView>({
        ...base, instance_id: e.data.instance_id, managed: false, state: 'starting', runtime_api_endpoint: e.data.runtime_api_endpoint,
        runtime_profile: e.data.runtime_profile, runtime_name: e.data.runtime_name, metadata: e.data.metadata, created_at: prev?.created_at ?? e.ts, updated_at: e.ts,
      });
    case 'instance.deregistered':
      return { ...base, state: 'stopped', reason: 'deregistered', active_runs: 0, updated_at: e.ts };
    default:
      return prev;
  }
}

export function evolveRun(prev: RunView | undefined, e: StoredEvent, order: number): RunView | undefined {
  switch (e.type) {
    case 'run.accepted':
      return { run_id: e.data.run_id, state: 'queued', phase: 'accepted', order, request_hash: e.data.request_hash, request: e.data.request, accepted_at: e.ts, trace_lines: e.rev, trace_events: 0 };
    default:
      break;
  }
  if (prev === undefined) return prev; // an event of a run this projection never saw accepted: nothing to fold onto
  switch (e.type) {
    case 'run.queued':
      return clean<RunView>({ ...prev, phase: 'queued', queued_at: e.ts, deadline: e.data.deadline, trace_lines: e.rev });
    case 'run.routed':
      return { ...prev, phase: 'routed', instance_id: e.data.instance_id, runtime_api_endpoint: e.data.runtime_api_endpoint, trace_lines: e.rev };
    case 'run.started':
      return { ...prev, state: 'running', phase: 'started', instance_id: e.data.instance_id, started_at: prev.started_at ?? e.ts, trace_lines: e.rev };
    case 'run.trace': {
      const seq = e.data.data?.['seq'];
      return typeof seq === 'number'
        ? { ...prev, trace_lines: e.rev, trace_events: prev.trace_events + 1, runtime_seq: seq }
        : { ...prev, trace_lines: e.rev, trace_events: prev.trace_events + 1 };
    }
    case 'run.succeeded':
      return ended({ ...prev, state: 'succeeded', result_rev: e.rev }, e);
    case 'run.failed':
      return ended({ ...prev, state: 'failed', error: e.data.error, result_rev: e.rev }, e);
    case 'run.canceled':
      return ended({ ...prev, state: 'canceled', error: { code: 'E_CANCELED', message: e.data.reason }, result_rev: e.rev }, e);
    default:
      return prev;
  }
}

/**
 * The view of an ended run: built field by field in one fixed order (not by rest/spread of the live
 * view), which keeps 100,000 ended runs small in memory. The request is dropped: it lives in the log.
 */
function ended(run: RunView, e: StoredEvent): RunView {
  const v: { -readonly [K in keyof RunView]: RunView[K] } = {
    run_id: run.run_id, state: run.state, phase: 'ended', order: run.order, request_hash: run.request_hash,
    accepted_at: run.accepted_at, trace_lines: e.rev, trace_events: run.trace_events, ended_at: e.ts,
  };
  if (run.instance_id !== undefined) v.instance_id = run.instance_id;
  if (run.runtime_api_endpoint !== undefined) v.runtime_api_endpoint = run.runtime_api_endpoint;
  if (run.queued_at !== undefined) v.queued_at = run.queued_at;
  if (run.started_at !== undefined) v.started_at = run.started_at;
  if (run.error !== undefined) v.error = run.error;
  if (run.result_rev !== undefined) v.result_rev = run.result_rev;
  return v;
}
