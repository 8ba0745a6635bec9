import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import type { RunEvent, RunResult, RunStatus } from '../../src/schemas/index.js';
import { readPackageVersion } from '../../src/runtime/package-version.js';
import { oracleValid } from '../schemas/oracle.js';
import { getJson, postJson, postRaw, rawRequest, readSse, startRuntime, type JsonResponse } from './helpers.js';

/** Asserts an error response: the status, a JSON ErrorEnvelope the spec accepts, and its code. */
function isEnvelope(t: Test, res: JsonResponse, status: number, code: string): { message: string; details?: Record<string, unknown> } {
  t.equal(res.status, status, `status ${status}`);
  t.match(res.contentType, /^application\/json/, 'the error is JSON');
  t.ok(oracleValid('ErrorEnvelope', res.body), 'the spec accepts the ErrorEnvelope');
  const error = (res.body as { error: { code: string; message: string; details?: Record<string, unknown> } }).error;
  t.equal(error.code, code);
  t.notMatch(error.message, /\n\s+at /, 'no stack trace');
  return error;
}

/** Follows a run's events to the end of the stream; every frame must be a RunEvent the spec accepts, with id = seq. */
async function follow(t: Test, base: string, runId: string, headers: Record<string, string> = {}): Promise<RunEvent[]> {
  const sse = await readSse(`${base}/v1/runs/${runId}/events`, headers);
  t.equal(sse.status, 200);
  t.match(sse.contentType, /^text\/event-stream/);
  const events = sse.frames.map((f) => {
    const event = JSON.parse(f.data) as RunEvent;
    t.ok(oracleValid('RunEvent', event), `the spec accepts event ${event.seq}`);
    t.equal(f.id, String(event.seq), 'the SSE id is the seq');
    return event;
  });
  return events;
}

function seqs(events: RunEvent[]): number[] {
  return events.map((e) => e.seq);
}

async function submit(t: Test, base: string, body: unknown): Promise<RunStatus> {
  const res = await postJson(`${base}/v1/runs`, body);
  t.equal(res.status, 200, 'the run is accepted');
  t.ok(oracleValid('RunStatus', res.body), 'the spec accepts the RunStatus');
  return res.body as RunStatus;
}

async function resultOf(t: Test, base: string, runId: string): Promise<RunResult> {
  const res = await getJson(`${base}/v1/runs/${runId}/result`);
  t.equal(res.status, 200);
  t.ok(oracleValid('RunResult', res.body), 'the spec accepts the RunResult');
  return res.body as RunResult;
}

t.test('serves health and version in the shapes the spec gives', async (t) => {
  const rt = await startRuntime(t);
  const health = await getJson(`${rt.url}/v1/health`);
  t.equal(health.status, 200);
  t.ok(oracleValid('Health', health.body));
  t.match(health.body, { status: 'ok' });

  const version = await getJson(`${rt.url}/v1/version`);
  t.equal(version.status, 200);
  t.ok(oracleValid('VersionInfo', version.body));
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  t.same(version.body, { service_name: 'arpd-reference-runtime', service_version: pkg.version, supported_api_versions: ['v1'] });
  t.equal(readPackageVersion(), pkg.version);
});

t.test('reports the name it is given as the service name', async (t) => {
  const rt = await startRuntime(t, { name: 'custom-runtime', version: '9.9.9' });
  t.match((await getJson(`${rt.url}/v1/version`)).body, { service_name: 'custom-runtime', service_version: '9.9.9' });
});

