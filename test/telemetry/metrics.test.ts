/**
 * GET /metrics of a REAL daemon process (dist/, HTTP on 127.0.0.1 port 0) after a scripted workload with real
 * reference runtimes: each metric is checked against what the workload did (runs by outcome, the queue behind a
 * busy instance, an instance killed and restarted, requests by route and status, socket requests, open
 * connections and streams, the log against its file), the exposition against the text format, and who may read
 * it (the token, or anyone with --metrics-public, which opens nothing else).
 */
import { statSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { NdjsonSocket } from '../helpers/ndjson-socket.js';
import { REFERENCE_COMMAND, instanceDetails, instancePid } from '../helpers/runtime-harness.js';
import { eventually, request, startHttpDaemon, type Answer, type RequestOptions } from '../server/http-daemon.js';
import { parseExposition, valueOf, type Exposition } from './exposition.js';

type Json = Record<string, unknown>;

t.test('the exposition reader reports what breaks the format (so the format check can fail)', async (t) => {
  t.same(parseExposition('# HELP a_total x\n# TYPE a_total counter\na_total{k="v\\"w"} 3\n').problems, []);
  t.match(parseExposition('b 1\n').problems, [/no TYPE/]);
  t.match(parseExposition('# TYPE c gauge\nc 1\n').problems, [/no HELP/]);
  t.match(parseExposition('# HELP d x\n# TYPE d gauge\nd{0bad="1"} 1\n').problems, [/bad label name/]);
  t.match(parseExposition('# HELP e x\n# TYPE e gauge\ne{k="1} 1\n').problems, [/unterminated/]);
  t.equal(valueOf(parseExposition('# HELP h x\n# TYPE h histogram\nh_count{p="a"} 4\nh_sum{p="a"} 1\n'), 'h_count', { p: 'a' }), 4);
});

/** An HTTP client of the daemon that keeps a tally of what it asked: method, route pattern, status. */
function tallyClient(d: { url: string; token: string; adminToken: string }) {
  const tally = new Map<string, number>();
  const call = async (method: string, route: string, params: Record<string, string> = {}, o: RequestOptions & { admin?: boolean; path?: string } = {}): Promise<Answer> => {
    const path = o.path ?? route.replace(/\{([a-z_]+)\}/g, (_, k: string) => encodeURIComponent(params[k] ?? ''));
    const a = await request(d.url, method, path, { token: o.admin === true ? d.adminToken : d.token, ...o });
    const key = `${method} ${route} ${a.status}`;
    tally.set(key, (tally.get(key) ?? 0) + 1);
    return a;
  };
  return { call, tally };
}

const body = (a: Answer): Json => (a.body ?? {}) as Json;

t.test('counts what a scripted workload did, and the exposition is well formed and bounded', async (t) => {
  const daemon = await startHttpDaemon(t, ['--health-interval', '100']);
  const { call, tally } = tallyClient(daemon);
  const scrape = async (): Promise<Exposition> => {
    const a = await call('GET', '/metrics');
    t.equal(a.status, 200, 'scrape answers 200');
    t.match(a.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/, 'the Prometheus text format');
    const e = parseExposition(a.text);
    t.same(e.problems, [], 'the exposition is well formed: every sample has its HELP and TYPE, labels are valid');
    return e;
  };

  // one instance that takes one run at a time, restarted when it dies
  const profile = await call('PUT', '/v1/admin/runtime-profiles/{runtime_profile}', { runtime_profile: 'tel' }, {
    admin: true,
    json: { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [...REFERENCE_COMMAND] }, 'arpd.runtime': { max_concurrent_runs: 1, max_instances: 1, restart: 'on-failure', restart_backoff_ms: 0 } } },
  });
  t.equal(profile.status, 200, 'profile upserted');
  const created = await call('POST', '/v1/instances', {}, { json: { runtime_profile: 'tel' } });
  t.equal(created.status, 200, 'instance created');
  const instanceId = String(((body(created)['instances'] as Json[])[0] as Json)['instance_id']);
  const instance = async (): Promise<Json> => body(await call('GET', '/v1/instances/{instance_id}', { instance_id: instanceId }));
  const ready = await eventually('the instance is ready', async () => {
    const i = await instance();
    if (i['state'] === 'error') throw new Error(`the instance failed: ${JSON.stringify(i)}`);
    return i['state'] === 'ready' ? i : undefined;
  });
  const state = async (runId: string): Promise<string> => String(body(await call('GET', '/v1/runs/{run_id}', { run_id: runId }))['state']);
  const submit = async (goal: string): Promise<string> => {
    const a = await call('POST', '/v1/runs', {}, { json: { input: { goal }, runtime_selector: { runtime_profile: 'tel' } } });
    t.equal(a.status, 202, `submitted '${goal}'`);
    return String(body(a)['run_id']);
  };
  const ended = (runId: string): Promise<string> => eventually(`run ${runId} ends`, async () => {
    const s = await state(runId);
    return ['succeeded', 'failed', 'canceled'].includes(s) ? s : undefined;
  });

  // a long run holds the instance; five more wait behind it
  const holder = await submit('sleep:600000 hold the instance');
  await eventually('the holder runs', async () => ((await state(holder)) === 'running' ? true : undefined));
  const waiting: string[] = [];
  for (let i = 0; i < 5; i++) waiting.push(await submit(`What is (${i}+1)*2?`));
  const beforeScrape = Date.now();
  let m = await scrape();
  const afterScrape = Date.now();
  t.equal(valueOf(m, 'arpd_run_queue_depth'), 5, 'five runs wait');
  t.equal(valueOf(m, 'arpd_runs', { state: 'queued' }), 5, 'five runs are queued');
  t.equal(valueOf(m, 'arpd_runs', { state: 'running' }), 1, 'one runs');
  // the oldest waits since its acceptance, read at some instant of the scrape
  const oldest = body(await call('GET', '/v1/runs/{run_id}', { run_id: waiting[0] as string }));
  const acceptedAt = Date.parse(String(((oldest['extensions'] as Json)['arpd.run'] as Json)['accepted_at']));
  const age = valueOf(m, 'arpd_run_queue_oldest_age_seconds') ?? -1;
  t.ok(age >= (beforeScrape - acceptedAt) / 1000 - 0.001 && age <= (afterScrape - acceptedAt) / 1000 + 0.001,
    `the oldest wait (${age} s) is the time since the first waiting run was accepted, as of the scrape (${(beforeScrape - acceptedAt) / 1000} to ${(afterScrape - acceptedAt) / 1000} s)`);
  t.equal(valueOf(m, 'arpd_instances', { state: 'ready', profile: 'tel' }), 1, 'one ready instance of tel');

  // free the instance: the holder is canceled, the five succeed; then two fail
  t.equal((await call('POST', '/v1/runs/{run_id}:cancel', { run_id: holder })).status, 200, 'cancel the holder');
  t.equal(await ended(holder), 'canceled');
  for (const id of waiting) t.equal(await ended(id), 'succeeded', `run ${id} succeeded`);
  const failing = [await submit('fail:boom'), await submit('fail:bang')];
  for (const id of failing) t.equal(await ended(id), 'failed', `run ${id} failed`);

  // kill the runtime: the instance fails and is restarted
  process.kill(instancePid(ready), 'SIGKILL');
  await eventually('the instance is restarted and ready', async () => {
    const i = await instance();
    return i['state'] === 'ready' && instanceDetails(i)['restarts'] === 1 ? i : undefined;
  });

  // requests nobody may make, and a route nobody serves
  t.equal((await call('GET', '/v1/runs', {}, { token: null })).status, 401, 'no token: 401');
  t.equal((await call('GET', 'unmatched', {}, { path: '/no/such/route' })).status, 404, 'no route: 404');

  // socket: three status calls and an unknown method, on a connection kept open
  const sock = await NdjsonSocket.open(join(daemon.dataDir, 'arpd.sock'));
  t.teardown(() => sock.socket.destroy());
  for (let i = 0; i < 3; i++) t.ok((await sock.request(i, 'daemon.status')).result !== undefined, 'daemon.status answers');
  t.equal((await sock.request(9, 'no.such.method')).error?.data?.['code'], 'E_METHOD_NOT_FOUND');
  // streams: one socket subscription, one SSE stream of the log
  t.ok((await sock.request(10, 'events.subscribe', {})).result !== undefined, 'subscribed on the socket');
  const sse = new AbortController();
  const stream = await fetch(`${daemon.url}/v1/events`, { headers: { authorization: `Bearer ${daemon.token}`, accept: 'text/event-stream' }, signal: sse.signal });
  t.equal(stream.status, 200, 'an SSE stream is open');
  await eventually('both streams are counted', async () => (valueOf(await scrape(), 'arpd_open_streams') === 2 ? true : undefined));

  // the workload is over and nothing moves: read the page once more
  let runtimeEvents = 0;
  for (const id of [holder, ...waiting, ...failing]) {
    const trace = body(await call('GET', '/v1/runs/{run_id}/trace', { run_id: id }))['events'] as Json[];
    runtimeEvents += trace.filter((l) => ((l['extensions'] as Json)['arpd.event'] as Json)['type'] === 'run.trace').length;
  }
  const asked = new Map(tally);
  m = await scrape();
  t.equal(valueOf(m, 'arpd_runs_submitted_total', { profile: 'tel' }), 8, 'eight runs submitted for tel');
  t.equal(valueOf(m, 'arpd_runs_ended_total', { profile: 'tel', outcome: 'succeeded' }), 5, 'five succeeded');
  t.equal(valueOf(m, 'arpd_runs_ended_total', { profile: 'tel', outcome: 'failed' }), 2, 'two failed');
  t.equal(valueOf(m, 'arpd_runs_ended_total', { profile: 'tel', outcome: 'canceled' }), 1, 'one canceled');
  t.equal(valueOf(m, 'arpd_runs', { state: 'succeeded' }), 5);
  t.equal(valueOf(m, 'arpd_runs', { state: 'failed' }), 2);
  t.equal(valueOf(m, 'arpd_runs', { state: 'canceled' }), 1);
  t.equal(valueOf(m, 'arpd_runs', { state: 'queued' }), 0);
  t.equal(valueOf(m, 'arpd_run_queue_depth'), 0, 'nothing waits');
  t.equal(valueOf(m, 'arpd_run_queue_oldest_age_seconds'), 0, 'no oldest wait');
  t.equal(valueOf(m, 'arpd_run_start_delay_seconds_count', { profile: 'tel' }), 8, 'every run started once');
  t.equal(valueOf(m, 'arpd_run_duration_seconds_count', { profile: 'tel', outcome: 'succeeded' }), 5);
  t.equal(valueOf(m, 'arpd_run_duration_seconds_count', { profile: 'tel', outcome: 'failed' }), 2);
  t.equal(valueOf(m, 'arpd_run_duration_seconds_count', { profile: 'tel', outcome: 'canceled' }), 1);
  t.ok((valueOf(m, 'arpd_run_start_delay_seconds_sum', { profile: 'tel' }) ?? 0) > 0, 'the runs that waited behind the holder waited');

  t.equal(valueOf(m, 'arpd_run_trace_events_total'), runtimeEvents, `the trace events are the runs' runtime lines (${runtimeEvents})`);

  t.equal(valueOf(m, 'arpd_instances', { state: 'ready', profile: 'tel' }), 1, 'the instance is ready again');
  t.equal(valueOf(m, 'arpd_instance_crashes_total', { profile: 'tel', reason: 'E_RUNTIME_LOST' }), 1, 'one crash: the runtime was lost');
  t.equal(valueOf(m, 'arpd_instance_restarts_total', { profile: 'tel', reason: 'E_RUNTIME_LOST' }), 1, 'one restart, for that');
  t.ok((valueOf(m, 'arpd_health_check_duration_seconds_count', { outcome: 'ok' }) ?? 0) >= 1, 'health checks were timed');

  const events = valueOf(m, 'arpd_log_events_appended_total') ?? -1;
  t.equal(events, valueOf(m, 'arpd_log_head_seq'), 'a fresh log: events appended = the head seq');
  const fileBytes = statSync(join(daemon.dataDir, 'events.jsonl')).size;
  t.equal(valueOf(m, 'arpd_log_bytes_appended_total'), fileBytes, 'bytes appended = the log file\'s size');
  // the size gauge reads the files at most once a second: checked below, with scrapes of its own
  const commits = valueOf(m, 'arpd_log_fsync_seconds_count') ?? 0;
  const acks = valueOf(m, 'arpd_log_append_ack_seconds_count') ?? 0;
  t.ok(commits >= 1 && commits <= acks && acks <= events, `commits (${commits}) <= appends acknowledged (${acks}) <= events (${events})`);
  t.equal(valueOf(m, 'arpd_log_write_seconds_count'), commits, 'one write per commit');
  t.ok((valueOf(m, 'arpd_boot_replay_seconds') ?? -1) >= 0, 'the boot replay time is there');
  t.ok(m.families.get('arpd_snapshot_age_seconds')?.help !== undefined, 'snapshot age is declared');
  t.equal(m.families.get('arpd_snapshot_age_seconds')?.samples.length, 0, 'no snapshot: no sample');

  t.equal(valueOf(m, 'arpd_socket_requests_total', { method: 'daemon.status', outcome: 'ok' }), 3, 'three status calls');
  t.equal(valueOf(m, 'arpd_socket_requests_total', { method: '(unknown)', outcome: 'E_METHOD_NOT_FOUND' }), 1, 'one unknown method, not by its name');
  t.equal(valueOf(m, 'arpd_socket_requests_total', { method: 'events.subscribe', outcome: 'ok' }), 1);
  t.equal(valueOf(m, 'arpd_open_connections', { transport: 'socket' }), 1, 'one socket connection open');
  t.ok((valueOf(m, 'arpd_open_connections', { transport: 'http' }) ?? 0) >= 2, 'the scrape and the SSE stream are open HTTP connections');
  t.equal(valueOf(m, 'arpd_open_streams'), 2, 'two streams open');

  // every answered request is counted by method, route pattern and status (the SSE stream still runs)
  const http = m.families.get('arpd_http_requests_total')?.samples ?? [];
  const counted = new Map(http.map((s) => [`${s.labels['method']} ${s.labels['route']} ${s.labels['status']}`, s.value]));
  t.same(Object.fromEntries(counted), Object.fromEntries(asked.entries()), 'the HTTP counters are exactly what the test asked (the scrape in flight excepted)');
  t.ok([...counted.keys()].every((k) => !k.includes(holder)), 'no run id in a route label');

  // the log's size on disk: the gauge may show a reading up to a second old (the scrapes above came quickly), so it is
  // asked until it reads the file as it is now (eventually fails the test if it never does)
  const size = await eventually('the log size gauge reads the file', async () => {
    const v = valueOf(await scrape(), 'arpd_log_size_bytes');
    return v === statSync(join(daemon.dataDir, 'events.jsonl')).size ? v : undefined;
  });
  t.ok(size >= fileBytes, `the log size is the file's (${size} bytes)`);

  sse.abort();
  sock.socket.destroy();
  await eventually('the streams and the socket connection are gone', async () => {
    const e = await scrape();
    return valueOf(e, 'arpd_open_streams') === 0 && valueOf(e, 'arpd_open_connections', { transport: 'socket' }) === 0 ? true : undefined;
  });

  // labels are bounded: known values only, never an id
  m = await scrape();
  const allowed: Record<string, (v: string) => boolean> = {
    profile: (v) => ['tel', 'default', 'none', 'other'].includes(v),
    outcome: (v) => ['succeeded', 'failed', 'canceled', 'ok', 'error'].includes(v) || /^E_[A-Z_]+$/.test(v),
    state: (v) => ['queued', 'running', 'succeeded', 'failed', 'canceled', 'starting', 'ready', 'busy', 'stopping', 'stopped', 'error'].includes(v),
    reason: (v) => /^E_[A-Z_]+$/.test(v) || v === 'other' || v === 'none',
    route: (v) => v === 'unmatched' || v.startsWith('/'),
    status: (v) => /^[1-5]\d\d$/.test(v),
    transport: (v) => v === 'socket' || v === 'http',
  };
  const runIds = new Set([holder, ...waiting, ...failing, instanceId]);
  for (const f of m.families.values()) {
    if (!f.name.startsWith('arpd_')) continue;
    for (const s of f.samples) {
      for (const [k, v] of Object.entries(s.labels)) {
        if (runIds.has(v) || /(^|\/)(run|inst)_[0-9a-z]{6,}/.test(v)) t.fail(`${s.name}: label ${k}="${v}" is an id`);
        const ok = allowed[k];
        if (ok !== undefined && !ok(v)) t.fail(`${s.name}: label ${k}="${v}" is not a known value`);
      }
    }
    t.ok(f.samples.length <= 500, `${f.name}: ${f.samples.length} samples`);
  }
  t.ok((valueOf(m, 'process_cpu_user_seconds_total') ?? -1) >= 0, 'process metrics are there');
  t.ok((valueOf(m, 'nodejs_heap_size_total_bytes') ?? 0) > 0, 'node metrics are there');
});

