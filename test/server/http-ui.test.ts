/**
 * The dashboard's serving and login on a REAL daemon process (no browser here; test/ui/ drives one): the
 * security headers and caching of /ui, the login that turns the token (or a JWT) into an HttpOnly session
 * cookie plus a CSRF cookie, cookie-authorised API calls (changes need the CSRF header), logout, and the
 * refusals: a wrong token, another site's origin, a body too large, a token that never shows up in a log.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { get } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { SignJWT } from 'jose';
import t from 'tap';
import { rawRequest } from '../helpers/raw-http.js';
import { expectError, readSse, request, startHttpDaemon, tempDir, type Answer } from './http-daemon.js';

type Json = Record<string, unknown>;

/** The Set-Cookie lines of an answer, by cookie name. */
function setCookies(a: Answer): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of a.headers.getSetCookie()) out.set(line.slice(0, line.indexOf('=')), line);
  return out;
}

function valueOf(line: string | undefined): string {
  return line === undefined ? '' : line.slice(line.indexOf('=') + 1, line.indexOf(';'));
}

/** A GET whose body is not decoded (fetch would gunzip it). */
function rawGet(url: string, encoding: string): Promise<{ encoding: string | undefined; body: Buffer }> {
  return new Promise((resolve, reject) => {
    get(url, { headers: { 'accept-encoding': encoding } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
    }).on('error', reject);
  });
}

async function loginAs(url: string, token: string): Promise<{ answer: Answer; session: string; csrf: string; cookie: string }> {
  const answer = await request(url, 'POST', '/ui/login', { json: { token }, headers: { origin: url } });
  const c = setCookies(answer);
  const session = valueOf(c.get('arpd_session'));
  const csrf = valueOf(c.get('arpd_csrf'));
  return { answer, session, csrf, cookie: `arpd_session=${session}; arpd_csrf=${csrf}` };
}

