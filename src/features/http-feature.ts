/**
 * The ARP HTTP API as a daemon feature: it starts last (after the socket and the other features) and stops
 * first. The routes call the same ops as the socket methods (one dispatch, two transports).
 *
 * Port: `--http-port N` is taken or start-up fails (E_UNAVAILABLE); without it the default 8082 is tried and,
 * when it is in use, a free port is taken instead (logged, and shown in `daemon status`). Either way the URL is
 * written to `<data-dir>/http.url` (0600) and reported to the daemon (pid file, status), and removed at stop.
 */
import { readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { DaemonContext, Feature } from '../daemon/daemon-context.js';
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { forEachEvent, matchesFilter, type EventFilter } from '../events/log-read.js';
import type { Health, HealthCheck, VersionInfo } from '../schemas/index.js';
import { createAuthenticator, type Authenticator } from '../server/http-auth.js';
import { createHttpApp, DEFAULT_HTTP_BODY_LIMIT } from '../server/http-app.js';
import type { EventsSubscription, HttpBackend, LogEvent } from '../server/http-routes.js';
import type { SseRegistry } from '../server/http-sse.js';
import { defaultUiAssetsDir } from '../server/http-ui.js';
import { registryReplayer } from './registry-replay.js';
import { packageRoot } from '../version.js';
import type { InstanceOps } from './instances-feature.js';
import type { ProfileOps } from './profiles-feature.js';
import type { RunOps } from './runs-feature.js';

export const DEFAULT_HTTP_PORT = 8082;
/** How long in-flight requests may take to finish at shutdown before their connections are cut. */
const CLOSE_GRACE_MS = 2000;

/** `extra.http` of the daemon options (see src/cli/serve-options.ts). */
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
}

export interface HttpDeps {
  profiles: { ops(ctx: DaemonContext): ProfileOps };
  instances: { ops(ctx: DaemonContext): InstanceOps };
  runs: { ops(ctx: DaemonContext): RunOps };
}

/** The URL a local client uses to reach a server bound to `host`. */
export function urlOf(host: string, port: number): string {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  const shown = h === '0.0.0.0' || h === '' ? '127.0.0.1' : h === '::' ? '[::1]' : h.includes(':') ? `[${h}]` : h;
  return `http://${shown}:${port}`;
}

