/**
 * Who may call the HTTP API, on REAL daemon processes: the default token (missing, wrong, right; kept in
 * http.token and reused), JWTs (RS256/ES256 from a JWKS file, HS256 from a secret file: valid, expired, wrong
 * audience or issuer, wrong key), `none` (loopback only), and how start-up treats ports that are taken.
 */
import { createServer, type Server } from 'node:net';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import t from 'tap';
import { expectError, failedStart, request, startHttpDaemon, tempDir, type Answer } from './http-daemon.js';

type Json = Record<string, unknown>;

const PROTECTED: Array<[string, string]> = [
  ['GET', '/v1/instances'], ['POST', '/v1/instances'], ['GET', '/v1/instances/inst_x'], ['DELETE', '/v1/instances/inst_x'],
  ['POST', '/v1/instances:register'], ['GET', '/v1/admin/runtime-profiles'], ['GET', '/v1/admin/runtime-profiles/p'],
  ['PUT', '/v1/admin/runtime-profiles/p'], ['DELETE', '/v1/admin/runtime-profiles/p'], ['GET', '/v1/runs'], ['POST', '/v1/runs'],
  ['GET', '/v1/runs/r'], ['GET', '/v1/runs/r/result'], ['GET', '/v1/runs/r/trace'], ['POST', '/v1/runs/r:cancel'],
  ['GET', '/v1/runs/r/events'], ['GET', '/v1/events'], ['GET', '/v1/admin/status'], ['GET', '/v1/no-such-route'],
];
const PUBLIC = ['/v1/health', '/v1/version', '/openapi.json', '/docs/'];

const body = (a: Answer): Json => (a.body ?? {}) as Json;

t.test('token auth (the default)', async (t) => {
  const daemon = await startHttpDaemon(t);
  const tokenFile = join(daemon.dataDir, 'http.token');

  t.test('makes a 32-byte base64url token in http.token (0600) and writes http.url (0600)', async (t) => {
    t.match(daemon.token, /^[A-Za-z0-9_-]{43}$/);
    t.equal(statSync(tokenFile).mode & 0o777, 0o600);
    t.equal(statSync(join(daemon.dataDir, 'http.url')).mode & 0o777, 0o600);
  });

  t.test('refuses every endpoint but health, version, openapi and docs without a token: 401, WWW-Authenticate, where the token is', async (t) => {
    for (const [method, path] of PROTECTED) {
      const a = await request(daemon.url, method, path, method === 'GET' || method === 'DELETE' ? {} : { json: {} });
      expectError(t, a, 401, 'unauthorized', `${method} ${path} without a token`, 'E_UNAUTHORIZED');
      t.equal(a.headers.get('www-authenticate'), 'Bearer realm="arpd"', `${method} ${path}: WWW-Authenticate: Bearer`);
      t.ok(String((body(a)['error'] as Json)['message']).includes(tokenFile), `${method} ${path}: the message says where the token is`);
    }
    for (const path of PUBLIC) t.equal((await request(daemon.url, 'GET', path)).status, 200, `GET ${path} needs no token`);
  });

  t.test('refuses a wrong or malformed token with 401 invalid_token and accepts the right one', async (t) => {
    const wrong = await request(daemon.url, 'GET', '/v1/runs', { token: `${daemon.token.slice(0, -1)}${daemon.token.endsWith('x') ? 'y' : 'x'}` });
    expectError(t, wrong, 401, 'unauthorized', 'a wrong token');
    t.match(wrong.headers.get('www-authenticate'), /^Bearer realm="arpd", error="invalid_token"/);
    expectError(t, await request(daemon.url, 'GET', '/v1/runs', { token: 'short' }), 401, 'unauthorized', 'a short token');
    expectError(t, await request(daemon.url, 'GET', '/v1/runs', { headers: { authorization: `Basic ${daemon.token}` } }), 401, 'unauthorized', 'another scheme');
    const right = await request(daemon.url, 'GET', '/v1/runs', { token: daemon.token });
    t.equal(right.status, 200, 'the right token is accepted');
    t.equal((await request(daemon.url, 'GET', '/v1/runs', { headers: { authorization: `bearer ${daemon.token}` } })).status, 200, 'the scheme is case-insensitive');
  });

  t.test('reuses the token after a restart and removes http.url at stop', async (t) => {
    const before = daemon.token;
    t.equal((await daemon.stop()).code, 0, 'the daemon stops on SIGTERM');
    t.notOk(existsSync(join(daemon.dataDir, 'http.url')), 'http.url is removed at stop');
    const again = await startHttpDaemon(t, [], { dataDir: daemon.dataDir });
    t.equal(again.token, before, 'the same token');
    t.equal((await request(again.url, 'GET', '/v1/runs', { token: before })).status, 200, 'the old token still works');
  });
});

