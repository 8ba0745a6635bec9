/**
 * What the HTTP GET hot path may not change (branch http-hot): the token comparison without a hash per request,
 * the callback-style hooks, the body timer skipped for requests without a body, the empty-query shortcut and the
 * metrics counted in a map between scrapes. Unit checks of the comparison, then a REAL daemon over real HTTP.
 */
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import t from 'tap';
import { constantTimeMatcher } from '../../src/server/http-auth.js';
import { PARAM_SCHEMAS, checkParams, type ParamsName } from '../../src/schemas/params.js';
import { startHttpDaemon } from './http-daemon.js';

t.test('the token comparison accepts the exact secret only', async (t) => {
  const secret = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ';
  const matches = constantTimeMatcher(secret);
  t.ok(matches(secret), 'the secret itself');
  t.notOk(matches(`${secret}x`), 'the secret with one more character');
  t.notOk(matches(`${secret}${secret}`), 'the secret twice');
  t.notOk(matches(secret.slice(0, -1)), 'the secret less its last character');
  t.notOk(matches(`${secret.slice(0, -1)}R`), 'the last character changed');
  t.notOk(matches(`X${secret.slice(1)}`), 'the first character changed');
  t.notOk(matches(''), 'nothing');
  t.notOk(matches(`${secret.slice(0, -2)}é`), 'a text of the same byte length ending in a two-byte character');
  t.ok(matches(secret), 'the secret again, after the refusals (nothing is left over from them)');
});

t.test('every params schema takes an empty query (the shortcut for a request without a query string)', async (t) => {
  for (const name of Object.keys(PARAM_SCHEMAS) as ParamsName[]) {
    t.same(checkParams(name, {}, { coerce: true, where: 'query' }), {}, `${name}: {} is valid in query form`);
  }
});

interface Got { status: number; body: string; socket: unknown }

/** A GET through `agent` (one keep-alive socket), with the socket it used. */
function get(base: string, agent: Agent, path: string, headers: Record<string, string>): Promise<Got> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: Number(url.port), path, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => { body += s; }).on('end', () => resolve({ status: res.statusCode ?? 0, body, socket: req.socket }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('the token check on a real daemon, one keep-alive connection', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances']);
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });
  const wrong = `${d.token.slice(0, -1)}${d.token.endsWith('x') ? 'y' : 'x'}`;

  t.test('a wrong token is refused after the right one was accepted on the same connection', async (t) => {
    const right = await get(d.url, agent, '/v1/instances', bearer(d.token));
    t.equal(right.status, 200, 'the right token is accepted');
    const after = await get(d.url, agent, '/v1/instances', bearer(wrong));
    t.equal(after.status, 401, 'a wrong token right after it is refused');
    t.equal(after.socket, right.socket, 'both went over the same connection');
    t.equal((await get(d.url, agent, '/v1/instances', bearer(`${d.token}x`))).status, 401, 'the right token with one more character is refused');
    t.equal((await get(d.url, agent, '/v1/instances', bearer(d.token.slice(0, -1)))).status, 401, 'the right token less its last character is refused');
    t.equal((await get(d.url, agent, '/v1/instances', {})).status, 401, 'no token is refused');
    t.equal((await get(d.url, agent, '/v1/instances', bearer(d.token))).status, 200, 'the right token is accepted again');
  });

  t.test('the run token stays refused on a safe-list change after the admin token was accepted on the same connection', async (t) => {
    const url = new URL(d.url);
    const put = (token: string): Promise<number> => new Promise((resolve, reject) => {
      const body = JSON.stringify({ runtime_name: 'arpd-reference-runtime', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0'] } } });
      const req = httpRequest({ host: url.hostname, port: Number(url.port), method: 'PUT', path: '/v1/admin/runtime-profiles/hot-path', agent,
        headers: { ...bearer(token), 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => { res.resume().on('end', () => resolve(res.statusCode ?? 0)); });
      req.on('error', reject);
      req.end(body);
    });
    t.equal(await put(d.adminToken), 200, 'the admin token makes the change');
    t.equal(await put(d.token), 403, 'the run token right after it is refused the change (403)');
    t.equal(await put(wrong), 401, 'a wrong token is refused (401)');
  });
});

t.test('a body sent chunked that trickles in is cut off by the request timeout', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances', '--http-request-timeout', '1000']);
  const url = new URL(d.url);
  // one byte every 250 ms, for at most 45 s: the daemon must close the connection long before
  const outcome = await new Promise<{ closedByServer: boolean; sent: number; answer: string }>((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let sent = 0;
    let answer = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (closedByServer: boolean): void => { clearInterval(timer); clearTimeout(giveUp); socket.destroy(); resolve({ closedByServer, sent, answer }); };
    const giveUp = setTimeout(() => finish(false), 45_000);
    socket.setEncoding('utf8').on('data', (s: string) => { answer += s; });
    socket.on('close', () => finish(true));
    socket.on('error', () => undefined);
    socket.on('connect', () => {
      socket.write(`POST /v1/runs HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: Bearer ${d.token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
      timer = setInterval(() => { sent++; socket.write('1\r\n \r\n'); }, 250);
    });
  });
  t.ok(outcome.closedByServer, 'the server closed the connection');
  t.ok(outcome.sent < 180, `it did so after ${outcome.sent} chunks`);
  t.notMatch(outcome.answer, /^HTTP\/1\.1 20\d/, 'nothing was accepted');
});

t.test('a metrics sample is recorded per request with its route template, never the raw URL', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances']);
  const auth = { authorization: `Bearer ${d.token}` };
  const scrape = async (): Promise<string> => (await fetch(`${d.url}/metrics`, { headers: auth })).text();
  const count = (text: string, labels: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`arpd_http_requests_total{${labels}}`));
    return line === undefined ? 0 : Number(line.split(' ').at(-1));
  };
  const runs404 = 'method="GET",route="/v1/runs/{run_id}",status="404"';
  const list200 = 'method="GET",route="/v1/instances",status="200"';
  const before = await scrape();
  for (let i = 0; i < 7; i++) t.equal((await fetch(`${d.url}/v1/runs/run_hotpath${i}`, { headers: auth })).status, 404, `GET /v1/runs/run_hotpath${i}: 404`);
  for (let i = 0; i < 3; i++) t.equal((await fetch(`${d.url}/v1/instances?all=true`, { headers: auth })).status, 200, 'GET /v1/instances?all=true: 200');
  const first = await scrape();
  t.equal(count(first, runs404) - count(before, runs404), 7, 'seven 404s counted under the route template');
  t.equal(count(first, list200) - count(before, list200), 3, 'three lists counted under their path, without the query');
  t.notMatch(first, /run_hotpath/, 'no raw id in the exposition');
  t.notMatch(first, /all=true/, 'no query string in the exposition');
  t.match(first, /arpd_http_request_duration_seconds_count\{method="GET",route="\/v1\/runs\/\{run_id\}"\} \d+/, 'their latency is observed under the template too');
  for (let i = 0; i < 2; i++) await fetch(`${d.url}/v1/runs/run_hotpath${i}`, { headers: auth });
  const second = await scrape();
  t.equal(count(second, runs404) - count(first, runs404), 2, 'the next scrape adds only the answers since the last one');
  t.equal(count(second, list200), count(first, list200), 'a count does not move without requests');
});
