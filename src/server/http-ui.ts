/**
 * The web dashboard on the HTTP API: the bundled assets of `dist/ui/` under `/ui/` and the dashboard's login.
 *
 * - `GET /ui` redirects to `/ui/`; `GET /ui/` is `index.html` (no-cache); `GET /ui/assets/<name>` are the
 *   content-hashed bundles (immutable, a year of cache), sent gzipped when the browser takes it. Every answer
 *   under `/ui` carries a strict Content-Security-Policy (scripts and styles from this origin only, no inline
 *   script, no framing), `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`.
 * - `POST /ui/login` (`{"token":"…"}`, JSON only) checks the token or JWT with the daemon's authenticator and
 *   opens a session: an opaque random id in the `HttpOnly; SameSite=Strict; Path=/` cookie `arpd_session` (the
 *   token itself never leaves the daemon again, and is never put in a URL or a log) and a CSRF value in the
 *   readable cookie `arpd_csrf`. `POST /ui/logout` ends the session and clears both.
 * - `sessionCredentials(req, sessions)` is what the API's auth hook calls for every request: with no
 *   `Authorization` header, a known session cookie stands for the bearer credentials it was opened with; a change
 *   (anything but GET/HEAD) made with the cookie must echo the CSRF cookie in `X-CSRF-Token` (double submit,
 *   also bound to the session).
 *
 * Sessions live in memory: a daemon restart ends them (the dashboard asks for the token again). They end after
 * 12 hours unused, 7 days at most, or when a JWT they were opened with expires; at most 1,000 are kept.
 *
 * Length: over 300 lines because the session store, the cookie and CSRF checks and the login route are one security
 * boundary that is reviewed as a whole; the asset table is the rest. The dashboard's API routes are in http-ui-api.ts.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ArpdError } from '../errors/index.js';
import type { AdminNeed, Authenticator } from './http-auth.js';

export const SESSION_COOKIE = 'arpd_session';
export const CSRF_COOKIE = 'arpd_csrf';
export const CSRF_HEADER = 'x-csrf-token';

/** The policy of every page and asset under /ui (no inline script or style, nothing from another origin). */
export const UI_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const IDLE_MS = 12 * 3600_000;
const MAX_AGE_MS = 7 * 24 * 3600_000;
const MAX_SESSIONS = 1000;
/** A JWT can be long; anything longer than this is no credential of ours. */
const MAX_TOKEN_CHARS = 16 * 1024;

interface Session {
  readonly authorization: string;
  readonly csrf: string;
  readonly createdAt: number;
  readonly expiresAt: number;
  lastUsed: number;
}

/** The dashboard's open sessions (in memory; one store per HTTP app). */
export class UiSessions {
  private readonly byId = new Map<string, Session>();

  constructor(private readonly now: () => number = Date.now) {}

  get size(): number {
    return this.byId.size;
  }

  open(authorization: string, expiresAt?: number): { id: string; csrf: string } {
    const t = this.now();
    this.sweep(t);
    while (this.byId.size >= MAX_SESSIONS) {
      // Map keeps insertion order and `get` re-inserts on use: the first key is the least recently used
      const oldest = this.byId.keys().next().value;
      if (oldest === undefined) break;
      this.byId.delete(oldest);
    }
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    this.byId.set(id, { authorization, csrf, createdAt: t, lastUsed: t, expiresAt: Math.min(t + MAX_AGE_MS, expiresAt ?? Number.POSITIVE_INFINITY) });
    return { id, csrf };
  }

  /** The live session of this id (its use is recorded), or undefined. */
  get(id: string): Session | undefined {
    const s = this.byId.get(id);
    if (s === undefined) return undefined;
    const t = this.now();
    if (t >= s.expiresAt || t - s.lastUsed >= IDLE_MS) {
      this.byId.delete(id);
      return undefined;
    }
    s.lastUsed = t;
    this.byId.delete(id);
    this.byId.set(id, s);
    return s;
  }

  close(id: string): void {
    this.byId.delete(id);
  }

  private sweep(t: number): void {
    for (const [id, s] of this.byId) if (t >= s.expiresAt || t - s.lastUsed >= IDLE_MS) this.byId.delete(id);
  }
}

