/**
 * The typed surface of `arpd/client`: one interface, the same over the Unix socket and over HTTP.
 * Payloads are the ARP v1 shapes of `src/schemas/types.ts` (imported for their types only).
 */
import type {
  InstanceCreateRequest,
  InstanceCreateResponse,
  InstanceListResponse,
  InstanceRegisterRequest,
  InstanceRegisterResponse,
  InstanceState,
  RunListResponse,
  RunRequest,
  RunResult,
  RunState,
  RunStatus,
  RuntimeInstance,
  RuntimeProfile,
  RuntimeProfileListResponse,
  RuntimeProfileUpsertRequest,
  TraceEvent,
  TraceResponse,
} from '../schemas/types.js';

/** Options every request takes. */
export interface RequestOptions {
  /** Time limit of this request; 0 means none, at most 2147483647 (about 24 days). Default: the client's `timeoutMs` (30 s). */
  timeoutMs?: number;
  /** Aborting rejects the request with E_CANCELED (the daemon may still do the work). */
  signal?: AbortSignal;
}

/** One line of arpd's event log (`<data-dir>/events.jsonl`), as `arpd events --json` prints it. */
export interface LogEvent {
  seq: number;
  id: string;
  ts: string;
  stream: string;
  rev: number;
  type: string;
  v: number;
  data: Record<string, unknown>;
  meta: { correlation_id?: string; causation_id?: string; actor?: string };
}

/** Which log events to read: `types` entries ending in "." match a family (`run.`), `stream` ending in ":" a prefix (`run:`). */
export interface EventFilter {
  types?: string[];
  stream?: string;
}

export interface EventPage {
  events: LogEvent[];
  /** The seq to read from next. */
  next_seq: number;
  /** The last seq in the log when the page was read. */
  head_seq: number;
}

/** What `arpd daemon status --json` prints. */
export interface DaemonStatus {
  pid: number;
  version: string;
  state: 'running' | 'stopping';
  started_at: string;
  uptime_s: number;
  data_dir: string;
  socket: string;
  http_url?: string;
  clients: number;
  counts: { profiles: number; instances: Record<string, number>; runs: Record<string, number> };
  last_seq: number;
  log_bytes: number;
  idle_timeout_s: number | null;
  warnings?: string[];
  [key: string]: unknown;
}

/** One line of an instance's start output (install and launch progress). */
export interface InstanceProgress {
  instance_id: string;
  line: string;
}

/** A run's trace, live: iterate it for TraceEvents; it ends when the run ends. */
export interface RunFollow extends AsyncIterableIterator<TraceEvent, RunStatus, undefined> {
  /**
   * The run's final status once it has ended (also the iterator's return value). Reading it without
   * iterating drains the trace. Rejects with E_CANCELED if the stream is closed before the end.
   */
  readonly status: Promise<RunStatus>;
  /** Stops following (the run goes on). */
  close(): Promise<void>;
}

/** The event log, from a seq and then live; it never ends by itself: `close()` it or `break`. */
export interface EventSubscription extends AsyncIterableIterator<LogEvent, void, undefined> {
  close(): Promise<void>;
}

export interface RunListQuery {
  pageSize?: number;
  /** The `next_page_token` of the previous page (given with the same filters). */
  pageToken?: string;
  state?: RunState;
  /** Runs of this runtime profile (of their instance, or of their selector while they wait). */
  runtimeProfile?: string;
  /** Runs routed to this instance. */
  instanceId?: string;
  /** Runs whose id starts with this. */
  q?: string;
  /** `desc`: newest first (default `asc`, submission order). */
  order?: 'asc' | 'desc';
}

