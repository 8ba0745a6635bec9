/**
 * One OpenTelemetry trace per run, exported by a REAL daemon process (`--otlp-endpoint`) to a real OTLP/HTTP
 * receiver started here (a small HTTP server that decodes the exporter's JSON), with a real reference runtime
 * behind a recording proxy (to see the traceparent arpd sends it): span names, parentage (under a traceparent
 * given on POST /v1/runs), times and attributes against what the daemon says of each run; a run in flight across
 * a restart exported once, by the new process, whole; bad endpoints refused at start.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { runtimeHarness } from '../helpers/runtime-harness.js';
import { clientOf, eventually, failedStart, startHttpDaemon, tempDir, type Answer } from '../server/http-daemon.js';

type Json = Record<string, unknown>;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string | number;
  endTimeUnixNano: string | number;
  attributes?: Array<{ key: string; value: Json }>;
  events?: Array<{ name: string; timeUnixNano: string | number; attributes?: Array<{ key: string; value: Json }> }>;
  status?: { code?: number; message?: string };
}

interface Received { span: OtlpSpan; resource: Record<string, unknown> }

/** An OTLP value ({ stringValue } | { intValue } | …) as a plain value. */
function plain(v: Json): unknown {
  if ('stringValue' in v) return v['stringValue'];
  if ('intValue' in v) return Number(v['intValue']);
  if ('doubleValue' in v) return Number(v['doubleValue']);
  if ('boolValue' in v) return v['boolValue'];
  return v;
}

function attrs(list: Array<{ key: string; value: Json }> | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, plain(a.value)]));
}

const ms = (nanos: string | number): number => Number(BigInt(String(nanos)) / 1_000_000n);

/** The receiver: POST /v1/traces with OTLP/HTTP JSON, every span kept with its resource's attributes. */
async function otlpReceiver(t: { teardown(fn: () => unknown): void }): Promise<{ url: string; spans: Received[]; problems: string[] }> {
  const spans: Received[] = [];
  const problems: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') problems.push(`${req.method ?? ''} ${req.url ?? ''}`);
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) problems.push(`content-type ${req.headers['content-type'] ?? ''}`);
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: Array<{ resource?: { attributes?: Array<{ key: string; value: Json }> }; scopeSpans?: Array<{ spans?: OtlpSpan[] }> }> };
        for (const rs of body.resourceSpans ?? []) {
          const resource = attrs(rs.resource?.attributes);
          for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) spans.push({ span, resource });
        }
      } catch (err) {
        problems.push(`not JSON: ${(err as Error).message}`);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, problems };
}

