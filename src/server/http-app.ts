/**
 * The ARP Daemon API v1 over HTTP, as a fastify app: the routes of http-routes.ts behind bearer auth, an OpenAPI
 * document at `/openapi.json` and Swagger UI at `/docs` (both from the route schemas, assets from the package),
 * and every error as an ErrorEnvelope in JSON: 400 bad input (naming the field), 401 no valid token,
 * 404 unknown thing or route, 405 known route with another method (with `Allow`; the /docs tree and CONNECT too),
 * 409 conflicts, 413 body over the limit (with `Expect: 100-continue`, before the body is asked for), 415 body not
 * JSON, 417 an `Expect` other than 100-continue, 500 with a short message (the full error goes to the daemon log).
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ArpdError } from '../errors/index.js';
import { MAX_REQUEST_DEPTH, jsonTextTooDeep } from '../policy/json-limits.js';
import { SCHEMAS, type SchemaName } from '../schemas/index.js';
import { wwwAuthenticate, type AdminNeed, type Authenticator } from './http-auth.js';
import { checkHostAndOrigin, type HostPolicy } from './http-origin.js';
import { envelope, httpStatusOf, toHttpError } from './http-errors.js';
import { apiRoutes, type HttpBackend, type HttpMethod } from './http-routes.js';
import { SseRegistry } from './http-sse.js';
import { httpUi, isUiPath, checkApiRequest, securityHeaders, UiSessions } from './http-ui.js';
import { httpUiApi, type HttpUiApiOptions } from './http-ui-api.js';

export const DEFAULT_HTTP_BODY_LIMIT = 1024 * 1024;

export interface HttpAppOptions {
  backend: HttpBackend;
  auth: Authenticator;
  /** Which Host and Origin headers are accepted (DNS rebinding and cross-site requests are refused); known once listening. */
  hosts: () => HostPolicy;
  /** A whole request must arrive within this (default 30 s); idle keep-alive connections close after keepAliveTimeoutMs (default 5 s). */
  requestTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /** Serve GET /metrics without credentials (`--metrics-public`). */
  metricsPublic?: boolean;
  /** More routes (plugins) registered by other parts (metrics, the UI). */
  plugins?: Array<(app: FastifyInstance) => Promise<void> | void>;
  /** Where the token lives, for the 401 message of the OpenAPI document. */
  authHint?: string;
  version: string;
  bodyLimit?: number;
  /** An E_INTERNAL happened: the full error, for the daemon log. */
  onInternalError(err: unknown, info: { method: string; url: string }): void;
  /** The dashboard at /ui (http-ui.ts) and the API it needs (http-ui-api.ts). */
  ui?: { assetsDir: string; instancesDir: string; replay: HttpUiApiOptions['replay'] };
  /**
   * Each answer once it is sent (an event stream once it ends or its client leaves; a request whose client left before
   * the answer, as status 499): its method, route pattern (`/v1/runs/{run_id}`, `/ui/assets/{name}`: never the raw URL;
   * `unmatched` when no route matched), status and latency. For the metrics.
   */
  onAnswered?: (method: string, route: string, status: number, seconds: number) => void;
}

/** What the onRequest hook leaves on the raw request for `onAnswered`: the fastify request (until it is counted) and when it started. */
const FASTIFY_REQUEST = Symbol('arpd.fastifyRequest');
const STARTED_AT = Symbol('arpd.startedAt');
interface StampedRequest extends IncomingMessage { [FASTIFY_REQUEST]?: FastifyRequest | undefined; [STARTED_AT]?: number }

/** On a connection: its latest answer, counted when the connection closes if that answer has not finished. */
const ANSWER_IN_FLIGHT = Symbol('arpd.answerInFlight');
interface TrackedSocket extends Socket { [ANSWER_IN_FLIGHT]?: ServerResponse | undefined }

/** The status an answer is counted with when its client left before its headers were sent (nginx's "client closed request"). */
const CLIENT_CLOSED_STATUS = 499;

/**
 * Calls `onAnswered` for each answer `server` finishes. Node's `http.server.response.finish` channel costs one call
 * per answer; a fastify `onResponse` hook cost ~4 µs of a GET's ~40 µs of CPU (its runner and a listener pair per
 * response, BENCHMARKS.md). An answer that never finishes (an event stream or a waiting request whose client left:
 * its connection closed first) is counted when its connection closes, with its status when its headers were sent (a
 * stream: 200), else 499: `track` (called by the onRequest hook) notes the connection's answer in flight, and one
 * `close` listener a connection (not one a request: ~3 µs of a GET's CPU) counts it if it is unfinished. Each answer
 * is counted once: counting forgets the request's stamp. Answers the hook never stamped (fastify's framework errors,
 * before routing) are not counted, as they were not under the hook. `stop` unsubscribes.
 */
