import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { createConnection } from 'node:net';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { dataPaths, type DataPaths } from '../config/data-dir.js';
import { ArpdError, toArpdError } from '../errors/index.js';
import { acquireLock, type HeldLock } from '../events/data-lock.js';
import { LogStore } from '../events/log-store.js';
import { Projection } from '../projections/projection.js';
import { createDispatcher, type MethodTable } from '../server/rpc-dispatch.js';
import { checkSocketPath, startSocketServer, type SocketServer } from '../server/socket-server.js';
import { bootId, identityOf } from '../system/process-identity.js';
import { CommandBus } from './command-bus.js';
import type { DaemonContext, Feature } from './daemon-context.js';
import { createDaemonLogger, type RotatingFile } from './daemon-logger.js';
import type { DaemonOptions } from './daemon-options.js';
import { removePidFile, writePidFile } from './pid-file.js';
import { coreMethods, daemonStatus } from './core-methods.js';

/** Exit status of a daemon that lost the race for the data dir lock (the auto-starter waits for the winner). */
export const EXIT_LOCKED = 75;
/** Exit status after a fatal error (log write failure, uncaught exception). */
export const EXIT_FATAL = 70;

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
 * One daemon process: it owns one data dir (lock), replays the log into the projections, serves the
 * socket, runs the features' reactors, and shuts down gracefully (idempotent; concurrent requests
 * share one shutdown).
 */
export class Daemon {
  readonly ctx: DaemonContext;
  /** Resolves with the process exit code once the daemon has stopped. */
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  private server: SocketServer | undefined;
  private shutdownPromise: Promise<void> | undefined;
  /** Settles when boot is over (either way): a shutdown asked for during boot waits for it. */
  private booted: Promise<void> = Promise.resolve();
  private stoppingFlag = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleSince: number | undefined;
  private http: string | undefined;
  private exitCode = 0;

  private constructor(
    readonly options: DaemonOptions,
    readonly paths: DataPaths,
    private readonly lock: HeldLock,
    readonly store: LogStore,
    readonly projection: Projection,
    readonly logger: Logger,
    private readonly logFile: RotatingFile,
    private readonly features: Feature[],
    version: string,
  ) {
    this.done = new Promise((resolve) => { this.resolveDone = resolve; });
    const bus = new CommandBus(store, projection);
    const startedAt = new Date();
    let counter = 0;
    this.ctx = {
      options, paths, store, projection, bus, logger, version, startedAt,
      now: () => new Date(),
      newId: (prefix) => `${prefix}_${Date.now().toString(36)}${(counter++).toString(36).padStart(3, '0')}${randomBytes(4).toString('hex')}`,
      stopping: () => this.stoppingFlag,
      clients: () => this.server?.connections() ?? 0,
      httpUrl: () => this.http,
      setHttpUrl: (url) => this.setHttpUrl(url),
      status: () => daemonStatus(this),
    };
  }

  /** Starts a daemon; resolves once it is ready (lock held, log replayed, socket listening). */
  static async start(options: DaemonOptions, features: Feature[], version: string): Promise<Daemon> {
    const paths = dataPaths(options.dataDir, options.socketPath);
    checkSocketPath(paths.socket);
    ensurePrivateDir(paths.root);
    const { logger, file } = createDaemonLogger(paths.daemonLog, { alsoStderr: options.foreground, level: options.logLevel ?? 'info' });
    let lock: HeldLock | undefined;
    let store: LogStore | undefined;
    try {
      lock = acquireLock(paths.lock, { version });
      const projection = new Projection();
      const t0 = Date.now();
      store = LogStore.open({
        root: paths.root,
        repair: options.repair ?? false,
        ...(options.segmentBytes === undefined ? {} : { segmentBytes: options.segmentBytes }),
        onEvent: (e) => projection.push(e),
        onWarning: (message, details) => logger.warn(details, message),
      });
      projection.follow(store.appended$);
      logger.info({ events: store.seq, ms: Date.now() - t0, reconciled: store.reconciled }, 'log replayed');
      const firstStart = store.seq === 0;
      const daemon = new Daemon(options, paths, lock, store, projection, logger, file, features, version);
      daemon.booted = daemon.boot(firstStart);
      await daemon.booted;
      return daemon;
    } catch (err) {
      if (store !== undefined) {
        const reason = `start failed: ${toArpdError(err).message}`;
        await store.closeWith((s) => ({ type: 'daemon.stopped', data: { pid: process.pid, reason, run_logs_complete: s.runLogsComplete } })).catch(() => undefined);
      }
      lock?.release();
      const e = toArpdError(err);
      if (e.code === 'E_INTERNAL') logger.error({ err }, 'daemon failed to start');
      else logger.error({ code: e.code, data: e.data }, e.message);
      file.close();
      throw err;
    }
  }