t.test('the dashboard on a token daemon', async (t) => {
  const daemon = await startHttpDaemon(t);

  t.test('serves index.html no-cache and hashed assets immutable, gzipped when asked, each with a strict CSP', async (t) => {
    const redirect = await fetch(`${daemon.url}/ui`, { redirect: 'manual' });
    t.equal(redirect.status, 308, '/ui redirects');
    t.equal(redirect.headers.get('location'), '/ui/', 'to /ui/');
    const index = await request(daemon.url, 'GET', '/ui/');
    t.equal(index.status, 200, 'index.html is public (the page asks for the token)');
    t.match(index.headers.get('content-type'), /^text\/html/);
    t.equal(index.headers.get('cache-control'), 'no-cache');
    const csp = index.headers.get('content-security-policy') ?? '';
    for (const rule of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "connect-src 'self'"]) t.ok(csp.includes(rule), `the CSP has ${rule}`);
    t.notOk(/unsafe-inline|unsafe-eval/.test(csp), 'no unsafe-inline or unsafe-eval');
    t.equal(index.headers.get('x-content-type-options'), 'nosniff');
    t.equal(index.headers.get('referrer-policy'), 'no-referrer');
    t.notOk(/<script(?![^>]*\ssrc=)[^>]*>/.test(index.text), 'the page has no inline script');
    const assets = [...index.text.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1] as string);
    t.equal(assets.length, 2, 'the page names one script and one style sheet');
    for (const a of assets) {
      const res = await fetch(`${daemon.url}/ui/${a}`, { headers: { 'accept-encoding': 'gzip' } });
      const body = await res.arrayBuffer();
      t.equal(res.status, 200, `${a} is served`);
      t.match(a, /-[A-Z0-9]{8}\.(js|css)$/, `${a} is content-hashed`);
      t.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', `${a} is cached for a year`);
      t.ok(body.byteLength > 0, `${a} has a body`);
      t.ok(res.headers.get('content-security-policy') !== null, `${a} carries the CSP too`);
    }
    const plain = await rawGet(`${daemon.url}/ui/${assets[0] ?? ''}`, 'identity');
    const zipped = await rawGet(`${daemon.url}/ui/${assets[0] ?? ''}`, 'gzip, deflate');
    t.equal(plain.encoding, undefined, 'identity gets the plain file');
    t.equal(zipped.encoding, 'gzip', 'gzip is sent to a browser that takes it');
    t.ok(zipped.body.length < plain.body.length, 'and is smaller');
    t.ok(gunzipSync(zipped.body).equals(plain.body), 'and is the same file');
    expectError(t, await request(daemon.url, 'GET', '/ui/assets/app-NOPE.js'), 404, 'ui.asset_not_found', 'an unknown asset', 'E_NOT_FOUND');
    expectError(t, await request(daemon.url, 'GET', '/ui/assets/..%2F..%2Fhttp.token'), 404, 'ui.asset_not_found', 'a path out of the assets', 'E_NOT_FOUND');
  });

  t.test('an error under /ui carries the security headers too: no such page, another method, a bad path, a foreign Host', async (t) => {
    const host = new URL(daemon.url).host;
    for (const [method, path, headers, status] of [
      ['GET', '/ui/index.html', { host }, 404],
      ['GET', '/ui/%2e%2e/metrics', { host }, 404],
      ['GET', '/ui/%zz', { host }, 400],
      ['DELETE', '/ui/', { host }, 405],
      ['GET', '/ui/', { host: 'evil.example' }, 403],
    ] as const) {
      const a = await rawRequest(daemon.url, method, path, { headers });
      t.equal(a.status, status, `${method} ${path} (Host ${headers.host}): ${status}`);
      t.equal(a.headers['x-content-type-options'], 'nosniff', `${method} ${path}: nosniff`);
      t.match(a.headers['content-security-policy'], /default-src 'none'.*frame-ancestors 'none'/, `${method} ${path}: the CSP`);
    }
    const api = await rawRequest(daemon.url, 'GET', '/v1/no-such-route', { headers: { host } });
    t.equal(api.headers['content-security-policy'], undefined, 'an API error outside /ui is left as it was');
  });

  t.test('the dashboard stays inside its budget of 200 KB gzipped, as served', async (t) => {
    // what a browser downloads: the page and every asset it names, gzipped as the daemon sends them
    const index = await rawGet(`${daemon.url}/ui/`, 'gzip');
    const html = index.encoding === 'gzip' ? gunzipSync(index.body).toString('utf8') : index.body.toString('utf8');
    const assets = [...html.matchAll(/(?:src|href)="(assets\/[^"]+)"/g)].map((m) => m[1] as string);
    t.ok(assets.length >= 2, `the page names its assets (${assets.join(', ')})`);
    let total = index.body.length;
    for (const a of assets) {
      const got = await rawGet(`${daemon.url}/ui/${a}`, 'gzip');
      t.equal(got.encoding, 'gzip', `${a} is sent gzipped`);
      total += got.body.length;
    }
    t.ok(total < 200 * 1024, `the dashboard is ${(total / 1024).toFixed(1)} KB gzipped as served (budget 200 KB)`);
    const manifest = JSON.parse(readFileSync(join(process.cwd(), 'dist', 'ui', 'manifest.json'), 'utf8')) as { total_gzip_bytes: number; files: Array<{ name: string }> };
    t.same(manifest.files.map((f) => f.name).sort(), ['index.html', ...assets].sort(), 'the build\'s manifest lists exactly what the page loads');
    t.ok(Math.abs(manifest.total_gzip_bytes - total) <= 1024, `and its count (${manifest.total_gzip_bytes} B) is what is served (${total} B)`);
  });

  t.test('refuses a wrong, missing or malformed token with a clear message and sets no cookie', async (t) => {
    const wrong = await request(daemon.url, 'POST', '/ui/login', { json: { token: `${daemon.token.slice(0, -2)}xx` } });
    expectError(t, wrong, 401, 'unauthorized', 'a wrong token', 'E_UNAUTHORIZED');
    t.match((wrong.body as { error: { message: string } }).error.message, /^that token was refused \(the bearer token is wrong\): paste the token/, 'the message says the token was refused and what to paste');
    t.equal(wrong.headers.getSetCookie().length, 0, 'no cookie');
    expectError(t, await request(daemon.url, 'POST', '/ui/login', { json: {} }), 400, 'validation', 'no token', 'E_VALIDATION');
    expectError(t, await request(daemon.url, 'POST', '/ui/login', { json: { token: 'a b' } }), 401, 'unauthorized', 'a token with a space', 'E_UNAUTHORIZED');
    expectError(t, await request(daemon.url, 'POST', '/ui/login', { json: { token: daemon.token, user: 'x' } }), 400, 'validation', 'an unknown field', 'E_VALIDATION');
    expectError(t, await request(daemon.url, 'POST', '/ui/login', { raw: `token=${daemon.token}`, contentType: 'application/x-www-form-urlencoded' }), 415, 'unsupported_media', 'a form post (what a cross-site form could send)', 'E_UNSUPPORTED_MEDIA');
    const tooLarge = await request(daemon.url, 'POST', '/ui/login', { json: { token: 'x'.repeat(100_000) } });
    expectError(t, tooLarge, 413, 'too_large', 'a login body over 64 KB', 'E_TOO_LARGE');
    t.match(tooLarge.body, { error: { message: /limit of 65536 bytes/, details: { limit: 65536 } } }, 'the refusal names the login\'s limit, not the API\'s 1 MiB');
  });

  t.test('refuses a login from another site', async (t) => {
    const a = await request(daemon.url, 'POST', '/ui/login', { json: { token: daemon.token }, headers: { origin: 'http://evil.example' } });
    expectError(t, a, 403, 'forbidden', 'a cross-site login', 'E_FORBIDDEN');
    t.equal(a.headers.getSetCookie().length, 0, 'no cookie');
  });

  t.test('opens a session: an HttpOnly SameSite=Strict session cookie and a readable CSRF cookie, neither holding the token', async (t) => {
    const { answer, session, csrf } = await loginAs(daemon.url, daemon.token);
    t.equal(answer.status, 200, 'the right token logs in');
    const c = setCookies(answer);
    const s = c.get('arpd_session') ?? '';
    const x = c.get('arpd_csrf') ?? '';
    t.match(s, /; Path=\//);
    t.match(s, /; SameSite=Strict/);
    t.match(s, /; HttpOnly/);
    t.notMatch(s, /Max-Age|Expires/, 'a browser-session cookie');
    t.match(x, /; SameSite=Strict/);
    t.notMatch(x, /HttpOnly/, 'the CSRF cookie is readable by the page');
    t.match(session, /^[A-Za-z0-9_-]{43}$/, 'the session id is 32 random bytes');
    t.match(csrf, /^[A-Za-z0-9_-]{43}$/, 'the CSRF value is 32 random bytes');
    t.notOk(s.includes(daemon.token) || x.includes(daemon.token), 'the token is in no cookie');
    t.equal(answer.headers.get('cache-control'), 'no-store');
  });

  t.test('a run-token session cannot change the safe list, even with its CSRF header', async (t) => {
    const { cookie, csrf } = await loginAs(daemon.url, daemon.token);
    const profile = { runtime_name: 'x', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['true'] } } };
    const a = await request(daemon.url, 'PUT', '/v1/admin/runtime-profiles/ui-run', { json: profile, headers: { cookie, 'x-csrf-token': csrf } });
    expectError(t, a, 403, 'forbidden', 'a profile change from a run-token session', 'E_FORBIDDEN');
    t.match((a.body as { error: { message: string } }).error.message, /admin token/, 'the message names the admin token');
  });

  t.test('a session cookie authorises reads and streams; a change needs the matching CSRF header', async (t) => {
    const { cookie, csrf } = await loginAs(daemon.url, daemon.adminToken);
    t.equal((await request(daemon.url, 'GET', '/v1/admin/status', { headers: { cookie } })).status, 200, 'a read with the cookie');
    const sse = await readSse(daemon.url, '/v1/events?from_seq=1', { headers: { cookie }, until: () => true });
    t.equal(sse.status, 200, 'an event stream with the cookie (EventSource sends no Authorization header)');
    const profile = { runtime_name: 'x', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['true'] } } };
    const noCsrf = await request(daemon.url, 'PUT', '/v1/admin/runtime-profiles/ui-p', { json: profile, headers: { cookie } });
    expectError(t, noCsrf, 403, 'forbidden', 'a change with the cookie but no CSRF header', 'E_FORBIDDEN');
    t.match((noCsrf.body as { error: { message: string } }).error.message, /X-CSRF-Token/, 'the message names the header');
    expectError(t, await request(daemon.url, 'PUT', '/v1/admin/runtime-profiles/ui-p', { json: profile, headers: { cookie, 'x-csrf-token': `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}` } }), 403, 'forbidden', 'a wrong CSRF header', 'E_FORBIDDEN');
    const { session } = await loginAs(daemon.url, daemon.adminToken);
    const other = await loginAs(daemon.url, daemon.adminToken);
    expectError(t, await request(daemon.url, 'PUT', '/v1/admin/runtime-profiles/ui-p', { json: profile, headers: { cookie: `arpd_session=${session}; arpd_csrf=${other.csrf}`, 'x-csrf-token': other.csrf } }), 403, 'forbidden', "a session with another session's CSRF pair", 'E_FORBIDDEN');
    t.equal((await request(daemon.url, 'PUT', '/v1/admin/runtime-profiles/ui-p', { json: profile, headers: { cookie, 'x-csrf-token': csrf } })).status, 200, 'the change with the matching CSRF header');
    t.equal((await request(daemon.url, 'DELETE', '/v1/admin/runtime-profiles/ui-p', { headers: { cookie, 'x-csrf-token': csrf } })).status, 204, 'a delete with it');
    t.equal((await request(daemon.url, 'PUT', '/v1/admin/runtime-profiles/ui-p', { json: profile, token: daemon.adminToken })).status, 200, 'a bearer token needs no CSRF header');
    expectError(t, await request(daemon.url, 'GET', '/v1/admin/status', { headers: { cookie: 'arpd_session=not-a-session' } }), 401, 'unauthorized', 'an unknown session id', 'E_UNAUTHORIZED');
  });

  t.test('a bearer header wins over the cookie: a wrong header is refused even with a good cookie', async (t) => {
    const { cookie } = await loginAs(daemon.url, daemon.token);
    expectError(t, await request(daemon.url, 'GET', '/v1/admin/status', { headers: { cookie }, token: 'wrong-token-wrong-token-wrong-token-x' }), 401, 'unauthorized', 'a wrong bearer with a good cookie', 'E_UNAUTHORIZED');
  });

  t.test('logout ends the session and clears both cookies', async (t) => {
    const { cookie, csrf } = await loginAs(daemon.url, daemon.token);
    expectError(t, await request(daemon.url, 'POST', '/ui/logout', { headers: { cookie } }), 403, 'forbidden', 'a logout without the CSRF header', 'E_FORBIDDEN');
    const out = await request(daemon.url, 'POST', '/ui/logout', { headers: { cookie, 'x-csrf-token': csrf } });
    t.equal(out.status, 204);
    const c = setCookies(out);
    t.match(c.get('arpd_session'), /^arpd_session=; .*Max-Age=0/, 'the session cookie is cleared');
    t.match(c.get('arpd_csrf'), /^arpd_csrf=; .*Max-Age=0/, 'the CSRF cookie is cleared');
    expectError(t, await request(daemon.url, 'GET', '/v1/admin/status', { headers: { cookie } }), 401, 'unauthorized', 'the old cookie after logout', 'E_UNAUTHORIZED');
  });

  t.test('refuses a body over the limit with 413 on a cookie session and keeps serving', async (t) => {
    const { cookie, csrf } = await loginAs(daemon.url, daemon.token);
    const big = { input: { goal: 'x'.repeat(1024 * 1024 + 10) } };
    expectError(t, await request(daemon.url, 'POST', '/v1/runs', { json: big, headers: { cookie, 'x-csrf-token': csrf } }), 413, 'too_large', 'a run request over 1 MiB', 'E_TOO_LARGE');
    t.equal((await request(daemon.url, 'GET', '/v1/admin/status', { headers: { cookie } })).status, 200, 'the daemon still answers');
  });

  t.test('never writes the token to its log', async (t) => {
    await loginAs(daemon.url, daemon.token);
    await request(daemon.url, 'POST', '/ui/login', { json: { token: `${daemon.token}zz` } });
    const logs = join(daemon.dataDir, 'logs');
    const text = readdirSync(logs).map((f) => readFileSync(join(logs, f), 'utf8')).join('') + daemon.output();
    t.ok(text.length > 0, 'the daemon has logged something');
    t.notOk(text.includes(daemon.token), 'the token is in no log line');
  });
});

