/**
 * Who may call the HTTP API. Three modes, chosen with `--http-auth`:
 *
 * - `token` (default): one random bearer token (32 random bytes, base64url), created at the first start in
 *   `<data-dir>/http.token` (mode 0600) and reused after; compared in constant time.
 * - `jwt`: bearer JWTs checked with `jose` against `--jwt-issuer`, `--jwt-audience` and `exp` (required), signed
 *   RS256/ES256 with a key from a local JWKS file (`--jwt-jwks-file`) or HS256 with a secret file (`--jwt-secret-file`).
 * - `none`: no check, allowed only when the API listens on a loopback host.
 *
 * Changing the safe list (PUT/DELETE /v1/admin/runtime-profiles/…) needs more than the run credential: in `token`
 * mode the admin token (`<data-dir>/http.admin-token`, made at the first start, 0600, never the same as the run
 * token); in `jwt` mode a JWT with the `arp.admin` scope (`scope` or `scp` claim); in `none` mode it is refused (use
 * the CLI on this machine: the socket belongs to its owner). See docs/security.md.
 *
 * Every refusal of credentials is 401 (`E_UNAUTHORIZED`, sent with `WWW-Authenticate: Bearer`): a missing, wrong,
 * malformed, expired or badly signed token, and also a JWT for another audience or issuer (RFC 6750 `invalid_token`).
 * 403 (`E_FORBIDDEN`) is a valid credential that lacks the permission (the run token on a safe-list change).
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import { ArpdError } from '../errors/index.js';

export type HttpAuthMode = 'token' | 'jwt' | 'none';

export interface HttpAuthOptions {
  mode: string;
  /** The host the API listens on (for the `none` rule). */
  host: string;
  /** `<data-dir>/http.token`. */
  tokenFile: string;
  /** `<data-dir>/http.admin-token`. */
  adminTokenFile: string;
  jwtIssuer?: string | undefined;
  jwtAudience?: string | undefined;
  jwtJwksFile?: string | undefined;
  jwtSecretFile?: string | undefined;
}

export interface Authenticator {
  readonly mode: HttpAuthMode;
  /**
   * Returns when the `Authorization` header is good for the request; throws `E_UNAUTHORIZED` otherwise, and
   * `E_FORBIDDEN` when it is good but `admin` is asked and it is not an admin credential. The `token` and `none`
   * modes decide at once (return or throw, no promise: the API's hook runs on every request); `jwt` returns a
   * promise (jose verifies asynchronously). Callers `await` the result, which covers both.
   */
  check(authorization: string | undefined, opts?: AdminNeed): void | Promise<void>;
}

/**
 * What a request needs beyond the run credential: `admin` for a change to the safe list, or to what a safe-listed
 * profile runs; `why` names that change in the refusal (default: changing the safe list).
 */
export interface AdminNeed {
  admin?: boolean;
  why?: string;
}

const SAFE_LIST_CHANGE = 'changing the safe list';

/** 127.0.0.0/8, ::1 (also IPv4-mapped) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (isIP(h) === 4) return h.startsWith('127.');
  if (isIP(h) === 6) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./.test(h);
  return false;
}

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,512}$/;

/** The token in `file`, made (0600) when there is none yet. */
export function loadOrCreateToken(file: string): { token: string; created: boolean } {
  let text: string | undefined;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new ArpdError('E_UNAVAILABLE', `cannot read the HTTP token file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}): fix its permissions, or delete it to get a new token`, { file });
    }
  }
  if (text !== undefined) {
    const token = text.trim();
    if (!TOKEN_PATTERN.test(token)) {
      throw new ArpdError('E_VALIDATION', `the HTTP token file ${file} does not hold a token (32 to 512 characters of A-Z a-z 0-9 - _): delete it to get a new one`, { file });
    }
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
    return { token, created: false };
  }
  const token = randomBytes(32).toString('base64url');
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return { token, created: true };
}

/**
 * `given === secret` in time that depends on the lengths only (the secret's, and the given text's own), never on
 * where they differ nor on whether their lengths differ: the given text is copied into a zeroed scratch buffer of the secret's length (cut or
 * padded) and compared whole with `timingSafeEqual`; the length check is one integer comparison folded into the
 * answer. (It replaces a SHA-256 of each given token: the same property without a hash per request.)
 */
export function constantTimeMatcher(secret: string): (given: string) => boolean {
  const expected = Buffer.from(secret, 'utf8');
  const scratch = Buffer.alloc(expected.length);
  return (given) => {
    const lengthOk = Buffer.byteLength(given, 'utf8') === expected.length;
    scratch.fill(0);
    scratch.write(given, 0, 'utf8');
    const same = timingSafeEqual(scratch, expected);
    scratch.fill(0);
    return same && lengthOk;
  };
}

