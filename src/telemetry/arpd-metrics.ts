/**
 * Every metric arpd exposes, in one prom-client registry of its own (never the global one: two daemons in one
 * process, as in tests, each have theirs). Counters and histograms are moved by what happens (events, log
 * commits, requests, health checks); gauges that mirror state are computed at scrape time from the sources bound
 * once the daemon is up (the projections, the log head, the open connections), never kept by hand. Names,
 * labels and meanings are listed in docs/observability.md.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CommitStats } from '../events/log-store.js';
import type { ReadModel } from '../projections/registry.js';
import type { InstanceStateName, RunStateName } from '../projections/registry-types.js';
import { ProfileLabels } from './label-values.js';

export type { CommitStats };

/** What the scrape-time gauges read; bound once the daemon is up (unbound, they show no samples). */
export interface MetricsSources {
  state: ReadModel;
  /** The last durable seq of the log. */
  head(): number;
  now(): number;
  /** Open socket connections. */
  socketConnections(): number;
  /** Open event and trace streams (socket subscriptions and SSE). */
  openStreams(): number;
  /** The log's size on disk, when the store is files. */
  logSizeBytes(): number | undefined;
  /** How old the newest snapshot is; undefined while there is none (then no sample). */
  snapshotAgeMs(): number | undefined;
}

const RUN_STATES: readonly RunStateName[] = ['queued', 'running', 'succeeded', 'failed', 'canceled'];
const INSTANCE_STATES: readonly InstanceStateName[] = ['starting', 'ready', 'busy', 'stopping', 'stopped', 'error'];

/**
 * A gauge without labels whose value may be unknown: then it shows no sample at all (a plain prom-client gauge
 * without labels always shows one, 0 after a reset), so "no snapshot yet" does not read as "a snapshot 0 s old".
 */
class OptionalGauge extends Gauge {
  constructor(name: string, help: string, registers: Registry[], read: () => number | undefined) {
    let value: number | undefined;
    super({ name, help, registers, collect() { value = read(); if (value !== undefined) this.set(value); } });
    const get = this.get.bind(this);
    this.get = async () => {
      const m = await get();
      return value === undefined ? { ...m, values: [] } : m;
    };
  }
}

const LOG_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

export class ArpdMetrics {
  readonly registry = new Registry();
  readonly profiles: ProfileLabels;
  private sources: MetricsSources | undefined;
  private bootSeconds: number | undefined;
  private httpOpen = 0;
  private readonly httpPending = new Map<string, { labels: { method: string; route: string; status: string }; durationLabels: { method: string; route: string }; n: number }>();

  readonly runsSubmitted: Counter<'profile'>;
  readonly runsEnded: Counter<'profile' | 'outcome'>;
  readonly runStartDelay: Histogram<'profile'>;
  readonly runDuration: Histogram<'profile' | 'outcome'>;
  readonly traceLines: Counter;
  readonly instanceCrashes: Counter<'profile' | 'reason'>;
  readonly instanceRestarts: Counter<'profile' | 'reason'>;
  readonly healthChecks: Histogram<'outcome'>;
  readonly logEvents: Counter;
  readonly logBytes: Counter;
  readonly logAck: Histogram;
  readonly logFsync: Histogram;
  readonly logWrite: Histogram;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route'>;
  readonly socketRequests: Counter<'method' | 'outcome'>;
  readonly socketDuration: Histogram<'method'>;
  readonly connectionsRefused: Counter<'transport'>;

  constructor(o: { version: string; profileCap?: number; defaultMetrics?: boolean }) {
    const registers = [this.registry];
    this.profiles = new ProfileLabels(o.profileCap);
    if (o.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });

    new Gauge({ name: 'arpd_build_info', help: 'Always 1; the label says which arpd version runs.', labelNames: ['version'], registers })
      .set({ version: o.version }, 1);