t.test('answers an arithmetic goal with the computed value, through a calculator tool call', async (t) => {
  const rt = await startRuntime(t);
  const accepted = await submit(t, rt.url, { run_id: 'run_math', input: { goal: 'What is (19*23)?' } });
  t.same(accepted, { run_id: 'run_math', state: 'queued' });

  const events = await follow(t, rt.url, 'run_math');
  t.same(events.map((e) => e.type), ['step', 'tool_call', 'tool_result', 'step', 'final']);
  t.same(seqs(events), [1, 2, 3, 4, 5], 'seq is contiguous from 1');
  t.match(events[1]?.data, { tool: 'calculator', args: { expression: '(19*23)' } });
  t.match(events[2]?.data, { ok: true, result: { value: 437 } });

  const result = await resultOf(t, rt.url, 'run_math');
  t.equal(result.ok, true);
  t.equal(result.output?.['answer'], 437);
  t.match(result.output?.['text'], /437/);

  const status = await getJson(`${rt.url}/v1/runs/run_math`);
  t.ok(oracleValid('RunStatus', status.body));
  t.match(status.body, { run_id: 'run_math', state: 'succeeded', started_at: String, ended_at: String });
});

t.test('echoes a goal that holds no arithmetic', async (t) => {
  const rt = await startRuntime(t);
  const { run_id } = await submit(t, rt.url, { input: { goal: 'Say hello.' } });
  const events = await follow(t, rt.url, run_id);
  t.same(events.map((e) => e.type), ['step', 'step', 'final']);
  const result = await resultOf(t, rt.url, run_id);
  t.same(result, { run_id, ok: true, output: { text: 'Say hello.' } });
});

t.test('makes a run id when the request has none', async (t) => {
  const rt = await startRuntime(t);
  const { run_id } = await submit(t, rt.url, { input: { goal: 'hi' } });
  t.match(run_id, /^run_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

t.test('reports the runtime instance id it is given on run statuses', async (t) => {
  const rt = await startRuntime(t, { instanceId: 'inst_7' });
  const status = await submit(t, rt.url, { input: { goal: 'hi' } });
  t.equal(status.runtime_instance_id, 'inst_7');
});

t.test('refuses a second run with an id already in use with 409 runs.conflict', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_dup', input: { goal: 'hi' } });
  const again = await postJson(`${rt.url}/v1/runs`, { run_id: 'run_dup', input: { goal: 'hi' } });
  const error = isEnvelope(t, again, 409, 'runs.conflict');
  t.match(error.message, /run 'run_dup' already exists/);
});

t.test('replays the events after Last-Event-ID and then ends the stream', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_replay', input: { goal: 'What is 2+3?' } });
  const all = await follow(t, rt.url, 'run_replay');
  const tail = await follow(t, rt.url, 'run_replay', { 'last-event-id': '2' });
  t.same(tail, all.slice(2), 'the events after seq 2, the same as first sent');
  const none = await follow(t, rt.url, 'run_replay', { 'last-event-id': String(all.length) });
  t.same(none, [], 'nothing after the terminal event, and the stream still ends');
});

t.test('streams a running run live, in order, and ends after the terminal event', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_live', input: { goal: 'sleep:150 What is 6*7?' } });
  const events = await follow(t, rt.url, 'run_live');
  t.same(events.map((e) => e.type), ['step', 'step', 'tool_call', 'tool_result', 'step', 'final']);
  t.match(events[0]?.data, { name: 'sleep', ms: 150 });
  t.same(seqs(events), [1, 2, 3, 4, 5, 6]);
  t.match(events.at(-1)?.data, { state: 'succeeded', output: { answer: 42 } });
});

t.test('refuses an event stream resume point that is not a seq', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_lei', input: { goal: 'hi' } });
  const res = await fetch(`${rt.url}/v1/runs/run_lei/events`, { headers: { 'last-event-id': 'abc' } });
  isEnvelope(t, { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.json() }, 400, 'request.invalid');
});