async function keyPair(alg: 'RS256' | 'ES256', kid: string): Promise<{ privateKey: CryptoKey; jwk: Json }> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

interface Claims { iss?: string; aud?: string; exp?: number | null }

async function jwt(key: CryptoKey | Uint8Array, alg: string, kid: string | undefined, c: Claims): Promise<string> {
  let b = new SignJWT({ sub: 'tester' }).setProtectedHeader({ alg, ...(kid === undefined ? {} : { kid }) }).setIssuedAt();
  if (c.iss !== undefined) b = b.setIssuer(c.iss);
  if (c.aud !== undefined) b = b.setAudience(c.aud);
  if (c.exp !== null) b = b.setExpirationTime(c.exp ?? Math.floor(Date.now() / 1000) + 600);
  return b.sign(key);
}

t.test('jwt auth with a JWKS file (RS256, ES256)', async (t) => {
  const dir = tempDir(t);
  const rsa = await keyPair('RS256', 'rsa-1');
  const ec = await keyPair('ES256', 'ec-1');
  const stranger = await keyPair('RS256', 'rsa-1');
  const jwks = join(dir, 'jwks.json');
  writeFileSync(jwks, JSON.stringify({ keys: [rsa.jwk, ec.jwk] }));
  const daemon = await startHttpDaemon(t, ['--http-auth', 'jwt', '--jwt-issuer', 'https://issuer.test', '--jwt-audience', 'arpd-test', '--jwt-jwks-file', jwks]);
  const ok = { iss: 'https://issuer.test', aud: 'arpd-test' };
  const call = async (token: string): Promise<Answer> => request(daemon.url, 'GET', '/v1/runs', { token });

  t.equal((await call(await jwt(rsa.privateKey, 'RS256', 'rsa-1', ok))).status, 200, 'a valid RS256 token is accepted');
  t.equal((await call(await jwt(ec.privateKey, 'ES256', 'ec-1', ok))).status, 200, 'a valid ES256 token is accepted');

  const expired = await call(await jwt(rsa.privateKey, 'RS256', 'rsa-1', { ...ok, exp: Math.floor(Date.now() / 1000) - 3600 }));
  expectError(t, expired, 401, 'unauthorized', 'an expired token', 'E_UNAUTHORIZED');
  t.match(body(expired), { error: { message: /expired/, details: { reason: 'expired' } } });
  t.match(expired.headers.get('www-authenticate'), /error="invalid_token"/);

  const audience = await call(await jwt(rsa.privateKey, 'RS256', 'rsa-1', { ...ok, aud: 'someone-else' }));
  expectError(t, audience, 401, 'unauthorized', 'a token for another audience (401: RFC 6750 invalid_token)');
  t.match(body(audience), { error: { message: /arpd-test/, details: { reason: 'audience' } } });

  const issuer = await call(await jwt(rsa.privateKey, 'RS256', 'rsa-1', { ...ok, iss: 'https://evil.test' }));
  expectError(t, issuer, 401, 'unauthorized', 'a token from another issuer');
  t.match(body(issuer), { error: { details: { reason: 'issuer' } } });

  expectError(t, await call(await jwt(rsa.privateKey, 'RS256', 'rsa-1', { ...ok, exp: null })), 401, 'unauthorized', 'a token that never expires');
  expectError(t, await call(await jwt(stranger.privateKey, 'RS256', 'rsa-1', ok)), 401, 'unauthorized', 'a token signed by another key');
  const hs = new TextEncoder().encode('x'.repeat(40));
  expectError(t, await call(await jwt(hs, 'HS256', 'rsa-1', ok)), 401, 'unauthorized', 'an HS256 token where keys are asymmetric');
  expectError(t, await call('not.a.jwt'), 401, 'unauthorized', 'garbage');
  t.equal((await request(daemon.url, 'GET', '/v1/health')).status, 200, 'health needs no token');
});

