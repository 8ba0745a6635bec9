/**
 * The app's own rules about its routes, checked on the real fastify app (no daemon needed): the auth hook reads a
 * route's `admin` flag only for methods that change things, so an admin route with a safe method must not exist;
 * the routes of its plugins (Swagger UI at /docs) answer refusals and other methods with the same envelopes as the
 * API's; and what Node's HTTP server would answer itself (an unknown Expect, CONNECT) gets an envelope too.
 */
import { connect } from 'node:net';
import t, { type Test } from 'tap';
import { rawRequest } from '../helpers/raw-http.js';
import { createAuthenticator } from '../../src/server/http-auth.js';
import { createHttpApp, type HttpBackend } from '../../src/server/http-app.js';
import { hostPolicy } from '../../src/server/http-origin.js';

type AppOptions = Parameters<typeof createHttpApp>[0];

function appWith(t: Test, plugin: AppOptions['plugins'], port: () => number = () => 8082, more: Partial<AppOptions> = {}): ReturnType<typeof createHttpApp> {
  const dir = t.testdir();
  const auth = createAuthenticator({ mode: 'token', host: '127.0.0.1', tokenFile: `${dir}/http.token`, adminTokenFile: `${dir}/http.admin-token` });
  return createHttpApp({
    // the routes' handlers are not called here: building the app does not touch the backend
    backend: {} as HttpBackend,
    auth,
    hosts: () => hostPolicy('127.0.0.1', port()),
    version: 'test',
    onInternalError: () => undefined,
    ...(plugin === undefined ? {} : { plugins: plugin }),
    ...more,
  });
}

t.test('refuses at start an admin route with a safe method, and takes one with a method that changes things', async (t) => {
  await t.rejects(appWith(t, [(app) => { app.get('/x', { config: { admin: true } }, async () => ({})); }]), /admin route with a safe method/, 'GET with admin: refused');
  await t.rejects(appWith(t, [(app) => { app.route({ method: ['HEAD', 'POST'], url: '/y', config: { admin: true }, handler: async () => ({}) }); }]), /admin route with a safe method/, 'HEAD among its methods: refused');
  const made = await appWith(t, [(app) => { app.post('/z', { config: { admin: true } }, async () => ({})); }]);
  t.teardown(() => made.app.close());
  t.ok(made.app.hasRoute({ method: 'POST', url: '/z' }), 'POST with admin: taken');
});

t.test('answers a foreign Host on /docs with 403 E_FORBIDDEN in an ErrorEnvelope, as on the API', async (t) => {
  let port = 0;
  const { app } = await appWith(t, undefined, () => port);
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
  for (const path of ['/docs', '/docs/json', '/docs/static/index.html', '/v1/health']) {
    const a = await rawRequest(base, 'GET', path, { headers: { host: `evil.example:${port}` } });
    t.equal(a.status, 403, `GET ${path} with a foreign Host: 403 (${a.text.slice(0, 160)})`);
    t.match(a.body, { error: { code: 'forbidden', details: { reason: 'host', arpd_code: 'E_FORBIDDEN' }, retryable: false } }, `GET ${path}: the envelope`);
    t.notOk(Object.hasOwn((a.body ?? {}) as object, 'statusCode'), `GET ${path}: not fastify's own error body`);
  }
  t.equal((await rawRequest(base, 'GET', '/docs', { headers: { host: `127.0.0.1:${port}` } })).status, 200, 'and /docs is served to its own Host');
});

t.test('refuses a path segment over the router\'s limit with a short E_VALIDATION that says what an id is', async (t) => {
  const { app } = await appWith(t, undefined);
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  // the router refuses it before any hook: no Host or credentials are looked at
  const a = await rawRequest(base, 'GET', `/v1/runs/${'a'.repeat(5000)}`);
  t.equal(a.status, 400, `400 (${a.text.slice(0, 160)})`);
  t.match(a.body, { error: { code: 'validation', details: { field: 'path', rule: 'id', arpd_code: 'E_VALIDATION' } } }, 'E_VALIDATION naming the path');
  t.ok(a.text.length < 600, `a short answer, not the path again (${a.text.length} bytes)`);
});

