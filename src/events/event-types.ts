/**
 * Every domain event arpd records: one discriminated union, past tense.
 * Event data is plain JSON (strings, finite numbers, booleans, arrays, plain objects; time as ISO-8601).
 * An old event never changes shape on disk: a new shape gets a new schema version `v` and an upcaster
 * in `upcasters.ts`. The store adds the envelope; domain code never does. Events are facts decided by
 * the deciders in `src/commands`; `instance.busy`/`instance.idle` are no longer written (load is
 * derived from the runs routed to an instance) but old logs that hold them still fold.
 */

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ErrorInfo {
  code: string;
  message: string;
  details?: JsonObject;
}

export interface ProfileUpserted { runtime_profile: string; profile: JsonObject }
export interface ProfileDeleted { runtime_profile: string; forced?: boolean }

export interface InstanceRequested {
  instance_id: string;
  runtime_profile: string;
  overrides?: JsonObject;
  metadata?: JsonObject;
  /** Set when the daemon started the instance by itself (auto-start for a run). */
  reason?: string;
  /** Started from a profile that is not on the safe list (only with --allow-unsafe-runtime-profiles). */
  unsafe?: boolean;
  /** v2: the node that spawns it (a shared store only; absent with the JSONL store, where there is one node). */
  node?: string;
}
export interface InstanceStarting {
  instance_id: string;
  pid: number;
  /** Process start time (clock ticks since boot, from /proc) so a reused pid is never mistaken for ours. */
  pid_start_time?: string;
  /** Boot id of the machine when it started: a pid from another boot is never ours. */
  boot_id?: string;
  argv: string[];
  attempt?: number;
  /** v2: the URL it will serve on, when known before it listens (a {port} chosen by arpd). */
  runtime_api_endpoint?: string;
  /** v3: the node whose host runs the process (a shared store only). */
  node?: string;
}
export interface InstanceReady {
  instance_id: string;
  runtime_api_endpoint: string;
  runtime_name?: string;
  runtime_version?: string;
  adopted?: boolean;
}
export interface InstanceLoad { instance_id: string; active_runs: number }
export interface InstanceStopping { instance_id: string; reason: string }
export interface InstanceStopped { instance_id: string; reason: string; exit_code?: number | null; signal?: string | null }
export interface InstanceFailed {
  instance_id: string;
  code: string;
  reason: string;
  exit_code?: number | null;
  signal?: string | null;
  stderr_tail?: string;
}
export interface InstanceRegistered {
  instance_id: string;
  runtime_api_endpoint: string;
  runtime_profile?: string;
  runtime_name?: string;
  metadata?: JsonObject;
  /** v2: the node that registered it, which health-checks it and routes to it while it lives (a shared store only). */
  node?: string;
}
export interface InstanceDeregistered { instance_id: string }
/**
 * An external registration no longer names a runtime of its own: a managed instance (`by_instance_id`) became ready at
 * its endpoint (the registered runtime was gone and its port went to a runtime arpd started). It is taken out of
 * routing for good, so one runtime never answers to two instance ids.
 */
export interface InstanceSuperseded { instance_id: string; by_instance_id: string; runtime_api_endpoint: string; reason: string }
/** A failed instance is started again by its restart policy (attempt counts every restart). */
export interface InstanceRestarting { instance_id: string; attempt: number; reason: string }

