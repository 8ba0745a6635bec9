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
  readonly attempt: number;
  readonly active_runs: number;
  readonly reason?: string;
  readonly error?: ErrorInfo;
  readonly created_at: string;
  readonly updated_at: string;
}

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
  readonly deadline?: string;
  readonly started_at?: string;
  readonly ended_at?: string;
  readonly error?: ErrorInfo;
  /** Revision (= trace seq) of the terminal event: the result is read from the run log on demand. */
  readonly result_rev?: number;
  /** Number of lines in the run's trace.jsonl (= stream revision). */
  readonly trace_lines: number;
  /** Number of `run.trace` lines (runtime events) among them. */
  readonly trace_events: number;
  /** The runtime's `seq` of the last RunEvent recorded (to resume its event stream without repeats). */
  readonly runtime_seq?: number;
}

export const TERMINAL_RUN_STATES: ReadonlySet<RunStateName> = new Set(['succeeded', 'failed', 'canceled']);
export const LIVE_INSTANCE_STATES: ReadonlySet<InstanceStateName> = new Set(['starting', 'ready', 'busy', 'stopping']);