t.test('answers headers that trickle past the request timeout with 408 E_TIMEOUT, not a protocol error', async (t) => {
  let port = 0;
  const { app } = await appWith(t, undefined, () => port, { requestTimeoutMs: 2000 });
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
  const answer = await new Promise<string>((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8').on('data', (c: string) => { text += c; });
    socket.on('error', () => undefined);
    socket.write(`GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
    // one header line every 200 ms, never the blank line that ends them
    let n = 0;
    const trickle = setInterval(() => { if (socket.writable) socket.write(`X-Slow-${n++}: 1\r\n`); }, 200);
    const giveUp = setTimeout(() => socket.destroy(), 25_000);
    socket.on('close', () => { clearInterval(trickle); clearTimeout(giveUp); resolve(text); });
  });
  t.match(answer, /^HTTP\/1\.1 408 Request Timeout\r\n/, `408 (${answer.slice(0, 80)})`);
  const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as unknown;
  t.match(body, { error: { code: 'timeout', message: /did not arrive within 2000 ms \(--http-request-timeout\)/, details: { arpd_code: 'E_TIMEOUT' } } }, 'E_TIMEOUT saying which limit');
  t.equal((await rawRequest(base, 'GET', '/openapi.json', { headers: { host: `127.0.0.1:${port}` } })).status, 200, 'and it keeps serving');
});

t.test('documents the query parameters of the admin routes that take them', async (t) => {
  const { app } = await appWith(t, undefined);
  t.teardown(() => app.close());
  await app.ready();
  const paths = (app.swagger() as { paths: Record<string, Record<string, { parameters?: Array<{ in: string; name: string; required?: boolean }> }>> }).paths;
  const query = (path: string): string[] => (paths[path]?.['post']?.parameters ?? []).filter((p) => p.in === 'query').map((p) => `${p.name}${p.required === true ? '*' : ''}`).sort();
  t.same(query('/v1/admin/runs:prune'), ['before*', 'dry_run'], 'runs:prune: before (required) and dry_run');
  t.same(query('/v1/admin/log:compact'), ['budget_bytes'], 'log:compact: budget_bytes');
});

/** Writes `text` on a new connection to `port` and resolves with all the server sent until it closed (or after 20 s). */
function exchange(port: number, text: string, then?: (socket: ReturnType<typeof connect>, seen: string) => void): Promise<{ answer: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let closedByServer = true;
    socket.setEncoding('utf8').on('data', (c: string) => { answer += c; then?.(socket, answer); });
    socket.on('error', () => undefined);
    const giveUp = setTimeout(() => { closedByServer = false; socket.destroy(); }, 20_000);
    socket.on('close', () => { clearTimeout(giveUp); resolve({ answer, closedByServer }); });
    socket.write(text);
  });
}

/** The status line, the headers (lower-case names) and the JSON body of one raw answer. */
function parseAnswer(raw: string): { statusLine: string; headers: Record<string, string>; body: unknown } {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = raw.slice(0, end === -1 ? raw.length : end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) { const i = l.indexOf(':'); headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
  let body: unknown;
  try { body = JSON.parse(raw.slice(end + 4)); } catch { body = undefined; }
  return { statusLine, headers, body };
}

// was a bug (QA): Node answered an expectation other than 100-continue with a bare 417 and no body
t.test('answers an Expect other than 100-continue with 417 and an ErrorEnvelope that says what to send', async (t) => {
  let port = 0;
  const { app } = await appWith(t, undefined, () => port);
  t.teardown(() => app.close());
  port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);
  for (const expect of ['bogus', '200-ok']) {
    const { answer } = await exchange(port, `GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nExpect: ${expect}\r\n\r\n`);
    const a = parseAnswer(answer);
    t.match(a.statusLine, /^HTTP\/1\.1 417 /, `Expect: ${expect}: 417 (${answer.slice(0, 80)})`);
    t.match(a.headers['content-type'], /^application\/json/, 'a JSON body');
    t.match(a.body, { error: { code: 'protocol', message: /Expect: 100-continue/, details: { arpd_code: 'E_PROTOCOL', header: 'expect' }, retryable: false } }, 'E_PROTOCOL naming the header and what to send');
  }
});

t.test('answers Expect: 100-continue with 100 Continue and then the route\'s own answer', async (t) => {
  let port = 0;
  const none = createAuthenticator({ mode: 'none', host: '127.0.0.1', tokenFile: '', adminTokenFile: '' });
  const { app } = await appWith(t, [(app) => { app.post('/echo', async (req) => ({ got: req.body })); }], () => port, { auth: none });
  t.teardown(() => app.close());
  port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);
  const body = '{"a":1}';
  let sent = false;
  const { answer } = await exchange(port,
    `POST /echo HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
    // the body only after the server said to go on
    (socket, seen) => { if (!sent && seen.includes('\r\n\r\n')) { sent = true; socket.write(body); } });
  t.match(answer, /^HTTP\/1\.1 100 Continue\r\n\r\n/, `100 Continue first (${answer.slice(0, 40)})`);
  const a = parseAnswer(answer.slice(answer.indexOf('\r\n\r\n') + 4));
  t.match(a.statusLine, /^HTTP\/1\.1 200 /, 'then 200');
  t.same(a.body, { got: { a: 1 } }, 'the route read the body');
});

// was a bug (QA): Node drops a CONNECT request's connection without a word when the server has no 'connect' listener
t.test('answers CONNECT with 405 E_METHOD_NOT_ALLOWED in an ErrorEnvelope and closes the connection', async (t) => {
  let port = 0;
  const { app } = await appWith(t, undefined, () => port);
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
  for (const target of ['example.com:443', '/v1/health']) {
    const { answer, closedByServer } = await exchange(port, `CONNECT ${target} HTTP/1.1\r\nHost: ${target.startsWith('/') ? `127.0.0.1:${port}` : target}\r\n\r\n`);
    const a = parseAnswer(answer);
    t.match(a.statusLine, /^HTTP\/1\.1 405 /, `CONNECT ${target}: 405 (${answer.slice(0, 80)})`);
    t.match(a.body, { error: { code: 'method_not_allowed', message: /CONNECT/, details: { arpd_code: 'E_METHOD_NOT_ALLOWED', method: 'CONNECT' } } }, `CONNECT ${target}: the envelope`);
    t.equal(a.headers['allow'], target.startsWith('/') ? 'GET, HEAD' : '', `CONNECT ${target}: Allow names the path's methods (none for a proxy target)`);
    t.equal(a.headers['connection'], 'close', `CONNECT ${target}: Connection: close`);
    t.ok(closedByServer, `CONNECT ${target}: the server closed the connection`);
  }
  t.equal((await rawRequest(base, 'GET', '/openapi.json', { headers: { host: `127.0.0.1:${port}` } })).status, 200, 'and it keeps serving');
});

// was a bug (QA): the Swagger UI routes were registered before the onRoute hook that lists each path's methods
t.test('answers another method on the /docs routes with 405 and Allow: GET, HEAD, and unknown paths under /docs with 404', async (t) => {
  let port = 0;
  const { app } = await appWith(t, undefined, () => port);
  t.teardown(() => app.close());
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
  const host = { host: `127.0.0.1:${port}` };
  for (const [method, path] of [['POST', '/docs'], ['PUT', '/docs/'], ['DELETE', '/docs/json'], ['POST', '/docs/yaml'], ['PATCH', '/docs/static/index.html'], ['POST', '/docs/static/swagger-ui.css']] as Array<[string, string]>) {
    const a = await rawRequest(base, method, path, { headers: host });
    t.equal(a.status, 405, `${method} ${path}: 405 (${a.text.slice(0, 120)})`);
    t.match(a.body, { error: { code: 'method_not_allowed', details: { arpd_code: 'E_METHOD_NOT_ALLOWED' } } }, `${method} ${path}: the envelope`);
    t.same(String(a.headers['allow']).split(', ').sort(), ['GET', 'HEAD'], `${method} ${path}: Allow: GET, HEAD`);
  }
  for (const [method, path] of [['GET', '/docs/nope'], ['POST', '/docs/nope'], ['GET', '/docs/static/nope.js']] as Array<[string, string]>) {
    const a = await rawRequest(base, method, path, { headers: host });
    t.equal(a.status, 404, `${method} ${path}: 404 (${a.text.slice(0, 120)})`);
    t.match(a.body, { error: { code: 'route.not_found', details: { arpd_code: 'E_METHOD_NOT_FOUND' } } }, `${method} ${path}: route.not_found`);
  }
  for (const path of ['/docs', '/docs/', '/docs/json', '/docs/static/swagger-ui.css']) {
    t.equal((await rawRequest(base, 'GET', path, { headers: host })).status, 200, `GET ${path} still serves`);
  }
});

// was a bug (QA): an empty Host was refused with "Host '' is not an address of this daemon ... --allowed-hosts "
t.test('refuses an empty Host header with a message that says it is empty and which Host to send', async (t) => {
  let port = 0;
  const { app } = await appWith(t, undefined, () => port);
  t.teardown(() => app.close());
  port = Number(new URL(await app.listen({ host: '127.0.0.1', port: 0 })).port);
  const { answer } = await exchange(port, 'GET /v1/health HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n');
  const a = parseAnswer(answer);
  t.match(a.statusLine, /^HTTP\/1\.1 403 /, `403 (${answer.slice(0, 80)})`);
  const message = String((a.body as { error?: { message?: string } } | undefined)?.error?.message);
  t.match(message, /Host header is empty/, `says the header is empty (${message})`);
  t.match(message, new RegExp(`send Host: 127\\.0\\.0\\.1:${port}`), 'says what to send');
  t.notMatch(message, /''|--allowed-hosts/, 'names no empty host and no --allowed-hosts hint');
  t.match(a.body, { error: { code: 'forbidden', details: { reason: 'host', host: '', arpd_code: 'E_FORBIDDEN' } } }, 'the same E_FORBIDDEN reason as a foreign Host');
});