function observeAnswers(server: Server, onAnswered: NonNullable<HttpAppOptions['onAnswered']>): { stop(): void; track(res: ServerResponse): void } {
  const count = (raw: StampedRequest, status: number): void => {
    const req = raw[FASTIFY_REQUEST];
    if (req === undefined) return;
    raw[FASTIFY_REQUEST] = undefined;
    // routeOptions is a getter that builds an object: read it once
    const options = req.routeOptions;
    const config = options.config as { openapiPath?: unknown } | undefined;
    const url = options.url;
    // a plugin's route is in fastify's form (`/ui/assets/:name`): labelled in the API's (`/ui/assets/{name}`)
    const route = typeof config?.openapiPath === 'string' ? config.openapiPath : url === undefined ? 'unmatched' : url.includes(':') ? templateOf(url) : url;
    onAnswered(req.method, route, status, (performance.now() - (raw[STARTED_AT] ?? 0)) / 1000);
  };
  const onFinish = (message: unknown): void => {
    const m = message as { request: StampedRequest; response: ServerResponse; server?: Server };
    if (m.server === server) count(m.request, m.response.statusCode);
  };
  subscribe('http.server.response.finish', onFinish);
  // one shared function (`this` is the connection), no closure per connection; an answer that finished was counted
  // (its stamp is gone) and is not counted again
  const onConnectionClose = function (this: TrackedSocket): void {
    const res = this[ANSWER_IN_FLIGHT];
    if (res === undefined) return;
    this[ANSWER_IN_FLIGHT] = undefined;
    count(res.req as StampedRequest, res.headersSent ? res.statusCode : CLIENT_CLOSED_STATUS);
  };
  const onConnection = (socket: Socket): void => { socket.once('close', onConnectionClose); };
  server.on('connection', onConnection);
  return {
    stop: () => {
      unsubscribe('http.server.response.finish', onFinish);
      server.off('connection', onConnection);
    },
    track: (res) => { if (res.socket !== null) (res.socket as TrackedSocket)[ANSWER_IN_FLIGHT] = res; },
  };
}

/** The schemas the routes refer to by name (`{ $ref: 'RunStatus#' }`), components in the OpenAPI document. */
const SHARED: readonly SchemaName[] = [
  'ErrorEnvelope', 'Health', 'VersionInfo',
  'RuntimeInstance', 'InstanceCreateRequest', 'InstanceCreateResponse', 'InstanceRegisterRequest', 'InstanceRegisterResponse', 'InstanceListResponse',
  'RuntimeProfile', 'RuntimeProfileUpsertRequest', 'RuntimeProfileListResponse',
  'RunRequest', 'RunStatus', 'RunListResponse', 'RunResult', 'TraceResponse',
];

/** `/v1/runs/{run_id}:cancel` -> `/v1/runs/:run_id(^[^:/]+)::cancel` (`::` is a literal ':'; ids never hold ':'). */
export function fastifyPathOf(template: string): string {
  return template.replace(/:/g, '::').replace(/\{([A-Za-z0-9_]+)\}/g, ':$1(^[^:/]+)');
}

/** The inverse of `fastifyPathOf` (also for plain fastify paths such as `/v1/instances/:instance_id/logs`). */
export function templateOf(fastifyPath: string): string {
  return fastifyPath.replace(/::/g, '\0').replace(/:([A-Za-z0-9_]+)(\([^)]*\))?/g, '{$1}').replace(/\0/g, ':');
}