t.test('shows the snapshot age once a snapshot is taken: the time since the snapshot the daemon reports', async (t) => {
  const daemon = await startHttpDaemon(t, ['--snapshot-every', '3']);
  const { call } = tallyClient(daemon);
  for (let i = 0; i < 4; i++) {
    const a = await call('PUT', '/v1/admin/runtime-profiles/{runtime_profile}', { runtime_profile: `snap-${i}` }, { admin: true, json: { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [...REFERENCE_COMMAND] } } } });
    t.equal(a.status, 200, `profile snap-${i} upserted`);
  }
  /** The last snapshot's time, wherever the status reports it. */
  const takenAt = (v: unknown): string | undefined => {
    if (v === null || typeof v !== 'object') return undefined;
    const o = v as Json;
    if (typeof o['last_taken_at'] === 'string') return o['last_taken_at'];
    for (const x of Object.values(o)) { const f = takenAt(x); if (f !== undefined) return f; }
    return undefined;
  };
  const at = await eventually('a snapshot is taken', async () => takenAt(body(await call('GET', '/v1/admin/status', {}, { admin: true }))));
  const before = Date.now();
  const e = parseExposition((await call('GET', '/metrics')).text);
  const after = Date.now();
  t.same(e.problems, []);
  const age = valueOf(e, 'arpd_snapshot_age_seconds');
  t.ok(age !== undefined, 'a sample once there is a snapshot');
  const taken = Date.parse(at);
  t.ok((age ?? -1) >= (before - taken) / 1000 - 0.002 && (age ?? -1) <= (after - taken) / 1000 + 0.002,
    `the age (${age} s) is the time since the snapshot taken at ${at}, as of the scrape (${(before - taken) / 1000} to ${(after - taken) / 1000} s)`);
});

