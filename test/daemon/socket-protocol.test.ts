/**
 * The NDJSON JSON-RPC protocol on the socket of a REAL daemon (one daemon for the whole file):
 * byte-wise chunking, garbage lines, oversized lines, disconnects, subscriptions and param errors.
 */
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { daemonHarness, isRunning, sleep, type EventLine } from '../helpers/daemon-harness.js';
import { NdjsonSocket, type RpcMessage } from '../helpers/ndjson-socket.js';

const PROFILE = '{"extensions":{"arp.jarvis.exec":{"driver":"command","command_template":["/bin/true"]}}}';
const MAX_LINE = 1_048_576;

const h = daemonHarness(t);
const dir = h.newDataDir();
const socketPath = join(dir, 'arpd.sock');
writeFileSync(join(dir, 'p.json'), PROFILE);
const { pid } = await h.startDaemon(dir);
for (const name of ['alpha', 'beta']) {
  const r = await h.cli(dir, ['profiles', 'upsert', name, '--request-json', join(dir, 'p.json')]);
  if (r.code !== 0) throw new Error(`profiles upsert ${name} failed: ${r.stderr}`);
}

/** The whole log as the daemon serves it; nothing appends to it until the subscription tests. */
async function readAll(): Promise<EventLine[]> {
  const c = await NdjsonSocket.open(socketPath);
  try {
    const r = await c.request(1, 'events.read', { limit: 10_000 });
    return (r.result as { events: EventLine[] }).events;
  } finally {
    c.destroy();
  }
}
const allEvents = await readAll();
const head = allEvents.length;
const TYPES = [...new Set(allEvents.map((e) => e.type))];
const STREAMS = [...new Set(allEvents.map((e) => e.stream))];

// ---- requests and what each must get ------------------------------------------------------------

const EMOJI = ['🙂', '🚀', '👩‍💻', '𝄞', 'é', '中文', 'ß', '\u00a0', '"', '\\', 'a', 'Z', '.', '-'];
const unicodeText = fc.array(fc.constantFrom(...EMOJI), { minLength: 1, maxLength: 6 }).map((a) => a.join(''));

interface ReadParams { from_seq?: number; limit?: number; types?: string[]; stream?: string }

type Req =
  | { kind: 'status' }
  | { kind: 'methods' }
  | { kind: 'read'; params: ReadParams }
  | { kind: 'unknown'; method: string; params?: Record<string, unknown> }
  | { kind: 'invalid'; method: string; params: unknown; field: string };

const readParams: fc.Arbitrary<ReadParams> = fc.record(
  {
    from_seq: fc.integer({ min: 1, max: head + 3 }),
    limit: fc.integer({ min: 1, max: head + 3 }),
    types: fc.subarray(TYPES, { minLength: 1 }),
    stream: fc.oneof(fc.constantFrom(...STREAMS), unicodeText),
  },
  { requiredKeys: [] },
);

const invalid: fc.Arbitrary<Req> = fc.oneof(
  fc.constantFrom(0, -1, 10_001, 1.5, '3', true).map((v) => ({ kind: 'invalid' as const, method: 'events.read', params: { limit: v }, field: 'limit' })),
  fc.constantFrom(0, -5, 'x', 2.5).map((v) => ({ kind: 'invalid' as const, method: 'events.read', params: { from_seq: v }, field: 'from_seq' })),
  fc.constantFrom('x', 1).map((v) => ({ kind: 'invalid' as const, method: 'events.read', params: { types: v }, field: 'types' })),
  fc.constant({ kind: 'invalid' as const, method: 'events.read', params: { types: [1, 2] }, field: 'types[0]' }),
  unicodeText.map((k) => ({ kind: 'invalid' as const, method: 'events.read', params: { [`bogus${k}`]: 1 }, field: `bogus${k}` })),
  unicodeText.map((k) => ({ kind: 'invalid' as const, method: 'daemon.status', params: { [k]: k }, field: k })),
  fc.constant({ kind: 'invalid' as const, method: 'events.read', params: [1, 2], field: 'params' }),
);

