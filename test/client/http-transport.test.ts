/**
 * The SDK's HTTP transport when the daemon goes away under it: a REAL daemon process, killed with SIGKILL while
 * streams are open on its HTTP API, or gone silent behind a TCP proxy on 127.0.0.1 that stops passing bytes and keeps
 * the connections open (a host down or a network cut: no FIN, no RST). What a caller gets is an ArpdError with a
 * stable code, never node's bare `Error: aborted`, and never a stream that waits forever.
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { ArpdError, connect, type ArpdClient } from '../../src/client/index.js';
import { daemonHarness, waitFor } from '../helpers/daemon-harness.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { startHttpDaemon, type HttpDaemon } from '../server/http-daemon.js';

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => 'resolved', (e: unknown) => e);
}

t.test('a daemon killed while a follow and a subscription are open over HTTP rejects both with E_UNAVAILABLE', async (t) => {
  const h = daemonHarness(t);
  const daemon = await startHttpDaemon(t, [], { dataDir: h.newDataDir() });
  const arpd = await connect({ url: daemon.url, token: daemon.token });
  t.teardown(() => arpd.close());
  const run = await arpd.runs.submit({ input: { goal: 'sleep:600000 What is (1+1)?' } });
  // the managed instance is detached from the daemon: kill it by pid at the end, as the daemon cannot
  const running = await waitFor('the run to start', async () => ((await arpd.runs.get(run.run_id)).state === 'running' ? true : undefined));
  t.ok(running);
  const instances = (await arpd.instances.list({ all: true })).instances;
  t.teardown(() => {
    for (const i of instances) {
      const pid = (i.extensions?.['arpd.instance'] as { pid?: unknown } | undefined)?.pid;
      if (typeof pid === 'number') try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });

  const follow = arpd.runs.follow(run.run_id);
  t.equal((await follow.next()).done, false, 'the follow has its first line');
  const sub = arpd.events.subscribe({ fromSeq: 1 });
  t.equal((await sub.next()).done, false, 'the subscription has its first event');
  daemon.child.kill('SIGKILL');
  await daemon.stop();

  for (const [what, err] of [
    ['the follow', await rejection((async () => { for await (const _ of follow) { /* the rest of the trace */ } })())],
    ['its status', await rejection(follow.status)],
    ['the subscription', await rejection((async () => { for await (const _ of sub) { /* the rest of the log */ } })())],
  ] as const) {
    t.type(err, ArpdError, `${what} rejects with an ArpdError (${String(err)})`);
    if (!(err instanceof ArpdError)) continue;
    t.equal(err.code, 'E_UNAVAILABLE', what);
    t.match(err.message, /was lost during '(runs\.follow|events\.subscribe)'.*check 'arpd daemon status'/, what);
    t.same(err.data?.['url'], daemon.url, what);
  }
});