t.test('cancels a sleeping run, ends its stream and keeps it canceled', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_sleepy', input: { goal: 'sleep:600000 never reached' } });
  const stream = follow(t, rt.url, 'run_sleepy');

  const canceled = await postJson(`${rt.url}/v1/runs/run_sleepy:cancel`);
  t.equal(canceled.status, 200);
  t.ok(oracleValid('RunStatus', canceled.body));
  t.match(canceled.body, { run_id: 'run_sleepy', state: 'canceled', ended_at: String });

  const events = await stream;
  t.match(events.at(-1), { type: 'error', data: { state: 'canceled', code: 'runtime.canceled' } });
  const result = await resultOf(t, rt.url, 'run_sleepy');
  t.match(result, { ok: false, error: { code: 'runtime.canceled' } });

  const again = await postJson(`${rt.url}/v1/runs/run_sleepy:cancel`);
  t.same(again.body, canceled.body, 'canceling again changes nothing');
});

t.test('returns the status of an ended run on cancel, unchanged', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_done', input: { goal: 'hi' } });
  await follow(t, rt.url, 'run_done');
  const res = await postJson(`${rt.url}/v1/runs/run_done:cancel`);
  t.equal(res.status, 200);
  t.match(res.body, { state: 'succeeded' });
});

t.test('routes only an exact ":cancel" suffix to cancel', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_colon', input: { goal: 'sleep:600000' } });
  isEnvelope(t, await postJson(`${rt.url}/v1/runs/run_colon:cancelx`), 404, 'route.not_found');
  isEnvelope(t, await postJson(`${rt.url}/v1/runs/run_colon`), 404, 'route.not_found');
  t.match((await getJson(`${rt.url}/v1/runs/run_colon`)).body, { state: /queued|running/ }, 'still not canceled');
  t.match((await postJson(`${rt.url}/v1/runs/run_colon:cancel`)).body, { state: 'canceled' });
});

t.test('fails a run that runs past limits.timeout_ms with runtime.timeout', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_slow', input: { goal: 'sleep:600000' }, limits: { timeout_ms: 30 } });
  const events = await follow(t, rt.url, 'run_slow');
  t.match(events.at(-1), { type: 'error', data: { state: 'failed', code: 'runtime.timeout' } });
  t.match(await resultOf(t, rt.url, 'run_slow'), { ok: false, error: { code: 'runtime.timeout' } });
  t.match((await getJson(`${rt.url}/v1/runs/run_slow`)).body, { state: 'failed' });
});

t.test('stops a run at limits.max_steps and fails it with runtime.max_steps', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_steps', input: { goal: 'Say hello.' }, limits: { max_steps: 1 } });
  const events = await follow(t, rt.url, 'run_steps');
  t.same(events.map((e) => e.type), ['step', 'error']);
  t.match(await resultOf(t, rt.url, 'run_steps'), { ok: false, error: { code: 'runtime.max_steps' } });

  await submit(t, rt.url, { run_id: 'run_enough', input: { goal: 'Say hello.' }, limits: { max_steps: 2 } });
  await follow(t, rt.url, 'run_enough');
  t.match(await resultOf(t, rt.url, 'run_enough'), { ok: true }, 'a run within its step limit succeeds');
});

t.test('fails a run whose goal starts with fail:, with its message', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_fail', input: { goal: 'fail:the disk is on fire' } });
  const events = await follow(t, rt.url, 'run_fail');
  t.match(events.at(-1), { type: 'error', data: { state: 'failed', code: 'runtime.failed', message: 'the disk is on fire' } });
  t.same(await resultOf(t, rt.url, 'run_fail'), {
    run_id: 'run_fail',
    ok: false,
    error: { code: 'runtime.failed', message: 'the disk is on fire' },
  });
});

t.test('calls the crash hook for a crash goal, after accepting the run', async (t) => {
  let crashed: (runId: string) => void = () => undefined;
  const hook = new Promise<string>((resolve) => (crashed = resolve));
  const rt = await startRuntime(t, { onCrash: (runId) => crashed(runId) });
  await submit(t, rt.url, { run_id: 'run_crash', input: { goal: 'crash' } });
  t.equal(await hook, 'run_crash');
  // In process the hook returns, so the run ends failed rather than taking the test runner down.
  await follow(t, rt.url, 'run_crash');
  t.match(await resultOf(t, rt.url, 'run_crash'), { ok: false, error: { code: 'runtime.crashed' } });
});