/** The cookies of a request (the first of each name; values as sent). */
export function cookiesOf(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (header === undefined) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    let value = part.slice(eq + 1).trim();
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1);
    if (name !== '' && !out.has(name)) out.set(name, value);
  }
  return out;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SessionCredentials {
  /** What to check as the `Authorization` header (the header itself, or the session's credentials). */
  authorization?: string;
  /** The credentials came from the dashboard's session cookie. */
  viaCookie: boolean;
  /** False only for a change made with the cookie whose `X-CSRF-Token` does not match the session. */
  csrfOk: boolean;
}

/**
 * The credentials of an API request: the `Authorization` header when there is one; else a live dashboard
 * session named by the `arpd_session` cookie stands for the credentials it was opened with. A change made with
 * the cookie needs `X-CSRF-Token` equal to both the `arpd_csrf` cookie and the session's CSRF value.
 */
export function sessionCredentials(req: FastifyRequest, sessions: UiSessions): SessionCredentials {
  const header = req.headers.authorization;
  if (header !== undefined && header !== '') return { authorization: header, viaCookie: false, csrfOk: true };
  const cookies = cookiesOf(req.headers.cookie);
  const id = cookies.get(SESSION_COOKIE);
  const session = id === undefined || id === '' ? undefined : sessions.get(id);
  if (session === undefined) return { viaCookie: false, csrfOk: true };
  if (SAFE_METHODS.has(req.method)) return { authorization: session.authorization, viaCookie: true, csrfOk: true };
  const sent = req.headers[CSRF_HEADER];
  const given = Array.isArray(sent) ? sent[0] : sent;
  const cookie = cookies.get(CSRF_COOKIE);
  const csrfOk = given !== undefined && cookie !== undefined && sameText(given, cookie) && sameText(given, session.csrf);
  return { authorization: session.authorization, viaCookie: true, csrfOk };
}

/** The refusal of a cookie-authenticated change without the matching CSRF header. */
export function csrfRefusal(): ArpdError {
  return new ArpdError('E_FORBIDDEN', "this change came with the dashboard's session cookie but without its CSRF token: send the header X-CSRF-Token with the value of the arpd_csrf cookie (the dashboard does this), or use 'Authorization: Bearer <token>'", { reason: 'csrf' });
}

/**
 * The check the API's `onRequest` hook makes for every non-public route: the session cookie (with CSRF for
 * changes) or the Authorization header, then the authenticator. Throws a refusal, or returns what
 * `Authenticator.check` returns (nothing for a token, a promise for a JWT).
 */
export function checkApiRequest(req: FastifyRequest, sessions: UiSessions, auth: Authenticator, opts: AdminNeed = {}): void | Promise<void> {
  // the Authorization header, when there is one, is the credential (as sessionCredentials has it), without the object
  const header = req.headers.authorization;
  if (header !== undefined && header !== '') return auth.check(header, opts);
  const cred = sessionCredentials(req, sessions);
  if (cred.viaCookie && !cred.csrfOk) throw csrfRefusal();
  return auth.check(cred.authorization, opts);
}

/** True for the paths this plugin serves without credentials (the pages, the assets, login and logout). */
export function isUiPath(path: string): boolean {
  return path === '/ui' || path.startsWith('/ui/');
}

// ---- the assets ---------------------------------------------------------------------------------

interface Asset {
  readonly body: Buffer;
  readonly gzip?: Buffer;
  readonly type: string;
  readonly immutable: boolean;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** What `scripts/build-ui.mjs` writes as `dist/ui/manifest.json`. */
export interface UiManifest {
  files: Array<{ name: string; bytes: number; gzip_bytes: number; hashed: boolean }>;
  total_gzip_bytes: number;
}

function loadAssets(dir: string): Map<string, Asset> | undefined {
  const manifestPath = join(dir, 'manifest.json');
  if (!existsSync(manifestPath)) return undefined;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as UiManifest;
  const assets = new Map<string, Asset>();
  for (const f of manifest.files) {
    if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)?$/.test(f.name) || f.name.includes('..')) continue;
    const ext = f.name.slice(f.name.lastIndexOf('.'));
    const gz = join(dir, `${f.name}.gz`);
    assets.set(f.name, {
      body: readFileSync(join(dir, f.name)),
      ...(existsSync(gz) ? { gzip: readFileSync(gz) } : {}),
      type: TYPES[ext] ?? 'application/octet-stream',
      immutable: f.hashed,
    });
  }
  return assets;
}

