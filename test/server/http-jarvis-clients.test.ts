/**
 * What a JARVIS user's HTTP client sees from a real daemon (`arpd serve`, HTTP on 127.0.0.1 port 0) with real
 * runtime processes: selectors that can never match are answered at submit (no 202), a run for a
 * runtime_api_endpoint goes straight there (registered or not) and is followed like any other, body-less requests
 * sent with `Content-Type: application/json` and an empty body are accepted, and POST /v1/instances fails when the
 * instance cannot start instead of answering with an endpoint that does not serve.
 */
import { createServer } from 'node:net';
import t from 'tap';
import { startCountingRuntime } from '../helpers/counting-runtime.js';
import { rawRequest, type RawAnswer } from '../helpers/raw-http.js';
import { REFERENCE_COMMAND, runError, type Json } from '../helpers/runtime-harness.js';
import { clientOf, eventually, expectAnswer, expectError, startHttpDaemon, type Answer } from './http-daemon.js';

const body = (a: { body: unknown }): Json => (a.body ?? {}) as Json;
const ENDED = ['succeeded', 'failed', 'canceled'];

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

t.test('answers at submit a selector nothing can ever match, with its code and no 202, and records no run', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances']);
  const api = clientOf(d);
  const admin = clientOf(d, { admin: true });
  const put = await admin('PUT', '/v1/admin/runtime-profiles/mine', { json: { runtime_name: 'my-rt', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [...REFERENCE_COMMAND] } } } });
  expectAnswer(t, put, 200, 'RuntimeProfile', 'PUT a profile of the user\'s own');
  const created = await api('POST', '/v1/instances', { json: { runtime_profile: 'mine', count: 2 } });
  expectAnswer(t, created, 200, 'InstanceCreateResponse', 'POST /v1/instances');
  const [inst, gone] = (body(created)['instances'] as Json[]).map((i) => String(i['instance_id']));
  t.equal((await api('DELETE', `/v1/instances/${String(gone)}`)).status, 204, 'one of them is deleted');

  const submit = (selector: Json): Promise<Answer> => api('POST', '/v1/runs', { json: { input: { goal: 'What is 1+1?' }, runtime_selector: selector } });
  const notFound: Array<[string, Json, string]> = [
    ['an unknown instance_id', { instance_id: 'inst_nope' }, 'instances.not_found'],
    ['a deleted instance_id', { instance_id: String(gone) }, 'instances.not_found'],
    ['a runtime_profile not on the safe list', { runtime_profile: 'not-on-the-list' }, 'runtime_profiles.not_found'],
    ['a runtime_name no instance and no profile has', { runtime_name: 'nobody-has-this' }, 'instances.not_found'],
  ];
  for (const [what, selector, code] of notFound) expectError(t, await submit(selector), 404, code, what, 'E_NOT_FOUND');

  const conflicts: Array<[string, Json, RegExp]> = [
    ['instance_id with a profile it is not of', { instance_id: String(inst), runtime_profile: 'default' }, /instance '.+' and profile 'default', but that instance is of profile 'mine'/],
    ['instance_id with a runtime_name it does not run', { instance_id: String(inst), runtime_name: 'other-rt' }, /runtime_name 'other-rt', but that instance runs 'my-rt'/],
    ['runtime_api_endpoint with another field', { runtime_api_endpoint: 'http://127.0.0.1:9', runtime_profile: 'mine' }, /cannot be combined with runtime_profile/],
  ];
  for (const [what, selector, message] of conflicts) {
    const a = await submit(selector);
    expectError(t, a, 400, 'validation', what, 'E_VALIDATION');
    t.match(body(a), { error: { message } }, `${what}: names the conflict`);
  }

  const byName = await submit({ runtime_name: 'my-rt' });
  expectAnswer(t, byName, 202, 'RunStatus', 'the profile\'s runtime_name is the instance\'s: a run for it is taken');
  const runs = body(await api('GET', '/v1/runs'))['runs'] as Json[];
  t.same(runs.map((r) => r['run_id']), [body(byName)['run_id']], 'no refused run was recorded');
});

