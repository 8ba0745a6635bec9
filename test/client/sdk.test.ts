/**
 * The typed SDK (`arpd/client`) against a REAL daemon process, over both transports: the Unix socket
 * (`connect({ dataDir })`) and the HTTP API (`connect({ url, token })`). Each operation answers the same
 * shapes both ways, and errors come back as the same ArpdError with the same code and data.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { ArpdError, connect, type ArpdClient, type LogEvent, type RunStatus, type TraceEvent } from '../../src/client/index.js';
import { daemonHarness, isRunning, REPO_ROOT, waitGone } from '../helpers/daemon-harness.js';
import { startHttpDaemon } from '../server/http-daemon.js';

const daemon = await startHttpDaemon(t);

type Kind = 'socket' | 'http';
const KINDS: readonly Kind[] = ['socket', 'http'];

/** Over HTTP with the run token, or with `admin` the admin token (changes to the safe list need it). */
async function open(t: { teardown(fn: () => unknown): void }, kind: Kind, o: { admin?: boolean } = {}): Promise<ArpdClient> {
  const arpd = kind === 'socket' ? await connect({ dataDir: daemon.dataDir }) : await connect({ url: daemon.url, token: o.admin === true ? daemon.adminToken : daemon.token });
  t.teardown(() => arpd.close());
  return arpd;
}

async function rejection(p: Promise<unknown>): Promise<ArpdError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  if (!(err instanceof ArpdError)) throw new Error(`expected an ArpdError, got ${String(err)}`);
  return err;
}

/** Reads a follow to its end by hand, so the iterator's own return value is seen. */
async function readToEnd(it: AsyncIterator<TraceEvent, RunStatus>): Promise<{ lines: TraceEvent[]; end: RunStatus }> {
  const lines: TraceEvent[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done === true) return { lines, end: r.value };
    lines.push(r.value);
  }
}

t.test('the daemon refuses an empty event type in a raw HTTP query, as it does on the socket', async (t) => {
  for (const types of ['', 'run.,', ',run.', 'run.,,instance.']) {
    const res = await fetch(`${daemon.url}/v1/events?types=${encodeURIComponent(types)}`, { headers: { authorization: `Bearer ${daemon.token}` } });
    const body = await res.json() as { error?: { message?: string; details?: Record<string, unknown> } };
    t.equal(res.status, 400, `types=${types}`);
    t.equal(body.error?.details?.['arpd_code'], 'E_VALIDATION', `types=${types}`);
    t.match(body.error?.message, /^field 'types\[\d\]' must not be empty/, `types=${types}`);
  }
  const ok = await fetch(`${daemon.url}/v1/events?types=${encodeURIComponent('run.,instance.')}&from_seq=1`, { headers: { authorization: `Bearer ${daemon.token}` } });
  t.equal(ok.status, 200, 'a comma-separated list passes');
  await ok.body?.cancel();
});

// a daemon that takes the entry answers a stream that never ends: the test's own time limit is the guard
t.test('the daemon refuses an event type with whitespace in a raw HTTP query, as it does on the socket, instead of trimming it', { timeout: 60_000 }, async (t) => {
  for (const types of [' run.', 'run. ', 'run., instance.', 'run.\tx']) {
    const res = await fetch(`${daemon.url}/v1/events?types=${encodeURIComponent(types)}`, { headers: { authorization: `Bearer ${daemon.token}` } });
    const body = await res.json() as { error?: { message?: string; details?: Record<string, unknown> } };
    t.equal(res.status, 400, `types=${types}`);
    t.equal(body.error?.details?.['arpd_code'], 'E_VALIDATION', `types=${types}`);
    t.match(body.error?.message, /^field 'types\[\d\]' cannot be '.*': give one event type per entry, with no commas or spaces/, `types=${types}`);
  }
});

