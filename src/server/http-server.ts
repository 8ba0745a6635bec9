/**
 * The ARP HTTP API as a part of the daemon: it starts last (after the socket and the reactors) and stops first.
 *
 * Port: `--http-port N` is taken or start-up fails (E_UNAVAILABLE); without it the default 8082 is tried and,
 * when it is in use, a free port is taken instead (logged, and shown in `daemon status`). Either way the URL is
 * written to `<data-dir>/http.url` (0600) and removed at stop.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { DataPaths } from '../config/data-dir.js';
import type { HttpOptions } from '../config/daemon-options.js';
import { ArpdError } from '../errors/index.js';
import { DEFAULT_MAX_CONNECTIONS } from './connection-limit.js';
import { createAuthenticator, type Authenticator } from './http-auth.js';
import type { HttpAppOptions } from './http-app.js';
import { hostPolicy, type HostPolicy } from './http-origin.js';
import type { HttpBackend } from './http-routes.js';
import type { SseRegistry } from './http-sse.js';

export const DEFAULT_HTTP_PORT = 8082;
/** How long in-flight requests may take to finish at shutdown before their connections are cut. */
const CLOSE_GRACE_MS = 2000;

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

export interface HttpServerDeps {
  paths: DataPaths;
  logger: Logger;
  version: string;
  backend: HttpBackend;
  /** More routes (metrics, the UI), registered on the same app. */
  plugins?: Array<(app: FastifyInstance, auth: Authenticator) => Promise<void> | void>;
  /** The dashboard at /ui and the API it needs (see http-ui.ts). */
  ui?: HttpAppOptions['ui'];
  /** Each answer sent (the metrics): see HttpAppOptions.onAnswered. */
  onAnswered?: HttpAppOptions['onAnswered'];
  /** Open connections at most (connection-limit.ts); more are closed at once by Node (`maxConnections`). */
  maxConnections?: number;
  /** A connection was refused for `maxConnections`. */
  onRefused?: () => void;
}

export class HttpServer {
  readonly name = 'http';
  private app: FastifyInstance | undefined;
  private streams: SseRegistry | undefined;
  private auth: Authenticator | undefined;
  private url: string | undefined;
  private fallbackFrom: number | undefined;
  private policy: HostPolicy = { hosts: new Set(), origins: new Set() };

  constructor(private readonly options: HttpOptions, private readonly deps: HttpServerDeps) {}

  get listening(): string | undefined {
    return this.url;
  }

  async start(): Promise<void> {
    const o = this.options;
    const host = o.host ?? '127.0.0.1';
    const auth = createAuthenticator({
      mode: o.auth ?? 'token',
      host,
      tokenFile: this.deps.paths.httpToken,
      adminTokenFile: this.deps.paths.httpAdminToken,
      jwtIssuer: o.jwtIssuer,
      jwtAudience: o.jwtAudience,
      jwtJwksFile: o.jwtJwksFile,
      jwtSecretFile: o.jwtSecretFile,
    });
    this.auth = auth;
    // fastify and its plugins are loaded only by a daemon that serves HTTP (a --no-http start never pays for them)
    const { createHttpApp, DEFAULT_HTTP_BODY_LIMIT } = await import('./http-app.js');
    const make = () => createHttpApp({
      backend: this.deps.backend,
      auth,
      hosts: () => this.policy,
      ...(auth.mode === 'token' ? { authHint: `the token is in ${this.deps.paths.httpToken}` } : {}),
      version: this.deps.version,
      bodyLimit: o.bodyLimit ?? DEFAULT_HTTP_BODY_LIMIT,
      ...(o.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: o.requestTimeoutMs }),
      ...(o.keepAliveTimeoutMs === undefined ? {} : { keepAliveTimeoutMs: o.keepAliveTimeoutMs }),
      ...(o.metricsPublic === undefined ? {} : { metricsPublic: o.metricsPublic }),
      plugins: (this.deps.plugins ?? []).map((p) => (app: FastifyInstance) => p(app, auth)),
      ...(this.deps.ui === undefined ? {} : { ui: this.deps.ui }),
      ...(this.deps.onAnswered === undefined ? {} : { onAnswered: this.deps.onAnswered }),
      onInternalError: (err, info) => this.deps.logger.error({ err, ...info }, 'internal error in an HTTP request'),
    });
    const requested = o.port;
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
        this.fallbackFrom = port;
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
    this.app = made.app;
    this.streams = made.streams;
    // a flood of connections (anyone on the host can connect; the token is checked per request) takes at most this
    // many descriptors: the next ones are closed before a byte is read
    this.app.server.maxConnections = this.deps.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    const onRefused = this.deps.onRefused;
    if (onRefused !== undefined) this.app.server.on('drop', () => onRefused());
    const address = this.app.server.address();
    if (address === null || typeof address === 'string') throw new ArpdError('E_INTERNAL', 'the HTTP API is not listening on a TCP port');
    this.policy = hostPolicy(host, address.port, o.allowedHosts ?? []);
    this.url = urlOf(host, address.port);
    if (this.fallbackFrom !== undefined) this.deps.logger.warn({ port: this.fallbackFrom, url: this.url }, `HTTP port ${this.fallbackFrom} is in use: the HTTP API listens on ${this.url} instead (choose one with --http-port)`);
    writePrivate(this.deps.paths.httpUrl, `${this.url}\n`);
    this.deps.logger.info({ url: this.url, auth: auth.mode }, 'HTTP API listening');
  }

  async stop(): Promise<void> {
    const running = this.app;
    if (running === undefined) return;
    this.app = undefined;
    rmSync(this.deps.paths.httpUrl, { force: true });
    this.url = undefined;
    const cut = setTimeout(() => running.server.closeAllConnections(), CLOSE_GRACE_MS);
    try {
      await running.close();
    } finally {
      clearTimeout(cut);
    }
  }

  /** Open event streams (they keep an ephemeral daemon alive). */
  openStreams(): number {
    return this.streams?.size ?? 0;
  }

  status(): Record<string, unknown> {
    return this.url === undefined ? {} : {
      http: {
        url: this.url,
        auth: this.auth?.mode ?? 'token',
        ...(this.fallbackFrom === undefined ? {} : { warning: `port ${this.fallbackFrom} was in use: listening on a free port instead (choose one with --http-port)` }),
      },
    };
  }
}