/** A proxy in front of a runtime that records, for each request, its method, path and traceparent header. */
async function recordingProxy(t: { teardown(fn: () => unknown): void }, target: string): Promise<{ url: string; seen: Array<{ method: string; path: string; traceparent: string | undefined }> }> {
  const seen: Array<{ method: string; path: string; traceparent: string | undefined }> = [];
  const to = new URL(target);
  const server = createServer((req, res) => {
    const tp = req.headers['traceparent'];
    seen.push({ method: req.method ?? '', path: req.url ?? '', traceparent: typeof tp === 'string' ? tp : undefined });
    const out = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (up: IncomingMessage) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => { res.destroy(); });
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

const body = (a: Answer): Json => (a.body ?? {}) as Json;
const TID = '0af7651916cd43dd8448eb211c80319c';
const SID = 'b7ad6b7169203331';

function spansOf(received: Received[], runId: string): Received[] {
  return received.filter((r) => attrs(r.span.attributes)['arpd.run_id'] === runId);
}

/** Has the run's root span arrived? A run's spans are ended together, the root last, and exported in that order. */
function rootArrived(received: Received[], runId: string): true | undefined {
  return spansOf(received, runId).some((r) => r.span.name === 'arpd.run') ? true : undefined;
}

const SPAN_NAMES = ['arpd.run', 'arpd.run.queued', 'arpd.run.routed', 'arpd.run.running'];

t.test('exports one trace per run: the span tree under the caller\'s traceparent, its times and attributes; the runtime gets the traceparent', async (t) => {
  const receiver = await otlpReceiver(t);
  const runtime = await runtimeHarness(t).startExternalRuntime();
  const proxy = await recordingProxy(t, runtime.url);
  const daemon = await startHttpDaemon(t, ['--otlp-endpoint', receiver.url]);
  const api = clientOf(daemon);
  const reg = await api('POST', '/v1/instances:register', { json: { runtime_api_endpoint: proxy.url } });
  t.equal(reg.status, 200, `registered the runtime (${reg.text.slice(0, 200)})`);
  const instanceId = String((body(reg)['instance'] as Json | undefined)?.['instance_id'] ?? body(reg)['instance_id']);
  await eventually('the external instance is ready', async () => (body(await api('GET', `/v1/instances/${instanceId}`))['state'] === 'ready' ? true : undefined));

  const submit = async (goal: string, headers: Record<string, string> = {}): Promise<string> => {
    const a = await api('POST', '/v1/runs', { json: { input: { goal }, runtime_selector: { instance_id: instanceId } }, headers });
    t.equal(a.status, 202, `submitted '${goal}'`);
    return String(body(a)['run_id']);
  };
  const ended = (runId: string): Promise<Json> => eventually(`run ${runId} ends`, async () => {
    const s = body(await api('GET', `/v1/runs/${runId}`));
    return ['succeeded', 'failed', 'canceled'].includes(String(s['state'])) ? s : undefined;
  });
  // a caller that did not sample its trace: arpd follows its decision (this run ends before the others start)
  const unsampled = await submit('What is 3*3?', { traceparent: `00-${'1'.repeat(32)}-${SID}-00` });
  t.equal((await ended(unsampled))['state'], 'succeeded');
  const traced = await submit('What is (19*23)?', { traceparent: `00-${TID}-${SID}-01`, tracestate: 'acme=1' });
  const failing = await submit('fail:boom');
  const ok = await ended(traced);
  const bad = await ended(failing);
  t.equal(ok['state'], 'succeeded');
  t.equal(bad['state'], 'failed');
  await eventually('both traces are exported', async () => (rootArrived(receiver.spans, traced) === true && rootArrived(receiver.spans, failing) === true ? true : undefined));
  t.same(spansOf(receiver.spans, failing).map((r) => r.span.name).sort(), SPAN_NAMES, 'the failed run has the four spans');
  t.same(receiver.problems, [], 'every export is a POST of OTLP JSON to /v1/traces');
  t.same(spansOf(receiver.spans, unsampled), [], 'a run under an unsampled caller is not exported (its spans would have come first)');

  // the traced run: a root under the caller's span, three children under the root
  const spans = spansOf(receiver.spans, traced).map((r) => r.span);
  const byName = new Map(spans.map((s) => [s.name, s]));
  t.same(spans.map((s) => s.name).sort(), SPAN_NAMES, 'the span names');
  const root = byName.get('arpd.run') as OtlpSpan;
  t.equal(root.traceId, TID, 'the caller\'s trace');
  t.equal(root.parentSpanId, SID, 'the root hangs under the caller\'s span');
  t.equal((root as OtlpSpan & { traceState?: string }).traceState, 'acme=1', 'the caller\'s tracestate goes on');
  for (const name of ['arpd.run.queued', 'arpd.run.routed', 'arpd.run.running']) {
    const s = byName.get(name) as OtlpSpan;
    t.equal(s.traceId, TID, `${name}: same trace`);
    t.equal(s.parentSpanId, root.spanId, `${name}: under the root`);
  }
  t.equal(new Set(spans.map((s) => s.spanId)).size, 4, 'four distinct spans');
  const details = ok['extensions'] as Json;
  const acceptedAt = Date.parse(String((details['arpd.run'] as Json)['accepted_at']));
  t.equal(ms(root.startTimeUnixNano), acceptedAt, 'the root starts when the run was accepted');
  t.equal(ms(root.endTimeUnixNano), Date.parse(String(ok['ended_at'])), 'and ends when it ended');
  const running = byName.get('arpd.run.running') as OtlpSpan;
  t.equal(ms(running.startTimeUnixNano), Date.parse(String(ok['started_at'])), 'running starts when the run started');
  t.equal(ms(running.endTimeUnixNano), Date.parse(String(ok['ended_at'])));
  const queued = byName.get('arpd.run.queued') as OtlpSpan;
  const routed = byName.get('arpd.run.routed') as OtlpSpan;
  t.ok(ms(queued.endTimeUnixNano) === ms(routed.startTimeUnixNano) && ms(routed.endTimeUnixNano) === ms(running.startTimeUnixNano), 'the phases follow each other');
  t.match(attrs(root.attributes), { 'arpd.run_id': traced, 'arpd.instance_id': instanceId, 'arpd.outcome': 'succeeded' });
  t.equal(root.status?.code, 1, 'status ok');
  t.match(attrs(routed.attributes), { 'arpd.instance_id': instanceId, 'arpd.runtime_endpoint': proxy.url });

  // the runtime's events are span events of the running span, one for each runtime line of the trace
  const trace = body(await api('GET', `/v1/runs/${traced}/trace`))['events'] as Json[];
  const runtimeLines = trace.filter((l) => ((l['extensions'] as Json)['arpd.event'] as Json)['type'] === 'run.trace');
  t.ok(runtimeLines.length >= 3, `the run had runtime events (${runtimeLines.length})`);
  t.same((running.events ?? []).map((e) => e.name), runtimeLines.map((l) => l['type']), 'one span event per runtime line, in order');
  t.same((running.events ?? []).map((e) => ms(e.timeUnixNano)), runtimeLines.map((l) => Date.parse(String(l['time']))), 'at the lines\' times');
  t.match(attrs(running.attributes), { 'arpd.trace.events': runtimeLines.length, 'arpd.trace.events_dropped': 0 });

  // the failed run: a trace of its own, the error on the root
  const failSpans = spansOf(receiver.spans, failing).map((r) => r.span);
  const failRoot = failSpans.find((s) => s.name === 'arpd.run') as OtlpSpan;
  t.notOk(failRoot.parentSpanId, 'no caller: a root without parent');
  t.not(failRoot.traceId, TID, 'a trace of its own');
  t.ok(failSpans.every((s) => s.traceId === failRoot.traceId), 'all its spans in it');
  const result = body(await api('GET', `/v1/runs/${failing}/result`));
  const code = String((result['error'] as Json)['code']);
  t.match(attrs(failRoot.attributes), { 'arpd.outcome': 'failed', 'arpd.error.code': code, 'error.type': code });
  t.equal(failRoot.status?.code, 2, 'status error');
  t.match(failRoot.status?.message, /boom/);

  // the runtime was told where each run's spans hang: its root span
  const posts = proxy.seen.filter((r) => r.method === 'POST' && r.path === '/v1/runs').map((r) => r.traceparent);
  t.equal(posts.length, 3, 'three runs sent');
  t.same(posts.slice(1).sort(), [`00-${TID}-${root.spanId}-01`, `00-${failRoot.traceId}-${failRoot.spanId}-01`].sort(), 'POST /v1/runs carried each run\'s traceparent');
  t.match(posts[0], new RegExp(`^00-${'1'.repeat(32)}-[0-9a-f]{16}-00$`), 'unsampled: the caller\'s trace and decision are passed on');
  const follow = proxy.seen.filter((r) => r.path.startsWith(`/v1/runs/${traced}`));
  t.ok(follow.length > 0 && follow.every((r) => r.traceparent === `00-${TID}-${root.spanId}-01`), `every call about the run carried it (${follow.map((r) => `${r.method} ${r.path}`).join(', ')})`);

  t.equal(receiver.spans.filter((r) => r.span.name === 'arpd.run').length, 2, 'one root per run, exported once');
  t.match(receiver.spans[0]?.resource, { 'service.name': 'arpd', 'process.pid': daemon.child.pid });
});

t.test('a run in flight across a restart is exported once, by the new process, whole; runs that ended before are not exported again', async (t) => {
  const receiver = await otlpReceiver(t);
  const runtime = await runtimeHarness(t).startExternalRuntime();
  const dataDir = tempDir(t);
  const args = ['--otlp-endpoint', receiver.url, '--keep-instances'];
  const first = await startHttpDaemon(t, args, { dataDir });
  let api = clientOf(first);
  const reg = await api('POST', '/v1/instances:register', { json: { runtime_api_endpoint: runtime.url } });
  const instanceId = String((body(reg)['instance'] as Json | undefined)?.['instance_id'] ?? body(reg)['instance_id']);
  await eventually('the external instance is ready', async () => (body(await api('GET', `/v1/instances/${instanceId}`))['state'] === 'ready' ? true : undefined));
  const submit = async (goal: string): Promise<string> => String(body(await api('POST', '/v1/runs', { json: { input: { goal }, runtime_selector: { instance_id: instanceId } } }))['run_id']);

  const before = await submit('What is 1+1?');
  await eventually('the first run is exported', async () => rootArrived(receiver.spans, before));
  const across = await submit('sleep:8000 What is 2+2?');
  await eventually('the second run runs and has its first event', async () => {
    const s = body(await api('GET', `/v1/runs/${across}`));
    return s['state'] === 'running' && Number(((s['extensions'] as Json)['arpd.run'] as Json)['trace_lines']) >= 5 ? true : undefined;
  });
  const exit = await first.stop();
  t.equal(exit.code, 0, 'the first daemon stopped cleanly, leaving the run to the next');
  t.equal(spansOf(receiver.spans, across).length, 0, 'nothing of the run in flight was exported yet');

  const second = await startHttpDaemon(t, args, { dataDir });
  api = clientOf(second);
  const end = await eventually('the run ends under the second daemon', async () => {
    const s = body(await api('GET', `/v1/runs/${across}`));
    return ['succeeded', 'failed', 'canceled'].includes(String(s['state'])) ? s : undefined;
  });
  t.equal(end['state'], 'succeeded', 'the run was followed to its end after the restart');
  await eventually('its trace is exported', async () => rootArrived(receiver.spans, across));
  const got = spansOf(receiver.spans, across);
  t.same(got.map((r) => r.span.name).sort(), SPAN_NAMES, 'the four spans of the run');
  t.ok(got.every((r) => r.resource['process.pid'] === second.child.pid), 'exported by the second process');
  const byName = new Map(got.map((r) => [r.span.name, r.span]));
  const root = byName.get('arpd.run') as OtlpSpan;
  t.equal(ms(root.startTimeUnixNano), Date.parse(String(((end['extensions'] as Json)['arpd.run'] as Json)['accepted_at'])), 'the root starts when the run was accepted, before the restart');
  const trace = body(await api('GET', `/v1/runs/${across}/trace`))['events'] as Json[];
  const lineTime = (type: string): number => Date.parse(String(trace.find((l) => ((l['extensions'] as Json)['arpd.event'] as Json)['type'] === type)?.['time']));
  t.equal(ms((byName.get('arpd.run.routed') as OtlpSpan).startTimeUnixNano), lineTime('run.routed'), 'the routed span starts when it was routed (read back from the run log)');
  t.equal(ms((byName.get('arpd.run.running') as OtlpSpan).startTimeUnixNano), Date.parse(String(end['started_at'])));
  const runtimeLines = trace.filter((l) => ((l['extensions'] as Json)['arpd.event'] as Json)['type'] === 'run.trace');
  t.same(((byName.get('arpd.run.running') as OtlpSpan).events ?? []).map((e) => e.name), runtimeLines.map((l) => l['type']), 'its events from before and after the restart');
  t.same(spansOf(receiver.spans, before).map((r) => r.span.name).sort(), SPAN_NAMES, 'the run that ended before the restart was not exported again');
  t.equal(receiver.spans.filter((r) => r.span.name === 'arpd.run').length, 2, 'one root per run');
});

t.test('refuses an OTLP endpoint that is not an http(s) base URL, saying what to give', async (t) => {
  for (const bad of ['not a url', 'ftp://127.0.0.1:4318', 'http://127.0.0.1:4318/?x=1']) {
    const r = await failedStart(t, ['--http-port', '0', '--otlp-endpoint', bad]);
    t.not(r.code, 0, `'${bad}' refused`);
    t.match(r.output, /--otlp-endpoint .* is not the base URL of an OTLP\/HTTP collector: give one like http:\/\/127\.0\.0\.1:4318/);
  }
  const fromEnv = await failedStart(t, ['--http-port', '0'], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' } });
  t.not(fromEnv.code, 0, 'a bad OTEL_EXPORTER_OTLP_ENDPOINT refused');
  t.match(fromEnv.output, /OTEL_EXPORTER_OTLP_ENDPOINT 'collector:4318' is not the base URL of an OTLP\/HTTP collector/, 'named as the variable it came from, not as a flag that was not given');
});

t.test('keeps a password in the OTLP endpoint out of the status, the daemon log and its refusal, and still sends it to the collector', async (t) => {
  const seen: Array<string | undefined> = [];
  // a collector that takes the credentials and refuses the spans (a 400 is not retried: the warning comes at once)
  const collector = createServer((req, res) => {
    seen.push(req.headers.authorization);
    req.resume();
    req.on('end', () => res.writeHead(400, { 'content-type': 'application/json' }).end('{"code":3,"message":"no"}'));
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { collector.closeAllConnections(); collector.close(() => resolve()); }));
  const endpoint = `http://otel-user:S3cretPw@127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const d = await startHttpDaemon(t, ['--otlp-endpoint', endpoint]);
  const api = clientOf(d);
  const run = String(body(await api('POST', '/v1/runs', { json: { input: { goal: 'sleep:600000' } } }))['run_id']);
  t.equal((await api('POST', `/v1/runs/${run}:cancel`)).status, 200, 'a run ends (canceled): its spans are exported');
  await eventually('the collector refused the spans and the daemon says so', async () => (/could not export \d+ spans/.test(d.output()) ? true : undefined));
  t.same([...new Set(seen)], [`Basic ${Buffer.from('otel-user:S3cretPw').toString('base64')}`], 'the collector got the credentials, as Basic auth');
  const status = JSON.stringify(body(await api('GET', '/v1/admin/status')));
  t.match(status, /"tracing":\{"endpoint":"http:\/\/otel-user:\*\*\*@127\.0\.0\.1:\d+\/?"/, 'the status shows the endpoint without its password');
  t.notMatch(status, /S3cretPw/, 'nowhere in the status');
  t.notMatch(d.output(), /S3cretPw/, 'nor in the daemon log');
  t.match(d.output(), /could not export \d+ spans to http:\/\/otel-user:\*\*\*@127\.0\.0\.1:\d+\/v1\/traces/, 'whose warning names the endpoint without it');

  const refused = await failedStart(t, ['--http-port', '0', '--otlp-endpoint', 'http://otel-user:S3cretPw@127.0.0.1:4318/?x=1']);
  t.match(refused.output, /--otlp-endpoint 'http:\/\/otel-user:\*\*\*@127\.0\.0\.1:4318\/\?x=1' is not the base URL/, 'a refused endpoint is named without its password');
  t.notMatch(refused.output, /S3cretPw/, 'and the password is nowhere in the refusal');
});
