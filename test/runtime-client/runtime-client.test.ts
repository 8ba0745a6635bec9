/**
 * Runtimes are checked, not trusted (issue 11): every JSON answer of the Runtime API client (health, version, a run's
 * status and result) is validated against the ARP schema of what was asked. A real HTTP server on 127.0.0.1 port 0
 * stands in for the runtime and answers with the body each case gives.
 */
import type { AddressInfo } from 'node:net';
import t from 'tap';
import type { RuntimeClient } from '../../src/runtime-client/runtime-client.js';
import { failure, runtime, type Handler } from '../helpers/runtime-stand-in.js';

/** A runtime that answers every request with 200 and `body` (a string as is, anything else as JSON). */
function answering(body: unknown): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(typeof body === 'string' ? body : JSON.stringify(body));
  };
}


type Call = (c: RuntimeClient, endpoint: string) => Promise<unknown>;
const CALLS: Record<string, { call: Call; good: unknown }> = {
  health: { call: (c, e) => c.health(e), good: { status: 'ok', time: '2025-01-01T00:00:00Z' } },
  version: { call: (c, e) => c.version(e), good: { service_name: 'rt', service_version: '1.0.0', supported_api_versions: ['v1'] } },
  createRun: { call: (c, e) => c.createRun(e, { run_id: 'r1', input: { goal: 'x' } }), good: { run_id: 'r1', state: 'running' } },
  getRun: { call: (c, e) => c.getRun(e, 'r1'), good: { run_id: 'r1', state: 'running' } },
  getResult: { call: (c, e) => c.getResult(e, 'r1'), good: { run_id: 'r1', ok: true } },
};

t.test('an answer of the right ARP shape is taken as is', async (t) => {
  for (const [name, { call, good }] of Object.entries(CALLS)) {
    const { endpoint, client } = await runtime(t, answering(good));
    t.same(await call(client, endpoint), good, name);
  }
});

t.test('a 200 whose body is not the ARP schema asked for is E_BAD_RUNTIME naming the schema', async (t) => {
  const wrong: Record<string, [unknown, string]> = {
    health: [{ status: 'fine' }, 'Health'],
    version: [{ name: 'not arp' }, 'VersionInfo'],
    createRun: [{ run_id: 'r1', state: 'bogus' }, 'RunStatus'],
    getRun: [{ hello: 'world' }, 'RunStatus'],
    getResult: [{ run_id: 'r1' }, 'RunResult'],
  };
  for (const [name, { call }] of Object.entries(CALLS)) {
    const [body, schema] = wrong[name] as [unknown, string];
    const { endpoint, client } = await runtime(t, answering(body));
    const err = await failure(call(client, endpoint));
    t.equal(err.code, 'E_BAD_RUNTIME', `${name}: E_BAD_RUNTIME`);
    t.match(err.message, new RegExp(`not an ARP ${schema}`), `${name}: the message names the schema`);
    t.equal(err.data?.['schema'], schema);
  }
});

t.test('a 200 that is not JSON, is empty or nests deeper than the limit is E_BAD_RUNTIME asking if it is an ARP runtime', async (t) => {
  for (const [what, body] of [['HTML', '<html>hello</html>'], ['an empty body', ''], ['deep JSON', `${'['.repeat(100)}${']'.repeat(100)}`]] as const) {
    const { endpoint, client } = await runtime(t, answering(body));
    const err = await failure(client.health(endpoint));
    t.equal(err.code, 'E_BAD_RUNTIME', what);
    t.match(err.message, /is it an ARP runtime\?/, `${what}: says why`);
  }
});

t.test('a status or result about another run than the one asked for is E_BAD_RUNTIME', async (t) => {
  for (const [name, body] of [['createRun', { run_id: 'someone-else', state: 'running' }], ['getRun', { run_id: 'someone-else', state: 'running' }], ['getResult', { run_id: 'someone-else', ok: true }]] as const) {
    const { endpoint, client } = await runtime(t, answering(body));
    const err = await failure((CALLS[name] as { call: Call }).call(client, endpoint));
    t.equal(err.code, 'E_BAD_RUNTIME', name);
    t.match(err.message, /about run 'someone-else', not 'r1'/, `${name}: says which run it answered about`);
  }
});