const request: fc.Arbitrary<Req> = fc.oneof(
  fc.constant<Req>({ kind: 'status' }),
  fc.constant<Req>({ kind: 'methods' }),
  readParams.map((params): Req => ({ kind: 'read', params })),
  fc.record({ name: unicodeText, params: fc.option(fc.dictionary(unicodeText, unicodeText, { maxKeys: 2 }), { nil: undefined }) })
    .map(({ name, params }): Req => ({ kind: 'unknown', method: `nope.${name}`, ...(params === undefined ? {} : { params }) })),
  invalid,
);

const methodOf = (r: Req): string => (r.kind === 'status' ? 'daemon.status' : r.kind === 'methods' ? 'rpc.methods' : r.kind === 'read' ? 'events.read' : r.method);
const paramsOf = (r: Req): unknown => (r.kind === 'read' || r.kind === 'invalid' ? r.params : r.kind === 'unknown' ? r.params : r.kind === 'status' ? {} : undefined);

/** Ids are unique within a sequence: numbers, and strings with emoji in them. */
const idOf = (i: number, stringIds: boolean): string | number => (stringIds ? `r${i}-🎉` : i + 1);

function lineOf(r: Req, id: string | number): string {
  const params = paramsOf(r);
  return `${JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method: methodOf(r) } : { jsonrpc: '2.0', id, method: methodOf(r), params })}\n`;
}

function modelRead(p: ReadParams): EventLine[] {
  const from = p.from_seq ?? 1;
  const limit = p.limit ?? 1000;
  return allEvents
    .filter((e) => e.seq >= from && (p.types === undefined || p.types.includes(e.type)) && (p.stream === undefined || e.stream === p.stream))
    .slice(0, limit);
}

/** Checks one response against what the request must get; returns a description of the mismatch or undefined. */
function wrongAnswer(r: Req, m: RpcMessage | undefined): string | undefined {
  if (m === undefined) return 'no response';
  const err = m.error;
  switch (r.kind) {
    case 'status': {
      const s = m.result as Record<string, unknown> | undefined;
      return s?.['pid'] === pid && s['data_dir'] === dir ? undefined : `status ${JSON.stringify(m)}`;
    }
    case 'methods': {
      const names = m.result as string[] | undefined;
      return Array.isArray(names) && ['daemon.status', 'events.read', 'events.subscribe', 'events.unsubscribe', 'rpc.methods'].every((n) => names.includes(n))
        ? undefined : `methods ${JSON.stringify(m)}`;
    }
    case 'read': {
      const got = (m.result as { events?: EventLine[] } | undefined)?.events;
      const want = modelRead(r.params);
      return JSON.stringify(got) === JSON.stringify(want) ? undefined : `events.read ${JSON.stringify(r.params)} gave seqs ${JSON.stringify(got?.map((e) => e.seq))}, want ${JSON.stringify(want.map((e) => e.seq))}`;
    }
    case 'unknown':
      return err?.code === -32601 && err.data?.['code'] === 'E_METHOD_NOT_FOUND' && err.data['method'] === r.method ? undefined : `unknown method ${JSON.stringify(r.method)}: ${JSON.stringify(m)}`;
    case 'invalid':
      return err?.code === -32602 && err.data?.['field'] === r.field ? undefined : `invalid params ${JSON.stringify(r.params)}: want field ${JSON.stringify(r.field)}, got ${JSON.stringify(m)}`;
    default: {
      const never: never = r;
      return `unexpected ${JSON.stringify(never)}`;
    }
  }
}

/** Responses keyed by id (as JSON), volatile status fields removed. */
function byId(messages: RpcMessage[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of messages) {
    if (m.id === null || m.id === undefined) continue;
    const copy = structuredClone(m);
    const res = copy.result as Record<string, unknown> | undefined;
    if (res !== undefined && res !== null && typeof res === 'object' && 'uptime_s' in res) {
      delete res['uptime_s'];
      delete res['clients'];
    }
    out.set(JSON.stringify(m.id), JSON.stringify(copy));
  }
  return out;
}