export interface RunAccepted { run_id: string; request: JsonObject; request_hash: string }
export interface RunQueued { run_id: string; reason?: string; deadline?: string }
export interface RunRouted {
  run_id: string;
  /** Absent when the run goes straight to a `runtime_api_endpoint` that is no registered instance (JARVIS does so). */
  instance_id?: string;
  runtime_api_endpoint: string;
  /** v2: when the run must have ended (limits.timeout_ms, else the profile's run_timeout_ms, else the daemon default), ISO. */
  deadline?: string;
  /** v3: the node that claimed the run: only it sends the run to its runtime and follows it (a shared store only). */
  node?: string;
}
/** A claim on a run was released (its node was lost before the run started): the run waits in the queue again. */
export interface RunReleased { run_id: string; node: string; reason: string; deadline?: string }
/** Someone asked to cancel a run that is in flight: the runtime is asked, the run ends when it confirms (or after a grace). */
export interface RunCancelRequested { run_id: string; reason: string }
/** v2: `instance_id` is absent for a run sent straight to a `runtime_api_endpoint`. */
export interface RunStarted { run_id: string; instance_id?: string }
/** One trace line emitted for a run (a runtime RunEvent, or a note of arpd's own). */
export interface RunTrace {
  run_id: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  type: string;
  data?: JsonObject;
  time?: string;
  /** v2: the size of `data` as JSON, counted against the run's trace volume limit. */
  bytes?: number;
}
export interface RunSucceeded { run_id: string; result: JsonObject }
export interface RunFailed { run_id: string; error: ErrorInfo; result?: JsonObject }
export interface RunCanceled { run_id: string; reason: string }

/** A line of the log was damaged beyond repair: its seq is kept by this event; the damaged bytes are in `copy`. */
export interface LogLineLost { seq: number; file: string; offset: number; bytes: number; reason: string; copy: string }
/** `--repair` ran: what it restored from the run logs, what it could not, and the runs it failed rather than run twice. */
export interface LogRepaired { restored: number; lost: number; runs_failed: string[]; copies: string[] }

/** `arpd runs prune`: ended runs whose run directories are deleted (their facts stay in the global log). */
export interface RunsPruned { runs: Array<{ run_id: string; state: 'succeeded' | 'failed' | 'canceled' }>; before: string }

export interface DaemonStarted { pid: number; version: string; boot_id: string; host: string }
export interface DaemonStopped {
  pid: number;
  reason: string;
  /** True when every run log write of this daemon succeeded and was closed: the next boot of the same machine need not check them. */
  run_logs_complete?: boolean;
}

/** A daemon joined a cluster that shares one store (PostgreSQL): one node, one incarnation per start. */
export interface NodeJoined { node_id: string; incarnation: string; host: string; pid: number; boot_id: string; version: string; data_dir: string }
/** A node stopped cleanly (its lease ends with it). */
export interface NodeLeft { node_id: string; incarnation: string; reason: string }
/** A node's lease expired past the grace: another node recorded it lost (its instances and runs are recorded beside this). */
export interface NodeLost { node_id: string; incarnation: string; silent_ms: number; declared_by: string }

/** The type → data map: the single source of the union. */
export interface EventDataMap {
  'profile.upserted': ProfileUpserted;
  'profile.deleted': ProfileDeleted;
  'instance.requested': InstanceRequested;
  'instance.starting': InstanceStarting;
  'instance.ready': InstanceReady;
  'instance.busy': InstanceLoad;
  'instance.idle': InstanceLoad;
  'instance.stopping': InstanceStopping;
  'instance.stopped': InstanceStopped;
  'instance.failed': InstanceFailed;
  'instance.registered': InstanceRegistered;
  'instance.deregistered': InstanceDeregistered;
  'instance.restarting': InstanceRestarting;
  'instance.superseded': InstanceSuperseded;
  'run.accepted': RunAccepted;
  'run.queued': RunQueued;
  'run.routed': RunRouted;
  'run.started': RunStarted;
  'run.trace': RunTrace;
  'run.succeeded': RunSucceeded;
  'run.failed': RunFailed;
  'run.canceled': RunCanceled;
  'run.cancel_requested': RunCancelRequested;
  'run.released': RunReleased;
  'log.line_lost': LogLineLost;
  'log.repaired': LogRepaired;
  'runs.pruned': RunsPruned;
  'daemon.started': DaemonStarted;
  'daemon.stopped': DaemonStopped;
  'node.joined': NodeJoined;
  'node.left': NodeLeft;
  'node.lost': NodeLost;
}

