/**
 * The app's own rules about its routes, checked on the real fastify app (no daemon needed): the auth hook reads a
 * route's `admin` flag only for methods that change things, so an admin route with a safe method must not exist;
 * and the routes of its plugins (Swagger UI at /docs) answer refusals with the same envelopes as the API's.
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
