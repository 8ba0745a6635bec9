/** The shapes of the API answers the dashboard reads (a subset of arpd's schemas). */

export interface ErrorInfo { code: string; message: string; details?: Record<string, unknown> }

export interface RunStatus {
  run_id: string;
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
  started_at?: string;
  ended_at?: string;
  runtime_instance_id?: string;
  extensions?: { 'arpd.run'?: { phase?: string; accepted_at?: string; trace_lines?: number; error?: ErrorInfo } };
}

export interface RuntimeInstance {
  instance_id: string;
  state: string;
  managed?: boolean;
  runtime_profile?: string;
  runtime_name?: string;
  runtime_version?: string;
  runtime_api_endpoint: string;
  extensions?: { 'arpd.instance'?: { created_at?: string; updated_at?: string; active_runs?: number; attempt?: number; pid?: number; reason?: string; error?: ErrorInfo } };
}

export interface RuntimeProfile {
  runtime_profile: string;
  runtime_name?: string;
  description?: string;
  defaults?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
}

export interface TraceLine {
  run_id: string;
  seq: number;
  time: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  type: string;
  data: Record<string, unknown>;
  extensions?: Record<string, unknown>;
}

export interface LogEvent {
  seq: number;
  id: string;
  ts: string;
  stream: string;
  rev: number;
  type: string;
  data: Record<string, unknown>;
  meta?: Record<string, unknown>;
}

export interface DaemonStatus {
  pid?: number;
  version?: string;
  started_at?: string;
  uptime_s?: number;
  data_dir?: string;
  state?: string;
  counts?: { profiles: number; instances: Record<string, number>; runs: Record<string, number> };
  last_seq?: number;
  log_bytes?: number;
  runs_router?: { queue_length?: number; in_flight?: number };
  http?: { url?: string; auth?: string };
}

export interface ReplayAnswer {
  until: string | null;
  last_seq: number;
  last_ts: string | null;
  counts: { runs: Record<string, number>; instances: Record<string, number>; profiles: number };
  profiles: Array<{ runtime_profile: string; updated_at: string }>;
  profiles_total: number;
  instances: Array<{ instance_id: string; state: string; runtime_profile?: string; runtime_api_endpoint?: string; updated_at: string }>;
  instances_total: number;
  runs: Array<{ run_id: string; state: string; instance_id?: string; accepted_at: string; ended_at?: string; error?: ErrorInfo }>;
  runs_total: number;
}