type Pause = 'none' | 'immediate' | 'timer';

/** Sends `bytes` cut at `cuts` (byte offsets, so also inside multi-byte characters), pausing between pieces. */
async function sendChunked(c: NdjsonSocket, bytes: Buffer, cuts: number[], pause: Pause): Promise<void> {
  const points = [...new Set(cuts.map((x) => x % (bytes.length + 1)))].sort((a, b) => a - b);
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p <= at) continue;
    await c.write(bytes.subarray(at, p));
    at = p;
    if (pause === 'immediate') await new Promise((r) => setImmediate(r));
    else if (pause === 'timer') await sleep(1);
  }
}

async function exchange(bytes: Buffer, cuts: number[] = [], pause: Pause = 'none'): Promise<RpcMessage[]> {
  const c = await NdjsonSocket.open(socketPath);
  try {
    await sendChunked(c, bytes, cuts, pause);
    return await c.endAndCollect();
  } finally {
    c.destroy();
  }
}

const sequence = fc.record({ reqs: fc.array(request, { minLength: 1, maxLength: 10 }), stringIds: fc.boolean() });
const cutsArb = fc.array(fc.nat({ max: 1_000_000 }), { maxLength: 12 });
const pauseArb = fc.constantFrom<Pause>('none', 'immediate', 'timer');

/** Garbage: lines that are not JSON (text with emoji, or raw bytes that may not even be UTF-8). */
const garbageLine: fc.Arbitrary<Buffer> = fc.oneof(
  fc.tuple(fc.constantFrom('}', '{', 'nope ', '{"jsonrpc":"2.0",', '['), fc.array(fc.oneof(unicodeText, fc.string()), { maxLength: 4 }))
    .map(([p, rest]) => Buffer.from(p + rest.join(''), 'utf8')),
  fc.uint8Array({ minLength: 1, maxLength: 40 }).map((a) => Buffer.from(a)),
).map((b) => Buffer.from(b.toString('latin1').replace(/\n/g, ''), 'latin1'))
  .filter((b) => {
    let text = b.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (/^[ \t\r]*$/.test(text)) return false;
    try { JSON.parse(text); return false; } catch { return true; }
  });

// ---- properties ---------------------------------------------------------------------------------

t.test('any byte-wise chunking of a request stream gets the same, correct responses as sending it whole', async (t) => {
  await fc.assert(
    fc.asyncProperty(sequence, cutsArb, pauseArb, async ({ reqs, stringIds }, cuts, pause) => {
      const bytes = Buffer.from(reqs.map((r, i) => lineOf(r, idOf(i, stringIds))).join(''), 'utf8');
      const whole = await exchange(bytes);
      const chunked = await exchange(bytes, cuts, pause);
      const w = byId(whole);
      reqs.forEach((r, i) => {
        const id = idOf(i, stringIds);
        const m = whole.find((x) => x.id === id);
        const wrong = wrongAnswer(r, m);
        if (wrong !== undefined) throw new Error(`request ${i} (${methodOf(r)}): ${wrong}`);
      });
      if (whole.length !== reqs.length || chunked.length !== reqs.length) throw new Error(`${reqs.length} requests, ${whole.length} answers whole, ${chunked.length} chunked`);
      const c = byId(chunked);
      for (const [id, line] of w) if (c.get(id) !== line) throw new Error(`id ${id}: whole ${line}\nchunked ${String(c.get(id))}`);
    }),
    { numRuns: 400 },
  );
  t.pass('400 runs');
});

