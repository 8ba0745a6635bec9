/**
 * The HTTP API against the ARP Daemon API v1 contract, on a REAL daemon process over REAL HTTP: every endpoint's
 * success and error paths, each answer checked against the spec's schema for it (the oracle in
 * test/schemas/oracle.ts), every golden request vector accepted and every applicable invalid one refused.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse as parseYaml } from 'yaml';
import { startReferenceRuntime } from '../../src/runtime/reference-runtime.js';
import { listFiles, readJson, SPEC_DIR } from '../schemas/oracle.js';
import { clientOf, eventually, ROOT, expectAnswer, expectError, readSse, specProblems, startHttpDaemon, type Answer } from './http-daemon.js';

type Json = Record<string, unknown>;

const daemon = await startHttpDaemon(t);
const api = clientOf(daemon);
const admin = clientOf(daemon, { admin: true });
const EXEC = { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '{port}'] } };
const body = (a: Answer): Json => (a.body ?? {}) as Json;
const VECTORS = join(SPEC_DIR, 'conformance', 'json_vectors');
const INVALID = join(SPEC_DIR, 'conformance', 'json_vectors_invalid');
const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

async function ended(runId: string): Promise<Json> {
  return eventually(`run ${runId} ends`, async () => {
    const s = body(await api('GET', `/v1/runs/${runId}`));
    return TERMINAL.has(String(s['state'])) ? s : undefined;
  });
}

t.test('serves health and version without a token, valid against the spec', async (t) => {
  const h = await api('GET', '/v1/health', { token: null });
  expectAnswer(t, h, 200, 'Health', 'GET /v1/health');
  t.equal(body(h)['status'], 'ok');
  const checks = body(h)['checks'] as Array<{ name: string; status: string; details?: Json }>;
  t.equal(checks.find((c) => c.name === 'event_log')?.status, 'ok', 'the log is writable');
  t.match(checks.find((c) => c.name === 'instances')?.details, { starting: Number, ready: Number, error: Number }, 'instances by state');

  const v = await api('GET', '/v1/version', { token: null });
  expectAnswer(t, v, 200, 'VersionInfo', 'GET /v1/version');
  t.match(body(v), { service_name: 'arpd', supported_api_versions: ['v1'] });
  t.equal(body(v)['service_version'], (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
});

t.test('lists, upserts, reads and deletes runtime profiles, each answer valid against the spec', async (t) => {
  const list = await api('GET', '/v1/admin/runtime-profiles');
  expectAnswer(t, list, 200, 'RuntimeProfileListResponse', 'GET profiles');
  t.ok((body(list)['profiles'] as Json[]).some((p) => p['runtime_profile'] === 'default'), 'the seeded default profile is listed');

  const vector = readJson(join(VECTORS, 'daemon/runtime_profiles/runtime_profile_upsert_request.json')) as Json;
  // the golden vector says nothing of how to start its runtime: refused, as JARVIS refuses it
  const bare = await admin('PUT', '/v1/admin/runtime-profiles/contract-p1', { json: vector });
  expectError(t, bare, 400, 'validation', 'PUT the golden upsert vector without an exec extension', 'E_VALIDATION');
  t.match(body(bare), { error: { message: /arp\.jarvis\.exec/ } });
  const put = await admin('PUT', '/v1/admin/runtime-profiles/contract-p1', { json: { ...vector, extensions: EXEC } });
  expectAnswer(t, put, 200, 'RuntimeProfile', 'PUT the golden upsert vector with an exec extension');
  t.match(body(put), { runtime_profile: 'contract-p1', ...vector });

  const again = await admin('PUT', '/v1/admin/runtime-profiles/contract-p1', { json: { description: 'changed', extensions: EXEC } });
  expectAnswer(t, again, 200, 'RuntimeProfile', 'PUT again replaces it');
  t.equal(body(again)['description'], 'changed');

  expectAnswer(t, await api('GET', '/v1/admin/runtime-profiles/contract-p1'), 200, 'RuntimeProfile', 'GET one profile');

  const del = await admin('DELETE', '/v1/admin/runtime-profiles/contract-p1');
  t.equal(del.status, 204, 'DELETE answers 204');
  t.equal(del.text, '', 'with no body');
  expectError(t, await admin('DELETE', '/v1/admin/runtime-profiles/contract-p1'), 404, 'runtime_profiles.not_found', 'DELETE again', 'E_NOT_FOUND');
  expectError(t, await api('GET', '/v1/admin/runtime-profiles/contract-p1'), 404, 'runtime_profiles.not_found', 'GET a deleted profile');
});

t.test('refuses a profile request that breaks the schema with 400 naming the field', async (t) => {
  const unknown = await admin('PUT', '/v1/admin/runtime-profiles/contract-bad', { json: { runtime_name: 'x', bogus: 1, extensions: EXEC } });
  expectError(t, unknown, 400, 'validation', 'an unknown field', 'E_VALIDATION');
  t.match(body(unknown), { error: { message: /bogus/, details: { field: 'bogus' } } });

  const wrongType = await admin('PUT', '/v1/admin/runtime-profiles/contract-bad', { json: { defaults: { args: 'not-a-list' }, extensions: EXEC } });
  expectError(t, wrongType, 400, 'validation', 'a wrong type');
  t.match(body(wrongType), { error: { details: { field: 'defaults.args' } } });

  const badName = await admin('PUT', '/v1/admin/runtime-profiles/..', { json: {} });
  t.not(badName.status, 200, 'a path-escaping name is never accepted');
  const badName2 = await admin('PUT', '/v1/admin/runtime-profiles/-dash', { json: {} });
  expectError(t, badName2, 400, 'validation', 'a name that breaks the id rule');
  t.match(body(badName2), { error: { details: { field: 'runtime_profile' } } });

  expectError(t, await admin('PUT', '/v1/admin/runtime-profiles/contract-bad'), 400, 'validation', 'no body at all');
  t.equal((await api('GET', '/v1/admin/runtime-profiles/contract-bad')).status, 404, 'nothing was saved');
});

t.test('creates, lists and deletes instances; a profile in use cannot be deleted; unknown ones are not found', async (t) => {
  const vector = readJson(join(VECTORS, 'daemon/instances/instance_create_request.json')) as Json;
  const created = await api('POST', '/v1/instances?wait=true', { json: vector });
  expectAnswer(t, created, 200, 'InstanceCreateResponse', 'POST the golden create vector');
  const inst = (body(created)['instances'] as Json[])[0] as Json;
  t.equal(inst['state'], 'ready', 'the instance is ready (wait=true)');
  const id = String(inst['instance_id']);

  const list = await api('GET', '/v1/instances');
  expectAnswer(t, list, 200, 'InstanceListResponse', 'GET instances');
  t.ok((body(list)['instances'] as Json[]).some((i) => i['instance_id'] === id), 'the new instance is listed');
  expectAnswer(t, await api('GET', `/v1/instances/${id}`), 200, 'RuntimeInstance', 'GET one instance');

  const inUse = await admin('DELETE', '/v1/admin/runtime-profiles/default');
  expectError(t, inUse, 409, 'conflict', 'deleting a profile a live instance uses', 'E_CONFLICT');

  const del = await api('DELETE', `/v1/instances/${id}`);
  t.equal(del.status, 204, 'DELETE an instance answers 204');
  t.equal(del.text, '');
  t.equal(body(await api('GET', `/v1/instances/${id}`))['state'], 'stopped', 'it is stopped');
  t.notOk((body(await api('GET', '/v1/instances'))['instances'] as Json[]).some((i) => i['instance_id'] === id), 'stopped instances are not listed by default');
  t.ok((body(await api('GET', '/v1/instances?all=true'))['instances'] as Json[]).some((i) => i['instance_id'] === id), 'but are with all=true');

  expectError(t, await api('DELETE', '/v1/instances/inst_nope'), 404, 'instances.not_found', 'DELETE an unknown instance', 'E_NOT_FOUND');
  expectError(t, await api('GET', '/v1/instances/inst_nope'), 404, 'instances.not_found', 'GET an unknown instance');
  expectError(t, await api('POST', '/v1/instances', { json: { runtime_profile: 'no-such-profile' } }), 404, 'runtime_profiles.not_found', 'POST with an unknown profile');
  const missing = await api('POST', '/v1/instances', { json: {} });
  expectError(t, missing, 400, 'validation', 'POST without runtime_profile');
  t.match(body(missing), { error: { details: { field: 'runtime_profile' } } });
  expectError(t, await api('POST', '/v1/instances', { json: { runtime_profile: 'default', count: 0 } }), 400, 'validation', 'count 0');
});

t.test('registers an external runtime (POST /v1/instances:register) and deregisters it', async (t) => {
  const rt = await startReferenceRuntime({ host: '127.0.0.1', port: 0 });
  t.teardown(() => rt.close());
  const reg = await api('POST', '/v1/instances:register', { json: { runtime_api_endpoint: rt.url, runtime_name: 'external-ref' } });
  expectAnswer(t, reg, 200, 'InstanceRegisterResponse', 'register a live runtime');
  const inst = body(reg)['instance'] as Json;
  t.match(inst, { managed: false, state: 'ready', runtime_api_endpoint: rt.url });

  const same = await api('POST', '/v1/instances:register', { json: { runtime_api_endpoint: rt.url } });
  t.equal((body(same)['instance'] as Json)['instance_id'], inst['instance_id'], 'registering the same endpoint again gives the same instance');

  const vector = readJson(join(VECTORS, 'daemon/instances/instance_register_request.json'));
  const fromVector = await api('POST', '/v1/instances:register', { json: vector });
  expectAnswer(t, fromVector, 200, 'InstanceRegisterResponse', 'register the golden vector');

  const bad = await api('POST', '/v1/instances:register', { json: { runtime_api_endpoint: 'not a uri' } });
  expectError(t, bad, 400, 'validation', 'an endpoint that is not a URI');
  t.match(body(bad), { error: { details: { field: 'runtime_api_endpoint' } } });

  for (const i of [inst, body(fromVector)['instance'] as Json]) {
    t.equal((await api('DELETE', `/v1/instances/${String(i['instance_id'])}`)).status, 204, 'deregistered');
  }
});

t.test('submits a run (202), then reads its status, result, trace and the run list, valid against the spec', async (t) => {
  const sub = await api('POST', '/v1/runs', { json: { input: { goal: 'What is (19*23)?' } } });
  expectAnswer(t, sub, 202, 'RunStatus', 'POST /v1/runs');
  const runId = String(body(sub)['run_id']);

  const end = await ended(runId);
  t.equal(end['state'], 'succeeded');
  expectAnswer(t, await api('GET', `/v1/runs/${runId}`), 200, 'RunStatus', 'GET status');

  const result = await api('GET', `/v1/runs/${runId}/result`);
  expectAnswer(t, result, 200, 'RunResult', 'GET result');
  t.match(body(result), { run_id: runId, ok: true });
  t.match(JSON.stringify(body(result)['output']), /437/);

  const trace = await api('GET', `/v1/runs/${runId}/trace`);
  expectAnswer(t, trace, 200, 'TraceResponse', 'GET trace');
  const events = body(trace)['events'] as Json[];
  t.ok(events.length > 0, 'the trace has events');
  t.same(events.map((e) => e['seq']), events.map((_, i) => i + 1), 'seq counts from 1 without gaps');
  const page = await api('GET', `/v1/runs/${runId}/trace?from_seq=2&limit=2`);
  t.same((body(page)['events'] as Json[]).map((e) => e['seq']), [2, 3], 'from_seq and limit page the trace');

  // two more runs, then page through the list one at a time
  for (const goal of ['What is (1+1)?', 'What is (2+2)?']) await ended(String(body(await api('POST', '/v1/runs', { json: { input: { goal } } }))['run_id']));
  const all = await api('GET', '/v1/runs?page_size=1000');
  expectAnswer(t, all, 200, 'RunListResponse', 'GET /v1/runs');
  const ids = (body(all)['runs'] as Json[]).map((r) => r['run_id']);
  t.ok(ids.includes(runId), 'the run is listed');
  const seen: unknown[] = [];
  let token: string | undefined;
  do {
    const p = await api('GET', `/v1/runs?page_size=1${token === undefined ? '' : `&page_token=${encodeURIComponent(token)}`}`);
    expectAnswer(t, p, 200, 'RunListResponse', 'a page of one');
    const runs = body(p)['runs'] as Json[];
    t.ok(runs.length <= 1, 'at most page_size runs');
    seen.push(...runs.map((r) => r['run_id']));
    token = (body(p)['pagination'] as Json | undefined)?.['next_page_token'] as string | undefined;
  } while (token !== undefined && seen.length <= ids.length);
  t.same(seen, ids, 'paging one by one yields the same runs in the same order');
});

t.test('answers runs.not_ready (409) for the result of a run that has not ended, and cancels it', async (t) => {
  // an instance that never gets ready: a run for its profile waits (arpd queues only what something can take)
  const never = await admin('PUT', '/v1/admin/runtime-profiles/contract-never', {
    json: { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/sleep', '3600', '{port}'] }, 'arpd.runtime': { health_timeout_ms: 600_000 } } },
  });
  expectAnswer(t, never, 200, 'RuntimeProfile', 'a profile whose runtime never listens');
  expectAnswer(t, await api('POST', '/v1/instances?wait=false', { json: { runtime_profile: 'contract-never' } }), 200, 'InstanceCreateResponse', 'an instance of it, answered once it has its endpoint');
  const sub = await api('POST', '/v1/runs', { json: { input: { goal: 'wait here' }, runtime_selector: { runtime_profile: 'contract-never' }, extensions: { 'arpd.queue_timeout_ms': 3_600_000 } } });
  expectAnswer(t, sub, 202, 'RunStatus', 'submit a run no instance can take');
  const runId = String(body(sub)['run_id']);
  t.equal(body(sub)['state'], 'queued');
  expectError(t, await api('GET', `/v1/runs/${runId}/result`), 409, 'runs.not_ready', 'the result of a queued run', 'E_NOT_READY');

  const cancel = await api('POST', `/v1/runs/${runId}:cancel`);
  expectAnswer(t, cancel, 200, 'RunStatus', 'POST :cancel');
  t.equal(body(cancel)['state'], 'canceled');
  const result = await api('GET', `/v1/runs/${runId}/result`);
  expectAnswer(t, result, 200, 'RunResult', 'the result of a canceled run');
  t.equal(body(result)['ok'], false);
  expectAnswer(t, await api('POST', `/v1/runs/${runId}:cancel`), 200, 'RunStatus', 'canceling again is harmless');
});

t.test('refuses run requests that break the schema with 400 naming the field', async (t) => {
  const unknown = await api('POST', '/v1/runs', { json: { input: { goal: 'x' }, bogus: true } });
  expectError(t, unknown, 400, 'validation', 'an unknown top-level field');
  t.match(body(unknown), { error: { details: { field: 'bogus' } } });
  const nested = await api('POST', '/v1/runs', { json: { input: { goal: 'x', extra: 1 } } });
  expectError(t, nested, 400, 'validation', 'an unknown nested field');
  t.match(body(nested), { error: { details: { field: 'input.extra' } } });
  const noInput = await api('POST', '/v1/runs', { json: { run_id: 'contract-no-input' } });
  expectError(t, noInput, 400, 'validation', 'no input');
  t.match(body(noInput), { error: { details: { field: 'input' } } });
  expectError(t, await api('POST', '/v1/runs', { json: { input: { goal: 'x' }, limits: { max_steps: 0 } } }), 400, 'validation', 'limits.max_steps 0');
  expectError(t, await api('POST', '/v1/runs', { json: { run_id: '../escape', input: { goal: 'x' } } }), 400, 'validation', 'a run_id that breaks the id rule');
  expectError(t, await api('POST', '/v1/runs', { json: [] }), 400, 'validation', 'an array');
  expectError(t, await api('POST', '/v1/runs'), 400, 'validation', 'no body');
});

t.test('accepts every valid golden request vector and refuses every applicable invalid one with 400', async (t) => {
  const daemonVectors = listFiles(join(VECTORS, 'daemon')).filter((f) => /_request\.json$/.test(f));
  t.same(daemonVectors, ['instances/instance_create_request.json', 'instances/instance_register_request.json', 'runs/run_request.json', 'runtime_profiles/runtime_profile_upsert_request.json'], 'the request vectors this test knows');
  const created: string[] = [];
  for (const file of daemonVectors) {
    const v = readJson(join(VECTORS, 'daemon', file)) as Json;
    let a: Answer;
    if (file.startsWith('instances/instance_create')) a = await api('POST', '/v1/instances', { json: v });
    else if (file.startsWith('instances/instance_register')) a = await api('POST', '/v1/instances:register', { json: v });
    else if (file.startsWith('runs/')) a = await api('POST', '/v1/runs', { json: v });
    else {
      // a profile that says nothing of how to start its runtime is no safe-list entry (JARVIS refuses it too)
      expectError(t, await admin('PUT', '/v1/admin/runtime-profiles/vector-profile', { json: v }), 400, 'validation', `daemon/${file} as it is`, 'E_VALIDATION');
      a = await admin('PUT', '/v1/admin/runtime-profiles/vector-profile', { json: { ...v, extensions: EXEC } });
    }
    t.ok(a.status >= 200 && a.status < 300, `daemon/${file} is accepted (HTTP ${a.status}: ${a.text.slice(0, 200)})`);
    if (file.startsWith('instances/')) {
      const b = body(a);
      for (const i of (b['instances'] as Json[] | undefined) ?? [b['instance'] as Json]) created.push(String(i['instance_id']));
    }
  }
  // the runtime's RunRequest vector is also a daemon RunRequest; it reuses the daemon vector's run_id with
  // another input (which would be runs.conflict), so it gets its own id
  const runtimeRun = { ...(readJson(join(VECTORS, 'runtime/runs/run_request.json')) as Json), run_id: 'run_123_runtime_vector' };
  const rr = await api('POST', '/v1/runs', { json: runtimeRun });
  expectAnswer(t, rr, 202, 'RunStatus', 'runtime/runs/run_request.json is accepted');
  expectAnswer(t, await api('POST', '/v1/runs', { json: runtimeRun }), 202, 'RunStatus', 'sending the same request again is safe');
  expectError(t, await api('POST', '/v1/runs', { json: { ...runtimeRun, input: { goal: 'other' } } }), 409, 'runs.conflict', 'the same run_id with another request', 'E_CONFLICT');

  const invalid = listFiles(INVALID).filter((f) => f === 'runtime/runs/run_request.json');
  t.same(invalid, ['runtime/runs/run_request.json'], 'the invalid vectors that apply to a daemon request');
  for (const file of invalid) {
    const a = await api('POST', '/v1/runs', { json: readJson(join(INVALID, file)) });
    expectError(t, a, 400, 'validation', `invalid ${file} is refused`, 'E_VALIDATION');
  }
  for (const id of created) await api('DELETE', `/v1/instances/${id}`);
  await admin('DELETE', '/v1/admin/runtime-profiles/vector-profile');
});

t.test('answers runs.not_found (404) for an unknown run on every run route', async (t) => {
  expectError(t, await api('GET', '/v1/runs/run_nope'), 404, 'runs.not_found', 'GET status', 'E_NOT_FOUND');
  expectError(t, await api('GET', '/v1/runs/run_nope/result'), 404, 'runs.not_found', 'GET result');
  expectError(t, await api('GET', '/v1/runs/run_nope/trace'), 404, 'runs.not_found', 'GET trace');
  expectError(t, await api('POST', '/v1/runs/run_nope:cancel'), 404, 'runs.not_found', 'POST cancel');
  expectError(t, await api('GET', '/v1/runs/run_nope/events'), 404, 'runs.not_found', 'GET events (JSON before any stream)');
});

t.test('refuses bad query parameters with 400 naming them', async (t) => {
  for (const [q, field] of [['page_size=0', 'page_size'], ['page_size=1001', 'page_size'], ['page_size=ten', 'page_size'], ['page_token=garbage', 'page_token'], ['color=red', 'color'], ['page_size=1&page_size=2', 'page_size']] as const) {
    const a = await api('GET', `/v1/runs?${q}`);
    expectError(t, a, 400, 'validation', `GET /v1/runs?${q}`);
    t.match(body(a), { error: { details: { field } } }, `names ${field}`);
  }
  expectAnswer(t, await api('GET', '/v1/runs?page_size=1000'), 200, 'RunListResponse', 'page_size 1000 is allowed');
  expectError(t, await api('GET', '/v1/instances?all=maybe'), 400, 'validation', 'a bad boolean');
  expectError(t, await api('GET', '/v1/admin/runtime-profiles?x=1'), 400, 'validation', 'a parameter where none are taken');
});

t.test('answers an unknown route with 404 and a known route with another method with 405 and Allow', async (t) => {
  expectError(t, await api('GET', '/v1/nope'), 404, 'route.not_found', 'an unknown route', 'E_METHOD_NOT_FOUND');
  expectError(t, await api('GET', '/'), 404, 'route.not_found', 'the root');
  for (const [method, path, allow] of [
    ['PUT', '/v1/runs', ['GET', 'HEAD', 'POST']],
    ['DELETE', '/v1/runs/run_x', ['GET', 'HEAD']],
    ['GET', '/v1/runs/run_x:cancel', ['POST']],
    ['GET', '/v1/instances:register', ['POST']],
    ['PATCH', '/v1/instances/inst_x', ['GET', 'HEAD', 'DELETE']],
    ['POST', '/v1/admin/runtime-profiles', ['GET', 'HEAD']],
    ['POST', '/v1/health', ['GET', 'HEAD']],
    ['POST', '/metrics', ['GET', 'HEAD']],
    ['DELETE', '/v1/admin/replay', ['GET', 'HEAD']],
    ['POST', '/v1/instances/inst_x/logs', ['GET', 'HEAD']],
    ['GET', '/v1/admin/log:snapshot', ['POST']],
  ] as const) {
    const a = await api(method, path);
    expectError(t, a, 405, 'method_not_allowed', `${method} ${path}`, 'E_METHOD_NOT_ALLOWED');
    t.same((a.headers.get('allow') ?? '').split(', ').sort(), [...allow].sort(), `${method} ${path}: Allow ${allow.join(', ')}`);
  }
});

t.test('refuses a body over 1 MiB with 413, a body that is not JSON with 415 and broken JSON with 400, never HTML', async (t) => {
  const big = JSON.stringify({ input: { goal: 'x'.repeat(1024 * 1024 + 10) } });
  expectError(t, await api('POST', '/v1/runs', { raw: big, contentType: 'application/json' }), 413, 'too_large', 'a body over 1 MiB', 'E_TOO_LARGE');
  expectError(t, await api('POST', '/v1/runs', { raw: 'goal=x', contentType: 'application/x-www-form-urlencoded' }), 415, 'unsupported_media', 'a form body', 'E_UNSUPPORTED_MEDIA');
  expectError(t, await api('POST', '/v1/runs', { raw: '{"input":', contentType: 'text/plain' }), 415, 'unsupported_media', 'a text body');
  expectError(t, await api('POST', '/v1/runs', { raw: '{"input":', contentType: 'application/json' }), 400, 'parse', 'broken JSON', 'E_PARSE');
  expectError(t, await admin('PUT', '/v1/admin/runtime-profiles/p', { raw: '{"__proto__":{"x":1}}', contentType: 'application/json' }), 400, 'parse', 'a prototype-poisoning body is refused');
  expectError(t, await api('GET', '/v1/runs/%E0%A4%A'), 400, 'validation', 'a broken percent-encoding');
});

t.test('serves an OpenAPI document with every endpoint of the spec, and Swagger UI, without a token', async (t) => {
  const doc = await api('GET', '/openapi.json', { token: null });
  t.equal(doc.status, 200);
  const paths = (body(doc)['paths'] ?? {}) as Record<string, Record<string, unknown>>;
  const spec = parseYaml(readFileSync(join(SPEC_DIR, 'openapi', 'daemon.openapi.yaml'), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const method of Object.keys(ops)) t.ok(paths[path]?.[method] !== undefined, `the document has ${method.toUpperCase()} ${path}`);
  }
  t.ok(paths['/v1/runs/{run_id}:cancel']?.['post'] !== undefined, 'and the cancel route');
  const schemas = ((body(doc)['components'] as Json)['schemas'] ?? {}) as Json;
  t.ok(['RunRequest', 'RunStatus', 'ErrorEnvelope', 'TraceResponse'].every((n) => n in schemas), 'the shared schemas are components');
  t.same(paths['/v1/health']?.['get'] && (paths['/v1/health']['get'] as Json)['security'], [], 'health needs no credentials');

  const ui = await api('GET', '/docs/', { token: null });
  t.equal(ui.status, 200, 'Swagger UI');
  t.match(ui.text, /swagger-ui/);
  const css = await api('GET', '/docs/static/swagger-ui.css', { token: null });
  t.equal(css.status, 200, 'its assets are served from the package');
});

t.test("streams a run's trace as Server-Sent Events until the run ends, resuming after Last-Event-ID", async (t) => {
  const sub = await api('POST', '/v1/runs', { json: { input: { goal: 'What is (6*7)?' } } });
  const runId = String(body(sub)['run_id']);
  const live = await readSse(daemon.url, `/v1/runs/${runId}/events`, { token: daemon.token });
  t.equal(live.status, 200);
  t.match(live.contentType, /^text\/event-stream/);
  t.ok(live.endedByServer, 'the server ends the stream when the run ends');
  const trace = live.events.filter((e) => e.event === 'trace');
  const last = live.events.at(-1);
  t.equal(last?.event, 'end', 'the last event is end');
  t.equal(specProblems('RunStatus', last?.data), '', 'end carries a valid RunStatus');
  t.equal((last?.data as Json)['state'], 'succeeded');
  for (const e of trace) t.equal(specProblems('TraceEvent', e.data), '', `trace event ${String(e.id)} is a valid TraceEvent`);
  t.same(trace.map((e) => Number(e.id)), trace.map((_, i) => i + 1), 'ids are the trace seqs from 1');
  const full = body(await api('GET', `/v1/runs/${runId}/trace`))['events'] as Json[];
  t.same(trace.map((e) => e.data), full, 'the stream holds the same lines as GET trace');

  const resumed = await readSse(daemon.url, `/v1/runs/${runId}/events`, { token: daemon.token, headers: { 'last-event-id': '3' } });
  t.same(resumed.events.filter((e) => e.event === 'trace').map((e) => Number(e.id)), trace.slice(3).map((e) => Number(e.id)), 'Last-Event-ID resumes after that seq');
  const bad = await api('GET', `/v1/runs/${runId}/events`, { headers: { 'last-event-id': 'abc' } });
  expectError(t, bad, 400, 'validation', 'a Last-Event-ID that is not a seq');
});

t.test('streams the event log from a seq, then live, as Server-Sent Events', async (t) => {
  const first = await readSse(daemon.url, '/v1/events?from_seq=1', { token: daemon.token, until: (_m, all) => all.length >= 5 });
  t.equal(first.status, 200);
  t.same(first.events.map((e) => Number(e.id)), [1, 2, 3, 4, 5], 'from seq 1, in order, no gaps');
  t.same(first.events.map((e) => (e.data as Json)['seq']), [1, 2, 3, 4, 5]);
  t.equal((first.events[0]?.data as Json)['type'], 'daemon.started');

  // from the head on: the first upsert is made once the stream is asked for, the second once the first arrived
  const head = Number(body(await api('GET', '/v1/admin/status'))['last_seq']);
  const reading = readSse(daemon.url, `/v1/events?from_seq=${head + 1}&types=profile.`, {
    token: daemon.token,
    until: (_m, all) => {
      if (all.length === 1) void admin('PUT', '/v1/admin/runtime-profiles/sse-live', { json: { description: 'second', extensions: EXEC } });
      return all.length >= 2;
    },
  });
  await admin('PUT', '/v1/admin/runtime-profiles/sse-live', { json: { description: 'first', extensions: EXEC } });
  const got = await reading;
  t.same(got.events.map((e) => ((e.data as Json)['data'] as Json)['profile']).map((p) => (p as Json)['description']), ['first', 'second'], 'both upserts arrive, in order');
  t.ok(got.events.every((e) => (e.data as Json)['type'] === 'profile.upserted'), 'the types filter holds');
  await admin('DELETE', '/v1/admin/runtime-profiles/sse-live');
  expectError(t, await api('GET', '/v1/events?from_seq=0'), 400, 'validation', 'from_seq 0');
});

t.test('reports the daemon status over HTTP (GET /v1/admin/status)', async (t) => {
  const s = await api('GET', '/v1/admin/status');
  t.equal(s.status, 200);
  t.match(body(s), { http_url: daemon.url, http: { url: daemon.url, auth: 'token' }, state: 'running' });
});