export interface RunsApi {
  /** Submits a run; answers at once with its status (`queued`), never waiting for it. */
  submit(request: RunRequest, options?: RequestOptions): Promise<RunStatus>;
  get(runId: string, options?: RequestOptions): Promise<RunStatus>;
  /** The result of an ended run; E_NOT_READY while it runs. */
  result(runId: string, options?: RequestOptions): Promise<RunResult>;
  /**
   * One page of runs, filtered by the daemon. A page may hold fewer than `pageSize` runs (even none) and still have a
   * `next_page_token`: one call looks at a bounded stretch of the history. The list has ended when there is no token.
   */
  list(query?: RunListQuery, options?: RequestOptions): Promise<RunListResponse>;
  cancel(runId: string, options?: RequestOptions): Promise<RunStatus>;
  trace(runId: string, query?: { fromSeq?: number; limit?: number }, options?: RequestOptions): Promise<TraceResponse>;
  /** The status once the run has ended; with `timeoutMs`, as it is when that time is up. */
  wait(runId: string, options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<RunStatus>;
  /** The run's trace lines from `fromSeq` (default 1), then live until the run ends. */
  follow(runId: string, options?: { fromSeq?: number }): RunFollow;
}

export interface InstancesApi {
  list(query?: { all?: boolean; runtimeProfile?: string; state?: InstanceState }, options?: RequestOptions): Promise<InstanceListResponse>;
  get(instanceId: string, options?: RequestOptions): Promise<RuntimeInstance>;
  /**
   * Starts managed instances of a profile. With `wait`, answers once each is ready or has failed
   * (check each `state`); `onProgress` gets their install and start output (over the socket only).
   */
  start(request: InstanceCreateRequest, options?: RequestOptions & { wait?: boolean; onProgress?: (p: InstanceProgress) => void }): Promise<InstanceCreateResponse>;
  /** Registers an external runtime; an endpoint already registered answers with its instance. */
  register(request: InstanceRegisterRequest, options?: RequestOptions): Promise<InstanceRegisterResponse>;
  /** Stops a managed instance (SIGTERM, grace, SIGKILL) or deregisters an external one. */
  delete(instanceId: string, options?: RequestOptions): Promise<{ deleted: string; state: InstanceState }>;
}

export interface ProfilesApi {
  list(options?: RequestOptions): Promise<RuntimeProfileListResponse>;
  get(name: string, options?: RequestOptions): Promise<RuntimeProfile>;
  /** Adds or replaces a profile of the safe list; an identical profile records nothing. */
  upsert(name: string, request: RuntimeProfileUpsertRequest, options?: RequestOptions): Promise<RuntimeProfile>;
  /** Removes a profile; E_CONFLICT while live instances use it, unless `force`. */
  delete(name: string, options?: RequestOptions & { force?: boolean }): Promise<{ deleted: string }>;
}

export interface EventsApi {
  /** One page of the log from `fromSeq` (default 1), at most `limit` (default 1000) events. */
  read(query?: EventFilter & { fromSeq?: number; limit?: number }, options?: RequestOptions): Promise<EventPage>;
  /** The log from `fromSeq` (default: only what comes next), then live. */
  subscribe(query?: EventFilter & { fromSeq?: number }): EventSubscription;
}

export interface DaemonApi {
  status(options?: RequestOptions): Promise<DaemonStatus>;
  /** Asks the daemon to stop (socket only: the HTTP API has no shutdown route). */
  shutdown(options?: RequestOptions & { reason?: string; keepInstances?: boolean }): Promise<{ stopping: boolean; pid: number }>;
}

/** A connection to one arpd daemon. */
export interface ArpdClient {
  /** How it talks to the daemon. */
  readonly transport: 'socket' | 'http';
  /** The socket path or the daemon URL. */
  readonly target: string;
  /** The daemon `connect` started (with `autostart`), or undefined if one was already running. */
  readonly startedDaemon: DaemonStatus | undefined;
  readonly runs: RunsApi;
  readonly instances: InstancesApi;
  readonly profiles: ProfilesApi;
  readonly events: EventsApi;
  readonly daemon: DaemonApi;
  /** Ends every request and stream of this client. */
  close(): Promise<void>;
}