t.test('the dashboard login takes a JWT on a jwt daemon, and the session ends with the JWT', async (t) => {
  const dir = tempDir(t);
  const secret = 'a-test-secret-that-is-long-enough-for-hs256!!';
  const file = join(dir, 'secret');
  writeFileSync(file, secret, { mode: 0o600 });
  const daemon = await startHttpDaemon(t, ['--http-auth', 'jwt', '--jwt-issuer', 'iss-1', '--jwt-audience', 'aud-1', '--jwt-secret-file', file]);
  const key = new TextEncoder().encode(secret);
  const jwt = (exp: number, aud = 'aud-1'): Promise<string> => new SignJWT({ sub: 'ui' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('iss-1').setAudience(aud).setIssuedAt().setExpirationTime(exp).sign(key);

  const good = await loginAs(daemon.url, await jwt(Math.floor(Date.now() / 1000) + 600));
  t.equal(good.answer.status, 200, 'a valid JWT logs in');
  t.equal((good.answer.body as Json)['auth'], 'jwt');
  t.equal((await request(daemon.url, 'GET', '/v1/admin/status', { headers: { cookie: good.cookie } })).status, 200, 'its cookie reads');
  const wrongAud = await request(daemon.url, 'POST', '/ui/login', { json: { token: await jwt(Math.floor(Date.now() / 1000) + 600, 'aud-2') } });
  expectError(t, wrongAud, 401, 'unauthorized', 'a JWT for another audience', 'E_UNAUTHORIZED');
  t.match((wrongAud.body as { error: { message: string } }).error.message, /a JWT the daemon accepts/, 'the message says what a good JWT is');
  // a JWT that expires in 2 s: the session opened with it ends with it (checked on every request)
  const short = await loginAs(daemon.url, await jwt(Math.floor(Date.now() / 1000) + 2));
  t.equal(short.answer.status, 200, 'a JWT about to expire still logs in');
  await new Promise((r) => setTimeout(r, 3100));
  expectError(t, await request(daemon.url, 'GET', '/v1/admin/status', { headers: { cookie: short.cookie } }), 401, 'unauthorized', 'the session after its JWT expired', 'E_UNAUTHORIZED');
});