function writePrivate(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

// ---- health and version -------------------------------------------------------------------------

const RANK = { ok: 0, degraded: 1, down: 2 } as const;

function health(ctx: DaemonContext): Health {
  const failed = ctx.store.failed;
  const checks: HealthCheck[] = [
    failed === undefined
      ? { name: 'event_log', status: 'ok', message: 'the event log is writable', details: { last_seq: ctx.store.committedSeq } }
      : { name: 'event_log', status: 'down', message: failed.message, details: { last_seq: ctx.store.committedSeq } },
    ctx.stopping()
      ? { name: 'daemon', status: 'degraded', message: 'the daemon is shutting down' }
      : { name: 'daemon', status: 'ok', message: 'running' },
    { name: 'instances', status: 'ok', message: 'runtime instances by state', details: { ...ctx.projection.registry.countInstancesByState() } },
  ];
  const worst = checks.reduce<HealthCheck['status']>((w, c) => (RANK[c.status] > RANK[w] ? c.status : w), 'ok');
  return { status: worst, time: ctx.now().toISOString(), checks };
}

/** The git commit of a source checkout (`.git` beside package.json), if there is one. */
function gitCommit(root: string): string | undefined {
  const git = join(root, '.git');
  try {
    const head = readFileSync(join(git, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref: (refs\/[A-Za-z0-9._/-]+)$/.exec(head)?.[1];
    if (ref === undefined || ref.includes('..')) return undefined;
    try {
      const sha = readFileSync(join(git, ref), 'utf8').trim();
      if (/^[0-9a-f]{40}$/.test(sha)) return sha;
    } catch { /* packed */ }
    for (const line of readFileSync(join(git, 'packed-refs'), 'utf8').split('\n')) {
      const [sha, name] = line.trim().split(' ');
      if (name === ref && sha !== undefined && /^[0-9a-f]{40}$/.test(sha)) return sha;
    }
  } catch { /* not a checkout */ }
  return undefined;
}

function buildInfo(): NonNullable<VersionInfo['build']> {
  const build: NonNullable<VersionInfo['build']> = {};
  const commit = gitCommit(packageRoot());
  if (commit !== undefined) build.commit = commit;
  try {
    // when this file was compiled (npm packs files with a 1985 date: that is no build time)
    const m = statSync(fileURLToPath(import.meta.url)).mtime;
    if (m.getUTCFullYear() >= 2000) build.built_at = m.toISOString();
  } catch { /* unknown */ }
  return build;
}

function version(ctx: DaemonContext, build: NonNullable<VersionInfo['build']>): VersionInfo {
  return {
    service_name: 'arpd',
    service_version: ctx.version,
    supported_api_versions: ['v1'],
    ...(Object.keys(build).length === 0 ? {} : { build }),
    extensions: { 'arpd.runtime': { node: process.version } },
  };
}

// ---- the global log as a stream -------------------------------------------------------------------

/** Like the `events.subscribe` socket method: catch up from the files in pages, then go live, never a gap or a repeat. */
function subscribeEvents(ctx: DaemonContext, opts: { fromSeq?: number | undefined; types?: string[] | undefined; stream?: string | undefined }, send: (e: LogEvent) => boolean, fail: (err: unknown) => void): EventsSubscription {
  const head = ctx.store.committedSeq;
  const from = opts.fromSeq ?? head + 1;
  const filter: EventFilter = { ...(opts.types === undefined ? {} : { types: opts.types }), ...(opts.stream === undefined ? {} : { stream: opts.stream }) };
  let sentUpTo = from - 1;
  let live = false;
  let closed = false;
  const buffered: StoredEvent[] = [];
  const emit = (e: StoredEvent): boolean => {
    if (closed) return false;
    if (e.seq <= sentUpTo) return true;
    sentUpTo = e.seq;
    if (!matchesFilter(e, filter)) return true;
    if (!send(e)) { stop(); return false; }
    return true;
  };
  const subscription = ctx.projection.events$.subscribe((e) => {
    if (live) emit(e);
    else buffered.push(e);
  });
  const stop = (): void => {
    if (closed) return;
    closed = true;
    subscription.unsubscribe();
    buffered.length = 0;
  };
  const catchUp = (): void => {
    if (closed) return;
    let count = 0;
    try {
      forEachEvent(ctx.paths.root, (e) => emit(e) && ++count < 500, { fromSeq: sentUpTo + 1, toSeq: head });
    } catch (err) {
      stop();
      fail(err);
      return;
    }
    if (closed) return;
    if (count >= 500 && sentUpTo < head) { setImmediate(catchUp); return; }
    live = true;
    for (const e of buffered.splice(0)) if (!emit(e)) return;
  };
  setImmediate(catchUp);
  return { fromSeq: from, headSeq: head, stop };
}

// ---- the feature ------------------------------------------------------------------------------------

export function httpFeature(options: HttpOptions, deps: HttpDeps): Feature {
  const host = options.host ?? '127.0.0.1';
  let app: FastifyInstance | undefined;
  let streams: SseRegistry | undefined;
  let auth: Authenticator | undefined;
  let url: string | undefined;
  let fallbackFrom: number | undefined;

  return {
    name: 'http',
    async start(ctx) {
      auth = createAuthenticator({
        mode: options.auth ?? 'token',
        host,
        tokenFile: ctx.paths.httpToken,
        jwtIssuer: options.jwtIssuer,
        jwtAudience: options.jwtAudience,
        jwtJwksFile: options.jwtJwksFile,
        jwtSecretFile: options.jwtSecretFile,
      });
      const build = buildInfo();
      const backend: HttpBackend = {
        profiles: deps.profiles.ops(ctx),
        instances: deps.instances.ops(ctx),
        runs: deps.runs.ops(ctx),
        health: () => health(ctx),
        version: () => version(ctx, build),
        status: () => ctx.status(),
        subscribeEvents: (opts, send, fail) => subscribeEvents(ctx, opts, send, fail),
        streamFailed: (err, info) => ctx.logger.error({ err, ...info }, 'internal error in an HTTP event stream'),
      };
      const make = () => createHttpApp({
        backend,
        auth: auth as Authenticator,
        ...(auth?.mode === 'token' ? { authHint: `the token is in ${ctx.paths.httpToken}` } : {}),
        version: ctx.version,
        bodyLimit: options.bodyLimit ?? DEFAULT_HTTP_BODY_LIMIT,
        onInternalError: (err, info) => ctx.logger.error({ err, ...info }, 'internal error in an HTTP request'),
        ui: { assetsDir: defaultUiAssetsDir(packageRoot()), instancesDir: ctx.paths.instances, replay: registryReplayer(ctx.paths.root) },
      });
      const requested = options.port;
      const port = requested ?? DEFAULT_HTTP_PORT;
      let made = await make();
      try {
        await made.app.listen({ host, port });
      } catch (err) {
        await made.app.close().catch(() => undefined);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' && requested === undefined) {
          made = await make();
          await made.app.listen({ host, port: 0 });
          fallbackFrom = port;
        } else if (code === 'EADDRINUSE') {
          throw new ArpdError('E_UNAVAILABLE', `HTTP port ${port} is in use: choose another with --http-port, or --http-port 0 for a free one`, { port, host });
        } else if (code === 'EACCES') {
          throw new ArpdError('E_UNAVAILABLE', `HTTP port ${port} needs privileges arpd does not have: choose a port above 1023 with --http-port, or --http-port 0 for a free one`, { port, host });
        } else if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
          throw new ArpdError('E_VALIDATION', `--http-host '${host}' is not an address of this machine: use 127.0.0.1, or an address of one of its interfaces`, { field: '--http-host', host, usage: true });
        } else {
          throw err;
        }
      }
      app = made.app;
      streams = made.streams;
      const address = app.server.address();
      if (address === null || typeof address === 'string') throw new ArpdError('E_INTERNAL', 'the HTTP API is not listening on a TCP port');
      url = urlOf(host, address.port);
      if (fallbackFrom !== undefined) ctx.logger.warn({ port: fallbackFrom, url }, `HTTP port ${fallbackFrom} is in use: the HTTP API listens on ${url} instead (choose one with --http-port)`);
      writePrivate(ctx.paths.httpUrl, `${url}\n`);
      ctx.setHttpUrl(url);
      ctx.logger.info({ url, auth: auth.mode }, 'HTTP API listening');
    },
    async stop(ctx) {
      const running = app;
      if (running === undefined) return;
      app = undefined;
      rmSync(ctx.paths.httpUrl, { force: true });
      ctx.setHttpUrl(undefined);
      const cut = setTimeout(() => running.server.closeAllConnections(), CLOSE_GRACE_MS);
      try {
        await running.close();
      } finally {
        clearTimeout(cut);
      }
    },
    busy: () => (streams?.size ?? 0) > 0,
    status: () => (url === undefined ? {} : {
      http: {
        url,
        auth: auth?.mode ?? 'token',
        ...(fallbackFrom === undefined ? {} : { warning: `port ${fallbackFrom} was in use: listening on a free port instead (choose one with --http-port)` }),
      },
    }),
  };
}