t.test('sends a run for a runtime_api_endpoint straight there, registered or not; an endpoint that does not answer fails the run', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances']);
  const api = clientOf(d);
  const rt = await startCountingRuntime(t);
  const ended = (runId: string): Promise<Json> => eventually(`run ${runId} ends`, async () => {
    const s = body(await api('GET', `/v1/runs/${runId}`));
    return ENDED.includes(String(s['state'])) ? s : undefined;
  });

  const sent = await api('POST', '/v1/runs', { json: { input: { goal: 'What is 6*7?' }, runtime_selector: { runtime_api_endpoint: rt.url } } });
  expectAnswer(t, sent, 202, 'RunStatus', 'a run for an endpoint nobody registered');
  if (sent.status !== 202) return;
  const runId = String(body(sent)['run_id']);
  t.match(await ended(runId), { state: 'succeeded' }, 'it ran at that endpoint');
  const result = await api('GET', `/v1/runs/${runId}/result`);
  expectAnswer(t, result, 200, 'RunResult', 'its result');
  t.match(JSON.stringify(body(result)['output']), /42/, 'the runtime\'s answer');
  const trace = await api('GET', `/v1/runs/${runId}/trace`);
  expectAnswer(t, trace, 200, 'TraceResponse', 'its trace');
  const events = body(trace)['events'] as Json[];
  t.same(events.map((e) => e['seq']), events.map((_, i) => i + 1), 'followed like any other run: a contiguous trace');
  t.ok(events.some((e) => e['type'] === 'routed') && events.some((e) => e['type'] === 'succeeded'), 'routed, then succeeded');

  const port = await closedPort();
  const dead = await api('POST', '/v1/runs', { json: { input: { goal: 'What is 1+1?' }, runtime_selector: { runtime_api_endpoint: `http://127.0.0.1:${port}` } } });
  expectAnswer(t, dead, 202, 'RunStatus', 'a run for an endpoint nothing listens on is taken');
  const failed = await ended(String(body(dead)['run_id']));
  t.equal(failed['state'], 'failed', 'and fails, it does not wait');
  const error = runError(failed);
  t.ok(error.code !== undefined, `with a stable code: ${String(error.code)}`);
  t.match(String(error.message), new RegExp(`127\\.0\\.0\\.1:${port}`), `the error names the endpoint: ${String(error.message)}`);
});

t.test('accepts an empty body sent with Content-Type: application/json on requests that take none', async (t) => {
  const d = await startHttpDaemon(t);
  const admin = clientOf(d, { admin: true });
  const api = clientOf(d);
  for (const name of ['gone', 'gone2']) {
    expectAnswer(t, await admin('PUT', `/v1/admin/runtime-profiles/${name}`, { json: { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [...REFERENCE_COMMAND] } } } }), 200, 'RuntimeProfile', `PUT profile ${name}`);
  }
  const empty = (method: string, path: string, token: string): Promise<RawAnswer> =>
    rawRequest(d.url, method, path, { headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '' });

  const del = await empty('DELETE', '/v1/admin/runtime-profiles/gone', d.adminToken);
  t.equal(del.status, 204, `DELETE a profile with Content-Type: application/json and Content-Length: 0: ${del.text}`);
  t.equal((await api('GET', '/v1/admin/runtime-profiles/gone')).status, 404, 'the profile is gone');
  const list = await empty('GET', '/v1/instances', d.token);
  t.equal(list.status, 200, `GET /v1/instances the same way: ${list.text}`);

  const queued = await api('POST', '/v1/runs', { json: { input: { goal: 'sleep:60000 hi' }, runtime_selector: { runtime_profile: 'default' } } });
  expectAnswer(t, queued, 202, 'RunStatus', 'a run to cancel');
  const runId = String(body(queued)['run_id']);
  const cancel = await empty('POST', `/v1/runs/${runId}:cancel`, d.token);
  t.equal(cancel.status, 200, `POST :cancel the same way: ${cancel.text}`);
  t.equal(body(cancel)['state'], 'canceled', 'the run is canceled');

  const noLength = await rawRequest(d.url, 'DELETE', '/v1/admin/runtime-profiles/gone2', { headers: { authorization: `Bearer ${d.adminToken}`, 'content-type': 'application/json' } });
  t.equal(noLength.status, 204, `Content-Type: application/json and no body at all (no Content-Length): ${noLength.text}`);
  const broken = await rawRequest(d.url, 'POST', '/v1/runs', { headers: { authorization: `Bearer ${d.token}` }, body: '{' });
  t.equal(broken.status, 400, 'a body that is there and broken is still refused');
});