export type EventType = keyof EventDataMap;

/** A domain event before the store gives it an envelope. */
export type DomainEvent = { [K in EventType]: { type: K; data: EventDataMap[K] } }[EventType];

export const EVENT_TYPES = [
  'profile.upserted', 'profile.deleted',
  'instance.requested', 'instance.starting', 'instance.ready', 'instance.busy', 'instance.idle',
  'instance.stopping', 'instance.stopped', 'instance.failed', 'instance.registered', 'instance.deregistered', 'instance.restarting', 'instance.superseded',
  'run.accepted', 'run.queued', 'run.routed', 'run.started', 'run.trace', 'run.succeeded', 'run.failed', 'run.canceled', 'run.cancel_requested', 'run.released',
  'log.line_lost', 'log.repaired', 'runs.pruned',
  'daemon.started', 'daemon.stopped',
  'node.joined', 'node.left', 'node.lost',
] as const satisfies readonly EventType[];

const EVENT_TYPE_SET: ReadonlySet<string> = new Set(EVENT_TYPES);
export function isEventType(value: unknown): value is EventType {
  return typeof value === 'string' && EVENT_TYPE_SET.has(value);
}

/** Current schema version of each event type's data. Bump with an upcaster, never rewrite old lines. */
export const CURRENT_VERSION: { readonly [K in EventType]: number } = {
  'profile.upserted': 1, 'profile.deleted': 1,
  'instance.requested': 2, 'instance.starting': 3, 'instance.ready': 1, 'instance.busy': 1, 'instance.idle': 1,
  'instance.stopping': 1, 'instance.stopped': 1, 'instance.failed': 1, 'instance.registered': 2, 'instance.deregistered': 1, 'instance.restarting': 1, 'instance.superseded': 1,
  'run.accepted': 1, 'run.queued': 1, 'run.routed': 3, 'run.started': 2, 'run.trace': 2, 'run.succeeded': 1, 'run.failed': 1, 'run.canceled': 1, 'run.cancel_requested': 1, 'run.released': 1,
  'log.line_lost': 1, 'log.repaired': 1, 'runs.pruned': 1,
  'daemon.started': 1, 'daemon.stopped': 1,
  'node.joined': 1, 'node.left': 1, 'node.lost': 1,
};

/** The stream an event belongs to. */
export function streamOf(event: DomainEvent): string {
  switch (event.type) {
    case 'profile.upserted':
    case 'profile.deleted':
      return `profile:${event.data.runtime_profile}`;
    case 'instance.requested':
    case 'instance.starting':
    case 'instance.ready':
    case 'instance.busy':
    case 'instance.idle':
    case 'instance.stopping':
    case 'instance.stopped':
    case 'instance.failed':
    case 'instance.registered':
    case 'instance.deregistered':
    case 'instance.restarting':
    case 'instance.superseded':
      return `instance:${event.data.instance_id}`;
    case 'run.accepted':
    case 'run.queued':
    case 'run.routed':
    case 'run.started':
    case 'run.trace':
    case 'run.succeeded':
    case 'run.failed':
    case 'run.canceled':
    case 'run.cancel_requested':
    case 'run.released':
      return `run:${event.data.run_id}`;
    case 'log.line_lost':
    case 'log.repaired':
    case 'runs.pruned':
      return 'log';
    case 'daemon.started':
    case 'daemon.stopped':
      return 'daemon';
    case 'node.joined':
    case 'node.left':
    case 'node.lost':
      return `node:${event.data.node_id}`;
    default: {
      const unhandled: never = event;
      throw new Error(`unhandled event ${JSON.stringify(unhandled)}`);
    }
  }
}

/** The run id of a `run:<id>` stream, or undefined. */
export function runIdOfStream(stream: string): string | undefined {
  return stream.startsWith('run:') ? stream.slice(4) : undefined;
}
