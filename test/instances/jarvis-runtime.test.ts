/**
 * A JARVIS user's pip profile, as JARVIS documents it, on a real daemon (HTTP API and socket) with a real runtime
 * process: the JARVIS-like runtime's wheel, built here offline, installed by the pip driver with --pip-no-index,
 * started as `<venv>/bin/jarvis-like-runtime serve --port <port>`. It becomes ready, a run on it succeeds, and the
 * trace arpd serves (GET /v1/runs/{id}/trace, `arpd runs trace`) stays valid TraceEvents with contiguous seq, while the
 * runtime's own JARVIS-style trace goes to <data-dir>/runtime-traces/<run_id>/trace.jsonl, apart.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { clientOf, expectAnswer, startHttpDaemon, tempDir } from '../server/http-daemon.js';
import { instanceDetails, oracleErrors, parseNdjson, runtimeHarness, type Json, type TraceFileLine } from '../helpers/runtime-harness.js';
import { buildJarvisWheel, hasVenv, JARVIS_LIKE_ENTRYPOINT } from './jarvis-like-wheel.js';

if (!hasVenv) t.plan(0, 'python3 with venv and ensurepip is not available');

/** What arpd itself writes into a run's trace around the runtime's events. */
const ARPD_STEPS = ['accepted', 'queued', 'routed', 'started', 'succeeded'];

t.test('runs the documented JARVIS pip profile, keeping the trace arpd serves apart from the runtime\'s own', async (t) => {
  const wheel = buildJarvisWheel(join(tempDir(t, 'arpd-wheel-'), 'dist'));
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  const d = await startHttpDaemon(t, ['--pip-no-index'], { dataDir: dir });
  const http = clientOf(d);
  const admin = clientOf(d, { admin: true });

  // the profile exactly as JARVIS documents it: no port anywhere, entrypoint_args ["serve"]
  const put = await admin('PUT', '/v1/admin/runtime-profiles/jarvis', {
    json: { extensions: { 'arp.jarvis.exec': { driver: 'pip', pip_spec: wheel, entrypoint: JARVIS_LIKE_ENTRYPOINT, entrypoint_args: ['serve'] } } },
  });
  t.equal(put.status, 200, `the profile is accepted: ${put.text}`);

  const created = await r.call<{ instances: Json[] }>(dir, 'instances.create', { request: { runtime_profile: 'jarvis' }, wait: true }, 300_000);
  const inst = created.instances[0] ?? {};
  t.equal(inst['state'], 'ready', `the instance becomes ready: ${JSON.stringify(instanceDetails(inst)['error'] ?? instanceDetails(inst)['reason'] ?? '')}`);
  const endpoint = String(inst['runtime_api_endpoint']);
  const port = /^http:\/\/127\.0\.0\.1:(\d+)$/.exec(endpoint)?.[1];
  t.ok(port !== undefined && port !== '0', `its endpoint is the port arpd chose: ${endpoint}`);
  t.equal(inst['runtime_name'], 'jarvis-like-runtime', 'named by its /v1/version');
  const starting = (await r.events(dir, ['instance.starting'])).find((e) => e.data['instance_id'] === inst['instance_id']);
  const argv = starting?.data['argv'] as string[] | undefined;
  t.match(argv?.[0], /\/venvs\/jarvis\/[0-9a-f]{16}\/bin\/jarvis-like-runtime$/, 'the console script of the venv');
  t.same(argv?.slice(1), ['serve', '--port', port], 'run as JARVIS runs it: <entrypoint> serve --port <port>');

  const submitted = await http('POST', '/v1/runs', { json: { input: { goal: 'hello from a JARVIS user' }, runtime_selector: { runtime_profile: 'jarvis' } } });
  t.ok(submitted.status === 200 || submitted.status === 202, `the run is taken: ${submitted.text}`);
  const runId = String((submitted.body as Json)['run_id']);
  const end = await r.waitRunEnded(dir, runId, 120_000);
  t.equal(end['state'], 'succeeded', `the run succeeds: ${JSON.stringify(end)}`);
  t.equal(end['runtime_instance_id'], inst['instance_id'], 'on the JARVIS-like instance');
  const result = await http('GET', `/v1/runs/${runId}/result`);
  expectAnswer(t, result, 200, 'RunResult', 'GET /v1/runs/{id}/result');
  t.same((result.body as Json)['output'], { text: 'jarvis-like: hello from a JARVIS user' }, 'the runtime\'s answer');

  // the trace arpd serves: over HTTP, from the CLI, and its file, all the same valid TraceEvents
  const served = await http('GET', `/v1/runs/${runId}/trace`);
  expectAnswer(t, served, 200, 'TraceResponse', 'GET /v1/runs/{id}/trace');
  const events = ((served.body as Json)['events'] ?? []) as TraceFileLine[];
  const cli = await r.cli(dir, ['runs', 'trace', runId, '--json']);
  t.equal(cli.code, 0, cli.stderr);
  const printed = parseNdjson<TraceFileLine>(cli.stdout);
  const file = r.traceFile(dir, runId);
  t.same(printed, file, '`arpd runs trace --json` prints the file');
  t.same(events, file, 'GET /v1/runs/{id}/trace serves the file');
  const invalid = file.map((l, i) => [i + 1, oracleErrors('TraceEvent', l)] as const).filter(([, e]) => e !== undefined);
  t.same(invalid, [], 'every line is a TraceEvent the spec accepts');
  t.same(file.map((l) => l.seq), file.map((_, i) => i + 1), 'seq is contiguous from 1');
  t.same(file.map((l) => l.type).filter((ty) => ARPD_STEPS.includes(ty)), ARPD_STEPS, 'arpd\'s own steps, once each');
  const runtimeEvents = file.filter((l) => !ARPD_STEPS.includes(l.type));
  t.same(runtimeEvents.map((l) => l.type), ['step', 'token', 'token', 'token', 'token', 'token', 'token', 'final'], 'the runtime\'s RunEvents, each once');
  t.ok(file.every((l) => !('flow_id' in l) && !('ts' in l) && !('flow_id' in l.data)), 'no line of the runtime\'s own trace is mixed in');
  t.same(readdirSync(join(dir, 'runs', runId)).filter((n) => n.endsWith('.jsonl')), ['trace.jsonl'], 'the run folder holds arpd\'s trace only');

  // the runtime's own trace: where it was told to write it, in its own shape, untouched
  const traces = join(dir, 'runtime-traces');
  t.equal(statSync(traces).mode & 0o777, 0o700, 'the runtimes\' trace folder is 0700');
  const own = join(traces, runId, 'trace.jsonl');
  t.ok(existsSync(own), `the runtime wrote ${own}`);
  const ownLines = parseNdjson<Json>(readFileSync(own, 'utf8'));
  t.same(ownLines.map((l) => l['type']), ['flow_started', 'step_started', 'llm_result', 'flow_completed'], 'JARVIS-style lines, as the runtime wrote them');
  t.ok(ownLines.every((l) => l['flow_id'] === runId && typeof l['ts'] === 'string'), 'each names the flow');
  t.ok(ownLines.every((l) => oracleErrors('TraceEvent', l) !== undefined), 'none is a TraceEvent: mixed into arpd\'s trace they would show');
});

