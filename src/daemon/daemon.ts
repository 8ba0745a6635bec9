/**
 * The daemon process: lock, boot (snapshot or replay, on the JSONL log or on PostgreSQL), parts, transports,
 * shutdown.
 *
 * Length: over 300 lines because boot and shutdown are two ordered sequences over the same parts (each step undone
 * in reverse on a failure); split, the order would be spread over files. The parts themselves are in parts.ts.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { hostname } from 'node:os';
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import { CommandBus } from '../bus/command-bus.js';
import type { Command, CommandDataMap, CommandType } from '../commands/command-types.js';
import type { DaemonOptions } from '../config/daemon-options.js';
import { dataPaths, type DataPaths } from '../config/data-dir.js';
import { ArpdError, toArpdError } from '../errors/index.js';
import { acquireLock, type HeldLock } from '../events/data-lock.js';
import { StaleStartError } from '../events/log-recovery.js';
import type { StoredEvent } from '../events/envelope.js';
import type { EventStore } from '../events/event-store.js';
import { LogStore, type CommitStats } from '../events/log-store.js';
import { DaemonOps } from '../features/daemon-ops.js';
import { LogOps, type LogMaintenance } from '../features/log-ops.js';
import { checkId } from '../ids/id-rules.js';
import { DEFAULT_PROFILE } from '../features/profile-ops.js';
import { Projection } from '../projections/projection.js';
import { Registry } from '../projections/registry.js';
import { ReplayProgress } from '../retention/replay-progress.js';
import { loopbackInstancesOf } from '../policy/ownership.js';
import { DEFAULT_RETENTION, type RetentionPolicy } from '../retention/retention-policy.js';
import { RunArchive } from '../retention/run-archive.js';
import { RunRetention } from '../retention/run-retention.js';
import { usableSnapshots, type LoadedSnapshot } from '../retention/snapshot-file.js';
import { DEFAULT_SNAPSHOT_POLICY, Snapshotter, type SnapshotPolicy, type SnapshotSource } from '../retention/snapshotter.js';
import { RuntimeClient } from '../runtime-client/runtime-client.js';
import { createDispatcher } from '../server/rpc-dispatch.js';
import { DEFAULT_MAX_CONNECTIONS, descriptorWarning, openFileLimit } from '../server/connection-limit.js';
import { checkNotOtherFile, checkSocketPath, startSocketServer, type SocketServer } from '../server/socket-server.js';
import { createMetrics, type ArpdMetrics } from '../telemetry/index.js';
import { bootId, identityOf } from '../system/process-identity.js';
import { defaultNodeId, newIncarnation } from '../cluster/node-id.js';
import { NodeKeeper, type MutableNodeIdentity } from '../cluster/node-keeper.js';
import { RunLogMirror } from '../cluster/run-log-mirror.js';
import type { Component, DaemonContext, DaemonNotifications } from './daemon-context.js';
import { openPostgresFromSnapshot } from './open-postgres.js';
import type { PostgresEventStore } from '../store-postgres/index.js';
import { createDaemonLogger, type RotatingFile } from './daemon-logger.js';
import { buildParts, type Parts } from './parts.js';
import { removePidFile, writePidFile } from './pid-file.js';
import { daemonStatus } from './status.js';

/** Exit status of a daemon that lost the race for the data dir lock (the auto-starter waits for the winner). */
export const EXIT_LOCKED = 75;
/** Exit status after a fatal error (an uncaught exception). */
export const EXIT_FATAL = 70;

/**
 * The store as the daemon holds it: the port (src/events/event-store.ts), and what only the JSONL store has (its
 * place for snapshots, the run logs it writes, repair). A PostgreSQL store has none of these, and a status of its own.
 */
export type DaemonStore = EventStore & Partial<Pick<LogStore, 'position' | 'repaired' | 'reconciled'>> & { status?(): object };

/** A node's lease when `--node-lease` is not given. */
export const DEFAULT_NODE_LEASE_MS = 15_000;

/** What keeps the daemon's cost bound to its live state: retention, snapshots, compaction (src/retention). */
export interface Housekeeping {
  retention: RunRetention;
  snapshotter: Snapshotter;
  archive: RunArchive;
  /** Events folded from the log at boot (after the snapshot, if one was used). */
  replayed: number;
}

