import type { ErrorInfo, JsonObject } from '../events/event-types.js';

export type InstanceStateName = 'starting' | 'ready' | 'busy' | 'stopping' | 'stopped' | 'error';
export type RunStateName = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
/** Finer than the ARP state: where a run is inside arpd. */
export type RunPhase = 'accepted' | 'queued' | 'routed' | 'started' | 'ended';

export interface ProfileView {
  readonly runtime_profile: string;
  readonly profile: JsonObject;
  readonly created_at: string;
  readonly updated_at: string;
  readonly rev: number;
}

/**
 * An instance as the log says it is. `state` is the recorded lifecycle state ('busy' appears only in
 * old logs): whether a ready instance is busy is derived from the runs routed to it (`Registry.load`).
 */
export interface InstanceView {
  readonly instance_id: string;
  readonly managed: boolean;
  readonly state: InstanceStateName;
  readonly runtime_profile?: string;
  readonly runtime_name?: string;
  readonly runtime_version?: string;
  readonly runtime_api_endpoint?: string;
  readonly overrides?: JsonObject;
  readonly metadata?: JsonObject;
  readonly pid?: number;
  readonly pid_start_time?: string;
  readonly boot_id?: string;
  readonly unsafe?: boolean;
  readonly argv?: readonly string[];
  /** Process starts so far (1 after the first `instance.starting`). */
  readonly attempt: number;
  /** Restarts by the restart policy so far. */
  readonly restarts: number;
  /** Why arpd started it by itself ('autostart' for a queued run), absent when a caller asked. */
  readonly reason_started?: string;
  readonly reason?: string;
  readonly error?: ErrorInfo;
  readonly created_at: string;
  readonly updated_at: string;
  /** When it last became ready (uptime). */
  readonly ready_at?: string;
  /**
   * The node that owns it (daemons sharing a store): a managed instance runs on that node's host and only that node
   * starts, stops, checks and routes to it; an external one was registered there. Absent with a single daemon.
   */
  readonly node?: string;
  /** An external registration retired because this managed instance serves at its endpoint now (`instance.superseded`). */
  readonly superseded_by?: string;
  readonly rev: number;
}

/** A run's lifecycle as the log says it is. What changes with every trace line is in `RunProgress`. */
export interface RunView {
  readonly run_id: string;
  readonly state: RunStateName;
  readonly phase: RunPhase;
  /** Position in submission order (0-based), the basis of stable pagination. */
  readonly order: number;
  readonly request_hash: string;
  /** The request, kept only while the run has not ended (routing and dispatch need it). */
  readonly request?: JsonObject;
  readonly instance_id?: string;
  readonly runtime_api_endpoint?: string;
  readonly accepted_at: string;
  readonly queued_at?: string;
  /** The queue deadline decided at submit: a run still waiting then fails E_NOT_READY. */
  readonly deadline?: string;
  /** The run deadline decided at routing: a run not ended then fails E_TIMEOUT. */
  readonly run_deadline?: string;
  readonly started_at?: string;
  readonly ended_at?: string;
  readonly error?: ErrorInfo;
  /** Set when a cancel was asked for while the run was in flight (the reason). */
  readonly cancel_requested?: string;
  /** Revision (= trace seq) of the terminal event: the result is read from the run log on demand. */
  readonly result_rev?: number;
  /** The node that claimed it (daemons sharing a store): only it sends the run and follows it. Absent with a single daemon. */
  readonly node?: string;
}

export type NodeStateName = 'joined' | 'left' | 'lost';

/** A daemon of a cluster sharing one store, as the log says it is (its lease lives in the store's `nodes` table). */
export interface NodeView {
  readonly node_id: string;
  readonly state: NodeStateName;
  /** Changes with each start of the daemon: a loss is recorded against one incarnation. */
  readonly incarnation: string;
  readonly host: string;
  readonly pid: number;
  readonly version: string;
  readonly data_dir: string;
  readonly joined_at: string;
  readonly updated_at: string;
  /** Why it left, or who recorded it lost. */
  readonly reason?: string;
  readonly rev: number;
}

/** What every event of a run moves forward: small, rebuilt per trace line instead of the whole view. */
export interface RunProgress {
  /** Number of lines in the run's trace (= the stream's revision). */
  readonly trace_lines: number;
  /** Number of `run.trace` lines (runtime events) among them. */
  readonly trace_events: number;
  /** Bytes of runtime event data recorded (the trace volume limit counts these). */
  readonly trace_bytes: number;
  /** The runtime's `seq` of the last RunEvent recorded (to resume its event stream without repeats). */
  readonly runtime_seq: number;
  /** Time of the run's last event (progress). */
  readonly last_event_at: string;
}

export const TERMINAL_RUN_STATES: ReadonlySet<RunStateName> = new Set(['succeeded', 'failed', 'canceled']);
export const LIVE_INSTANCE_STATES: ReadonlySet<InstanceStateName> = new Set(['starting', 'ready', 'busy', 'stopping']);
/** States in which an instance takes runs. */
export const SERVING_INSTANCE_STATES: ReadonlySet<InstanceStateName> = new Set(['ready', 'busy']);
