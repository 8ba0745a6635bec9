import { ArpdError } from '../errors/index.js';
import { numberOf } from './argv-check.js';
import type { DaemonOptions } from '../config/daemon-options.js';

/**
 * The daemon's own flags (`arpd serve`, `arpd daemon start|restart`): how they are declared for cac,
 * turned into DaemonOptions, and passed on to a detached `arpd serve`.
 */

type Opts = Record<string, unknown>;

export interface FlagSpec { flag: string; key: string; description: string; kind: 'bool' | 'value' | 'list' }

export const DAEMON_FLAGS: FlagSpec[] = [
  { flag: '--idle-timeout <seconds>', key: 'idleTimeout', kind: 'value', description: 'Exit after this long with no client and no work (ephemeral mode)' },
  { flag: '--repair', key: 'repair', kind: 'bool', description: 'Repair a damaged log: damaged lines are copied aside, what the run logs hold is restored (see arpd log verify)' },
  { flag: '--keep-instances', key: 'keepInstances', kind: 'bool', description: 'Leave managed instances running at shutdown (adopted at the next start)' },
  { flag: '--allow-unsafe-runtime-profiles', key: 'allowUnsafeRuntimeProfiles', kind: 'bool', description: 'Let instances start from profiles that are not on the safe list (they run the reference runtime)' },
  { flag: '--default-profile <name>', key: 'defaultProfile', kind: 'value', description: 'The profile a run with no selector may start when no instance is ready' },
  { flag: '--queue-timeout <ms>', key: 'queueTimeout', kind: 'value', description: 'How long a run waits for a ready instance (default 30000)' },
  { flag: '--run-timeout <ms>', key: 'runTimeout', kind: 'value', description: 'Deadline of a run that sets no limits.timeout_ms and whose profile sets none (default 3600000)' },
  { flag: '--progress-timeout <ms>', key: 'progressTimeout', kind: 'value', description: 'Fail a run whose runtime sends nothing for this long (default 600000)' },
  { flag: '--max-trace-line-bytes <n>', key: 'maxTraceLineBytes', kind: 'value', description: 'Largest runtime event recorded; a larger one fails the run (default 262144)' },
  { flag: '--max-trace-depth <n>', key: 'maxTraceDepth', kind: 'value', description: 'Deepest nesting of a runtime event; a deeper one fails the run (default 64)' },
  { flag: '--max-trace-bytes <n>', key: 'maxTraceBytes', kind: 'value', description: "A run's whole trace; past it the run fails (default 67108864)" },
  { flag: '--no-autostart-instances', key: 'autostartInstances', kind: 'bool', description: 'Never start an instance by itself for a queued run' },
  { flag: '--health-timeout <ms>', key: 'healthTimeout', kind: 'value', description: 'How long a new instance may take to become healthy (default: the profile, 30000)' },
  { flag: '--health-interval <ms>', key: 'healthInterval', kind: 'value', description: 'How often ready instances are health-checked (default 5000)' },
  { flag: '--scale-down-grace <ms>', key: 'scaleDownGrace', kind: 'value', description: 'Stop an instance arpd started for waiting runs after this long idle, when another serves (default 60000)' },
  { flag: '--pip-index-url <url>', key: 'pipIndexUrl', kind: 'value', description: 'pip driver: the package index' },
  { flag: '--pip-extra-index-url <url>', key: 'pipExtraIndexUrl', kind: 'list', description: 'pip driver: an extra index (repeatable)' },
  { flag: '--pip-trusted-host <host>', key: 'pipTrustedHost', kind: 'list', description: 'pip driver: a trusted host (repeatable)' },
  { flag: '--pip-no-index', key: 'pipNoIndex', kind: 'bool', description: 'pip driver: install from local paths only' },
  { flag: '--pip-upgrade-pip', key: 'pipUpgradePip', kind: 'bool', description: 'pip driver: upgrade pip in each new venv first' },
  { flag: '--pip-arg <arg>', key: 'pipArg', kind: 'list', description: 'pip driver: an extra argument for pip install (repeatable)' },
  { flag: '--max-line-bytes <n>', key: 'maxLineBytes', kind: 'value', description: 'Largest request line on the socket (default 1048576)' },
  { flag: '--max-connections <n>', key: 'maxConnections', kind: 'value', description: 'Open client connections each of the socket and the HTTP API holds at most; more are refused (default 1024)' },
  { flag: '--log-level <level>', key: 'logLevel', kind: 'value', description: 'Daemon log level: fatal, error, warn, info (default), debug, trace' },
  { flag: '--http-host <host>', key: 'httpHost', kind: 'value', description: 'HTTP API host (default 127.0.0.1)' },
  { flag: '--http-port <port>', key: 'httpPort', kind: 'value', description: 'HTTP API port (default 8082; 0 picks a free one)' },
  { flag: '--host <host>', key: 'host', kind: 'value', description: 'Same as --http-host (JARVIS spelling)' },
  { flag: '--port <port>', key: 'port', kind: 'value', description: 'Same as --http-port (JARVIS spelling)' },
  { flag: '--no-http', key: 'http', kind: 'bool', description: 'Do not serve the HTTP API' },
  { flag: '--http-auth <mode>', key: 'httpAuth', kind: 'value', description: 'token (default), jwt, or none (loopback only; no safe-list changes)' },
  { flag: '--allowed-hosts <hosts>', key: 'allowedHosts', kind: 'list', description: 'Host names the HTTP API also answers to, comma-separated (a proxy in front of it)' },
  { flag: '--http-request-timeout <ms>', key: 'httpRequestTimeout', kind: 'value', description: 'A whole HTTP request must arrive within this (default 30000)' },
  { flag: '--http-keepalive-timeout <ms>', key: 'httpKeepaliveTimeout', kind: 'value', description: 'Idle HTTP keep-alive connections close after this (default 5000)' },
  { flag: '--metrics-public', key: 'metricsPublic', kind: 'bool', description: 'Serve GET /metrics without credentials (for a scraper on loopback)' },
  { flag: '--jwt-issuer <iss>', key: 'jwtIssuer', kind: 'value', description: 'jwt auth: the expected issuer' },
  { flag: '--jwt-audience <aud>', key: 'jwtAudience', kind: 'value', description: 'jwt auth: the expected audience' },
  { flag: '--jwt-jwks-file <file>', key: 'jwtJwksFile', kind: 'value', description: 'jwt auth: a JWKS file of public keys' },
  { flag: '--jwt-secret-file <file>', key: 'jwtSecretFile', kind: 'value', description: 'jwt auth: a file holding an HMAC secret' },
  { flag: '--retain-runs <n>', key: 'retainRuns', kind: 'value', description: 'Ended runs kept in memory (older ones are read from disk; default 10000)' },
  { flag: '--retain-days <days>', key: 'retainDays', kind: 'value', description: 'Ended runs older than this leave memory (default 7)' },
  { flag: '--log-budget-bytes <n>', key: 'logBudgetBytes', kind: 'value', description: 'Keep the event log under this size: sealed segments a snapshot holds are compressed, the oldest removed (never what no snapshot holds)' },
  { flag: '--segment-bytes <n>', key: 'segmentBytes', kind: 'value', description: 'Seal the active log file into a segment past this size (default 128 MiB)' },
  { flag: '--snapshot-every <events>', key: 'snapshotEvery', kind: 'value', description: 'Snapshot the state after this many events (default 50000; also every 10 minutes and at a clean stop)' },
  { flag: '--otlp-endpoint <url>', key: 'otlpEndpoint', kind: 'value', description: 'Export one OpenTelemetry trace per run to <url>/v1/traces (also OTEL_EXPORTER_OTLP_ENDPOINT)' },
  { flag: '--store <url>', key: 'store', kind: 'value', description: 'Event store: postgres://… shares it with other daemons (also ARPD_STORE_URL; default: the JSONL log in the data dir)' },
  { flag: '--node-id <id>', key: 'nodeId', kind: 'value', description: "This daemon's node id in a cluster (default: host name and data dir)" },
  { flag: '--node-lease <ms>', key: 'nodeLease', kind: 'value', description: 'With --store: a node silent this long has an expired lease, and is recorded lost after as long again (default 15000)' },
];