export function retentionPolicyOf(o: DaemonOptions): RetentionPolicy {
  return { retainRuns: o.retention?.retainRuns ?? DEFAULT_RETENTION.retainRuns, retainDays: o.retention?.retainDays ?? DEFAULT_RETENTION.retainDays };
}

export function snapshotPolicyOf(o: DaemonOptions): SnapshotPolicy {
  return {
    everyEvents: o.retention?.snapshotEveryEvents ?? DEFAULT_SNAPSHOT_POLICY.everyEvents,
    everyMs: o.retention?.snapshotEveryMs ?? DEFAULT_SNAPSHOT_POLICY.everyMs,
    logBudgetBytes: o.retention?.logBudgetBytes,
  };
}

/**
 * Opens the log from the newest usable snapshot (its state, then only the log after it), falling back to an older
 * snapshot, then to the whole log, each time with a warning. A full replay archives ended runs as it folds (memory
 * stays bounded by retention whatever the history). `--repair` always replays the whole log, and a repair that
 * changed the log drops the snapshots (their places in it are gone).
 */
function openFromSnapshot(options: DaemonOptions, paths: DataPaths, logger: Logger, onCommit: (stats: CommitStats) => void): { store: LogStore; projection: Projection; archive: RunArchive; retention: RunRetention; loaded: LoadedSnapshot | undefined; replayed: number } {
  const archive = new RunArchive(paths.runs);
  const policy = retentionPolicyOf(options);
  const warn = (message: string, details: Record<string, unknown> = {}): void => { logger.warn(details, message); };
  const repair = options.repair ?? false;
  const attempt = (registry: Registry, from: LoadedSnapshot | undefined): { store: LogStore; projection: Projection; retention: RunRetention; replayed: number } => {
    registry.setArchive(archive);
    const projection = new Projection(registry);
    const retention = new RunRetention(registry, archive, policy, { events$: projection.events$, logger: logger.child({ part: 'retention' }), now: () => new Date() });
    let replayed = 0;
    const progress = new ReplayProgress(paths.root, from?.position.seq ?? 0, logger);
    const store = LogStore.open({
      root: paths.root,
      repair,
      from: from?.position,
      revOf: (stream) => projection.registry.streamRev(stream),
      ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }),
      onEvent: (e) => {
        projection.push(e);
        progress.tick();
        if (++replayed % 10_000 === 0) retention.sweep();
      },
      onWarning: warn,
      onCommit,
    });
    return { store, projection, retention, replayed };
  };
  if (!repair) {
    for (const snap of usableSnapshots(paths.snapshots, (m) => warn(m))) {
      let registry: Registry;
      try {
        registry = Registry.importState(snap.body.registry);
        archive.importIndex(snap.body.archive, (m) => warn(m));
      } catch (err) {
        warn(`snapshot ${snap.path} is not used: ${(err as Error).message}`);
        continue;
      }
      try {
        return { ...attempt(registry, snap), archive, loaded: snap };
      } catch (err) {
        if (!(err instanceof StaleStartError)) throw err;
        warn(`snapshot ${snap.path} is not used: ${err.message}; trying an older snapshot or the whole log`);
      }
    }
  }
  archive.reset();
  const full = attempt(new Registry(), undefined);
  if (full.store.repaired !== undefined) rmSync(paths.snapshots, { recursive: true, force: true });
  return { ...full, archive, loaded: undefined };
}

/**
 * Where a PostgreSQL store stands, for the snapshotter: a snapshot's place is the seq of the last event the
 * projections folded (the store's reader may be ahead of them; a boot reads on from that event's place in store order).
 */
function postgresSnapshotSource(store: PostgresEventStore, registry: Registry, root: string): SnapshotSource {
  return {
    position: () => ({ seq: registry.lastSeq, fileFirstSeq: 0, offset: 0 }),
    get failure() { return store.failure; },
    root,
  };
}

/** `arpd log compact` with a shared store: refused (the events stay in PostgreSQL). */
function withoutCompaction(s: Snapshotter): LogMaintenance {
  return {
    take: () => s.take(),
    compact: () => Promise.reject(new ArpdError('E_VALIDATION', 'log compaction is for the JSONL log in the data dir: with --store the events stay in PostgreSQL (see docs/scale-out.md); arpd log snapshot still works')),
    policy: s.policy,
  };
}

