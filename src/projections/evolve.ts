import type { StoredEvent } from '../events/envelope.js';
import type { InstanceView, NodeView, ProfileView, RunProgress, RunView } from './registry-types.js';

/**
 * Pure evolve functions, one per entity: (previous view | undefined, event) → next view.
 * They read no clock (time comes from the event's `ts`), never reject a known event (events are
 * facts; rules are checked in `src/commands` before anything is written) and never change `prev`.
 * Views are built field by field in one fixed order, so every view of a kind shares one hidden class
 * (100,000 views stay small and folding stays fast); absent fields are simply not set.
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

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function copyInstance(p: InstanceView): Mutable<InstanceView> {
  const v: Mutable<InstanceView> = {
    instance_id: p.instance_id, managed: p.managed, state: p.state, attempt: p.attempt, restarts: p.restarts,
    created_at: p.created_at, updated_at: p.updated_at, rev: p.rev,
  };
  if (p.runtime_profile !== undefined) v.runtime_profile = p.runtime_profile;
  if (p.runtime_name !== undefined) v.runtime_name = p.runtime_name;
  if (p.runtime_version !== undefined) v.runtime_version = p.runtime_version;
  if (p.runtime_api_endpoint !== undefined) v.runtime_api_endpoint = p.runtime_api_endpoint;
  if (p.overrides !== undefined) v.overrides = p.overrides;
  if (p.metadata !== undefined) v.metadata = p.metadata;
  if (p.pid !== undefined) v.pid = p.pid;
  if (p.pid_start_time !== undefined) v.pid_start_time = p.pid_start_time;
  if (p.boot_id !== undefined) v.boot_id = p.boot_id;
  if (p.unsafe !== undefined) v.unsafe = p.unsafe;
  if (p.argv !== undefined) v.argv = p.argv;
  if (p.reason_started !== undefined) v.reason_started = p.reason_started;
  if (p.reason !== undefined) v.reason = p.reason;
  if (p.error !== undefined) v.error = p.error;
  if (p.ready_at !== undefined) v.ready_at = p.ready_at;
  if (p.node !== undefined) v.node = p.node;
  if (p.superseded_by !== undefined) v.superseded_by = p.superseded_by;
  return v;
}

function newInstance(id: string, managed: boolean, e: StoredEvent): Mutable<InstanceView> {
  return { instance_id: id, managed, state: 'starting', attempt: 0, restarts: 0, created_at: e.ts, updated_at: e.ts, rev: e.rev };
}

export function evolveInstance(prev: InstanceView | undefined, e: StoredEvent): InstanceView | undefined {
  let v: Mutable<InstanceView>;
  switch (e.type) {
    case 'instance.requested': {
      v = newInstance(e.data.instance_id, true, e);
      if (prev !== undefined) v.created_at = prev.created_at;
      v.runtime_profile = e.data.runtime_profile;
      if (e.data.overrides !== undefined) v.overrides = e.data.overrides;
      if (e.data.metadata !== undefined) v.metadata = e.data.metadata;
      if (e.data.unsafe !== undefined) v.unsafe = e.data.unsafe;
      if (e.data.reason !== undefined) v.reason_started = e.data.reason;
      if (e.data.node !== undefined) v.node = e.data.node;
      break;
    }
    case 'instance.registered': {
      v = newInstance(e.data.instance_id, false, e);
      if (prev !== undefined) v.created_at = prev.created_at;
      v.runtime_api_endpoint = e.data.runtime_api_endpoint;
      if (e.data.runtime_profile !== undefined) v.runtime_profile = e.data.runtime_profile;
      if (e.data.runtime_name !== undefined) v.runtime_name = e.data.runtime_name;
      if (e.data.metadata !== undefined) v.metadata = e.data.metadata;
      if (e.data.node !== undefined) v.node = e.data.node;
      break;
    }
    default: {
      // an instance whose first events were lost (a repaired log) still gets a view from what is left
      v = prev === undefined ? newInstance((e.data as { instance_id?: string }).instance_id ?? e.stream.slice(9), true, e) : copyInstance(prev);
      switch (e.type) {
        case 'instance.starting':
          v.state = 'starting';
          v.pid = e.data.pid;
          if (e.data.pid_start_time !== undefined) v.pid_start_time = e.data.pid_start_time; else delete v.pid_start_time;
          if (e.data.boot_id !== undefined) v.boot_id = e.data.boot_id; else delete v.boot_id;
          v.argv = e.data.argv;
          v.attempt = e.data.attempt ?? (prev?.attempt ?? 0) + 1;
          delete v.reason;
          delete v.error;
          if (e.data.runtime_api_endpoint !== undefined) v.runtime_api_endpoint = e.data.runtime_api_endpoint;
          else delete v.runtime_api_endpoint;
          delete v.ready_at;
          if (e.data.node !== undefined) v.node = e.data.node;
          break;
        case 'instance.ready':
          v.state = 'ready';
          v.runtime_api_endpoint = e.data.runtime_api_endpoint;
          if (e.data.runtime_name !== undefined) v.runtime_name = e.data.runtime_name;
          if (e.data.runtime_version !== undefined) v.runtime_version = e.data.runtime_version;
          delete v.reason;
          delete v.error;
          v.ready_at = e.ts;
          break;
        case 'instance.busy':
        case 'instance.idle':
          // old logs only: load is derived from the runs routed to the instance
          if (v.state === 'busy') v.state = 'ready';
          break;
        case 'instance.stopping':
          v.state = 'stopping';
          v.reason = e.data.reason;
          break;
        case 'instance.stopped':
          v.state = 'stopped';
          v.reason = e.data.reason;
          break;
        case 'instance.failed':
          v.state = 'error';
          v.reason = e.data.reason;
          v.error = {
            code: e.data.code,
            message: e.data.reason,
            ...(e.data.stderr_tail === undefined ? {} : { details: { stderr_tail: e.data.stderr_tail, exit_code: e.data.exit_code ?? null, signal: e.data.signal ?? null } }),
          };
          break;
        case 'instance.deregistered':
          v.state = 'stopped';
          v.reason = 'deregistered';
          break;
        case 'instance.superseded':
          v.state = 'stopped';
          v.reason = e.data.reason;
          v.superseded_by = e.data.by_instance_id;
          break;
        case 'instance.restarting':
          v.state = 'starting';
          v.restarts = e.data.attempt;
          v.reason = e.data.reason;
          delete v.runtime_api_endpoint;
          delete v.ready_at;
          break;
        default:
          return prev;
      }
    }
  }
  v.updated_at = e.ts;
  v.rev = e.rev;
  return v;
}

function copyRun(p: RunView): Mutable<RunView> {
  const v: Mutable<RunView> = { run_id: p.run_id, state: p.state, phase: p.phase, order: p.order, request_hash: p.request_hash, accepted_at: p.accepted_at };
  if (p.request !== undefined) v.request = p.request;
  if (p.instance_id !== undefined) v.instance_id = p.instance_id;
  if (p.runtime_api_endpoint !== undefined) v.runtime_api_endpoint = p.runtime_api_endpoint;
  if (p.queued_at !== undefined) v.queued_at = p.queued_at;
  if (p.deadline !== undefined) v.deadline = p.deadline;
  if (p.run_deadline !== undefined) v.run_deadline = p.run_deadline;
  if (p.started_at !== undefined) v.started_at = p.started_at;
  if (p.ended_at !== undefined) v.ended_at = p.ended_at;
  if (p.error !== undefined) v.error = p.error;
  if (p.cancel_requested !== undefined) v.cancel_requested = p.cancel_requested;
  if (p.result_rev !== undefined) v.result_rev = p.result_rev;
  if (p.node !== undefined) v.node = p.node;
  return v;
}

/**
 * The view of an ended run keeps what status, result and listing need; the request (it lives in the
 * log), the deadlines and the cancel note are dropped.
 */