t.test('GET /metrics needs the token like every route', async (t) => {
  const daemon = await startHttpDaemon(t);
  const none = await request(daemon.url, 'GET', '/metrics');
  t.equal(none.status, 401, 'no token: 401');
  t.match(none.body, { error: { code: 'unauthorized' } }, 'an ErrorEnvelope');
  t.equal((await request(daemon.url, 'GET', '/metrics', { token: 'x'.repeat(43) })).status, 401, 'a wrong token: 401');
  const ok = await request(daemon.url, 'GET', '/metrics', { token: daemon.token });
  t.equal(ok.status, 200, 'the token: 200');
  t.match(ok.text, /# TYPE arpd_runs gauge/);
});

t.test('--metrics-public opens GET /metrics to anyone and nothing else', async (t) => {
  const daemon = await startHttpDaemon(t, ['--metrics-public']);
  const open = await request(daemon.url, 'GET', '/metrics');
  t.equal(open.status, 200, '/metrics without a token: 200');
  t.match(open.text, /# TYPE arpd_runs_ended_total counter/);
  for (const [method, path] of [['GET', '/v1/runs'], ['GET', '/v1/instances'], ['GET', '/v1/admin/runtime-profiles'], ['GET', '/v1/events'], ['GET', '/v1/admin/status'], ['POST', '/v1/runs'], ['GET', '/metrics/x'], ['GET', '/metricsx']] as const) {
    const a = await request(daemon.url, method, path, method === 'POST' ? { json: { input: { goal: 'x' } } } : {});
    t.equal(a.status, 401, `${method} ${path} still needs the token`);
  }
});

/** Sends one request on a connection of its own, resolves once the first bytes of the answer arrive (or never). */
function openRaw(url: string, head: string, body = ''): { socket: ReturnType<typeof connect>; firstBytes: Promise<string> } {
  const u = new URL(url);
  const socket = connect(Number(u.port), u.hostname);
  socket.on('error', () => undefined);
  socket.write(`${head.replace('{host}', u.host)}${body}`);
  const firstBytes = new Promise<string>((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString('utf8'))));
  return { socket, firstBytes };
}

t.test('counts an event stream its client closed, and a request whose client left before the answer as 499, each once', async (t) => {
  const daemon = await startHttpDaemon(t);
  const auth = `Authorization: Bearer ${daemon.token}\r\n`;
  const scrape = async (): Promise<Exposition> => parseExposition((await request(daemon.url, 'GET', '/metrics', { token: daemon.token })).text);
  const answered = (e: Exposition, route: string, status: string, method = 'GET'): number => valueOf(e, 'arpd_http_requests_total', { method, route, status }) ?? 0;

  // an event stream that stays open until its reader hangs up
  const stream = openRaw(daemon.url, `GET /v1/events HTTP/1.1\r\nHost: {host}\r\n${auth}\r\n`);
  t.match(await stream.firstBytes, /^HTTP\/1\.1 200 /, 'the stream is open');
  stream.socket.destroy();
  const streams = await eventually('the closed stream is counted', async () => {
    const e = await scrape();
    return answered(e, '/v1/events', '200') > 0 ? e : undefined;
  }, 30_000);
  t.equal(answered(streams, '/v1/events', '200'), 1, 'the stream is counted once, as the 200 it answered');
  t.equal(valueOf(streams, 'arpd_http_request_duration_seconds_count', { method: 'GET', route: '/v1/events' }), 1, 'and its duration observed once');

  // an external runtime whose first health check is held: registering it waits, and its client leaves
  const held: ServerResponse[] = [];
  let healthAsked: () => void = () => undefined;
  const asked = new Promise<void>((resolve) => { healthAsked = resolve; });
  const runtime = createServer((req, res) => {
    const ok = (body: unknown): void => { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)); };
    if (req.url === '/v1/health') { held.push(res); healthAsked(); return; }
    if (req.url === '/v1/version') { ok({ service_name: 'held-runtime', service_version: '1.0.0', supported_api_versions: ['v1'] }); return; }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => runtime.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { runtime.closeAllConnections(); runtime.close(); });
  const endpoint = `http://127.0.0.1:${(runtime.address() as AddressInfo).port}`;
  const body = JSON.stringify({ runtime_api_endpoint: endpoint });
  const register = openRaw(daemon.url, `POST /v1/instances:register HTTP/1.1\r\nHost: {host}\r\n${auth}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`, body);
  await asked;
  register.socket.destroy();
  const left = await eventually('the request whose client left is counted', async () => {
    const e = await scrape();
    return answered(e, '/v1/instances:register', '499', 'POST') > 0 ? e : undefined;
  }, 30_000);
  t.equal(answered(left, '/v1/instances:register', '499', 'POST'), 1, 'counted once, as 499 (client closed request)');
  // the health check answers: the registration completes and its handler answers a connection that is gone
  for (const res of held.splice(0)) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok', time: new Date().toISOString() }));
  await eventually('the runtime is registered and ready', async () => {
    const list = await request(daemon.url, 'GET', '/v1/instances', { token: daemon.token });
    const found = ((list.body as { instances?: Json[] }).instances ?? []).find((i) => i['runtime_api_endpoint'] === endpoint);
    return found?.['state'] === 'ready' ? true : undefined;
  }, 30_000);
  const after = await scrape();
  const registers = after.families.get('arpd_http_requests_total')?.samples.filter((s) => s.labels['route'] === '/v1/instances:register') ?? [];
  t.same(registers.map((s) => [s.labels['status'], s.value]), [['499', 1]], 'the late answer is not counted again');
  t.equal(answered(after, '/v1/events', '200'), 1, 'nor the stream');
  const base = answered(after, '/v1/health', '200');
  for (let i = 0; i < 3; i++) t.equal((await request(daemon.url, 'GET', '/v1/health')).status, 200, 'a plain answer');
  t.equal(answered(await scrape(), '/v1/health', '200'), base + 3, 'plain answers are counted once each');
});