/** The paths a route template matches; a template ending in `/*` (a static files route) matches everything below it. */
function matcherOf(template: string): RegExp {
  const wildcard = template.endsWith('/*');
  const parts = (wildcard ? template.slice(0, -1) : template).split(/(\{[A-Za-z0-9_]+\})/)
    .map((p) => (p.startsWith('{') ? '[^:/]+' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  return new RegExp(`^${parts.join('')}${wildcard ? '.*' : ''}$`);
}

const PUBLIC_PATHS = new Set(['/v1/health', '/v1/version', '/openapi.json']);
/** Ids are at most 128 characters; a longer path parameter reaches the id check (and its message) instead of a router 404. */
const MAX_PARAM_LENGTH = 1024;

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function mayHaveBody(headers: IncomingHttpHeaders): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function isPublicPath(path: string): boolean {
  return PUBLIC_PATHS.has(path) || path === '/docs' || path.startsWith('/docs/');
}

/** A whole HTTP/1.1 answer carrying `err`'s envelope, for a socket that fastify does not own (it then closes). */
function rawAnswer(status: number, reason: string, err: ArpdError, headers: Record<string, string> = {}): string {
  const body = JSON.stringify(envelope(err));
  const more = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`
    + `${more}Connection: close\r\n\r\n${body}`;
}

/** A body that has not all arrived within `ms` has its connection closed (see the hook below). */
function limitBodyTime(req: FastifyRequest, reply: FastifyReply, ms: number): void {
  const timer = setTimeout(() => { if (!req.raw.complete) req.raw.socket.destroy(); }, ms);
  timer.unref();
  req.raw.once('end', () => clearTimeout(timer));
  reply.raw.once('close', () => { if (req.raw.complete) clearTimeout(timer); });
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const AS_ADMIN: AdminNeed = Object.freeze({ admin: true });
const AS_CALLER: AdminNeed = Object.freeze({});

/**
 * Whether the request's route needs admin credentials. Admin routes change things, so a GET, HEAD or OPTIONS never
 * needs them (the `onRoute` hook refuses an admin route with a safe method): the hot GETs skip `routeOptions`, a
 * getter that builds an object of a dozen fields each time it is read.
 */
function adminOf(req: FastifyRequest): AdminNeed {
  if (SAFE_METHODS.has(req.method)) return AS_CALLER;
  const config = req.routeOptions.config as { admin?: boolean; adminNeed?: AdminNeed } | undefined;
  return config?.admin === true ? config.adminNeed ?? AS_ADMIN : AS_CALLER;
}

export async function createHttpApp(o: HttpAppOptions): Promise<{ app: FastifyInstance; streams: SseRegistry }> {
  const bodyLimit = o.bodyLimit ?? DEFAULT_HTTP_BODY_LIMIT;
  const streams = new SseRegistry();

  const send = (reply: FastifyReply, err: ArpdError): FastifyReply => {
    // an error under /ui (no such page, another method, a foreign Host) is a dashboard answer like the pages
    if (o.ui !== undefined && isUiPath(pathOf(reply.request.url))) securityHeaders(reply);
    if (err.code === 'E_UNAUTHORIZED') void reply.header('www-authenticate', wwwAuthenticate(err));
    if (err.code === 'E_METHOD_NOT_ALLOWED') void reply.header('allow', ((err.data?.['allow'] ?? []) as string[]).join(', '));
    return reply.status(httpStatusOf(err)).type('application/json; charset=utf-8').send(envelope(err));
  };
  const fail = (err: unknown, req: { method: string; url: string; routeOptions?: { bodyLimit?: number } }): ArpdError => {
    // a route may have its own body limit (the dashboard's login: 64 KiB); say that one
    const e = toHttpError(err, req.routeOptions?.bodyLimit ?? bodyLimit);
    if (e.code === 'E_INTERNAL') o.onInternalError(e.cause ?? err, { method: req.method, url: pathOf(req.url) });
    return e;
  };

  const app = Fastify({
    logger: false,
    bodyLimit,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    requestTimeout: o.requestTimeoutMs ?? 30_000,
    keepAliveTimeout: o.keepAliveTimeoutMs ?? 5000,
    connectionTimeout: o.requestTimeoutMs ?? 30_000,
    // Node enforces requestTimeout (headers included) only when it checks its connections, every 30 s by default:
    // a client trickling its headers was answered after up to twice the timeout. Check four times per timeout.
    http: { connectionsCheckingInterval: Math.max(1000, Math.min(30_000, Math.floor((o.requestTimeoutMs ?? 30_000) / 4))) },
    // while closing, requests on open connections are still answered (the ops refuse changes with an envelope)
    return503OnClosing: false,
    // errors fastify raises before routing (a bad percent-encoding) get envelopes too
    frameworkErrors: (err, req, reply) => { void send(reply as FastifyReply, fail(err, req)); },
    clientErrorHandler: (err, socket) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) { socket.destroy(err); return; }
      const [status, reason, e] = code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', new ArpdError('E_TOO_LARGE', 'the request headers are too large: send smaller headers')]
        : code === 'ERR_HTTP_REQUEST_TIMEOUT'
          // Node's requestTimeout: the headers did not all arrive in time (a slow body's connection is closed by the hook)
          ? [408, 'Request Timeout', new ArpdError('E_TIMEOUT', `the request did not arrive within ${o.requestTimeoutMs ?? 30_000} ms (--http-request-timeout): send it whole, without pauses`)]
          : [400, 'Bad Request', new ArpdError('E_PROTOCOL', 'the request is not valid HTTP/1.1: send a well-formed HTTP request')];
      socket.end(rawAnswer(status, reason, e));
    },
  });
  // Node answers an expectation other than 100-continue itself, with a bare 417, unless the server listens for it
  app.server.on('checkExpectation', (req, res) => {
    const e = new ArpdError('E_PROTOCOL', `the expectation '${String(req.headers.expect).slice(0, 100)}' is not supported: send no Expect header, or Expect: 100-continue`, { header: 'expect' });
    const body = JSON.stringify(envelope(e));
    // closed: the body that may follow was not asked for, and is not read
    res.writeHead(417, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
  });
  // and answers Expect: 100-continue with 100 Continue at once, before any check: a body over the limit was asked for,
  // and uploaded, only to be refused 413. With this listener (Node then emits no 'request' for it; requests without
  // Expect never come here) the request takes the same way as any other (Host, credentials, route, media type, the
  // route's body limit against Content-Length, in that order) and is told to continue only when its body is read:
  // the JSON parser refuses a Content-Length over the limit before it reads. An answer sent without 100 Continue
  // closes the connection (Node), so a body the client sends anyway is not read as the next request.
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (mayHaveBody(req.headers)) {
      const onListener = (event: string | symbol): void => {
        if (event !== 'data' && event !== 'readable') return;
        req.off('newListener', onListener);
        if (!res.headersSent) res.writeContinue();
      };
      req.on('newListener', onListener);
    } else {
      // no body to wait for: continue at once, as Node does (the connection stays open)
      res.writeContinue();
    }
    app.server.emit('request', req, res);
  });
  // and drops a CONNECT's connection without a word unless the server listens for it; arpd is no proxy
  app.server.on('connect', (req: IncomingMessage, duplex: Duplex) => {
    // the socket is no longer Node's: its errors (a reset) and its idle time are ours to handle
    const socket = duplex as Socket;
    socket.on('error', () => socket.destroy());
    socket.setTimeout(o.keepAliveTimeoutMs ?? 5000, () => socket.destroy());
    const path = pathOf(req.url ?? '');
    const methods = [...(routeOf(path)?.methods ?? [])];
    const e = new ArpdError('E_METHOD_NOT_ALLOWED', methods.length === 0
      ? 'CONNECT is not allowed: arpd is not a proxy; send the API\'s requests to it directly (see /docs)'
      : `CONNECT is not allowed on ${path.slice(0, 200)}: use ${methods.join(', ')}`, { method: 'CONNECT', allow: methods });
    // what the client sends is read and dropped: unread bytes would make closing reset the connection before the answer is read
    socket.resume();
    socket.end(rawAnswer(405, 'Method Not Allowed', e, { Allow: methods.join(', ') }));
  });
  // before any plugin is registered: a route takes the error handler its context has when it is added, so the
  // plugins' routes (/docs) answered a refusal of the onRequest hook (a foreign Host) with fastify's own 500
  app.setErrorHandler((err, req, reply) => { void send(reply, fail(err, req)); });
  // JSON only: with no parser for text/plain, any other body is refused with 415
  app.removeContentTypeParser('text/plain');
  // An empty body is no body (clients send Content-Type: application/json on every request); nesting is limited
  // before anything parses it recursively; __proto__ / constructor.prototype keys are refused as fastify does.
  const defaultJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (req, body, done) => {
    const text = body as string;
    if (text.trim() === '') { done(null, undefined); return; }
    if (jsonTextTooDeep(text, MAX_REQUEST_DEPTH)) {
      done(new ArpdError('E_VALIDATION', `the request body nests deeper than ${MAX_REQUEST_DEPTH} levels: flatten it`, { field: '', rule: 'max-depth', limit: MAX_REQUEST_DEPTH }), undefined);
      return;
    }
    defaultJson(req, text, done);
  });
  // route schemas are documentation; bodies are checked by the ops (strict: unknown fields are refused), and
  // answers are sent as they are (fast-json-stringify would drop what a schema does not name)
  app.setValidatorCompiler(() => () => true);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  for (const name of SHARED) app.addSchema({ $id: name, ...structuredClone(SCHEMAS[name]) });

  const routes = apiRoutes(o.backend, streams);

  // the methods of each route path; a path with an id parameter, or a static files tree (`/docs/static/*`), is a pattern
  const allowed: Array<{ match: RegExp; methods: Set<string>; params: boolean; wildcard: boolean }> = [];
  const allow = (template: string, method: HttpMethod | 'GET'): void => {
    let entry = allowed.find((a) => a.match.source === matcherOf(template).source);
    if (entry === undefined) {
      entry = { match: matcherOf(template), methods: new Set(), params: template.includes('{'), wildcard: template.endsWith('/*') };
      allowed.push(entry);
    }
    entry.methods.add(method);
    if (method === 'GET') entry.methods.add('HEAD');
  };
  /** The route entry a path falls in: an exact path or id pattern before a files tree. */
  const routeOf = (path: string): { methods: Set<string>; params: boolean } | undefined =>
    allowed.find((a) => !a.wildcard && a.match.test(path)) ?? allowed.find((a) => a.wildcard && a.match.test(path));
  // every route, the plugins' too (Swagger UI at /docs, /metrics, the dashboard's), so another method on it answers
  // 405 with Allow: added before any plugin is registered, as a route gets the onRoute hooks there are when it is added
  app.addHook('onRoute', (r) => {
    const methods = Array.isArray(r.method) ? r.method : [r.method];
    if ((r.config as { admin?: boolean } | undefined)?.admin === true && methods.some((m) => SAFE_METHODS.has(m))) {
      throw new Error(`route ${String(r.method)} ${r.url} is an admin route with a safe method: admin routes change things (the auth hook reads 'admin' only for other methods)`);
    }
    // a files tree ('/docs/static/*') is listed; a '*' anywhere else is no path this list can match
    if (r.url.includes('*') && !(r.url.endsWith('/*') && r.url.indexOf('*') === r.url.length - 1)) return;
    // a plugin's '/' route is also served at its prefix with a '/' (`/docs/`), a route that runs no onRoute hook
    const twin = r.routePath === '' && r.prefix !== '' && r.prefixTrailingSlash !== 'no-slash' ? [`${r.url}/`] : [];
    for (const url of [r.url, ...twin]) {
      for (const m of methods) {
        if (m !== 'HEAD') allow(templateOf(url), m as HttpMethod);
      }
    }
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'arpd — ARP Daemon API',
        version: o.version,
        description: 'The ARP Daemon API v1 as served by arpd, plus arpd\'s additions (marked "(arpd)"). '
          + `Every route but health, version, this document and /docs needs 'Authorization: Bearer <token>'${o.authHint === undefined ? '' : ` (${o.authHint})`}.`,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'arpd token (http.token) or a JWT, as the daemon was started' } } },
      security: [{ bearer: [] }],
    },
    refResolver: { buildLocalReference: (json, _base, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
    // the document shows the OpenAPI paths (`/v1/runs/{run_id}:cancel`), not fastify's escaped patterns
    // (@fastify/swagger then reads ':x' as a parameter and '::' as a literal ':')
    transform: ({ schema, url, route }) => {
      const path = (route.config as { openapiPath?: string } | undefined)?.openapiPath;
      return { schema, url: path === undefined ? url : path.replace(/:/g, '::') };
    },
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiConfig: { deepLinking: false } });

  const sessions = new UiSessions();
  // Node checks requestTimeout only between requests' starts, not for a body that keeps trickling in: a request
  // whose body has not all arrived within the timeout has its connection closed (answered or not, authenticated
  // or not), so one byte every few seconds cannot hold a connection.
  const bodyTimeoutMs = o.requestTimeoutMs ?? 30_000;
  // One hook runs on every request, callback style: an async hook costs a promise and a microtask each, and each
  // hook fastify walks costs its runner more than a check inside one (two hooks measured ~2x the CPU of this one).
  const onAnswered = o.onAnswered;
  const answers = onAnswered === undefined ? undefined : observeAnswers(app.server, onAnswered);
  if (answers !== undefined) app.addHook('onClose', (_app, done) => { answers.stop(); done(); });
  app.addHook('onRequest', (req, reply, done) => {
    if (answers !== undefined) {
      const raw = req.raw as StampedRequest;
      raw[FASTIFY_REQUEST] = req;
      raw[STARTED_AT] = performance.now();
      answers.track(reply.raw);
    }
    // a request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112 6.3): nothing can trickle
    if (!req.raw.complete && mayHaveBody(req.raw.headers)) limitBodyTime(req, reply, bodyTimeoutMs);
    let pending: void | Promise<void> = undefined;
    try {
      checkHostAndOrigin(req, o.hosts());
      const path = pathOf(req.url);
      if (!(isPublicPath(path) || isUiPath(path) || (o.metricsPublic === true && path === '/metrics'))) {
        // a bearer header, or the dashboard's session cookie (with its CSRF header for a change)
        pending = checkApiRequest(req, sessions, o.auth, adminOf(req));
      }
    } catch (err) {
      done(err as FastifyError);
      return;
    }
    // a JWT is checked asynchronously; a token (or none) was decided above
    if (pending === undefined) done();
    else pending.then(() => done(), (err: unknown) => done(err as FastifyError));
  });

  app.addHook('preClose', async () => { streams.endAll(); });

  for (const r of routes) {
    type PreHandler = (req: FastifyRequest, reply: FastifyReply, done: (err?: FastifyError) => void) => void;
    const preHandler: PreHandler[] = [];
    const adminIf = r.adminIf;
    if (adminIf !== undefined) {
      // the body asks for more than the run credential (the onRequest hook checked that one): ask for admin now
      preHandler.push((req, _reply, done) => {
        const why = adminIf(req.body);
        if (why === undefined) { done(); return; }
        let pending: void | Promise<void>;
        try {
          pending = checkApiRequest(req, sessions, o.auth, { admin: true, why } satisfies AdminNeed);
        } catch (err) {
          done(err as FastifyError);
          return;
        }
        if (pending === undefined) done();
        else pending.then(() => done(), (err: unknown) => done(err as FastifyError));
      });
    }
    // the request has all arrived: no idle timeout while the handler waits (Node sets the keep-alive one after the answer)
    if (r.waits === true) preHandler.push((req, _reply, done) => { req.raw.socket.setTimeout(0); done(); });
    app.route({
      method: r.method,
      url: fastifyPathOf(r.path),
      schema: r.schema,
      config: {
        openapiPath: r.path,
        admin: r.admin === true,
        ...(r.admin === true && r.adminWhy !== undefined ? { adminNeed: Object.freeze({ admin: true, why: r.adminWhy }) } : {}),
      } as Record<string, unknown>,
      ...(preHandler.length === 0 ? {} : { preHandler }),
      handler: r.handler,
    });
  }
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  for (const plugin of o.plugins ?? []) await plugin(app);
  if (o.ui !== undefined) {
    await app.register(httpUi, { auth: o.auth, sessions, assetsDir: o.ui.assetsDir, ...(o.authHint === undefined ? {} : { authHint: o.authHint }) });
    await app.register(httpUiApi, { replay: o.ui.replay, instancesDir: o.ui.instancesDir, streams, streamFailed: (err, info) => o.onInternalError(err, { method: 'GET', ...info }) });
  }

  app.setNotFoundHandler((req, reply) => {
    const path = pathOf(req.url);
    const known = routeOf(path);
    if (known?.params === true && known.methods.has(req.method)) {
      // the route and method exist but a path parameter is not an id (e.g. a percent-encoded '../..')
      let shown = path;
      try { shown = decodeURIComponent(path); } catch { /* keep it encoded */ }
      return send(reply, new ArpdError('E_VALIDATION', `the path ${shown.slice(0, 200)} names no valid id: ids use letters, digits, '-', '_' or '.', starting with a letter or digit (max 128)`, { field: 'path', rule: 'id' }));
    }
    if (known !== undefined && !known.methods.has(req.method)) {
      const methods = [...known.methods];
      return send(reply, new ArpdError('E_METHOD_NOT_ALLOWED', `${req.method} is not allowed on ${path.slice(0, 200)}: use ${methods.join(', ')}`, { method: req.method, allow: methods }));
    }
    return send(reply, new ArpdError('E_METHOD_NOT_FOUND', `no route ${req.method} ${path.slice(0, 200)}: see the API at /docs (OpenAPI at /openapi.json)`, { method: req.method, arp_code: 'route.not_found' }));
  });

  return { app, streams };
}

export type { HttpBackend };
