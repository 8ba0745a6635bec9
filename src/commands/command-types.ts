import type { ErrorInfo, JsonObject, RunTrace } from '../events/event-types.js';
import type { RoutingPolicy } from '../policy/routing.js';

/**
 * Every command arpd executes: one discriminated union, imperative names. A command is data: what
 * was asked, by whom, when (`meta.now`, the clock read at the edge) and with every new id already
 * made. Each type has exactly one pure decider (see decide.ts) that turns the state and the command
 * into the events to append, or an ArpdError.
 */
export interface CommandMeta {
  /** The clock at the edge, ISO-8601. Deciders never read a clock of their own. */
  now: string;
  /** Who asked: 'api', 'router', 'dispatcher', 'supervisor', 'deadlines', 'daemon', 'repair'. */
  actor: string;
  correlation_id?: string;
  causation_id?: string;
  /**
   * The node that executes the command, when daemons share a store (PostgreSQL): deciders stamp it on what that node
   * will own (instances it spawns or registers, runs it claims). Absent with a single daemon on the JSONL store.
   */
  node?: string;
}

/** The limits a run's trace must keep (`--max-trace-line-bytes`, `--max-trace-depth`, `--max-trace-bytes`). */
export interface TraceLimits {
  max_line_bytes: number;
  max_depth: number;
  max_run_bytes: number;
}

export interface CommandDataMap {
  // daemon
  StartDaemon: { pid: number; version: string; boot_id: string; host: string };
  StopDaemon: { pid: number; reason: string; run_logs_complete: boolean };
  /** After `--repair`: record what it did, and fail the runs it found in flight or with a lost history. */
  RecordLogRepair: { restored: number; lost: number; copies: string[]; runs: Array<{ run_id: string; why: string }> };
  /** `arpd runs prune --before DATE`: these ended runs' directories go (the ops picked them; the decider checks each). */
  PruneRuns: { run_ids: string[]; before: string };
  // profiles
  SeedDefaultProfile: { profile: JsonObject };
  UpsertProfile: { name: string; request: JsonObject };
  DeleteProfile: { name: string; force: boolean };
  // instances
  CreateInstances: {
    profile: string;
    ids: string[];
    overrides?: JsonObject;
    metadata?: JsonObject;
    allow_unsafe: boolean;
    /** Set when arpd starts it by itself ('autostart' for waiting runs). */
    reason?: string;
    /** Refuse (record nothing) when the profile already has this many live instances: two routers never over-start. */
    limit_live?: number;
  };
  RegisterInstance: { id: string; endpoint: string; profile?: string; runtime_name?: string; metadata?: JsonObject; own_endpoints: string[] };
  DeleteInstance: { id: string; reason: string };
  StopInstance: { id: string; reason: string };
  RecordInstanceStarting: { instance_id: string; pid: number; pid_start_time?: string; boot_id?: string; argv: string[]; attempt: number; endpoint?: string };
  MarkInstanceReady: { instance_id: string; endpoint: string; runtime_name?: string; runtime_version?: string; adopted?: boolean };
  RecordInstanceFailure: { instance_id: string; code: string; reason: string; exit_code?: number | null; signal?: string | null; stderr_tail?: string };
  RecordInstanceStopped: { instance_id: string; reason: string; exit_code?: number | null; signal?: string | null };
  RestartInstance: { instance_id: string };
  /** The external registration `instance_id` is stale: managed instance `by_instance_id` serves at its endpoint now. */
  RetireStaleRegistration: { instance_id: string; by_instance_id: string };
  // runs
  SubmitRun: { run_id: string; request: JsonObject; queue_timeout_ms: number; policy: RoutingPolicy; own_endpoints: string[]; default_run_timeout_ms: number };
  RouteRun: { run_id: string; instance_id: string; default_run_timeout_ms: number };
  StartRun: { run_id: string; instance_id?: string };
  RecordTraceBatch: { run_id: string; lines: Array<Omit<RunTrace, 'run_id' | 'bytes'>>; limits: TraceLimits };
  EndRun: { run_id: string; outcome: 'succeeded' | 'failed' | 'canceled'; result?: JsonObject; error?: ErrorInfo };
  CancelRun: { run_id: string; reason: string };
  ExpireQueuedRun: { run_id: string; policy: RoutingPolicy };
  TimeOutRun: { run_id: string; default_run_timeout_ms: number };
  FailStalledRun: { run_id: string; progress_timeout_ms: number };
  // nodes (daemons sharing one store)
  /** This daemon (one incarnation of a node) joins the cluster. */
  JoinNode: { node_id: string; incarnation: string; host: string; pid: number; boot_id: string; version: string; data_dir: string };
  /**
   * This daemon stops cleanly. `instances`: its live external instances at a loopback address (`loopbackInstancesOf`),
   * which the decider records failed (these are the keys; it re-checks each).
   */
  LeaveNode: { node_id: string; incarnation: string; reason: string; instances: string[] };
  /**
   * A node's lease expired past the grace (`silent_ms` by the store's clock): record it lost, and what it owned. The
   * reactor lists the instances and runs it saw owned by the node; the decider re-checks each (these are the keys).
   */
  DeclareNodeLost: { node_id: string; incarnation: string; silent_ms: number; instances: string[]; runs: string[] };
}

export type CommandType = keyof CommandDataMap;

export type Command = { [K in CommandType]: { type: K; data: CommandDataMap[K]; meta: CommandMeta } }[CommandType];

export type CommandOf<K extends CommandType> = Extract<Command, { type: K }>;