t.test('labels a route of the dashboard or the instance logs by its pattern in the API form, never by its raw path', async (t) => {
  const daemon = await startHttpDaemon(t);
  t.equal((await request(daemon.url, 'GET', '/ui/assets/no-such-asset.js')).status, 404, 'an unknown asset');
  t.equal((await request(daemon.url, 'GET', '/v1/instances/no-such-instance/logs', { token: daemon.token })).status, 404, 'the logs of an unknown instance');
  const e = parseExposition((await request(daemon.url, 'GET', '/metrics', { token: daemon.token })).text);
  t.equal(valueOf(e, 'arpd_http_requests_total', { method: 'GET', route: '/ui/assets/{name}', status: '404' }), 1, 'the asset route as /ui/assets/{name}');
  t.equal(valueOf(e, 'arpd_http_requests_total', { method: 'GET', route: '/v1/instances/{instance_id}/logs', status: '404' }), 1, 'the logs route as /v1/instances/{instance_id}/logs, as /v1/instances/{instance_id} is');
  const routes = [...(e.families.get('arpd_http_requests_total')?.samples ?? [])].map((s) => s.labels['route'] ?? '');
  t.same(routes.filter((r) => r.includes(':') && !/^\/v1\/[a-z/{}_-]+:[a-z]+$/.test(r)), [], 'no route label in fastify\'s :param form');
});