function bearerOf(authorization: string | undefined, where: string): string {
  if (authorization === undefined || authorization.trim() === '') {
    throw new ArpdError('E_UNAUTHORIZED', `this endpoint needs a bearer token: send 'Authorization: Bearer <token>' ${where}`, { reason: 'missing' });
  }
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
  if (m === null) {
    throw new ArpdError('E_UNAUTHORIZED', `the Authorization header is not 'Bearer <token>': send 'Authorization: Bearer <token>' ${where}`, { reason: 'malformed' });
  }
  return m[1] as string;
}

function tokenAuth(tokenFile: string, adminTokenFile: string): Authenticator {
  const { token } = loadOrCreateToken(tokenFile);
  let admin = loadOrCreateToken(adminTokenFile).token;
  if (admin === token) {
    // the two must never be the same credential: make a new admin token
    rmSync(adminTokenFile, { force: true });
    admin = loadOrCreateToken(adminTokenFile).token;
  }
  const isRun = constantTimeMatcher(token);
  const isAdmin = constantTimeMatcher(admin);
  const where = `with the token in ${tokenFile} (e.g. TOKEN=$(cat ${tokenFile}))`;
  return {
    mode: 'token',
    check(authorization, opts = {}) {
      const given = bearerOf(authorization, where);
      // both comparisons always run, so the time does not tell which token was close
      const admin = isAdmin(given);
      const run = isRun(given);
      if (admin) return;
      if (!run) {
        throw new ArpdError('E_UNAUTHORIZED', `the bearer token is wrong: use the token in ${tokenFile}`, { reason: 'invalid_token' });
      }
      if (opts.admin === true) {
        throw new ArpdError('E_FORBIDDEN', `${opts.why ?? SAFE_LIST_CHANGE} needs the admin token (in ${adminTokenFile}), not the run token: send that one, or use ${opts.why === undefined ? "'arpd profiles …'" : 'the arpd CLI'} on this machine`, { reason: 'admin', permission: 'admin' });
      }
    },
  };
}

function readConfigFile(file: string, flag: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ArpdError('E_VALIDATION', `cannot read ${flag} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'}): give a readable file`, { field: flag, usage: true });
  }
}

function jwtKey(o: HttpAuthOptions): { key: JWTVerifyGetKey | Uint8Array; algorithms: string[] } {
  if ((o.jwtJwksFile === undefined) === (o.jwtSecretFile === undefined)) {
    throw new ArpdError('E_VALIDATION', '--http-auth jwt needs exactly one key source: --jwt-jwks-file <file> (RS256/ES256 public keys) or --jwt-secret-file <file> (an HS256 secret)', { field: '--jwt-jwks-file', usage: true });
  }
  if (o.jwtJwksFile !== undefined) {
    let jwks: unknown;
    try {
      jwks = JSON.parse(readConfigFile(o.jwtJwksFile, '--jwt-jwks-file').toString('utf8'));
    } catch (err) {
      if (err instanceof ArpdError) throw err;
      throw new ArpdError('E_VALIDATION', `--jwt-jwks-file ${o.jwtJwksFile} is not JSON: give a JWKS file ({"keys":[...]})`, { field: '--jwt-jwks-file', usage: true });
    }
    const keys = (jwks as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys) || keys.length === 0) {
      throw new ArpdError('E_VALIDATION', `--jwt-jwks-file ${o.jwtJwksFile} has no keys: give a JWKS file ({"keys":[...]}) with at least one public key`, { field: '--jwt-jwks-file', usage: true });
    }
    return { key: createLocalJWKSet(jwks as JSONWebKeySet), algorithms: ['RS256', 'ES256'] };
  }
  let secret = readConfigFile(o.jwtSecretFile as string, '--jwt-secret-file');
  // one trailing newline (as `echo` writes it) is not part of the secret
  if (secret.at(-1) === 0x0a) secret = secret.subarray(0, secret.at(-2) === 0x0d ? -2 : -1);
  if (secret.length < 32) {
    throw new ArpdError('E_VALIDATION', `--jwt-secret-file ${String(o.jwtSecretFile)} holds ${secret.length} bytes: an HS256 secret needs at least 32`, { field: '--jwt-secret-file', usage: true });
  }
  return { key: new Uint8Array(secret), algorithms: ['HS256'] };
}

