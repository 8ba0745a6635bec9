import { DaemonOps } from '../features/daemon-ops.js';
import { EventOps } from '../features/event-ops.js';
import { InstanceOps } from '../features/instance-ops.js';
import type { LogOps } from '../features/log-ops.js';
import { ProfileOps } from '../features/profile-ops.js';
import { RunOps } from '../features/run-ops.js';
import { HealthMonitor } from '../instances/health-monitor.js';
import { IdleReaper } from '../instances/idle-reaper.js';
import { StaleRegistrationGuard } from '../instances/stale-registrations.js';
import { InstanceSupervisor } from '../instances/instance-supervisor.js';
import { RunDeadlines } from '../runs/run-deadlines.js';
import { RunDispatcher } from '../runs/run-dispatcher.js';
import { RunRouter } from '../runs/run-router.js';
import { DEFAULT_MAX_CONNECTIONS, refusalReporter } from '../server/connection-limit.js';
import { HttpServer } from '../server/http-server.js';
import { defaultUiAssetsDir } from '../server/http-ui.js';
import { registryReplayer } from '../features/registry-replay.js';
import { packageRoot } from '../version.js';
import type { MethodTable } from '../server/rpc-dispatch.js';
import { socketMethods } from '../server/socket-methods.js';
import { telemetryParts, type TelemetryDeps, type TelemetryParts } from '../telemetry/index.js';
import type { Component, DaemonContext } from './daemon-context.js';

/** What a running daemon is made of, wired once. */
export interface Parts {
  /** Started in this order once the log is replayed, stopped in reverse. */
  components: Component[];
  /** The socket's JSON-RPC methods. */
  methods: MethodTable;
  http: HttpServer | undefined;
  /** Metrics and traces: the hooks the daemon passes on (the socket's onRequest). */
  telemetry: TelemetryParts;
  /** The operations both transports call (in-process users and tests call them too). */
  ops: { daemon: DaemonOps; events: EventOps; profiles: ProfileOps; instances: InstanceOps; runs: RunOps; log: LogOps };
  /** A connection refused for `--max-connections`, by listener: counted, and logged at most once a minute. */
  refused: { socket: () => void; http: () => void };
}

/**
 * The wiring: reactors (instances first, so the others see adopted instances; dispatch before
 * routing, so runs in flight are re-attached before new ones go out), the operations both
 * transports call, the socket's methods and the HTTP API (last: it starts once everything it serves
 * is up, and stops first).
 */
export function buildParts(ctx: DaemonContext, d: {
  daemon: DaemonOps;
  logOps: LogOps;
  /** Retention and snapshots: started first (they only watch), stopped last. */
  housekeeping: Component[];
  /**
   * With a shared store (src/cluster): the node's lease and membership, and the local run logs. Started before the
   * reactors (the node joins before it adopts its instances and runs), stopped after them (its lease ends last).
   */
  cluster?: Component[];
  shutdown(reason: string, keepInstances: boolean | undefined): void;
  telemetry: Omit<TelemetryDeps, 'openStreams'>;
}): Parts {
  const ops = {
    daemon: d.daemon,
    events: new EventOps(ctx),
    profiles: new ProfileOps(ctx),
    instances: new InstanceOps(ctx),
    runs: new RunOps(ctx),
    log: d.logOps,
  };
  const telemetry = telemetryParts(ctx, { ...d.telemetry, openStreams: () => ops.events.openStreams() });
  const supervisor = new InstanceSupervisor(ctx);
  const health = new HealthMonitor(ctx, { onCheck: telemetry.onHealthCheck });
  const dispatcher = new RunDispatcher(ctx);
  const router = new RunRouter(ctx);
  const deadlines = new RunDeadlines(ctx, router.policy);
  const methods = socketMethods({ ...ops, shutdown: d.shutdown });
  const maxConnections = ctx.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const refusedOn = (transport: 'socket' | 'http'): (() => void) => {
    const report = refusalReporter((n) => ctx.logger.warn(
      { transport, refused: n, limit: maxConnections },
      `refused ${n} ${transport === 'http' ? 'HTTP' : 'socket'} connection(s): ${maxConnections} are open, the limit (--max-connections); find the client that holds them, or raise the limit`,
    ));
    return () => { telemetry.onConnectionRefused(transport); report(); };
  };
  const refused = { socket: refusedOn('socket'), http: refusedOn('http') };
  const httpOptions = ctx.options.http;
  const http = httpOptions === undefined || httpOptions === false ? undefined : new HttpServer(httpOptions, {
    paths: ctx.paths,
    logger: ctx.logger,
    version: ctx.version,
    backend: { ...ops, streamFailed: (err, info) => ctx.logger.error({ err, ...info }, 'internal error in an HTTP event stream') },
    ui: { assetsDir: defaultUiAssetsDir(packageRoot()), instancesDir: ctx.paths.instances, replay: registryReplayer(ctx.paths.root) },
    plugins: telemetry.httpPlugins,
    onAnswered: telemetry.onHttpAnswer,
    maxConnections,
    onRefused: refused.http,
  });
  // telemetry first: it sees every event the others cause, and stops after them (their last events are traced)
  const components: Component[] = [...telemetry.components, ...d.housekeeping, ...(d.cluster ?? []), supervisor, health, new StaleRegistrationGuard(ctx), dispatcher, router, deadlines, new IdleReaper(ctx)];
  if (http !== undefined) components.push(http);
  return { components, methods, http, ops, telemetry, refused };
}