  private async boot(firstStart: boolean): Promise<void> {
    const { store, logger, paths } = this;
    store.fatal$.subscribe((err) => {
      logger.fatal({ err: err.cause ?? err }, err.message);
      this.exitCode = EXIT_FATAL;
      void this.shutdown('event log write failed');
    });
    await store.append({ type: 'daemon.started', data: { pid: process.pid, version: this.ctx.version, boot_id: bootId(), host: hostname() } });
    if (firstStart) {
      for (const f of this.features) await f.seed?.(this.ctx);
    }
    // A stale socket (nobody answers) is removed; a live one is never unlinked.
    if (existsSync(paths.socket)) {
      if (await socketAnswers(paths.socket)) {
        throw new ArpdError('E_LOCKED', `socket ${paths.socket} is in use by another process: stop it, or start with --socket pointing elsewhere`, { socket: paths.socket });
      }
      rmSync(paths.socket, { force: true });
      logger.warn({ socket: paths.socket }, 'removed a stale socket nobody answered on');
    }
    // Features start before the socket listens: once a client can connect, everything (HTTP too) is up.
    const started: Feature[] = [];
    try {
      for (const f of this.features) {
        await f.start?.(this.ctx);
        started.push(f);
      }
      const methods: Record<string, MethodTable[string]> = { ...coreMethods(this) };
      for (const f of this.features) Object.assign(methods, f.methods?.(this.ctx) ?? {});
      const dispatcher = createDispatcher(methods, {
        onInternalError: (err, info) => logger.error({ err, method: info.method }, 'internal error in a request'),
      });
      // the pid file names us before anyone can connect: a `daemon stop` right after start finds it
      this.writePid();
      this.server = await startSocketServer({
        socketPath: paths.socket,
        dispatcher,
        ...(this.options.maxLineBytes === undefined ? {} : { maxLineBytes: this.options.maxLineBytes }),
        onInternalError: (err) => logger.error({ err }, 'socket server error'),
      });
    } catch (err) {
      // undo what started, newest first, so a failed start leaves no process or socket behind
      this.stoppingFlag = true;
      for (const f of started.reverse()) {
        try { await f.stop?.(this.ctx, { keepInstances: true }); } catch { /* best effort */ }
      }
      throw err;
    }
    this.writePid();
    if (this.options.idleTimeoutS !== undefined && this.options.idleTimeoutS > 0) this.startIdleTimer(this.options.idleTimeoutS);
    logger.info({ pid: process.pid, socket: paths.socket, data_dir: paths.root, http: this.http }, 'ready');
  }

  /** Features call this once their HTTP server listens. */
  setHttpUrl(url: string | undefined): void {
    this.http = url;
    if (this.server !== undefined) this.writePid();
  }

  private writePid(): void {
    writePidFile(this.paths.pid, {
      ...identityOf(process.pid),
      started_at: this.ctx.startedAt.toISOString(),
      version: this.ctx.version,
      data_dir: this.paths.root,
      socket: this.paths.socket,
      ...(this.http === undefined ? {} : { http_url: this.http }),
    });
  }

  private startIdleTimer(seconds: number): void {
    this.idleTimer = setInterval(() => {
      const idle = this.ctx.clients() === 0 && !this.features.some((f) => f.busy?.(this.ctx) ?? false);
      if (!idle) { this.idleSince = undefined; return; }
      this.idleSince ??= Date.now();
      if (Date.now() - this.idleSince >= seconds * 1000) void this.shutdown(`idle for ${seconds}s`);
    }, Math.min(1000, seconds * 250));
    this.idleTimer.unref();
  }

  get isStopping(): boolean {
    return this.stoppingFlag;
  }

  featureStatus(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const f of this.features) Object.assign(out, f.status?.(this.ctx) ?? {});
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
    for (const f of [...this.features].reverse()) {
      try {
        await f.stop?.(this.ctx, { keepInstances });
      } catch (err) {
        logger.error({ err, feature: f.name }, 'feature failed to stop cleanly');
      }
    }
    try {
      await this.server?.close();
    } catch (err) {
      logger.error({ err }, 'socket server failed to close');
    }
    // daemon.stopped goes out alone, after every pending append and run log line is written
    await store.closeWith((s) => ({ type: 'daemon.stopped', data: { pid: process.pid, reason, run_logs_complete: s.runLogsComplete } }));
    removePidFile(this.paths.pid, process.pid);
    this.lock.release();
    logger.info({ reason }, 'stopped');
    this.logFile.close();
    this.resolveDone(this.exitCode);
  }
}