t.test('garbage lines get parse errors with id null and leave the answers around them unchanged', async (t) => {
  await fc.assert(
    fc.asyncProperty(sequence, fc.array(fc.tuple(fc.nat(), garbageLine), { minLength: 1, maxLength: 4 }), cutsArb, pauseArb, async ({ reqs, stringIds }, garbage, cuts, pause) => {
      const lines = reqs.map((r, i) => Buffer.from(lineOf(r, idOf(i, stringIds)), 'utf8'));
      const clean = await exchange(Buffer.concat(lines));
      const mixed = [...lines];
      for (const [at, g] of garbage) mixed.splice(at % (mixed.length + 1), 0, Buffer.concat([g, Buffer.from('\n')]));
      const dirty = await exchange(Buffer.concat(mixed), cuts, pause);
      const nulls = dirty.filter((m) => m.id === null);
      if (nulls.length !== garbage.length) throw new Error(`${garbage.length} garbage lines, ${nulls.length} id-null answers: ${JSON.stringify(nulls)}`);
      for (const m of nulls) {
        if (m.error?.code !== -32700 || m.error.data?.['code'] !== 'E_PARSE') throw new Error(`not a parse error: ${JSON.stringify(m)}`);
      }
      const a = byId(clean);
      const b = byId(dirty);
      if (a.size !== reqs.length || b.size !== reqs.length) throw new Error(`${reqs.length} requests, ${a.size} / ${b.size} answers`);
      for (const [id, line] of a) if (b.get(id) !== line) throw new Error(`id ${id}: clean ${line}\nwith garbage ${String(b.get(id))}`);
    }),
    { numRuns: 300 },
  );
  t.pass('300 runs');
});

