/**
 * Runtimes that break the ARP Runtime API on purpose or by accident, against a real daemon: a raw node:http stand-in
 * on 127.0.0.1 port 0, registered as an external instance. Whatever it does, the run ends once, with the end the
 * runtime reported first, and the daemon stays up.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { runError, runtimeHarness, type Json } from '../helpers/runtime-harness.js';

const send = (res: ServerResponse, status: number, body: unknown): void => {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
};

/**
 * A stand-in runtime on 127.0.0.1 port 0 that answers health, version and `POST /v1/runs` as ARP says, and hands every
 * other request to `rest` (the misbehaviour under test). Closed at teardown, after `cleanup`.
 */
async function standIn(t: { teardown(fn: () => unknown): void }, name: string, rest: (req: IncomingMessage, res: ServerResponse, path: string) => void, cleanup: () => void = () => undefined): Promise<string> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => { body += c; });
    req.on('end', () => {
      if (path === '/v1/health') { send(res, 200, { status: 'ok', time: new Date().toISOString() }); return; }
      if (path === '/v1/version') { send(res, 200, { service_name: name, service_version: '1.0.0', supported_api_versions: ['v1'] }); return; }
      if (req.method === 'POST' && path === '/v1/runs') { send(res, 201, { run_id: (JSON.parse(body) as { run_id: string }).run_id, state: 'running' }); return; }
      rest(req, res, path);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { cleanup(); server.closeAllConnections(); return new Promise<void>((resolve) => server.close(() => resolve())); });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A runtime whose event stream sends `succeeded` as its final event, then more events, among them a second final
 * event saying `failed`, and then keeps the stream open without ending it; its status and result say succeeded.
 */
async function twoFinalsRuntime(t: Parameters<typeof runtimeHarness>[0]): Promise<{ url: string; streams: () => number }> {
  let streams = 0;
  const url = await standIn(t, 'two-finals', (_req, res, path) => {
    const m = /^\/v1\/runs\/([^/:]+)(\/result|\/events|:cancel)?$/.exec(path);
    if (m === null) { send(res, 404, { error: { code: 'route.not_found', message: path } }); return; }
    const runId = decodeURIComponent(m[1] as string);
    const time = new Date().toISOString();
    if (m[2] === '/events') {
      streams++;
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const events = [
        { run_id: runId, seq: 1, type: 'step', time, data: { message: 'working' } },
        { run_id: runId, seq: 2, type: 'final', time, data: { state: 'succeeded' } },
        { run_id: runId, seq: 3, type: 'step', time, data: { message: 'after the end' } },
        { run_id: runId, seq: 4, type: 'final', time, data: { state: 'failed' } },
      ];
      res.write(events.map((e) => `id: ${e.seq}\ndata: ${JSON.stringify(e)}\n\n`).join(''));
      return; // and never ends it
    }
    if (m[2] === ':cancel') { send(res, 200, { run_id: runId, state: 'succeeded' }); return; }
    if (m[2] === '/result') { send(res, 200, { run_id: runId, ok: true, output: { text: 'done' } }); return; }
    send(res, 200, { run_id: runId, state: 'succeeded' });
  });
  return { url, streams: () => streams };
}

// was a bug (QA, hostile runtimes): the follower read the event stream until the runtime closed it, taking the last
// final event as the run's end: a runtime that kept the stream open after its final event held the run until its
// progress timeout (10 minutes) and recorded the events after the end; a second final event changed how it ended
t.test('a run ends with the first final event of its runtime, even when the stream goes on with more events and another final state', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--progress-timeout', '600000']);
  const rt = await twoFinalsRuntime(t);
  const { instance } = await r.call<{ instance: Json }>(dir, 'instances.register', { request: { runtime_api_endpoint: rt.url } });
  t.equal(instance['state'], 'ready', 'the stand-in registers as ready');
  const s = await r.submit(dir, { input: { goal: 'x' }, runtime_selector: { instance_id: String(instance['instance_id']) } });
  const runId = String(s['run_id']);
  const end = await r.waitRunEnded(dir, runId);
  t.equal(end['state'], 'succeeded', `the run ended as its first final event said (${JSON.stringify(runError(end))})`);
  const ends = (await r.events(dir, ['run.'])).filter((e) => e.stream === `run:${runId}` && ['run.succeeded', 'run.failed', 'run.canceled'].includes(e.type));
  t.equal(ends.length, 1, 'one end is recorded');
  const trace = JSON.stringify(r.traceFile(dir, runId));
  t.match(trace, /working/, 'the events up to the final one are in the run\'s trace');
  t.notMatch(trace, /after the end/, 'the events after the final one are not');
});

// was a bug (QA, hostile runtimes): the health check's 2 s limit ended when the answer's head came; a runtime that
// answered the head and never finished its body held the check forever (and `instances register` with it), and the
// instance was never checked again
t.test('a runtime whose health answer starts and never finishes is recorded failed, E_RUNTIME_LOST, not waited on', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"status":"ok"'); // and never the rest
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => { server.closeAllConnections(); return new Promise<void>((resolve) => server.close(() => resolve())); });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { instance } = await r.call<{ instance: Json }>(dir, 'instances.register', { request: { runtime_api_endpoint: url } });
  t.equal(instance['state'], 'error', 'the instance is failed');
  t.match(JSON.stringify(instance), /E_RUNTIME_LOST/, 'with E_RUNTIME_LOST');
  t.match(JSON.stringify(instance), /did not finish its answer to GET \/v1\/health within 2000 ms/, 'saying the health answer did not finish in time');
});

t.test('a runtime whose event stream trickles bytes that never make an event fails the run at the progress timeout, E_RUNTIME_STALLED', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--progress-timeout', '1500']);
  const timers = new Set<NodeJS.Timeout>();
  const url = await standIn(t, 'trickle', (_req, res, path) => {
    if (path.endsWith('/events')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const tick = setInterval(() => res.write('d'), 100); // "ddddd…": a line that never ends
      timers.add(tick);
      res.on('close', () => { clearInterval(tick); timers.delete(tick); });
      return;
    }
    const m = /^\/v1\/runs\/([^/:]+)/.exec(path);
    send(res, 200, { run_id: decodeURIComponent(m?.[1] ?? ''), state: 'running' });
  }, () => { for (const x of timers) clearInterval(x); });
  const { instance } = await r.call<{ instance: Json }>(dir, 'instances.register', { request: { runtime_api_endpoint: url } });
  const s = await r.submit(dir, { input: { goal: 'x' }, runtime_selector: { instance_id: String(instance['instance_id']) } });
  const end = await r.waitRunEnded(dir, String(s['run_id']));
  t.equal(end['state'], 'failed', 'the run fails');
  t.equal(runError(end).code, 'E_RUNTIME_STALLED', 'the trickle is not progress');
});