function ended(p: RunView, state: RunView['state'], e: StoredEvent, error: RunView['error']): RunView {
  const v: Mutable<RunView> = { run_id: p.run_id, state, phase: 'ended', order: p.order, request_hash: p.request_hash, accepted_at: p.accepted_at };
  if (p.instance_id !== undefined) v.instance_id = p.instance_id;
  if (p.runtime_api_endpoint !== undefined) v.runtime_api_endpoint = p.runtime_api_endpoint;
  if (p.queued_at !== undefined) v.queued_at = p.queued_at;
  if (p.started_at !== undefined) v.started_at = p.started_at;
  v.ended_at = e.ts;
  if (error !== undefined) v.error = error;
  v.result_rev = e.rev;
  if (p.node !== undefined) v.node = p.node;
  return v;
}

/** Lifecycle of a run. `order` is its place in submission order (given by the registry). Trace lines do not change it. */
export function evolveRun(prev: RunView | undefined, e: StoredEvent, order: number): RunView | undefined {
  if (e.type === 'run.accepted') {
    if (prev !== undefined) return prev; // a run is accepted once
    return { run_id: e.data.run_id, state: 'queued', phase: 'accepted', order, request_hash: e.data.request_hash, request: e.data.request, accepted_at: e.ts };
  }
  if (prev === undefined || prev.phase === 'ended') return prev; // never accepted here, or over: nothing changes it
  let v: Mutable<RunView>;
  switch (e.type) {
    case 'run.queued':
      v = copyRun(prev);
      v.phase = 'queued';
      v.queued_at = e.ts;
      if (e.data.deadline !== undefined) v.deadline = e.data.deadline;
      return v;
    case 'run.routed':
      v = copyRun(prev);
      v.phase = 'routed';
      if (e.data.instance_id !== undefined) v.instance_id = e.data.instance_id;
      v.runtime_api_endpoint = e.data.runtime_api_endpoint;
      if (e.data.deadline !== undefined) v.run_deadline = e.data.deadline;
      if (e.data.node !== undefined) v.node = e.data.node;
      return v;
    case 'run.released':
      // the claim is gone: the run waits again, in its submission place, with a new queue deadline
      if (prev.phase !== 'routed') return prev;
      v = copyRun(prev);
      v.phase = 'queued';
      delete v.instance_id;
      delete v.runtime_api_endpoint;
      delete v.run_deadline;
      delete v.node;
      if (e.data.deadline !== undefined) v.deadline = e.data.deadline;
      return v;
    case 'run.started':
      v = copyRun(prev);
      v.state = 'running';
      v.phase = 'started';
      if (e.data.instance_id !== undefined) v.instance_id = e.data.instance_id;
      if (v.started_at === undefined) v.started_at = e.ts;
      return v;
    case 'run.cancel_requested':
      v = copyRun(prev);
      v.cancel_requested = e.data.reason;
      return v;
    case 'run.succeeded':
      return ended(prev, 'succeeded', e, undefined);
    case 'run.failed':
      return ended(prev, 'failed', e, e.data.error);
    case 'run.canceled':
      return ended(prev, 'canceled', e, { code: 'E_CANCELED', message: e.data.reason });
    default:
      return prev;
  }
}

