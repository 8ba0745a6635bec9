import { statSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import { ArpdError } from '../errors/index.js';
import { listLogFiles } from '../events/log-files.js';
import type { ArpdMetrics } from './arpd-metrics.js';
import { MetricsReactor } from './metrics-reactor.js';
import { metricsPlugin } from './metrics-plugin.js';
import { RunTracer } from './run-tracer.js';
import { shownUrl } from './shown-url.js';

/** What the daemon hands over besides its context (things only the daemon knows). */
export interface TelemetryDeps {
  /** Made before the log was opened (`createMetrics`), so the boot's own commits are counted. */
  metrics: ArpdMetrics;
  /** How long the log's replay took at start (`Daemon.bootMs`). */
  bootMs: number;
  /** Open socket connections. */
  socketConnections(): number;
  /** Open event and trace streams (socket and SSE). */
  openStreams(): number;
  /** How old the newest snapshot is, once snapshots exist; undefined: none (no sample). */
  snapshotAgeMs?(): number | undefined;
}

export interface TelemetryParts {
  /** Reactors, to start before the others (so they see every event) and stop after them. */
  components: Component[];
  /** For `HttpServer`'s `plugins`: GET /metrics, open connections (answers are counted through `onHttpAnswer`). */
  httpPlugins: Array<(app: FastifyInstance) => void>;
  /** For `createDispatcher`'s `onRequest` (the socket). */
  onSocketRequest(method: string, outcome: string, ms: number): void;
  /** An HTTP answer was sent: counted by method, route pattern and status, with its latency. */
  onHttpAnswer(method: string, route: string, status: number, seconds: number): void;
  /** For the health monitor's observer. */
  onHealthCheck(ms: number, ok: boolean): void;
  /** A client connection refused for `--max-connections`. */
  onConnectionRefused(transport: 'socket' | 'http'): void;
}

/** `--otlp-endpoint` (or the variable it came from) as the exporter will use it, or an error that says what to give. */
function checkOtlpEndpoint(value: string, from: string): string {
  let u: URL | undefined;
  try { u = new URL(value); } catch { u = undefined; }
  if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.search !== '' || u.hash !== '') {
    throw new ArpdError('E_VALIDATION', `${from} '${shownUrl(value).slice(0, 200)}' is not the base URL of an OTLP/HTTP collector: give one like http://127.0.0.1:4318 (spans go to <url>/v1/traces)`, { field: from, usage: true });
  }
  return value;
}

/** The log's size on disk (JSONL store), read at most once a second. */
function logSizeReader(ctx: DaemonContext): () => number | undefined {
  let cached: { at: number; bytes: number } | undefined;
  return () => {
    if (ctx.log.kind !== 'jsonl') return undefined;
    const now = Date.now();
    if (cached !== undefined && now - cached.at < 1000) return cached.bytes;
    let bytes = 0;
    for (const f of listLogFiles(ctx.paths.root)) {
      try { bytes += statSync(f.path).size; } catch { /* a file rolled away meanwhile */ }
    }
    cached = { at: now, bytes };
    return bytes;
  };
}

/**
 * The telemetry of a running daemon: the metrics reactor and the HTTP plugin always (they are cheap), the run
 * tracer only with `--otlp-endpoint` (OpenTelemetry is loaded then, and only then).
 */
export function telemetryParts(ctx: DaemonContext, deps: TelemetryDeps): TelemetryParts {
  const { metrics } = deps;
  metrics.bind({
    state: ctx.state,
    head: () => ctx.log.head,
    now: () => ctx.now().getTime(),
    socketConnections: deps.socketConnections,
    openStreams: deps.openStreams,
    logSizeBytes: logSizeReader(ctx),
    snapshotAgeMs: deps.snapshotAgeMs ?? (() => undefined),
  }, deps.bootMs);
  const components: Component[] = [new MetricsReactor(ctx, metrics)];
  const endpoint = ctx.options.telemetry?.otlpEndpoint;
  if (endpoint !== undefined) {
    checkOtlpEndpoint(endpoint, ctx.options.telemetry?.otlpEndpointFrom ?? '--otlp-endpoint');
    const logger = ctx.logger.child({ part: 'tracing' });
    components.push(new RunTracer(ctx, {
      endpoint: shownUrl(endpoint),
      loadSink: async () => (await import('./otlp-sink.js')).createOtlpSink({ endpoint, serviceVersion: ctx.version, warn: (message, details) => logger.warn(details, message) }),
    }));
  }
  return {
    components,
    httpPlugins: [metricsPlugin(metrics)],
    onSocketRequest: (method, outcome, ms) => metrics.onSocketRequest(method, outcome, ms),
    onHttpAnswer: (method, route, status, seconds) => metrics.httpAnswered(method, route, status, seconds),
    onHealthCheck: (ms, ok) => metrics.onHealthCheck(ms, ok),
    onConnectionRefused: (transport) => metrics.onConnectionRefused(transport),
  };
}
