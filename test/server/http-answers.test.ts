/**
 * The app reports each answer it sends (for the metrics) through `onAnswered`, fed by Node's
 * `http.server.response.finish` channel, not a fastify hook: by route pattern (never the raw URL), method, status and
 * latency; refusals of the auth hook under their route; a path no route matches as `unmatched`. The channel is
 * process-wide, so each app reports only its own server's answers, and stops listening when it closes.
 */
import { hasSubscribers } from 'node:diagnostics_channel';
import { readFileSync } from 'node:fs';
import t, { type Test } from 'tap';
import { createAuthenticator } from '../../src/server/http-auth.js';
import { createHttpApp, type HttpBackend } from '../../src/server/http-app.js';
import { hostPolicy } from '../../src/server/http-origin.js';

interface Answer { method: string; route: string; status: number; seconds: number }

async function appAnswering(t: Test): Promise<{ base: string; token: string; answers: Answer[]; close: () => Promise<void> }> {
  const dir = t.testdir();
  const auth = createAuthenticator({ mode: 'token', host: '127.0.0.1', tokenFile: `${dir}/http.token`, adminTokenFile: `${dir}/http.admin-token` });
  const answers: Answer[] = [];
  let port = 0;
  const { app } = await createHttpApp({
    backend: {} as HttpBackend,
    auth,
    hosts: () => hostPolicy('127.0.0.1', port),
    version: 'test',
    onInternalError: () => undefined,
    plugins: [(a) => { a.get('/things/:id', { config: { openapiPath: '/things/{id}' } }, async (req) => ({ id: (req.params as { id: string }).id })); }],
    onAnswered: (method, route, status, seconds) => { answers.push({ method, route, status, seconds }); },
  });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(base).port);
  return { base, token: readFileSync(`${dir}/http.token`, 'utf8').trim(), answers, close: () => app.close() };
}

/** The answers seen once `n` of them arrived (the channel reports after the last byte is handed to the socket). */
async function seen(answers: Answer[], n: number): Promise<Answer[]> {
  for (let i = 0; i < 200 && answers.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  return answers;
}

t.test('reports each answer by route pattern, method and status, refusals and unknown paths included', async (t) => {
  const a = await appAnswering(t);
  t.teardown(a.close);
  const auth = { authorization: `Bearer ${a.token}` };
  t.equal((await fetch(`${a.base}/things/x1`, { headers: auth })).status, 200);
  t.equal((await fetch(`${a.base}/things/x2?q=1`, { headers: auth })).status, 200);
  t.equal((await fetch(`${a.base}/things/x3`)).status, 401, 'no token: refused by the auth hook');
  t.equal((await fetch(`${a.base}/no/such/path`, { headers: auth })).status, 404);
  const got = await seen(a.answers, 4);
  t.same(got.map(({ method, route, status }) => ({ method, route, status })), [
    { method: 'GET', route: '/things/{id}', status: 200 },
    { method: 'GET', route: '/things/{id}', status: 200 },
    { method: 'GET', route: '/things/{id}', status: 401 },
    { method: 'GET', route: 'unmatched', status: 404 },
  ], 'the pattern, never the ids or the query');
  t.ok(got.every((x) => x.seconds >= 0 && x.seconds < 60), `latencies in seconds (${got.map((x) => x.seconds.toFixed(4)).join(', ')})`);
});

t.test('two apps in one process each report only their own answers, and stop listening when they close', async (t) => {
  const one = await appAnswering(t);
  const two = await appAnswering(t);
  await fetch(`${one.base}/things/a`, { headers: { authorization: `Bearer ${one.token}` } });
  await fetch(`${one.base}/things/b`, { headers: { authorization: `Bearer ${one.token}` } });
  await fetch(`${two.base}/things/c`, { headers: { authorization: `Bearer ${two.token}` } });
  await seen(one.answers, 2);
  await seen(two.answers, 1);
  t.equal(one.answers.length, 2, 'the first app saw its two answers');
  t.equal(two.answers.length, 1, 'the second app saw its one');
  await one.close();
  t.ok(hasSubscribers('http.server.response.finish'), 'the open app still listens');
  await two.close();
  t.notOk(hasSubscribers('http.server.response.finish'), 'no listener is left behind once both closed');
});