/** A node of a cluster sharing one store: joined (each start, a new incarnation), left cleanly, or recorded lost. */
export function evolveNode(prev: NodeView | undefined, e: StoredEvent): NodeView | undefined {
  switch (e.type) {
    case 'node.joined':
      return {
        node_id: e.data.node_id, state: 'joined', incarnation: e.data.incarnation, host: e.data.host, pid: e.data.pid, version: e.data.version,
        data_dir: e.data.data_dir, joined_at: e.ts, updated_at: e.ts, rev: e.rev,
      };
    case 'node.left':
    case 'node.lost': {
      if (prev === undefined || prev.incarnation !== e.data.incarnation) return prev === undefined ? prev : { ...prev, rev: e.rev };
      const reason = e.type === 'node.left' ? e.data.reason : `silent for ${Math.round(e.data.silent_ms / 1000)}s: recorded lost by ${e.data.declared_by}`;
      return { ...prev, state: e.type === 'node.left' ? 'left' : 'lost', updated_at: e.ts, reason, rev: e.rev };
    }
    default:
      return prev;
  }
}

/** Progress whose fields a registry moves forward in place (one per run in memory, not one object per trace line). */
export type MutableRunProgress = Mutable<RunProgress>;

/** Moves `p` forward by one event of its run, in place: the one rule behind `evolveRunProgress`. */
export function advanceRunProgress(p: MutableRunProgress, e: StoredEvent): void {
  p.trace_lines = e.rev;
  p.last_event_at = e.ts;
  if (e.type === 'run.trace') {
    p.trace_events++;
    p.trace_bytes += e.data.bytes ?? 0;
    const seq = e.data.data?.['seq'];
    if (typeof seq === 'number') p.runtime_seq = seq;
  }
}

/** What every event of a run moves forward. */
export function evolveRunProgress(prev: RunProgress | undefined, e: StoredEvent): RunProgress {
  const p: MutableRunProgress = prev === undefined
    ? { trace_lines: 0, trace_events: 0, trace_bytes: 0, runtime_seq: 0, last_event_at: '' }
    : { trace_lines: prev.trace_lines, trace_events: prev.trace_events, trace_bytes: prev.trace_bytes, runtime_seq: prev.runtime_seq, last_event_at: prev.last_event_at };
  advanceRunProgress(p, e);
  return p;
}