t.test('gives a JARVIS runtime the tool registry of the instance\'s overrides', async (t) => {
  const wheel = buildJarvisWheel(join(tempDir(t, 'arpd-wheel-'), 'dist'));
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--pip-no-index']);
  await r.upsertProfile(dir, 'jarvis', {
    defaults: { tool_registry_url: 'http://127.0.0.1:9/from-profile' },
    extensions: { 'arp.jarvis.exec': { driver: 'pip', pip_spec: wheel, entrypoint: JARVIS_LIKE_ENTRYPOINT } },
  });
  const created = await r.call<{ instances: Json[] }>(dir, 'instances.create', { request: { runtime_profile: 'jarvis', overrides: { tool_registry_url: 'http://127.0.0.1:9/from-instance' } }, wait: true }, 300_000);
  const inst = created.instances[0] ?? {};
  t.equal(inst['state'], 'ready', JSON.stringify(instanceDetails(inst)));
  const run = await r.submit(dir, { input: { goal: 'which registry?' }, runtime_selector: { instance_id: String(inst['instance_id']) } });
  const runId = String(run['run_id']);
  t.equal((await r.waitRunEnded(dir, runId, 120_000))['state'], 'succeeded');
  const first = parseNdjson<Json>(readFileSync(join(dir, 'runtime-traces', runId, 'trace.jsonl'), 'utf8'))[0];
  t.equal(first?.['tool_registry_url'], 'http://127.0.0.1:9/from-instance', 'the runtime read JARVIS_TOOL_REGISTRY_URL from the instance override');
});