function list(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).map(String);
}

function num(v: unknown, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = numberOf(String(v));
  if (!Number.isFinite(n) || n < min || n > max) throw new ArpdError('E_VALIDATION', `${flag} takes a number from ${min} to ${max}, not '${String(v)}'`, { field: flag, usage: true });
  return n;
}

/** The flags as given, to pass on to a detached `arpd serve`. */
export function serveArgsOf(o: Opts): string[] {
  const out: string[] = [];
  for (const f of DAEMON_FLAGS) {
    const v = o[f.key];
    const name = f.flag.split(' ')[0] as string;
    if (f.kind === 'bool') {
      if (name.startsWith('--no-')) { if (v === false) out.push(name); } else if (v === true) out.push(name);
    } else if (f.kind === 'list') {
      for (const item of list(v) ?? []) out.push(name, item);
    } else if (v !== undefined) {
      out.push(name, String(v));
    }
  }
  return out;
}

function int(v: unknown, flag: string, min: number, max: number): number | undefined {
  const n = num(v, flag, min, max);
  if (n !== undefined && !Number.isInteger(n)) throw new ArpdError('E_VALIDATION', `${flag} takes a whole number from ${min} to ${max}, not '${String(v)}'`, { field: flag, usage: true });
  return n;
}

function str(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  const last: unknown = Array.isArray(v) ? v[v.length - 1] : v;
  return String(last);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function daemonOptionsOf(o: Opts, base: { dataDir: string; socketPath: string; foreground: boolean }, env: NodeJS.ProcessEnv = process.env): DaemonOptions {
  const idle = num(o['idleTimeout'], '--idle-timeout', 0.001, 10_000_000);
  const pip = {
    ...(o['pipIndexUrl'] === undefined ? {} : { indexUrl: String(o['pipIndexUrl']) }),
    ...(o['pipExtraIndexUrl'] === undefined ? {} : { extraIndexUrls: list(o['pipExtraIndexUrl']) }),
    ...(o['pipTrustedHost'] === undefined ? {} : { trustedHosts: list(o['pipTrustedHost']) }),
    ...(o['pipNoIndex'] === true ? { noIndex: true } : {}),
    ...(o['pipUpgradePip'] === true ? { upgradePip: true } : {}),
    ...(o['pipArg'] === undefined ? {} : { extraArgs: list(o['pipArg']) }),
  };
  const logLevel = str(o['logLevel']);
  if (logLevel !== undefined && !LOG_LEVELS.includes(logLevel)) {
    throw new ArpdError('E_VALIDATION', `--log-level takes ${LOG_LEVELS.join(', ')}, not '${logLevel}'`, { field: '--log-level', usage: true });
  }
  const httpHost = str(o['httpHost']) ?? str(o['host']);
  const httpPort = o['httpPort'] ?? o['port'];
  if (o['httpHost'] !== undefined && o['host'] !== undefined) throw new ArpdError('E_VALIDATION', '--host and --http-host say the same thing: give one', { field: '--host', usage: true });
  if (o['httpPort'] !== undefined && o['port'] !== undefined) throw new ArpdError('E_VALIDATION', '--port and --http-port say the same thing: give one', { field: '--port', usage: true });
  const allowedHosts = list(o['allowedHosts'])?.flatMap((h) => h.split(',')).map((h) => h.trim()).filter((h) => h !== '');
  const http = o['http'] === false ? false : {
    host: httpHost ?? '127.0.0.1',
    ...(httpPort === undefined ? {} : { port: int(httpPort, '--http-port', 0, 65535) }),
    auth: str(o['httpAuth']) ?? 'token',
    ...(o['jwtIssuer'] === undefined ? {} : { jwtIssuer: String(o['jwtIssuer']) }),
    ...(o['jwtAudience'] === undefined ? {} : { jwtAudience: String(o['jwtAudience']) }),
    ...(o['jwtJwksFile'] === undefined ? {} : { jwtJwksFile: String(o['jwtJwksFile']) }),
    ...(o['jwtSecretFile'] === undefined ? {} : { jwtSecretFile: String(o['jwtSecretFile']) }),
    ...(allowedHosts === undefined ? {} : { allowedHosts }),
    ...(o['metricsPublic'] === true ? { metricsPublic: true } : {}),
    requestTimeoutMs: int(o['httpRequestTimeout'], '--http-request-timeout', 100, 3_600_000),
    keepAliveTimeoutMs: int(o['httpKeepaliveTimeout'], '--http-keepalive-timeout', 100, 3_600_000),
  };
  const storeUrl = str(o['store']) ?? (env['ARPD_STORE_URL'] !== undefined && env['ARPD_STORE_URL'] !== '' ? env['ARPD_STORE_URL'] : undefined);
  const otlp = str(o['otlpEndpoint']) ?? (env['OTEL_EXPORTER_OTLP_ENDPOINT'] !== undefined && env['OTEL_EXPORTER_OTLP_ENDPOINT'] !== '' ? env['OTEL_EXPORTER_OTLP_ENDPOINT'] : undefined);
  return {
    dataDir: base.dataDir,
    socketPath: base.socketPath,
    foreground: base.foreground,
    idleTimeoutS: idle,
    repair: o['repair'] === true,
    keepInstances: o['keepInstances'] === true,
    maxLineBytes: int(o['maxLineBytes'], '--max-line-bytes', 1024, 64 * 1024 * 1024),
    maxConnections: int(o['maxConnections'], '--max-connections', 1, 1_000_000),
    segmentBytes: int(o['segmentBytes'], '--segment-bytes', 4096, 16 * 1024 ** 3),
    logLevel,
    defaultProfile: str(o['defaultProfile']),
    instances: {
      allowUnsafe: o['allowUnsafeRuntimeProfiles'] === true,
      healthTimeoutMs: int(o['healthTimeout'], '--health-timeout', 100, 3_600_000),
      healthIntervalMs: int(o['healthInterval'], '--health-interval', 50, 3_600_000),
      scaleDownGraceMs: int(o['scaleDownGrace'], '--scale-down-grace', 0, 86_400_000),
      ...(Object.keys(pip).length === 0 ? {} : { pip }),
    },
    runs: {
      autostartInstances: o['autostartInstances'] !== false,
      queueTimeoutMs: int(o['queueTimeout'], '--queue-timeout', 0, 86_400_000),
      defaultRunTimeoutMs: int(o['runTimeout'], '--run-timeout', 1, 30 * 86_400_000),
      progressTimeoutMs: int(o['progressTimeout'], '--progress-timeout', 100, 30 * 86_400_000),
      maxTraceLineBytes: int(o['maxTraceLineBytes'], '--max-trace-line-bytes', 1024, 16 * 1024 * 1024),
      maxTraceDepth: int(o['maxTraceDepth'], '--max-trace-depth', 2, 1000),
      maxTraceBytesPerRun: int(o['maxTraceBytes'], '--max-trace-bytes', 1024, 1024 ** 4),
    },
    http,
    retention: {
      retainRuns: int(o['retainRuns'], '--retain-runs', 0, 100_000_000),
      retainDays: num(o['retainDays'], '--retain-days', 0, 36_500),
      logBudgetBytes: int(o['logBudgetBytes'], '--log-budget-bytes', 1024 * 1024, Number.MAX_SAFE_INTEGER),
      snapshotEveryEvents: int(o['snapshotEvery'], '--snapshot-every', 1, 100_000_000),
    },
    telemetry: { otlpEndpoint: otlp, otlpEndpointFrom: str(o['otlpEndpoint']) === undefined ? 'OTEL_EXPORTER_OTLP_ENDPOINT' : '--otlp-endpoint' },
    store: { url: storeUrl, nodeId: str(o['nodeId']), leaseMs: int(o['nodeLease'], '--node-lease', 300, 3_600_000) },
  };
}

/** Every `--store` value of `argv`, as `--store URL` or `--store=URL`, in order (the last one counts). */
export function storeValuesOf(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    const url = a === '--store' ? argv[i + 1] : a.startsWith('--store=') ? a.slice('--store='.length) : undefined;
    if (url !== undefined) out.push(url);
  }
  return out;
}

/**
 * True when `argv` gives `--store` a URL that holds a password (`postgres://user:PASSWORD@…`, or `password=` in its
 * query): a process's command line is readable by every user of the host (`ps`, /proc/<pid>/cmdline) for as long as
 * it runs. `arpd daemon start` hands the URL to the daemon in ARPD_STORE_URL instead; a foreground `arpd serve` cannot.
 */
export function storePasswordInArgv(argv: readonly string[]): boolean {
  return storeValuesOf(argv).some((url) => {
    try {
      const u = new URL(url);
      return u.password !== '' || u.searchParams.has('password');
    } catch {
      return /:[^/@]*[^:/@][^/@]*@|[?&]password=/.test(url); // not a URL to parse: what looks like one
    }
  });
}