function jwtRefusal(err: unknown, o: { issuer: string; audience: string }): ArpdError {
  const code = (err as { code?: unknown }).code;
  const claim = (err as { claim?: unknown }).claim;
  if (code === 'ERR_JWT_EXPIRED') {
    return new ArpdError('E_UNAUTHORIZED', 'the bearer token has expired: get a new one', { reason: 'expired' });
  }
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'aud') {
    return new ArpdError('E_UNAUTHORIZED', `the bearer token is not for this service: get a token with audience '${o.audience}'`, { reason: 'audience' });
  }
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'iss') {
    return new ArpdError('E_UNAUTHORIZED', `the bearer token is from another issuer: get a token from '${o.issuer}'`, { reason: 'issuer' });
  }
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'exp') {
    return new ArpdError('E_UNAUTHORIZED', "the bearer token has no 'exp' claim: arpd accepts only tokens that expire", { reason: 'claims' });
  }
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
    return new ArpdError('E_UNAUTHORIZED', `the bearer token's '${String(claim)}' claim is not valid now: get a new token`, { reason: 'claims' });
  }
  if (code === 'ERR_JOSE_ALG_NOT_ALLOWED') {
    return new ArpdError('E_UNAUTHORIZED', 'the bearer token is signed with an algorithm arpd does not accept here: use RS256 or ES256 (JWKS) or HS256 (secret), as configured', { reason: 'algorithm' });
  }
  if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') {
    return new ArpdError('E_UNAUTHORIZED', 'the bearer token signature does not verify with the configured keys: get a token from the configured issuer', { reason: 'signature' });
  }
  return new ArpdError('E_UNAUTHORIZED', 'the bearer token is not a valid JWT: send a signed JWT as \'Authorization: Bearer <jwt>\'', { reason: 'malformed' });
}

function jwtAuth(o: HttpAuthOptions): Authenticator {
  if (o.jwtIssuer === undefined || o.jwtIssuer === '' || o.jwtAudience === undefined || o.jwtAudience === '') {
    throw new ArpdError('E_VALIDATION', '--http-auth jwt needs --jwt-issuer <iss> and --jwt-audience <aud>', { field: o.jwtIssuer === undefined ? '--jwt-issuer' : '--jwt-audience', usage: true });
  }
  const { key, algorithms } = jwtKey(o);
  const issuer = o.jwtIssuer;
  const audience = o.jwtAudience;
  const verifyOpts = { issuer, audience, algorithms, requiredClaims: ['exp'] };
  return {
    mode: 'jwt',
    async check(authorization, opts = {}) {
      const token = bearerOf(authorization, `with a JWT from '${issuer}' for audience '${audience}'`);
      let payload: Record<string, unknown>;
      try {
        payload = (key instanceof Uint8Array ? await jwtVerify(token, key, verifyOpts) : await jwtVerify(token, key, verifyOpts)).payload;
      } catch (err) {
        throw jwtRefusal(err, { issuer, audience });
      }
      if (opts.admin === true && !scopesOf(payload).includes(ADMIN_SCOPE)) {
        throw new ArpdError('E_FORBIDDEN', `${opts.why ?? SAFE_LIST_CHANGE} needs a token with the '${ADMIN_SCOPE}' scope: ask '${issuer}' for one`, { reason: 'admin', permission: ADMIN_SCOPE });
      }
    },
  };
}

/** The JWT scope that allows changing the safe list. */
export const ADMIN_SCOPE = 'arp.admin';

/** The scopes of a JWT: a space-separated `scope` claim or an `scp` array (both are in use). */
function scopesOf(payload: Record<string, unknown>): string[] {
  const out: string[] = [];
  if (typeof payload['scope'] === 'string') out.push(...payload['scope'].split(/\s+/));
  if (Array.isArray(payload['scp'])) for (const s of payload['scp']) if (typeof s === 'string') out.push(s);
  return out;
}

/** The authenticator for the options; start-up errors (bad mode, missing files, `none` off loopback) throw here. */
export function createAuthenticator(o: HttpAuthOptions): Authenticator {
  switch (o.mode) {
    case 'token':
      return tokenAuth(o.tokenFile, o.adminTokenFile);
    case 'jwt':
      return jwtAuth(o);
    case 'none':
      if (!isLoopbackHost(o.host)) {
        throw new ArpdError('E_VALIDATION', `--http-auth none is only allowed on a loopback host (127.0.0.1, ::1, localhost), not '${o.host}': use --http-auth token or jwt, or --http-host 127.0.0.1`, { field: '--http-auth', usage: true });
      }
      return {
        mode: 'none',
        check(_authorization, opts = {}) {
          if (opts.admin === true) {
            throw new ArpdError('E_FORBIDDEN', `${opts.why ?? SAFE_LIST_CHANGE} is refused with --http-auth none (any local web page could do it): use ${opts.why === undefined ? "'arpd profiles …'" : 'the arpd CLI'} on this machine, or start the daemon with --http-auth token`, { reason: 'admin', permission: 'admin' });
          }
        },
      };
    default:
      throw new ArpdError('E_VALIDATION', `--http-auth takes token, jwt or none, not '${o.mode}'`, { field: '--http-auth', usage: true });
  }
}

/** The `WWW-Authenticate` value for a refusal (RFC 6750: no error code when no credentials were sent). */
export function wwwAuthenticate(err: ArpdError): string {
  const reason = err.data?.['reason'];
  if (reason === undefined || reason === 'missing') return 'Bearer realm="arpd"';
  const text = err.message.replace(/["\\]/g, "'");
  return `Bearer realm="arpd", error="invalid_token", error_description="${text}"`;
}