    // ---- runs
    this.scraped('arpd_runs', 'Runs held in memory, by state (ended runs stay until retention lets them go).', ['state'], (g, src) => {
      for (const state of RUN_STATES) g.set({ state }, src.state.runIdsInState(state).size);
    });
    this.runsSubmitted = new Counter({ name: 'arpd_runs_submitted_total', help: 'Runs accepted, by the profile their selector names (none: no profile named).', labelNames: ['profile'], registers });
    this.runsEnded = new Counter({ name: 'arpd_runs_ended_total', help: 'Runs ended, by outcome (succeeded, failed, canceled) and profile (of the instance that ran it, else of its selector).', labelNames: ['profile', 'outcome'], registers });
    this.scraped('arpd_run_queue_depth', 'Runs waiting to be routed to an instance.', [], (g, src) => g.set(src.state.queued().size));
    this.scraped('arpd_run_queue_oldest_age_seconds', 'How long the oldest waiting run has waited (0 when none waits).', [], (g, src) => {
      const first = src.state.queued().values().next();
      const run = first.done === true ? undefined : src.state.runs.get(first.value);
      g.set(run === undefined ? 0 : Math.max(0, (src.now() - Date.parse(run.accepted_at)) / 1000));
    });
    this.runStartDelay = new Histogram({
      name: 'arpd_run_start_delay_seconds', help: 'From a run\'s acceptance to its start on a runtime (queueing, routing, an instance starting, the runtime taking it).',
      labelNames: ['profile'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300], registers,
    });
    this.runDuration = new Histogram({
      name: 'arpd_run_duration_seconds', help: 'From a run\'s start on a runtime to its end, by outcome (runs that never started are not here).',
      labelNames: ['profile', 'outcome'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600], registers,
    });
    this.traceLines = new Counter({ name: 'arpd_run_trace_events_total', help: 'Runtime events recorded as trace lines of runs.', registers });

    // ---- instances
    this.scraped('arpd_instances', 'Runtime instances known, by recorded state and profile (external ones without a profile: none).', ['state', 'profile'], (g, src) => {
      const counts = new Map<string, { state: string; profile: string; n: number }>();
      for (const state of INSTANCE_STATES) {
        for (const id of src.state.instanceIdsInState(state)) {
          const profile = this.profiles.of(src.state.instances.get(id)?.runtime_profile);
          const key = `${state}\n${profile}`;
          const c = counts.get(key);
          if (c === undefined) counts.set(key, { state, profile, n: 1 });
          else c.n++;
        }
      }
      for (const c of counts.values()) g.set({ state: c.state, profile: c.profile }, c.n);
    });
    this.instanceCrashes = new Counter({ name: 'arpd_instance_crashes_total', help: 'Instances recorded failed (a process that exited or was killed, failed health checks, a start that failed), by profile and error code.', labelNames: ['profile', 'reason'], registers });
    this.instanceRestarts = new Counter({ name: 'arpd_instance_restarts_total', help: 'Instances restarted by their restart policy, by profile and the error code of the failure that caused it.', labelNames: ['profile', 'reason'], registers });
    this.healthChecks = new Histogram({
      name: 'arpd_health_check_duration_seconds', help: 'Latency of the periodic runtime health checks (GET /v1/health), by outcome (ok, error).',
      labelNames: ['outcome'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2], registers,
    });

    // ---- the log
    this.logEvents = new Counter({ name: 'arpd_log_events_appended_total', help: 'Events appended to the log by this process.', registers });
    this.logBytes = new Counter({ name: 'arpd_log_bytes_appended_total', help: 'Bytes appended to the log by this process.', registers });
    this.logAck = new Histogram({ name: 'arpd_log_append_ack_seconds', help: 'From an append to its acknowledgement (written, fdatasynced, published): what a change waits for.', buckets: LOG_BUCKETS, registers });
    this.logFsync = new Histogram({ name: 'arpd_log_fsync_seconds', help: 'fdatasync of one group commit.', buckets: LOG_BUCKETS, registers });
    this.logWrite = new Histogram({ name: 'arpd_log_write_seconds', help: 'write(2) of one group commit.', buckets: LOG_BUCKETS, registers });
    this.scraped('arpd_log_head_seq', 'The last durable seq of the log.', [], (g, src) => g.set(src.head()));
    new OptionalGauge('arpd_log_size_bytes', 'The log\'s size on disk (all its files; JSONL store only).', registers, () => this.sources?.logSizeBytes());
    new OptionalGauge('arpd_boot_replay_seconds', 'How long this process took to replay the log at start.', registers, () => this.bootSeconds);
    new OptionalGauge('arpd_snapshot_age_seconds', 'How old the newest snapshot of the projections is (no sample while there is none).', registers, () => {
      const ms = this.sources?.snapshotAgeMs();
      return ms === undefined ? undefined : ms / 1000;
    });