/** A run that runs for ten minutes (its instance is killed by pid at teardown: it is detached from the daemon). */
async function longRun(t: { teardown(fn: () => unknown): void }, arpd: ArpdClient): Promise<string> {
  const run = await arpd.runs.submit({ input: { goal: 'sleep:600000 What is (1+1)?' } });
  await waitFor('the run to start', async () => ((await arpd.runs.get(run.run_id)).state === 'running' ? true : undefined));
  const instances = (await arpd.instances.list({ all: true })).instances;
  t.teardown(() => {
    for (const i of instances) {
      const pid = (i.extensions?.['arpd.instance'] as { pid?: unknown } | undefined)?.pid;
      if (typeof pid === 'number') try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  });
  return run.run_id;
}

/**
 * A daemon behind a TCP proxy on 127.0.0.1 port 0 (closed at teardown), which the daemon allows as a Host (as behind
 * a real proxy: the proxy's port is not the daemon's).
 */
async function behindProxy(t: { teardown(fn: () => unknown): void }, dataDir?: string): Promise<{ daemon: HttpDaemon; url: string; freeze(): void }> {
  const target = { port: 1 };
  const proxy = await startTcpProxy(() => target.port);
  t.teardown(() => proxy.close());
  const daemon = await startHttpDaemon(t, ['--allowed-hosts', `127.0.0.1:${proxy.port}`], dataDir === undefined ? {} : { dataDir });
  target.port = Number(new URL(daemon.url).port);
  return { daemon, url: `http://127.0.0.1:${proxy.port}`, freeze: () => proxy.freeze() };
}

// without an idle limit these wait forever: the test's own time limit is the guard (no time is asserted)
t.test('a follow, a wait and a subscription over HTTP reject with E_UNAVAILABLE once the daemon stops answering without closing the connection', { timeout: 120_000 }, async (t) => {
  const h = daemonHarness(t);
  const proxy = await behindProxy(t, h.newDataDir());
  const daemon = proxy.daemon;
  // far below the daemon's heartbeat (15 s), so that the test does not wait for it; the default is 45 s
  const arpd = await connect({ url: proxy.url, token: daemon.token, streamIdleMs: 500 });
  t.teardown(() => arpd.close());
  const runId = await longRun(t, arpd);

  const follow = arpd.runs.follow(runId);
  t.equal((await follow.next()).done, false, 'the follow has its first line');
  const sub = arpd.events.subscribe({ fromSeq: 1 });
  t.equal((await sub.next()).done, false, 'the subscription has its first event');
  proxy.freeze();
  const wait = rejection(arpd.runs.wait(runId));

  for (const [what, err] of [
    ['the follow', await rejection((async () => { for await (const _ of follow) { /* the rest of the trace */ } })())],
    ['the subscription', await rejection((async () => { for await (const _ of sub) { /* the rest of the log */ } })())],
    ['a wait begun after the daemon went silent', await wait],
  ] as const) {
    t.type(err, ArpdError, `${what} rejects with an ArpdError (${String(err)})`);
    if (!(err instanceof ArpdError)) continue;
    t.equal(err.code, 'E_UNAVAILABLE', what);
    t.match(err.message, /stopped answering: nothing came on the (trace|event) stream.* for 500 ms, not even its heartbeat.*check 'arpd daemon status' there, then (follow again from the last seq|subscribe again from the last seq|wait again)$/, what);
    t.same(err.data, { url: proxy.url, idle_ms: 500 }, what);
  }
});

// events.read over HTTP reads a page from the /v1/events stream: it had only the request time limit, so with
// timeoutMs 0 it waited forever; the test's own time limit is the guard (no time is asserted)
t.test('a read of the event log over HTTP with no time limit rejects with E_UNAVAILABLE once the daemon stops answering without closing the connection', { timeout: 120_000 }, async (t) => {
  const proxy = await behindProxy(t);
  const arpd = await connect({ url: proxy.url, token: proxy.daemon.token, timeoutMs: 0, streamIdleMs: 500 });
  t.teardown(() => arpd.close());
  t.ok((await arpd.events.read({ fromSeq: 1, limit: 2 })).events.length > 0, 'a read answers while the link is up');
  proxy.freeze();
  const err = await rejection(arpd.events.read({ fromSeq: 1, limit: 2 }));
  t.type(err, ArpdError, `the read rejects with an ArpdError (${String(err)})`);
  if (err instanceof ArpdError) {
    t.equal(err.code, 'E_UNAVAILABLE');
    t.match(err.message, /stopped answering: nothing came on the event stream for 500 ms, not even its heartbeat.*check 'arpd daemon status' there, then read again$/);
    t.same(err.data, { url: proxy.url, idle_ms: 500 });
  }
});

// the same once the stream is open: a server on 127.0.0.1 that answers the status (the log's head) and then opens the
// event stream and sends nothing more, not even a heartbeat (the daemon's host gone between the two requests)
t.test('a read of the event log over HTTP with no time limit rejects with E_UNAVAILABLE when its open stream brings nothing', { timeout: 120_000 }, async (t) => {
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    if (req.url === '/v1/admin/status') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ last_seq: 5 }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': open\n\n');
    open.add(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    for (const res of open) res.destroy();
    server.close(() => resolve());
  }));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const arpd = await connect({ url, timeoutMs: 0, streamIdleMs: 500 });
  t.teardown(() => arpd.close());
  const err = await rejection(arpd.events.read({ fromSeq: 1 }));
  t.type(err, ArpdError, `the read rejects with an ArpdError (${String(err)})`);
  if (err instanceof ArpdError) {
    t.equal(err.code, 'E_UNAVAILABLE');
    t.match(err.message, /nothing came on the event stream for 500 ms/);
  }
  t.equal(open.size, 1, 'the read had opened the stream');
});

t.test('connect refuses a stream idle limit that is not 0 or a whole number of milliseconds', async (t) => {
  for (const streamIdleMs of [-1, 1.5, Infinity, Number.NaN, 2 ** 31]) {
    const err = await rejection(connect({ url: 'http://127.0.0.1:1', streamIdleMs }));
    t.type(err, ArpdError, String(streamIdleMs));
    if (err instanceof ArpdError) {
      t.equal(err.code, 'E_VALIDATION', String(streamIdleMs));
      t.match(err.message, /^streamIdleMs must be 0 \(no limit\) or a whole number of milliseconds/, String(streamIdleMs));
    }
  }
});

t.test('a request over HTTP that gets no answer in time names the SDK option to raise, or the hint its caller gave', async (t) => {
  const proxy = await behindProxy(t);
  const daemon = proxy.daemon;
  proxy.freeze();
  for (const [who, hint, wording] of [
    ['an SDK caller', undefined, /got no answer within 200 ms: .*allow more time with the timeoutMs option \(of connect\(\) or of the call\)$/],
    ['a tool with a flag of its own', '--timeout <seconds>', /got no answer within 200 ms: .*allow more time with --timeout <seconds>$/],
  ] as const) {
    const arpd = await connect({ url: proxy.url, token: daemon.token, timeoutMs: 200, ...(hint === undefined ? {} : { timeoutHint: hint }) });
    t.teardown(() => arpd.close());
    const err = await rejection(arpd.daemon.status());
    t.type(err, ArpdError, who);
    if (!(err instanceof ArpdError)) continue;
    t.equal(err.code, 'E_TIMEOUT', who);
    t.match(err.message, wording, who);
    t.notMatch(err.message, hint === undefined ? /--timeout/ : /timeoutMs/, who);
  }
});