t.test('fails POST /v1/instances when the instance cannot start, and never answers with an endpoint that does not serve', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances']);
  const api = clientOf(d);
  const admin = clientOf(d, { admin: true });
  const put = await admin('PUT', '/v1/admin/runtime-profiles/broken', { json: { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/nonexistent/arpd-no-such-runtime', '--port', '{port}'] } } } });
  expectAnswer(t, put, 200, 'RuntimeProfile', 'a profile whose command does not exist');
  const created = await api('POST', '/v1/instances', { json: { runtime_profile: 'broken' } });
  t.ok(created.status >= 400, `POST /v1/instances fails: HTTP ${created.status}`);
  expectAnswer(t, created, created.status, 'ErrorEnvelope', 'an ErrorEnvelope');
  t.match(body(created), { error: { message: /could not start.*\/nonexistent\/arpd-no-such-runtime/ } }, 'saying which instance could not start and why');
  t.notMatch(created.text, /127\.0\.0\.1:0\b/, 'no made-up endpoint');

  const ok = await api('POST', '/v1/instances', { json: { runtime_profile: 'default' } });
  expectAnswer(t, ok, 200, 'InstanceCreateResponse', 'an instance that starts');
  const inst = (body(ok)['instances'] as Json[])[0] ?? {};
  t.equal(inst['state'], 'ready', 'answered once it is healthy');
  const health = await fetch(`${String(inst['runtime_api_endpoint'])}/v1/health`);
  t.equal(health.status, 200, `its endpoint is real: ${String(inst['runtime_api_endpoint'])} answers /v1/health`);
});

t.test('answers POST /v1/instances for a runtime that takes longer to start than the HTTP idle timeout (a pip install does)', async (t) => {
  // --http-request-timeout 1000: the idle timeout that guards slow senders is 1 s, the runtime takes 3 s to listen
  const d = await startHttpDaemon(t, ['--no-autostart-instances', '--http-request-timeout', '1000']);
  const api = clientOf(d);
  const admin = clientOf(d, { admin: true });
  const slow = ['/bin/sh', '-c', 'sleep 3 && exec "$0" "$@"', ...REFERENCE_COMMAND];
  expectAnswer(t, await admin('PUT', '/v1/admin/runtime-profiles/slow', { json: { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: slow } } } }), 200, 'RuntimeProfile', 'a profile whose runtime listens after 3 s');
  const created = await api('POST', '/v1/instances', { json: { runtime_profile: 'slow' } }).catch((err: unknown) => ({ status: 0, text: String((err as { cause?: unknown }).cause ?? err), body: undefined }));
  t.equal(created.status, 200, `POST /v1/instances is answered: ${created.text.slice(0, 300)}`);
  const inst = ((body(created)['instances'] ?? []) as Json[])[0] ?? {};
  t.equal(inst['state'], 'ready', 'once the instance is ready');
  if (inst['instance_id'] === undefined) return;
  const del = await api('DELETE', `/v1/instances/${String(inst['instance_id'])}`);
  t.equal(del.status, 204, `DELETE /v1/instances/{id}: ${del.text}`);
});
