/**
 * Everything that configures one daemon process, typed. The CLI (`src/cli/serve-options.ts`) maps
 * each flag onto one field here; code that starts a daemon in-process builds it directly.
 */

export interface PipOptions {
  indexUrl?: string | undefined;
  extraIndexUrls?: string[] | undefined;
  trustedHosts?: string[] | undefined;
  noIndex?: boolean | undefined;
  upgradePip?: boolean | undefined;
  extraArgs?: string[] | undefined;
}

export interface NpmOptions {
  registry?: string | undefined;
  extraArgs?: string[] | undefined;
}

export interface InstancesOptions {
  /** Host runtimes bind to (default 127.0.0.1). */
  host?: string | undefined;
  /** `--allow-unsafe-runtime-profiles`: instances of profiles not on the safe list run the reference runtime. */
  allowUnsafe?: boolean | undefined;
  /** `--health-timeout`: overrides every profile's health timeout. */
  healthTimeoutMs?: number | undefined;
  /** `--health-interval` (default 5000). */
  healthIntervalMs?: number | undefined;
  /** Per-file cap of an instance's stdout.log / stderr.log (default 10 MiB). */
  logCapBytes?: number | undefined;
  pip?: PipOptions | undefined;
  npm?: NpmOptions | undefined;
  /** How long `instances.create --wait` may take (default 10 minutes). */
  waitTimeoutMs?: number | undefined;
  /** Extra idle instances started for a queue are stopped after this long idle (default 60000). */
  scaleDownGraceMs?: number | undefined;
}

export interface RunsOptions {
  /** `--queue-timeout` (default 30000). */
  queueTimeoutMs?: number | undefined;
  /** `--no-autostart-instances` sets false. */
  autostartInstances?: boolean | undefined;
  /** `--run-timeout`: the deadline of a run that sets no limits.timeout_ms and whose profile sets none (default 1 hour). */
  defaultRunTimeoutMs?: number | undefined;
  /** `--progress-timeout`: a run whose runtime sends nothing (no event, no status change) this long fails (default 10 minutes). */
  progressTimeoutMs?: number | undefined;
  /** `--max-trace-line-bytes` (default 256 KiB). */
  maxTraceLineBytes?: number | undefined;
  /** `--max-trace-depth`: nesting limit of one trace line (default 32). */
  maxTraceDepth?: number | undefined;
  /** `--max-trace-bytes`: trace volume limit of one run (default 64 MiB). */
  maxTraceBytesPerRun?: number | undefined;
  /** Delay before re-following a runtime whose event stream dropped (tests). */
  reconnectDelayMs?: number | undefined;
}

export interface HttpOptions {
  host?: string | undefined;
  /** Absent: 8082, or a free port when 8082 is in use. 0: a free port. */
  port?: number | undefined;
  /** token (default), jwt or none. */
  auth?: string | undefined;
  jwtIssuer?: string | undefined;
  jwtAudience?: string | undefined;
  jwtJwksFile?: string | undefined;
  jwtSecretFile?: string | undefined;
  bodyLimit?: number | undefined;
  /** `--allowed-hosts`: Host header values accepted besides the addresses the API listens on. */
  allowedHosts?: string[] | undefined;
  /** `--metrics-public`: GET /metrics without credentials (loopback scrapers). */
  metricsPublic?: boolean | undefined;
  /** `--http-request-timeout`: a whole request (headers and body) must arrive within this (default 30000). */
  requestTimeoutMs?: number | undefined;
  /** `--http-keepalive-timeout`: an idle keep-alive connection is closed after this (default 5000). */
  keepAliveTimeoutMs?: number | undefined;
}

export interface RetentionOptions {
  /** `--retain-runs`: ended runs kept in memory at most (default 10000). */
  retainRuns?: number | undefined;
  /** `--retain-days`: ended runs older than this leave memory (default 7). */
  retainDays?: number | undefined;
  /** `--log-budget-bytes`: sealed segments covered by a snapshot are archived/removed to stay under this. */
  logBudgetBytes?: number | undefined;
  /** Take a snapshot after this many events since the last one (default 50000). */
  snapshotEveryEvents?: number | undefined;
  /** ... or after this long with at least one new event (default 10 minutes). */
  snapshotEveryMs?: number | undefined;
}

export interface TelemetryOptions {
  /** `--otlp-endpoint` (or OTEL_EXPORTER_OTLP_ENDPOINT): base URL; spans go to `<url>/v1/traces`. */
  otlpEndpoint?: string | undefined;
  /** Where it came from, for messages (default `--otlp-endpoint`). */
  otlpEndpointFrom?: '--otlp-endpoint' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | undefined;
}

export interface StoreOptions {
  /** `--store postgres://…` (or ARPD_STORE_URL); absent: the JSONL log in the data dir. */
  url?: string | undefined;
  /** This daemon's node id in a cluster (default: derived from the host name and data dir). */
  nodeId?: string | undefined;
  /** Lease of a node: a node silent this long is dead (default 15000). */
  leaseMs?: number | undefined;
}

export interface DaemonOptions {
  dataDir: string;
  /** Socket path override (`--socket`); default `<data-dir>/arpd.sock`. */
  socketPath?: string | undefined;
  /** Exit after this many seconds with no client and no work (ephemeral mode). */
  idleTimeoutS?: number | undefined;
  /** Foreground (`arpd serve`): logs also go to stderr. */
  foreground: boolean;
  /** Repair a damaged log (lines copied aside, run events restored from run logs). */
  repair?: boolean | undefined;
  /** Largest request line on the socket. Default 1 MiB. */
  maxLineBytes?: number | undefined;
  /** `--max-connections`: open client connections each listener (the socket, HTTP) holds at most (default 1024). */
  maxConnections?: number | undefined;
  /** Roll the log past this size. */
  segmentBytes?: number | undefined;
  /** Stop managed instances at shutdown (default) or leave them for the next start to adopt. */
  keepInstances?: boolean | undefined;
  logLevel?: string | undefined;
  /** `--default-profile`: the profile a run with no selector may start when none is ready. */
  defaultProfile?: string | undefined;
  instances?: InstancesOptions | undefined;
  runs?: RunsOptions | undefined;
  /** false: no HTTP API (`--no-http`); undefined: none either (in-process daemons in tests). */
  http?: HttpOptions | false | undefined;
  retention?: RetentionOptions | undefined;
  telemetry?: TelemetryOptions | undefined;
  store?: StoreOptions | undefined;
}

