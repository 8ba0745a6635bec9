/**
 * Runtimes are checked, not trusted (issue 11): every JSON answer of the Runtime API client (health, version, a run's
 * status and result) is validated against the ARP schema of what was asked. A real HTTP server on 127.0.0.1 port 0
 * stands in for the runtime and answers with the body each case gives.
 */
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