for (const kind of KINDS) {
  t.test(`${kind}: manages the safe list (upsert, get, list, delete)`, async (t) => {
    if (kind === 'http') {
      const runToken = await open(t, kind);
      const refused = await rejection(runToken.profiles.upsert('sdk-refused', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['true'] } } }));
      t.equal(refused.code, 'E_FORBIDDEN', 'the run token cannot change the safe list');
      t.match(refused.message, /needs the admin token/);
    }
    const arpd = await open(t, kind, { admin: true });
    t.equal(arpd.transport, kind);
    const base = await arpd.profiles.get('default');
    const name = `copy-${kind}`;
    const saved = await arpd.profiles.upsert(name, { description: `a copy for ${kind}`, ...(base.extensions === undefined ? {} : { extensions: base.extensions }) });
    t.equal(saved.runtime_profile, name);
    t.equal(saved.description, `a copy for ${kind}`);
    t.same(await arpd.profiles.get(name), saved, 'get answers what upsert did');
    t.ok((await arpd.profiles.list()).profiles.some((p) => p.runtime_profile === name), 'list has it');
    t.same(await arpd.profiles.delete(name), { deleted: name });
    const gone = await rejection(arpd.profiles.get(name));
    t.equal(gone.code, 'E_NOT_FOUND');
  });

  t.test(`${kind}: starts an instance, waiting until it is ready`, async (t) => {
    const arpd = await open(t, kind);
    const r = await arpd.instances.start({ runtime_profile: 'default', count: 1 }, { wait: true });
    t.equal(r.instances.length, 1);
    const inst = r.instances[0];
    if (inst === undefined) return;
    t.equal(inst.state, 'ready', JSON.stringify(inst));
    t.match(inst.runtime_api_endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    t.same((await arpd.instances.get(inst.instance_id)).instance_id, inst.instance_id);
    t.ok((await arpd.instances.list()).instances.some((i) => i.instance_id === inst.instance_id));
  });

  t.test(`${kind}: submits a run, follows its trace to the end and reads its result`, async (t) => {
    const arpd = await open(t, kind);
    const submitted = await arpd.runs.submit({ input: { goal: 'What is (19*23)?' } });
    t.match(submitted.state, /^(queued|running|succeeded)$/);
    const { lines, end } = await readToEnd(arpd.runs.follow(submitted.run_id));
    t.equal(end.state, 'succeeded', 'the iterator returns the final status');
    t.same(lines.map((l) => l.seq), lines.map((_, i) => i + 1), 'every line, seq contiguous from 1');
    t.ok(lines.every((l) => l.run_id === submitted.run_id));
    const trace = await arpd.runs.trace(submitted.run_id);
    t.same(trace.events?.map((e) => [e.seq, e.type]), lines.map((l) => [l.seq, l.type]), 'the same lines as runs.trace');
    const page = await arpd.runs.trace(submitted.run_id, { fromSeq: 2, limit: 2 });
    t.same(page.events?.map((e) => e.seq), [2, 3]);
    const result = await arpd.runs.result(submitted.run_id);
    t.equal(result.ok, true);
    t.equal(result.output?.['text'], '(19*23) = 437');
    t.equal((await arpd.runs.get(submitted.run_id)).state, 'succeeded');
    t.equal((await arpd.runs.wait(submitted.run_id)).state, 'succeeded', 'wait on an ended run answers at once');
    const listed = await arpd.runs.list({ state: 'succeeded', pageSize: 1000 });
    t.ok(listed.runs.some((r) => r.run_id === submitted.run_id));
  });

  t.test(`${kind}: follows from a later seq, and its status promise resolves without iterating`, async (t) => {
    const arpd = await open(t, kind);
    const s = await arpd.runs.submit({ input: { goal: 'What is 6*7?' } });
    const all = await readToEnd(arpd.runs.follow(s.run_id));
    const later: TraceEvent[] = [];
    const follow = arpd.runs.follow(s.run_id, { fromSeq: 3 });
    for await (const line of follow) later.push(line);
    t.same(later.map((l) => l.seq), all.lines.slice(2).map((l) => l.seq), 'only the lines from seq 3');
    t.equal((await follow.status).state, 'succeeded', 'status after iterating');
    t.equal((await arpd.runs.follow(s.run_id).status).state, 'succeeded', 'status alone drains the trace');
  });

  t.test(`${kind}: waits with a time limit, then cancels a run`, async (t) => {
    const arpd = await open(t, kind);
    const s = await arpd.runs.submit({ input: { goal: 'sleep:600000 What is 1+1?' } });
    const early = await arpd.runs.wait(s.run_id, { timeoutMs: 200 });
    t.match(early.state, /^(queued|running)$/, 'the status as it is when the time is up');
    const canceled = await arpd.runs.cancel(s.run_id);
    t.equal(canceled.state, 'canceled');
    t.equal((await arpd.runs.wait(s.run_id)).state, 'canceled');
    const result = await rejection(arpd.runs.wait(s.run_id, { timeoutMs: 0 }));
    t.equal(result.code, 'E_VALIDATION', 'a wait of 0 ms is refused in the client');
  });

  // a subscription the daemon takes with an empty type waits for an event forever: the time limit is the guard
  t.test(`${kind}: refuses an empty event type in a read and a subscription, and takes an empty list as no filter`, { timeout: 60_000 }, async (t) => {
    const arpd = await open(t, kind);
    for (const [what, p] of [
      // each started only when awaited: a refusal that came before its handler was attached would be unhandled
      ['a read', () => arpd.events.read({ fromSeq: 1, types: [''] })],
      ['a subscription', () => arpd.events.subscribe({ fromSeq: 1, types: [''] }).next()],
      ['a subscription with an empty second type', () => arpd.events.subscribe({ fromSeq: 1, types: ['run.', ''] }).next()],
    ] as const) {
      const err = await rejection(p());
      t.equal(err.code, 'E_VALIDATION', what);
      t.match(err.message, /^field 'types\[\d\]' must not be empty: give one event type per entry, with no commas or spaces, such as 'run\.succeeded', or a family ending in '\.' such as 'run\.'$/, what);
      t.equal(err.data?.['rule'], 'minLength', what);
    }
    const all = await arpd.events.read({ fromSeq: 1, limit: 5 });
    t.same(await arpd.events.read({ fromSeq: 1, limit: 5, types: [] }), all, 'types: [] reads what no filter reads');
    const sub = arpd.events.subscribe({ fromSeq: 1, types: [] });
    t.teardown(() => sub.close());
    t.equal((await sub.next()).value?.seq, 1, 'types: [] subscribes to every event');
  });

  // over HTTP the list goes comma-separated and was trimmed: 'run.,instance.' was two types there and one (matching
  // nothing) on the socket, ' run.' the run. family there and nothing on the socket
  t.test(`${kind}: refuses an event type with a comma or whitespace in a read and a subscription, with the same message`, { timeout: 60_000 }, async (t) => {
    const arpd = await open(t, kind);
    for (const [what, p, i, shown] of [
      ['a read of a comma list', () => arpd.events.read({ fromSeq: 1, types: ['run.,instance.'] }), 0, 'run.,instance.'],
      ['a subscription to a comma list', () => arpd.events.subscribe({ fromSeq: 1, types: ['profile.', 'run.,instance.'] }).next(), 1, 'run.,instance.'],
      ['a read with a space', () => arpd.events.read({ fromSeq: 1, types: [' run.'] }), 0, ' run.'],
      ['a subscription with a space', () => arpd.events.subscribe({ fromSeq: 1, types: ['run. '] }).next(), 0, 'run. '],
      ['a subscription with a tab inside', () => arpd.events.subscribe({ fromSeq: 1, types: ['run.\tinstance.'] }).next(), 0, 'run.\\tinstance.'],
    ] as const) {
      const err = await rejection(p());
      t.equal(err.code, 'E_VALIDATION', what);
      t.equal(err.message, `field 'types[${i}]' cannot be '${shown}': give one event type per entry, with no commas or spaces, such as 'run.succeeded', or a family ending in '.' such as 'run.'`, what);
      t.same(err.data, { schema: `${what.includes('read') ? 'events.read' : 'events.subscribe'} params`, rule: 'pattern', field: `types[${i}]`, pattern: '^[^,\\s]*$' }, what);
    }
    const two = await arpd.events.read({ fromSeq: 1, limit: 10_000, types: ['run.', 'instance.'] });
    t.ok(two.events.length > 0 && two.events.every((e) => e.type.startsWith('run.') || e.type.startsWith('instance.')), 'two entries are two types');
  });

  t.test(`${kind}: reads a page of the event log, filtered, and subscribes to it live`, async (t) => {
    const arpd = await open(t, kind, { admin: true });
    const page = await arpd.events.read({ fromSeq: 1, limit: 3 });
    t.same(page.events.map((e) => e.seq), [1, 2, 3]);
    t.equal(page.next_seq, 4);
    t.ok(page.head_seq >= 3);
    const runs = await arpd.events.read({ fromSeq: 1, limit: 1000, types: ['run.'] });
    t.ok(runs.events.length > 0 && runs.events.every((e) => e.type.startsWith('run.')), 'only the run. family');
    const profiles = await arpd.events.read({ fromSeq: 1, limit: 1000, stream: 'profile:' });
    t.ok(profiles.events.length > 0 && profiles.events.every((e) => e.stream.startsWith('profile:')), 'only profile: streams');
    const everything = await arpd.events.read({ fromSeq: 1, limit: 10_000 });
    t.equal(everything.next_seq, everything.head_seq + 1, 'a page that reaches the head says so');
    t.same(runs.events.map((e) => e.seq), everything.events.filter((e) => e.type.startsWith('run.')).map((e) => e.seq), 'the filter keeps exactly the matching events');

    const sub = arpd.events.subscribe({ fromSeq: everything.head_seq + 1, types: ['profile.'] });
    const name = `live-${kind}`;
    const seen = (async () => {
      for await (const e of sub) if (e.data['runtime_profile'] === name) return e;
      return undefined;
    })();
    const base = await arpd.profiles.get('default');
    await arpd.profiles.upsert(name, { ...(base.extensions === undefined ? {} : { extensions: base.extensions }) });
    const e: LogEvent | undefined = await seen;
    t.equal(e?.type, 'profile.upserted', 'the live event arrives');
    t.ok((e?.seq ?? 0) > everything.head_seq);
    await sub.close();
    await arpd.profiles.delete(name);
  });

  t.test(`${kind}: close() ends an open subscription`, async (t) => {
    const arpd = kind === 'socket' ? await connect({ dataDir: daemon.dataDir }) : await connect({ url: daemon.url, token: daemon.token });
    const sub = arpd.events.subscribe({});
    const ended = (async () => {
      try {
        for await (const _e of sub) { /* nothing new comes */ }
        return 'ended';
      } catch (err) {
        return err instanceof ArpdError ? err.code : String(err);
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    await arpd.close();
    t.match(await ended, /^(ended|E_CANCELED)$/);
  });
}

t.test('gives the same ArpdError (code, message, data) over the socket and over HTTP', async (t) => {
  const socket = await open(t, 'socket');
  const http = await open(t, 'http');
  for (const [what, call] of [
    ['an unknown run', (a: ArpdClient) => a.runs.get('run_nope')],
    ['an unknown instance', (a: ArpdClient) => a.instances.get('inst_nope')],
    ['an unknown profile', (a: ArpdClient) => a.profiles.get('nope')],
    ['a bad run request', (a: ArpdClient) => a.runs.submit({ input: {} } as never)],
    ['an event page over the limit', (a: ArpdClient) => a.events.read({ limit: 10_001 })],
    // an id that is not one: over HTTP '.' and '..' would walk the URL to another route ('/v1/runs/./result' is run 'result')
    ['a run id "."', (a: ArpdClient) => a.runs.get('.')],
    ['a run id ".." for a result', (a: ArpdClient) => a.runs.result('..')],
    ['an empty run id for a trace', (a: ArpdClient) => a.runs.trace('')],
    ['a run id "../x" to cancel', (a: ArpdClient) => a.runs.cancel('../x')],
    ['a run id "." to wait for', (a: ArpdClient) => a.runs.wait('.')],
    ['a run id "." to follow', (a: ArpdClient) => a.runs.follow('.').status],
    ['an instance id "a/b"', (a: ArpdClient) => a.instances.get('a/b')],
    ['a profile name ".."', (a: ArpdClient) => a.profiles.get('..')],
  ] as const) {
    const a = await rejection(call(socket));
    const b = await rejection(call(http));
    t.equal(a.code, b.code, `${what}: the code`);
    t.equal(a.message, b.message, `${what}: the message`);
    t.same(a.data, b.data, `${what}: the data`);
  }
});

t.test('refuses a time limit a timer cannot keep (over 24 days, Infinity, NaN, below 0) before sending anything, both ways', async (t) => {
  for (const kind of KINDS) {
    const target = kind === 'socket' ? { dataDir: daemon.dataDir } : { url: daemon.url, token: daemon.token };
    for (const ms of [2 ** 31, Infinity, Number.NaN, -1]) {
      const refused = await rejection(connect({ ...target, timeoutMs: ms }));
      t.equal(refused.code, 'E_VALIDATION', `${kind}: connect with timeoutMs ${ms}`);
      t.match(refused.message, /^timeoutMs must be 0 \(no limit\) or a whole number of milliseconds up to 2147483647/);
    }
    const arpd = await open(t, kind);
    const runId = `never-sent-${kind}`;
    for (const ms of [2 ** 31, Infinity, Number.NaN, -1]) {
      const refused = await rejection(arpd.runs.submit({ run_id: runId, input: { goal: 'What is (1+1)?' } }, { timeoutMs: ms }));
      t.equal(refused.code, 'E_VALIDATION', `${kind}: a submit with timeoutMs ${ms}`);
      t.same(refused.data, { field: 'timeoutMs' });
    }
    t.equal((await rejection(arpd.runs.get(runId))).code, 'E_NOT_FOUND', `${kind}: the refused submit was not sent`);
  }
});

t.test('answers daemon.status the same both ways; HTTP has no shutdown route', async (t) => {
  const socket = await open(t, 'socket');
  const http = await open(t, 'http');
  const a = await socket.daemon.status();
  const b = await http.daemon.status();
  t.equal(a.pid, daemon.child.pid);
  t.equal(b.pid, a.pid);
  t.equal(b.http_url, daemon.url);
  const refused = await rejection(http.daemon.shutdown());
  t.equal(refused.code, 'E_METHOD_NOT_FOUND');
  t.match(refused.message, /arpd daemon stop/);
});

t.test('reports a daemon that is not there as E_DAEMON_NOT_RUNNING, both ways', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'arpd-sdk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.equal((await rejection(connect({ dataDir: dir }))).code, 'E_DAEMON_NOT_RUNNING');
  const http = await connect({ url: 'http://127.0.0.1:9' });
  t.equal((await rejection(http.daemon.status())).code, 'E_DAEMON_NOT_RUNNING');
  t.equal((await rejection(connect({ url: 'ftp://x' }))).code, 'E_VALIDATION');
  t.equal((await rejection(connect({ socketPath: join(dir, 's.sock'), autostart: true }))).code, 'E_VALIDATION', 'autostart needs a data dir');
  const wrong = await connect({ url: daemon.url, token: 'wrong' });
  t.equal((await rejection(wrong.runs.list())).code, 'E_UNAUTHORIZED');
});

t.test('starts the daemon with autostart, once, and stops it with daemon.shutdown', async (t) => {
  const h = daemonHarness(t);
  const dir = h.newDataDir();
  const first = await connect({ dataDir: dir, autostart: true, serveArgs: ['--no-http'] });
  t.teardown(() => first.close());
  const started = first.startedDaemon;
  t.type(started?.pid, 'number', 'it says which daemon it started');
  const pid = started?.pid ?? 0;
  h.trackPid(pid);
  t.ok(isRunning(pid));
  const second = await connect({ dataDir: dir, autostart: true });
  t.teardown(() => second.close());
  t.equal(second.startedDaemon, undefined, 'a running daemon is not started again');
  t.equal((await second.daemon.status()).pid, pid);
  t.same(await second.daemon.shutdown({ reason: 'sdk test' }), { stopping: true, pid });
  await waitGone(pid);
});

t.test('importing arpd/client loads Node built-ins and arpd\'s own files only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'arpd-sdk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'hook.mjs'), 'export async function resolve(s, c, next) { const r = await next(s, c); process._rawDebug("LOADED " + r.url); return r; }\n');
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(join(dir, 'hook.mjs')).href)});\n`);
  const entry = pathToFileURL(join(REPO_ROOT, 'dist', 'src', 'client', 'index.js')).href;
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(join(dir, 'register.mjs')).href, '--input-type=module', '-e', `await import(${JSON.stringify(entry)})`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => { text += s; });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${String(code)}: ${text}`))));
  });
  const loaded = out.split('\n').filter((l) => l.startsWith('LOADED ')).map((l) => l.slice(7));
  const ours = pathToFileURL(join(REPO_ROOT, 'dist', 'src')).href;
  t.ok(loaded.includes(entry), 'the hook saw the entry point');
  t.same(loaded.filter((u) => !u.startsWith('node:') && !u.startsWith(`${ours}/`)), [], 'no package, nothing outside dist/src');
  t.same(loaded.filter((u) => /\/(server|daemon|features|events|projections|commands)\//.test(u)), [], 'nothing of the daemon');
  t.same(loaded.filter((u) => /http-transport|sse-reader|socket-transport|daemon-start/.test(u)), [], 'no transport until connect() picks one');
});