t.test('jwt auth with an HS256 secret file', async (t) => {
  const dir = tempDir(t);
  const secret = 'a-test-secret-that-is-long-enough-for-hs256!!';
  const file = join(dir, 'secret');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  const daemon = await startHttpDaemon(t, ['--http-auth', 'jwt', '--jwt-issuer', 'iss-1', '--jwt-audience', 'aud-1', '--jwt-secret-file', file]);
  const ok = { iss: 'iss-1', aud: 'aud-1' };
  const call = async (token: string): Promise<Answer> => request(daemon.url, 'GET', '/v1/runs', { token });
  t.equal((await call(await jwt(new TextEncoder().encode(secret), 'HS256', undefined, ok))).status, 200, 'a valid HS256 token is accepted (the trailing newline is not part of the secret)');
  expectError(t, await call(await jwt(new TextEncoder().encode(`${secret}?`), 'HS256', undefined, ok)), 401, 'unauthorized', 'a token made with another secret');
  expectError(t, await call(await jwt(new TextEncoder().encode(secret), 'HS256', undefined, { ...ok, aud: 'aud-2' })), 401, 'unauthorized', 'another audience');
  const rsa = await keyPair('RS256', 'k');
  expectError(t, await call(await jwt(rsa.privateKey, 'RS256', 'k', ok)), 401, 'unauthorized', 'an RS256 token where the key is a secret');
});

t.test('refuses to start jwt auth without an issuer, an audience or exactly one key source', async (t) => {
  const noIssuer = await failedStart(t, ['--http-port', '0', '--http-auth', 'jwt', '--jwt-audience', 'a', '--jwt-secret-file', '/nonexistent']);
  t.equal(noIssuer.code, 2, 'a usage error');
  t.match(noIssuer.output, /--jwt-issuer/);
  const noKey = await failedStart(t, ['--http-port', '0', '--http-auth', 'jwt', '--jwt-issuer', 'i', '--jwt-audience', 'a']);
  t.equal(noKey.code, 2);
  t.match(noKey.output, /--jwt-jwks-file/);
});

t.test('none: open on a loopback host, refused at start-up on any other', async (t) => {
  const daemon = await startHttpDaemon(t, ['--http-auth', 'none']);
  t.equal((await request(daemon.url, 'GET', '/v1/runs')).status, 200, 'no token needed on 127.0.0.1');
  t.notOk(existsSync(join(daemon.dataDir, 'http.token')), 'no token file is made');

  const refused = await failedStart(t, ['--http-port', '0', '--http-host', '0.0.0.0', '--http-auth', 'none']);
  t.equal(refused.code, 2, 'exits with the usage code');
  t.match(refused.output, /--http-auth none is only allowed on a loopback host/);
  const bad = await failedStart(t, ['--http-port', '0', '--http-auth', 'open-sesame']);
  t.equal(bad.code, 2);
  t.match(bad.output, /--http-auth takes token, jwt or none/);
});

function listen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}

t.test('an explicit --http-port that is taken stops start-up; a taken default port gives way to a free one', async (t) => {
  const holder = await listen(0);
  if (holder === undefined) throw new Error('cannot listen on a free port');
  t.teardown(() => new Promise<void>((r) => holder.close(() => r())));
  const port = (holder.address() as { port: number }).port;
  const taken = await failedStart(t, ['--http-port', String(port)]);
  t.equal(taken.code, 1, 'start-up fails');
  t.match(taken.output, new RegExp(`HTTP port ${port} is in use: choose another with --http-port, or --http-port 0 for a free one`));

  // hold 8082 (if something else already holds it, it is taken all the same)
  const blocker = await listen(8082);
  if (blocker !== undefined) t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const daemon = await startHttpDaemon(t, [], { port: null });
  t.not(new URL(daemon.url).port, '8082', 'another port is taken');
  const status = await request(daemon.url, 'GET', '/v1/admin/status', { token: daemon.token });
  t.match(body(status), { http: { url: daemon.url, warning: /port 8082 was in use/ } }, 'the status says so');
  t.match(daemon.output(), /HTTP port 8082 is in use/, 'and the log');
});