t.test('disconnects at any point (mid-line, mid-request, with a subscription) never kill the daemon', async (t) => {
  const withSubscribe = fc.oneof(
    { weight: 4, arbitrary: request.map((r) => ({ r })) },
    { weight: 1, arbitrary: fc.constant({ r: null }) },
  );
  await fc.assert(
    fc.asyncProperty(fc.array(withSubscribe, { minLength: 1, maxLength: 8 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom('destroy', 'end'), cutsArb, async (items, where, how, cuts) => {
      const bytes = Buffer.from(items.map(({ r }, i) => (r === null
        ? `${JSON.stringify({ jsonrpc: '2.0', id: i, method: 'events.subscribe', params: { from_seq: 1 } })}\n`
        : lineOf(r, i))).join(''), 'utf8');
      const cut = Math.floor(where * bytes.length);
      const c = await NdjsonSocket.open(socketPath);
      await sendChunked(c, bytes.subarray(0, cut), cuts, 'none');
      if (how === 'destroy') c.destroy();
      else c.socket.end();
      if (!isRunning(pid)) throw new Error('the daemon died');
    }),
    { numRuns: 300 },
  );
  const c = await NdjsonSocket.open(socketPath);
  const r = await c.request('after', 'daemon.status', {});
  c.destroy();
  t.equal((r.result as { pid?: number } | undefined)?.pid, pid, 'the same daemon answers a new connection');
  const st = await h.cli(dir, ['daemon', 'status', '--json']);
  t.equal(st.code, 0, 'daemon status exits 0');
  t.equal((JSON.parse(st.stdout) as { pid: number }).pid, pid);
});

// ---- examples -----------------------------------------------------------------------------------

t.test('a line over 1 MiB is refused and the next request on the same connection is served', async (t) => {
  const c = await NdjsonSocket.open(socketPath);
  t.teardown(() => c.destroy());
  const prefix = '{"jsonrpc":"2.0","id":"big","method":"daemon.status","params":{"pad":"';
  const big = Buffer.from(`${prefix}${'x'.repeat(MAX_LINE + 10)}"}}\n`);
  for (let at = 0; at < big.length; at += 65_536) await c.write(big.subarray(at, at + 65_536));
  await c.write('{"jsonrpc":"2.0","id":"after","method":"rpc.methods"}\n');
  const after = await c.waitFor('the answer after the oversized line', (m) => m.id === 'after');
  t.ok(Array.isArray(after.result), 'the next request is served');
  const refused = c.messages.find((m) => m.id === null);
  t.equal(refused?.error?.code, -32600);
  t.equal(refused?.error?.data?.['code'], 'E_TOO_LARGE');
  t.equal(refused?.error?.data?.['limit'], MAX_LINE);
  t.notOk(c.messages.some((m) => m.id === 'big'), 'the oversized request is not run');
  t.ok(isRunning(pid));
});

t.test('a line of exactly 1 MiB is served and one byte more is refused', async (t) => {
  const c = await NdjsonSocket.open(socketPath);
  t.teardown(() => c.destroy());
  const padded = (id: string, size: number): string => {
    const head = `{"jsonrpc":"2.0","id":"${id}","method":"daemon.status","params":{"pad":"`;
    const tail = '"}}';
    return `${head}${'y'.repeat(size - head.length - tail.length)}${tail}\n`;
  };
  await c.write(padded('at-limit', MAX_LINE));
  await c.write(padded('over-limit', MAX_LINE + 1));
  await c.write('{"jsonrpc":"2.0","id":"next","method":"rpc.methods"}\n');
  await c.waitFor('the last answer', (m) => m.id === 'next');
  const atLimit = c.messages.find((m) => m.id === 'at-limit');
  t.equal(atLimit?.error?.code, -32602, 'the 1 MiB line is read and answered (pad is not a daemon.status field)');
  t.equal(atLimit?.error?.data?.['field'], 'pad');
  t.notOk(c.messages.some((m) => m.id === 'over-limit'));
  t.equal(c.messages.filter((m) => m.error?.data?.['code'] === 'E_TOO_LARGE').length, 1);
});

t.test('invalid params get -32602 with data.field naming the field', async (t) => {
  const c = await NdjsonSocket.open(socketPath);
  t.teardown(() => c.destroy());
  const cases: [string, unknown, string][] = [
    ['events.read', { limit: 0 }, 'limit'],
    ['events.read', { limit: 'ten' }, 'limit'],
    ['events.read', { from_seq: -1 }, 'from_seq'],
    ['events.read', { types: 'daemon.started' }, 'types'],
    ['events.read', { stream: 5 }, 'stream'],
    ['events.read', { limt: 5 }, 'limt'],
    ['events.read', ['positional'], 'params'],
    ['events.subscribe', { from_seq: 0 }, 'from_seq'],
    ['events.subscribe', { typo: true }, 'typo'],
    ['daemon.status', { verbose: true }, 'verbose'],
    ['daemon.shutdown', { keep_instances: 'yes' }, 'keep_instances'],
  ];
  for (const [i, [method, params, field]] of cases.entries()) {
    const r = await c.request(`inv-${i}`, method, params);
    t.equal(r.error?.code, -32602, `${method} ${JSON.stringify(params)}`);
    t.equal(r.error?.data?.['field'], field);
    t.equal(r.error?.data?.['code'], 'E_VALIDATION');
  }
  t.ok(isRunning(pid), 'an invalid daemon.shutdown does not stop the daemon');
});

// ---- subscriptions (these append events: they come last) ---------------------------------------

async function upsert(name: string): Promise<void> {
  const r = await h.cli(dir, ['profiles', 'upsert', name, '--request-json', join(dir, 'p.json')]);
  if (r.code !== 0) throw new Error(`profiles upsert ${name} failed: ${r.stderr}`);
}

const upsertedName = (m: RpcMessage): string | undefined =>
  m.method === 'events.event' ? ((m.params as { event?: EventLine }).event?.data['runtime_profile'] as string | undefined) : undefined;

t.test('events.subscribe streams events as they are appended, and events.unsubscribe stops them', async (t) => {
  const c = await NdjsonSocket.open(socketPath);
  t.teardown(() => c.destroy());
  const sub = await c.request('s', 'events.subscribe', { types: ['profile.upserted'] });
  const res = sub.result as { subscription: string; from_seq: number; head_seq: number };
  t.type(res.subscription, 'string');
  t.equal(res.from_seq, res.head_seq + 1, 'from the head on by default');

  await upsert('live-one');
  const note = await c.waitFor('the notification for live-one', (m) => upsertedName(m) === 'live-one');
  const p = note.params as { subscription: string; event: EventLine };
  t.equal(p.subscription, res.subscription);
  t.equal(p.event.type, 'profile.upserted');
  t.ok(p.event.seq > res.head_seq);
  t.ok(c.messages.filter((m) => m.method === 'events.event').every((m) => (m.params as { event: EventLine }).event.type === 'profile.upserted'), 'only the subscribed type');

  const un = await c.request('u', 'events.unsubscribe', { subscription: res.subscription });
  t.same(un.result, { unsubscribed: res.subscription });
  await upsert('after-unsubscribe');
  // The daemon writes a notification before it answers the command that appended the event, so a
  // request answered after the upsert returned would come after any notification for it.
  await c.request('fence', 'rpc.methods');
  t.notOk(c.messages.some((m) => upsertedName(m) === 'after-unsubscribe'), 'no notification after unsubscribe');

  const again = await c.request('u2', 'events.unsubscribe', { subscription: res.subscription });
  t.equal(again.error?.data?.['code'], 'E_NOT_FOUND', 'a second unsubscribe finds nothing');
  t.equal(again.error?.data?.['field'], 'subscription');
});

t.test('events.subscribe from seq 1 replays the log in order, then goes live', async (t) => {
  const c = await NdjsonSocket.open(socketPath);
  t.teardown(() => c.destroy());
  const sub = await c.request('s', 'events.subscribe', { from_seq: 1 });
  const now = (sub.result as { head_seq: number }).head_seq;
  await c.waitFor(`the catch-up up to seq ${now}`, (m) => m.method === 'events.event' && (m.params as { event: EventLine }).event.seq === now);
  await upsert('after-catch-up');
  await c.waitFor('the live event', (m) => upsertedName(m) === 'after-catch-up');
  const seqs = c.messages.filter((m) => m.method === 'events.event').map((m) => (m.params as { event: EventLine }).event.seq);
  t.same(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), 'every seq once, in order, no gap between catch-up and live');
  t.ok(seqs.length > now);
});

t.test('events.unsubscribe from another connection leaves the subscription running', async (t) => {
  const a = await NdjsonSocket.open(socketPath);
  const b = await NdjsonSocket.open(socketPath);
  t.teardown(() => { a.destroy(); b.destroy(); });
  const sub = await a.request('s', 'events.subscribe', {});
  const id = (sub.result as { subscription: string }).subscription;
  const r = await b.request('u', 'events.unsubscribe', { subscription: id });
  t.equal(r.error?.data?.['code'], 'E_NOT_FOUND', 'only the connection that subscribed can unsubscribe');
  await upsert('still-subscribed');
  await a.waitFor('the notification on the subscribing connection', (m) => upsertedName(m) === 'still-subscribed');
  t.pass('the subscription survives');
});

t.test('a status right after a change gives the log size with that change in it, not one from before', async (t) => {
  const c = await NdjsonSocket.open(socketPath);
  t.teardown(() => c.destroy());
  const before = (await c.request('s1', 'daemon.status')).result as { last_seq: number; log_bytes: number };
  const changed = await c.request('u', 'profiles.upsert', { runtime_profile: 'size-check', request: JSON.parse(PROFILE) as unknown });
  t.equal(changed.error, undefined, 'the change is acknowledged');
  const after = (await c.request('s2', 'daemon.status')).result as { last_seq: number; log_bytes: number };
  t.ok(after.last_seq > before.last_seq, 'the change is in the log');
  t.equal(after.log_bytes, statSync(join(dir, 'events.jsonl')).size, 'log_bytes is the size of the log that holds it');
});