/** The headers every answer under /ui carries (the app's error answers there too: http-app.ts `send`). */
export function securityHeaders(reply: FastifyReply): void {
  void reply.header('content-security-policy', UI_CSP);
  void reply.header('x-content-type-options', 'nosniff');
  void reply.header('referrer-policy', 'no-referrer');
  void reply.header('x-frame-options', 'DENY');
  void reply.header('cross-origin-opener-policy', 'same-origin');
  void reply.header('cross-origin-resource-policy', 'same-origin');
}

function sendAsset(req: FastifyRequest, reply: FastifyReply, a: Asset): FastifyReply {
  securityHeaders(reply);
  void reply.header('cache-control', a.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  void reply.header('vary', 'accept-encoding');
  void reply.type(a.type);
  const accepts = String(req.headers['accept-encoding'] ?? '');
  if (a.gzip !== undefined && /\bgzip\b/.test(accepts)) {
    void reply.header('content-encoding', 'gzip');
    return reply.send(a.gzip);
  }
  return reply.send(a.body);
}

// ---- the plugin ----------------------------------------------------------------------------------

export interface HttpUiOptions {
  auth: Authenticator;
  sessions: UiSessions;
  /** Where the built dashboard is (default: `<package>/dist/ui`). */
  assetsDir: string;
  /** A hint for the login page and the token refusal (e.g. where the token file is). */
  authHint?: string;
}

/** The `exp` of a JWT (seconds), read without checking: the authenticator has checked it already. */
function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(parts[1] as string, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

function cookie(name: string, value: string, o: { httpOnly: boolean; secure: boolean; clear?: boolean }): string {
  return [
    `${name}=${value}`,
    'Path=/',
    'SameSite=Strict',
    ...(o.httpOnly ? ['HttpOnly'] : []),
    ...(o.secure ? ['Secure'] : []),
    ...(o.clear === true ? ['Max-Age=0', 'Expires=Thu, 01 Jan 1970 00:00:00 GMT'] : []),
  ].join('; ');
}

/** A login or logout from another site (a browser sends Origin on every POST) is refused. */
function checkOrigin(req: FastifyRequest): void {
  const origin = req.headers.origin;
  if (origin === undefined || origin === 'null') {
    if (origin === 'null') throw new ArpdError('E_FORBIDDEN', 'this request came from an opaque origin: log in from the dashboard page at /ui/', { reason: 'origin' });
    return;
  }
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    throw new ArpdError('E_FORBIDDEN', `the Origin '${origin.slice(0, 100)}' is not a URL: log in from the dashboard page at /ui/`, { reason: 'origin' });
  }
  if (host !== req.headers.host) {
    throw new ArpdError('E_FORBIDDEN', `a login from another site (${origin.slice(0, 100)}) is refused: open the dashboard at /ui/ on this daemon`, { reason: 'origin' });
  }
}

function loginToken(body: unknown): string {
  const token = (body as { token?: unknown } | null | undefined)?.token;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ArpdError('E_VALIDATION', 'the login body must be a JSON object {"token": "..."}: send the token or JWT in "token"', { field: '', rule: 'type' });
  }
  const extra = Object.keys(body).filter((k) => k !== 'token');
  if (extra.length > 0) throw new ArpdError('E_VALIDATION', `unknown field '${extra[0]}' in the login body: send only {"token": "..."}`, { field: extra[0], rule: 'additionalProperties' });
  if (typeof token !== 'string' || token.trim() === '') {
    throw new ArpdError('E_VALIDATION', 'the token is missing: paste the token (the http.token file in the data dir) or a JWT', { field: 'token', rule: 'required' });
  }
  const t = token.trim();
  if (t.length > MAX_TOKEN_CHARS || /\s/.test(t)) {
    throw new ArpdError('E_UNAUTHORIZED', 'that is not a token: paste the one line of the http.token file in the data dir, or a JWT', { reason: 'malformed' });
  }
  return t;
}