t.test('an error status is E_RUNTIME_ERROR with the runtime\'s envelope kept, not E_BAD_RUNTIME', async (t) => {
  const { endpoint, client } = await runtime(t, (_req, res) => {
    res.writeHead(409, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { code: 'conflict', message: 'run exists' } }));
  });
  const err = await failure(client.createRun(endpoint, { run_id: 'r1', input: { goal: 'x' } }));
  t.equal(err.code, 'E_RUNTIME_ERROR');
  t.match(err.message, /409: run exists/);
});

// was a bug (QA, hostile runtimes): the time limit of a call ended once the answer's head came; a runtime that then
// sent its body slowly, or never finished it (a chunked answer that never ends, a Content-Length larger than what it
// sends on a kept-open connection), held the call forever: a health check that never settled left its instance
// `ready` and never checked again, a POST /v1/runs or result GET held the run until its deadline
t.test('an answer whose body does not finish within the call\'s time limit is E_RUNTIME_LOST saying so', async (t) => {
  const stalls: Record<string, Handler> = {
    'a chunked answer that never ends': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"status":');
    },
    'a Content-Length larger than the body sent': (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000000' });
      res.write('{"status":"ok"');
    },
  };
  for (const [what, handler] of Object.entries(stalls)) {
    const { endpoint, client } = await runtime(t, handler);
    for (const [name, call] of [
      ['health', client.health(endpoint, 200)],
      ['createRun', client.createRun(endpoint, { run_id: 'r1', input: { goal: 'x' } }, { timeoutMs: 200 })],
      ['getResult', client.getResult(endpoint, 'r1', { timeoutMs: 200 })],
    ] as const) {
      const err = await failure(call);
      t.equal(err.code, 'E_RUNTIME_LOST', `${what}, ${name}: E_RUNTIME_LOST`);
      t.match(err.message, /did not finish its answer to .* within 200 ms/, `${what}, ${name}: says it did not finish in time`);
    }
  }
});

t.test('a redirect is not followed: it is E_RUNTIME_ERROR naming where it pointed, and the other place is never asked', async (t) => {
  let asked = 0;
  const elsewhere = await runtime(t, (_req, res) => { asked++; res.writeHead(200, { 'content-type': 'application/json' }); res.end('{}'); });
  for (const status of [301, 302, 307, 308]) {
    const { endpoint, client } = await runtime(t, (_req, res) => {
      res.writeHead(status, { location: `${elsewhere.endpoint}/v1/runs` });
      res.end();
    });
    const err = await failure(client.createRun(endpoint, { run_id: 'r1', input: { goal: 'x' } }));
    t.equal(err.code, 'E_RUNTIME_ERROR', `${status}: E_RUNTIME_ERROR`);
    t.match(err.message, new RegExp(`with ${status}: a redirect to ${elsewhere.endpoint}/v1/runs, which arpd does not follow`), `${status}: names the status, where it pointed, and that arpd does not follow it`);
  }
  t.equal(asked, 0, 'the place a redirect pointed to is never asked');
});

t.test('a gzip-encoded answer is not inflated: it is E_BAD_RUNTIME', async (t) => {
  const { gzipSync } = await import('node:zlib');
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20));
  const { endpoint, client } = await runtime(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    res.end(bomb);
  });
  const err = await failure(client.health(endpoint));
  t.equal(err.code, 'E_BAD_RUNTIME');
  t.match(err.message, /not JSON/);
});

t.test('a runtime that takes the connection and never answers is E_RUNTIME_LOST once the call\'s time limit passes', async (t) => {
  const { createServer: createTcpServer } = await import('node:net');
  const sockets = new Set<import('node:net').Socket>();
  const server = createTcpServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.resume(); });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { for (const s of sockets) s.destroy(); return new Promise<void>((resolve) => server.close(() => resolve())); });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { client } = await runtime(t, answering({}));
  for (const [name, call] of [
    ['health', client.health(endpoint, 200)],
    ['createRun', client.createRun(endpoint, { run_id: 'r1', input: { goal: 'x' } }, { timeoutMs: 200 })],
  ] as const) {
    const err = await failure(call);
    t.equal(err.code, 'E_RUNTIME_LOST', `${name}: E_RUNTIME_LOST`);
    t.match(err.message, /did not answer .* within 200 ms/, `${name}: says it did not answer in time`);
  }
});