t.test('answers 409 runs.not_ready for the result of a run that has not ended', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_wait', input: { goal: 'sleep:600000' } });
  const error = isEnvelope(t, await getJson(`${rt.url}/v1/runs/run_wait/result`), 409, 'runs.not_ready');
  t.match(error.message, /has not ended yet/);
});

t.test('answers 404 runs.not_found for a run it does not know, on every run route', async (t) => {
  const rt = await startRuntime(t);
  isEnvelope(t, await getJson(`${rt.url}/v1/runs/run_nope`), 404, 'runs.not_found');
  isEnvelope(t, await getJson(`${rt.url}/v1/runs/run_nope/result`), 404, 'runs.not_found');
  isEnvelope(t, await postJson(`${rt.url}/v1/runs/run_nope:cancel`), 404, 'runs.not_found');
  isEnvelope(t, await getJson(`${rt.url}/v1/runs/run_nope/events`), 404, 'runs.not_found');
});

t.test('answers 404 route.not_found as JSON for an unknown route', async (t) => {
  const rt = await startRuntime(t);
  const error = isEnvelope(t, await getJson(`${rt.url}/v2/whatever`), 404, 'route.not_found');
  t.match(error.message, /no route GET \/v2\/whatever/);
  isEnvelope(t, await rawRequest(rt.url, 'DELETE', '/v1/runs'), 404, 'route.not_found');
});

t.test('refuses a run request with an unknown field with 400, naming the field', async (t) => {
  const rt = await startRuntime(t);
  const res = await postJson(`${rt.url}/v1/runs`, { input: { goal: 'x' }, runtime_selector: { foo: 1 } });
  const error = isEnvelope(t, res, 400, 'request.invalid');
  t.equal(
    error.message,
    "unknown field 'runtime_selector.foo': remove it (allowed: runtime_profile, instance_id, runtime_name, runtime_api_endpoint)",
  );
  t.match(error.details, { field: 'runtime_selector.foo', arpd_code: 'E_VALIDATION' });
});

t.test('refuses a run request without a goal with 400, naming input.goal', async (t) => {
  const rt = await startRuntime(t);
  const error = isEnvelope(t, await postJson(`${rt.url}/v1/runs`, { input: {} }), 400, 'request.invalid');
  t.match(error.message, /'input\.goal'/);
  const empty = isEnvelope(t, await postJson(`${rt.url}/v1/runs`), 400, 'request.invalid');
  t.match(empty.message, /request body is missing/);
});

t.test('refuses a body that is not JSON with 415 and broken JSON with 400', async (t) => {
  const rt = await startRuntime(t);
  isEnvelope(t, await postRaw(`${rt.url}/v1/runs`, 'What is 2+2?', 'text/plain'), 415, 'request.unsupported_media_type');
  isEnvelope(t, await postRaw(`${rt.url}/v1/runs`, '<run/>', 'application/xml'), 415, 'request.unsupported_media_type');
  isEnvelope(t, await postRaw(`${rt.url}/v1/runs`, '{"input":', 'application/json'), 400, 'request.invalid_json');
  isEnvelope(t, await postRaw(`${rt.url}/v1/runs`, '{"__proto__":{"x":1}}', 'application/json'), 400, 'request.invalid_json');
});

t.test('refuses a body over 1 MiB with 413', async (t) => {
  const rt = await startRuntime(t);
  const goal = 'x'.repeat(1024 * 1024);
  const error = isEnvelope(t, await postJson(`${rt.url}/v1/runs`, { input: { goal } }), 413, 'request.too_large');
  t.match(error.message, /1048576 bytes/);
});