/**
 * The dashboard plugin: register it on the HTTP app (`app.register(httpUi, { auth, sessions, assetsDir })`).
 * Its routes are public (the hook must skip `isUiPath`); the pages then call the API with the session cookie.
 */
export async function httpUi(app: FastifyInstance, o: HttpUiOptions): Promise<void> {
  const assets = loadAssets(o.assetsDir);

  const notBuilt = (reply: FastifyReply): FastifyReply => {
    securityHeaders(reply);
    return reply.code(503).type('text/plain; charset=utf-8').header('cache-control', 'no-store')
      .send(`The dashboard is not built in ${o.assetsDir}: run 'npm run build' in arpd's directory (it bundles ui/ into dist/ui/), then reload.\n`);
  };

  app.get('/ui', { schema: { hide: true } }, async (_req, reply) => {
    securityHeaders(reply);
    return reply.redirect('/ui/', 308);
  });
  app.get('/ui/', { schema: { hide: true } }, async (req, reply) => {
    const index = assets?.get('index.html');
    return index === undefined ? notBuilt(reply) : sendAsset(req, reply, index);
  });
  app.get('/ui/assets/:name', { schema: { hide: true } }, async (req, reply) => {
    const name = String((req.params as { name?: unknown }).name ?? '');
    const a = assets?.get(`assets/${name}`);
    if (a === undefined) {
      securityHeaders(reply);
      throw new ArpdError('E_NOT_FOUND', `no dashboard asset '${name.slice(0, 100)}': reload /ui/ (the daemon may have been upgraded)`, { arp_code: 'ui.asset_not_found' });
    }
    return sendAsset(req, reply, a);
  });

  app.post('/ui/login', { schema: { hide: true }, bodyLimit: 64 * 1024 }, async (req, reply) => {
    securityHeaders(reply);
    void reply.header('cache-control', 'no-store');
    checkOrigin(req);
    const token = loginToken(req.body);
    const authorization = `Bearer ${token}`;
    try {
      await o.auth.check(authorization);
    } catch (err) {
      if (err instanceof ArpdError && err.code === 'E_UNAUTHORIZED') {
        const hint = o.auth.mode === 'jwt' ? 'a JWT the daemon accepts (issuer, audience, signature, not expired)' : `the token${o.authHint === undefined ? ' in the http.token file of the data dir' : ` (${o.authHint})`}`;
        throw new ArpdError('E_UNAUTHORIZED', `that token was refused (${err.message.replace(/:.*$/, '')}): paste ${hint}`, { reason: err.data?.['reason'] ?? 'invalid_token' });
      }
      throw err;
    }
    const { id, csrf } = o.sessions.open(authorization, o.auth.mode === 'jwt' ? jwtExpiry(token) : undefined);
    const secure = req.protocol === 'https';
    void reply.header('set-cookie', [
      cookie(SESSION_COOKIE, id, { httpOnly: true, secure }),
      cookie(CSRF_COOKIE, csrf, { httpOnly: false, secure }),
    ]);
    return { ok: true, auth: o.auth.mode };
  });

  app.post('/ui/logout', { schema: { hide: true }, bodyLimit: 1024 }, async (req, reply) => {
    securityHeaders(reply);
    void reply.header('cache-control', 'no-store');
    checkOrigin(req);
    const cred = sessionCredentials(req, o.sessions);
    if (cred.viaCookie && !cred.csrfOk) throw csrfRefusal();
    const id = cookiesOf(req.headers.cookie).get(SESSION_COOKIE);
    if (id !== undefined) o.sessions.close(id);
    const secure = req.protocol === 'https';
    void reply.header('set-cookie', [
      cookie(SESSION_COOKIE, '', { httpOnly: true, secure, clear: true }),
      cookie(CSRF_COOKIE, '', { httpOnly: false, secure, clear: true }),
    ]);
    return reply.code(204).send();
  });
}

/** `<package>/dist/ui`, where `npm run build` puts the dashboard. */
export function defaultUiAssetsDir(packageRoot: string): string {
  return join(packageRoot, 'dist', 'ui');
}