    // ---- transports
    const pending = this.httpPending;
    this.httpRequests = new Counter({
      name: 'arpd_http_requests_total', help: 'HTTP requests answered, by method, route pattern (unmatched: no route) and status code.', labelNames: ['method', 'route', 'status'], registers,
      // the answers counted since the last read (httpAnswered) are added when the counter is read
      collect() { for (const p of pending.values()) if (p.n > 0) { this.inc(p.labels, p.n); p.n = 0; } },
    });
    this.httpDuration = new Histogram({ name: 'arpd_http_request_duration_seconds', help: 'HTTP request latency to the end of the answer (an event stream counts until it closes).', labelNames: ['method', 'route'], buckets: REQUEST_BUCKETS, registers });
    this.socketRequests = new Counter({ name: 'arpd_socket_requests_total', help: 'JSON-RPC requests on the socket, by method and outcome (ok or the arpd error code).', labelNames: ['method', 'outcome'], registers });
    this.socketDuration = new Histogram({ name: 'arpd_socket_request_duration_seconds', help: 'JSON-RPC request latency on the socket, to the answer.', labelNames: ['method'], buckets: REQUEST_BUCKETS, registers });
    this.connectionsRefused = new Counter({ name: 'arpd_connections_refused_total', help: 'Client connections refused because their listener held --max-connections already, by transport (socket, http).', labelNames: ['transport'], registers });
    this.scraped('arpd_open_connections', 'Open client connections, by transport (socket, http).', ['transport'], (g, src) => {
      g.set({ transport: 'socket' }, src.socketConnections());
      g.set({ transport: 'http' }, this.httpOpen);
    });
    this.scraped('arpd_open_streams', 'Open event and trace streams (socket subscriptions, runs.follow, SSE).', [], (g, src) => g.set(src.openStreams()));
  }

  /** A gauge computed at scrape time by `read` from the bound sources (no samples while unbound). */
  private scraped<L extends string>(name: string, help: string, labelNames: readonly L[], read: (g: Gauge<L>, src: MetricsSources) => void): void {
    const g: Gauge<L> = new Gauge<L>({
      name, help, labelNames, registers: [this.registry],
      collect: () => {
        g.reset();
        if (this.sources !== undefined) read(g, this.sources);
      },
    });
  }

  /** Binds what the scrape-time gauges read (once the daemon is up). */
  bind(sources: MetricsSources, bootMs: number): void {
    this.sources = sources;
    this.bootSeconds = bootMs / 1000;
  }

  /** One group commit of the log (the store's `onCommit`). */
  onCommit(s: CommitStats): void {
    this.logEvents.inc(s.events);
    this.logBytes.inc(s.bytes);
    this.logWrite.observe(s.writeMs / 1000);
    this.logFsync.observe(s.syncMs / 1000);
    for (const ms of s.ackMs) this.logAck.observe(ms / 1000);
  }

  /** One socket request answered (rpc-dispatch's `onRequest`). */
  onSocketRequest(method: string, outcome: string, ms: number): void {
    this.socketRequests.inc({ method, outcome });
    this.socketDuration.observe({ method }, ms / 1000);
  }

  /** A client connection refused for `--max-connections`. */
  onConnectionRefused(transport: 'socket' | 'http'): void {
    this.connectionsRefused.inc({ transport });
  }

  /** One periodic health check done (the health monitor's observer). */
  onHealthCheck(ms: number, ok: boolean): void {
    this.healthChecks.observe({ outcome: ok ? 'ok' : 'error' }, ms / 1000);
  }

  /**
   * One HTTP answer: counted by method, route pattern and status (in a plain map, added to `httpRequests` when
   * it is read: prom-client's labelled `inc` costs a label hash and check per request) and its latency observed.
   * `route` must be a pattern (never a raw URL): the map holds one entry per method, pattern and status.
   */
  httpAnswered(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let p = this.httpPending.get(key);
    if (p === undefined) {
      p = { labels: { method, route, status: String(status) }, durationLabels: { method, route }, n: 0 };
      this.httpPending.set(key, p);
    }
    p.n++;
    this.httpDuration.observe(p.durationLabels, seconds);
  }

  httpConnectionOpened(): void {
    this.httpOpen++;
  }

  httpConnectionClosed(): void {
    this.httpOpen = Math.max(0, this.httpOpen - 1);
  }

  /** The exposition in the Prometheus text format. */
  exposition(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