t.test('refuses hostile run ids with 400 before they touch a path', async (t) => {
  const dir = t.testdir();
  const rt = await startRuntime(t, { traceDir: dir });
  for (const runId of ['../x', '..', '.', 'a/b', '', '-lead', 'x'.repeat(129), 'a\\b']) {
    const error = isEnvelope(t, await postJson(`${rt.url}/v1/runs`, { run_id: runId, input: { goal: 'hi' } }), 400, 'request.invalid');
    t.match(error.message, /run id .* is not allowed/, JSON.stringify(runId));
  }
  isEnvelope(t, await rawRequest(rt.url, 'GET', '/v1/runs/..'), 400, 'request.invalid');
  isEnvelope(t, await rawRequest(rt.url, 'GET', '/v1/runs/..%2Fx/result'), 400, 'request.invalid');
  isEnvelope(t, await rawRequest(rt.url, 'GET', '/v1/runs/%2E%2E/events'), 400, 'request.invalid');
});

t.test('writes each run event to <trace dir>/<run_id>/trace.jsonl as a TraceEvent', async (t) => {
  const dir = t.testdir();
  const rt = await startRuntime(t, { traceDir: dir });
  await submit(t, rt.url, { run_id: 'run_traced', input: { goal: 'What is 1+1?' } });
  const events = await follow(t, rt.url, 'run_traced');
  const lines = readFileSync(join(dir, 'run_traced', 'trace.jsonl'), 'utf8').trim().split('\n');
  const trace = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.equal(trace.length, events.length, 'one line per event, complete once the run has ended');
  for (const [i, line] of trace.entries()) {
    t.ok(oracleValid('TraceEvent', line), `the spec accepts trace line ${i + 1}`);
    t.match(line, { run_id: 'run_traced', seq: i + 1, type: events[i]?.type, time: events[i]?.time, level: 'info' });
  }
});

t.test('writes the trace under the file name it is given', async (t) => {
  const dir = t.testdir();
  const rt = await startRuntime(t, { traceDir: dir, traceFileName: 'own.trace.jsonl' });
  await submit(t, rt.url, { run_id: 'run_named', input: { goal: 'fail:nope' } });
  await follow(t, rt.url, 'run_named');
  const last = readFileSync(join(dir, 'run_named', 'own.trace.jsonl'), 'utf8').trim().split('\n').at(-1) ?? '';
  t.match(JSON.parse(last), { type: 'error', level: 'error', data: { code: 'runtime.failed' } });
});

t.test('ends open event streams when it closes', async (t) => {
  const rt = await startRuntime(t);
  await submit(t, rt.url, { run_id: 'run_open', input: { goal: 'sleep:600000' } });
  const res = await fetch(`${rt.url}/v1/runs/run_open/events`);
  t.equal(res.status, 200, 'the stream is open');
  await rt.close();
  const text = await res.text();
  t.notMatch(text, /"type":"(final|error)"/, 'the stream ended without a terminal event');
});

t.test('answers a path with bad percent-encoding and malformed HTTP with error envelopes too', async (t) => {
  const rt = await startRuntime(t);
  const error = isEnvelope(t, await rawRequest(rt.url, 'GET', '/v1/runs/%E0%A4%A'), 400, 'request.invalid');
  t.match(error.message, /percent-encoding/);

  const reply = await new Promise<string>((resolve, reject) => {
    const socket = connect(rt.port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => resolve(text));
    socket.on('error', reject);
    socket.write('GARBAGE / HTTP/1.1\r\n\r\n');
  });
  const [head = '', body = ''] = reply.split('\r\n\r\n');
  t.match(head, /^HTTP\/1\.1 400 /);
  t.match(head, /content-type: application\/json/i);
  const parsed = JSON.parse(body) as unknown;
  t.ok(oracleValid('ErrorEnvelope', parsed));
  t.match(parsed, { error: { code: 'request.malformed' } });
});