function checkNodeId(id: string): string {
  try {
    return checkId('node id', id, '--node-id');
  } catch (err) {
    throw new ArpdError('E_VALIDATION', `${toArpdError(err).message}: give --node-id another name`, { field: '--node-id' });
  }
}

/** How old the newest snapshot is (metrics), undefined before the first. */
function snapshotAge(s: Snapshotter): number | undefined {
  const at = s.last?.taken_at;
  return at === undefined || at === '' ? undefined : Date.now() - Date.parse(at);
}

/** Is anybody listening on this Unix socket? */
export function socketAnswers(path: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (v: boolean): void => { s.destroy(); clearTimeout(timer); resolve(v); };
    const timer = setTimeout(() => done(false), timeoutMs);
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/**
 * One daemon process: it owns one data dir (lock), replays the log into the projections, starts the
 * reactors (instances, health, routing, deadlines, dispatch), serves the socket and the HTTP API, and
 * shuts down gracefully (idempotent; concurrent requests share one shutdown). A storage fault does
 * not stop it: it goes on serving reads, degraded, and refuses changes with E_STORAGE.
 */
export class Daemon {
  readonly ctx: DaemonContext;
  /** Resolves with the process exit code once the daemon has stopped. */
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  private server: SocketServer | undefined;
  private parts: Parts | undefined;
  private shutdownPromise: Promise<void> | undefined;
  /** Settles when boot is over (either way): a shutdown asked for during boot waits for it. */
  private booted: Promise<void> = Promise.resolve();
  private stoppingFlag = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleSince: number | undefined;
  private readonly bus: CommandBus;
  readonly daemonOps: DaemonOps;

  private constructor(
    readonly options: DaemonOptions,
    readonly paths: DataPaths,
    private readonly lock: HeldLock,
    readonly store: DaemonStore,
    readonly projection: Projection,
    readonly logger: Logger,
    private readonly logFile: RotatingFile,
    version: string,
    readonly bootMs: number,
    readonly housekeeping: Housekeeping,
    private readonly metrics: ArpdMetrics,
    /** This daemon's node when the store is shared (PostgreSQL); undefined with the JSONL store. */
    readonly node: MutableNodeIdentity | undefined,
  ) {
    this.done = new Promise((resolve) => { this.resolveDone = resolve; });
    this.bus = new CommandBus(store, projection);
    const startedAt = new Date();
    let counter = 0;
    // 4 random bytes per id from a pool: one getrandom per 1,024 ids, not one per id (a submit's hot path)
    let pool = randomBytes(4096);
    let poolPos = 0;
    const random8 = (): string => {
      if (poolPos + 4 > pool.length) { pool = randomBytes(4096); poolPos = 0; }
      poolPos += 4;
      return pool.toString('hex', poolPos - 4, poolPos);
    };
    const client = new RuntimeClient();
    const notifications = new EventEmitter<DaemonNotifications>();
    const command = <K extends CommandType>(type: K, data: CommandDataMap[K], actor: string, extra: { correlation_id?: string; causation_id?: string } = {}): Extract<Command, { type: K }> =>
      ({ type, data, meta: { now: new Date().toISOString(), actor, ...(node === undefined ? {} : { node: node.id }), ...extra } }) as unknown as Extract<Command, { type: K }>;
    const executeRetrying = async (cmd: Command): Promise<StoredEvent[]> => {
      for (let n = 0; ; n++) {
        try {
          return await this.bus.execute(cmd);
        } catch (err) {
          // a shared store away for a while: try again (the decider decides again) until it answers or we stop
          if (!(err instanceof ArpdError) || err.code !== 'E_UNAVAILABLE' || err.data?.['retryable'] !== true || this.stoppingFlag) throw err;
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** Math.min(n, 5))));
        }
      }
    };
    this.ctx = {
      options, paths, bus: this.bus, state: projection.registry, events$: projection.events$, log: store, logger, version, startedAt, client, notifications, node, executeRetrying,
      now: () => new Date(),
      newId: (prefix) => `${prefix}_${Date.now().toString(36)}${(counter++).toString(36).padStart(3, '0')}${random8()}`,
      command,
      stopping: () => this.stoppingFlag,
      clients: () => (this.server?.connections() ?? 0) + (this.parts?.http?.openStreams() ?? 0),
      ownEndpoints: () => {
        const url = this.parts?.http?.listening;
        return url === undefined ? [] : [url];
      },
      httpUrl: () => this.parts?.http?.listening,
      status: () => daemonStatus(this),
    };
    this.daemonOps = new DaemonOps(this.ctx);
  }

  /** Starts a daemon; resolves once it is ready (lock held, log replayed, reactors started, socket listening). */
  static async start(options: DaemonOptions, version: string): Promise<Daemon> {
    const paths = dataPaths(options.dataDir, options.socketPath);
    checkSocketPath(paths.socket);
    // before the lock and the log: a file the user keeps at --socket is refused, never replaced by the socket
    checkNotOtherFile(paths.socket);
    ensurePrivateDir(paths.root);
    const { logger, file } = createDaemonLogger(paths.daemonLog, { alsoStderr: options.foreground, level: options.logLevel ?? 'info' });
    let lock: HeldLock | undefined;
    let store: DaemonStore | undefined;
    let node: MutableNodeIdentity | undefined;
    try {
      lock = acquireLock(paths.lock, { version });
      // made before the log opens: the boot's own commits are counted too
      const metrics = createMetrics(version);
      const t0 = Date.now();
      let opened: { store: DaemonStore; projection: Projection; archive: RunArchive; retention: RunRetention; loaded: LoadedSnapshot | undefined; replayed: number };
      let snapshots: { source: SnapshotSource; dir: string };
      if (options.store?.url === undefined) {
        const jsonl = openFromSnapshot(options, paths, logger, (stats) => metrics.onCommit(stats));
        store = jsonl.store;
        jsonl.projection.follow(jsonl.store.live$);
        opened = jsonl;
        snapshots = { source: jsonl.store, dir: paths.snapshots };
      } else {
        // a shared store: this daemon is a node of a cluster (src/cluster)
        node = { id: checkNodeId(options.store.nodeId ?? defaultNodeId(hostname(), paths.root)), incarnation: newIncarnation() };
        const pg = await openPostgresFromSnapshot(options, paths, logger, { applicationName: `arpd ${node.id}`, policy: retentionPolicyOf(options) });
        store = pg.store;
        opened = pg;
        snapshots = { source: postgresSnapshotSource(pg.store, pg.projection.registry, paths.root), dir: pg.snapshotsDir };
      }
      const { projection, archive, retention, loaded } = opened;
      const opStore = opened.store;
      // ended runs past retention leave memory before anything else starts (a full replay archives as it folds)
      const archivedAtBoot = retention.sweepAll();
      const bootMs = Date.now() - t0;
      logger.info({ store: opStore.kind, events: opStore.head, ms: bootMs, from_snapshot: loaded?.position.seq ?? null, replayed: opened.replayed, archived: archivedAtBoot, reconciled: opStore.reconciled, node: node?.id }, 'log replayed');
      const firstStart = opStore.head === 0;
      const snapshotter = new Snapshotter(projection.registry, archive, snapshots.source, snapshots.dir, snapshotPolicyOf(options), {
        events$: projection.events$,
        logger: logger.child({ part: 'snapshots' }),
        now: () => new Date(),
        loaded: loaded === undefined ? undefined : { seq: loaded.position.seq, path: loaded.path, bytes: loaded.bytes, ms: 0, taken_at: loaded.takenAt },
        replayed: opened.replayed,
      });
      const daemon = new Daemon(options, paths, lock, opStore, projection, logger, file, version, bootMs, { retention, snapshotter, archive, replayed: opened.replayed }, metrics, node);
      daemon.booted = daemon.boot(firstStart);
      await daemon.booted;
      return daemon;
    } catch (err) {
      if (store !== undefined) {
        const reason = `start failed: ${toArpdError(err).message}`;
        // a node that failed to start leaves nothing behind in a shared store (its lease expires)
        const opened = store;
        await opened.close(node !== undefined ? undefined : () => [{ type: 'daemon.stopped', data: { pid: process.pid, reason, run_logs_complete: runLogsCompleteAtStop(opened, false) } }]).catch(() => undefined);
      }
      lock?.release();
      const e = toArpdError(err);
      // the caller prints the one error line; the full story goes to the daemon log only
      file.fileOnly();
      if (e.code === 'E_INTERNAL') logger.error({ err }, 'daemon failed to start');
      else logger.error({ code: e.code, data: e.data }, e.message);
      file.close();
      throw err;
    }
  }

  private async boot(firstStart: boolean): Promise<void> {
    const { store, logger, paths, ctx } = this;
    store.failure$.subscribe((err) => {
      // the writer stopped (no retry after a failed fsync); reads go on, changes get E_STORAGE
      logger.fatal({ err: err.cause ?? err }, `${err.message} (the daemon stays up read-only; fix the disk, then 'arpd daemon restart --keep-instances')`);
    });
    // with a shared store the node keeper records `node.joined` instead (the `daemon` stream is one daemon's)
    if (this.node === undefined) await this.bus.execute(ctx.command('StartDaemon', { pid: process.pid, version: ctx.version, boot_id: bootId(), host: hostname() }, 'daemon'));
    if (firstStart) await this.bus.execute(ctx.command('SeedDefaultProfile', { profile: DEFAULT_PROFILE }, 'daemon'));
    if (store.repaired !== undefined) {
      // before any reactor starts: runs the repair found in flight end now, and are never dispatched again
      const { plan, copies } = store.repaired;
      await this.bus.execute(ctx.command('RecordLogRepair', { restored: plan.restored.length, lost: plan.lost.length, copies, runs: plan.runsToFail }, 'repair'));
    }
    // A stale socket (nobody answers) is removed; a live one is never unlinked, nor anything but a socket.
    if (existsSync(paths.socket)) {
      checkNotOtherFile(paths.socket);
      if (await socketAnswers(paths.socket)) {
        throw new ArpdError('E_LOCKED', `socket ${paths.socket} is in use by another process: stop it, or start with --socket pointing elsewhere`, { socket: paths.socket });
      }
      rmSync(paths.socket, { force: true });
      logger.warn({ socket: paths.socket }, 'removed a stale socket nobody answered on');
    }
    // Reactors and HTTP start before the socket listens: once a client can connect, everything is up.
    const { retention, snapshotter } = this.housekeeping;
    const parts = buildParts(ctx, {
      daemon: this.daemonOps,
      housekeeping: [retention, snapshotter],
      cluster: this.clusterParts(),
      logOps: new LogOps(ctx, store.kind === 'jsonl' ? snapshotter : withoutCompaction(snapshotter)),
      shutdown: (reason, keep) => { void this.shutdown(reason, keep === undefined ? {} : { keepInstances: keep }); },
      telemetry: { metrics: this.metrics, bootMs: this.bootMs, socketConnections: () => this.server?.connections() ?? 0, snapshotAgeMs: () => snapshotAge(snapshotter) },
    });
    this.parts = parts;
    const started: Component[] = [];
    try {
      for (const c of parts.components) {
        await c.start();
        started.push(c);
      }
      const dispatcher = createDispatcher(parts.methods, {
        onInternalError: (err, info) => logger.error({ err, method: info.method }, 'internal error in a request'),
        onRequest: parts.telemetry.onSocketRequest,
      });
      // the pid file names us before anyone can connect: a `daemon stop` right after start finds it
      this.writePid();
      this.server = await startSocketServer({
        socketPath: paths.socket,
        dispatcher,
        ...(this.options.maxLineBytes === undefined ? {} : { maxLineBytes: this.options.maxLineBytes }),
        ...(this.options.maxConnections === undefined ? {} : { maxConnections: this.options.maxConnections }),
        onRefused: parts.refused.socket,
        onInternalError: (err) => logger.error({ err }, 'socket server error'),
      });
    } catch (err) {
      // undo what started, newest first, so a failed start leaves no process or socket behind
      this.stoppingFlag = true;
      for (const c of started.reverse()) {
        try { await c.stop({ keepInstances: true }); } catch { /* best effort */ }
      }
      throw err;
    }
    this.writePid();
    if (this.options.idleTimeoutS !== undefined && this.options.idleTimeoutS > 0) this.startIdleTimer(this.options.idleTimeoutS);
    logger.info({ socket: paths.socket, data_dir: paths.root, http: ctx.httpUrl() }, 'ready'); // pid: every line has it
    const fdWarning = descriptorWarning(openFileLimit(), this.options.maxConnections ?? DEFAULT_MAX_CONNECTIONS, ctx.httpUrl() === undefined ? 1 : 2);
    if (fdWarning !== undefined) logger.warn(fdWarning);
  }

  /** With a shared store: the node's lease and membership, and the local run logs of the runs it dispatches. */
  private clusterParts(): Component[] {
    if (this.node === undefined) return [];
    const leaseMs = this.options.store?.leaseMs ?? DEFAULT_NODE_LEASE_MS;
    return [new NodeKeeper(this.ctx, this.node, (this.store as PostgresEventStore).leases(), { leaseMs }), new RunLogMirror(this.ctx)];
  }

  private writePid(): void {
    const http = this.ctx.httpUrl();
    writePidFile(this.paths.pid, {
      ...identityOf(process.pid),
      started_at: this.ctx.startedAt.toISOString(),
      version: this.ctx.version,
      data_dir: this.paths.root,
      socket: this.paths.socket,
      ...(http === undefined ? {} : { http_url: http }),
    });
  }

  /** Busy: clients connected, or runs waiting or in flight, or instances being installed or stopped. Idle ready instances do not count. */
  busy(): boolean {
    if (this.ctx.clients() > 0) return true;
    return (this.parts?.components ?? []).some((c) => c.busy?.() ?? false);
  }

  private startIdleTimer(seconds: number): void {
    this.idleTimer = setInterval(() => {
      if (this.busy()) { this.idleSince = undefined; return; }
      this.idleSince ??= Date.now();
      if (Date.now() - this.idleSince >= seconds * 1000) void this.shutdown(`idle for ${seconds}s`);
    }, Math.min(1000, seconds * 250));
    this.idleTimer.unref();
  }

  /** The operations the socket and HTTP call (for in-process use); available once started. */
  get ops(): Parts['ops'] {
    if (this.parts === undefined) throw new ArpdError('E_UNAVAILABLE', 'the daemon has not started yet');
    return this.parts.ops;
  }

  get isStopping(): boolean {
    return this.stoppingFlag;
  }

  partsStatus(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const c of this.parts?.components ?? []) Object.assign(out, c.status?.() ?? {});
    return out;
  }

  /** Graceful and idempotent: every caller gets the same shutdown. */
  shutdown(reason: string, opts: { keepInstances?: boolean } = {}): Promise<void> {
    this.shutdownPromise ??= this.booted.catch(() => undefined).then(() => this.doShutdown(reason, opts.keepInstances ?? this.options.keepInstances ?? false));
    return this.shutdownPromise;
  }

  private async doShutdown(reason: string, keepInstances: boolean): Promise<void> {
    const { logger, store } = this;
    this.stoppingFlag = true;
    logger.info({ reason, keep_instances: keepInstances }, 'shutting down');
    if (this.idleTimer !== undefined) clearInterval(this.idleTimer);
    for (const c of [...(this.parts?.components ?? [])].reverse()) {
      try {
        await c.stop({ keepInstances });
      } catch (err) {
        logger.error({ err, part: c.name }, 'a part failed to stop cleanly');
      }
    }
    try {
      await this.server?.close();
    } catch (err) {
      logger.error({ err }, 'socket server failed to close');
    }
    this.ctx.client.close();
    // daemon.stopped goes out alone, after every pending append and run log line is written
    const node = this.node;
    await this.bus.close(() => node === undefined
      ? this.ctx.command('StopDaemon', { pid: process.pid, reason, run_logs_complete: runLogsCompleteAtStop(store, true) }, 'daemon')
      : this.ctx.command('LeaveNode', { node_id: node.id, incarnation: node.incarnation, reason, instances: loopbackInstancesOf(this.ctx.state, node.id).map((i) => i.instance_id) }, 'daemon'));
    // the next boot starts from here and replays nothing
    try {
      await this.housekeeping.snapshotter.final();
    } catch (err) {
      logger.warn({ err }, 'no snapshot at shutdown: the next boot replays the log after the last one');
    }
    this.housekeeping.archive.close();
    removePidFile(this.paths.pid, process.pid);
    this.lock.release();
    logger.info({ reason }, 'stopped');
    this.logFile.close();
    this.resolveDone(0);
  }
}

/**
 * What `daemon.stopped` says of the run logs: every line of this process written (`runLogsComplete`, or `unknown` for a
 * store that does not say) and no queued run left without its log (a boot checks fewer runs after a complete stop).
 */
function runLogsCompleteAtStop(store: EventStore, unknown: boolean): boolean {
  return (store.runLogsComplete ?? unknown) && (store.runLogsWaiting ?? 0) === 0;
}
