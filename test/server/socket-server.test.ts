import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { createDispatcher, type MethodTable } from '../../src/server/rpc-dispatch.js';
import { startSocketServer, type SocketServerOptions } from '../../src/server/socket-server.js';

// ---------------------------------------------------------------- fixtures

interface Teardown {
  teardown(fn: () => unknown): void;
}

function tempDir(t: Teardown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arpd-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface StreamRun {
  accepted: number;
  stopped: Promise<unknown>;
}

/** A method table for transport tests; `log` records what the handlers saw. */
function testMethods() {
  const log = {
    aborted: [] as unknown[],
    closed: [] as string[],
    hanging: 0,
    streams: [] as StreamRun[],
    gates: new Map<string, () => void>(),
  };
  const gate = (name: string): Promise<void> =>
    new Promise<void>((resolve) => {
      log.gates.set(name, resolve);
    });
  const methods: MethodTable = {
    echo: { handler: (params) => params, idempotent: true },
    fail: {
      handler: (params) => {
        throw new ArpdError('E_NOT_FOUND', "profile 'p' does not exist: list profiles with 'arpd profiles list'", { asked: params ?? null });
      },
    },
    boom: {
      handler: () => {
        throw new Error('plain failure');
      },
    },
    /** Answers after `ms`, whatever happens to the connection (a short piece of work that ignores the signal). */
    sleep: {
      handler: (params) =>
        new Promise((resolve) => {
          const ms = (params as { ms: number }).ms;
          setTimeout(() => resolve({ slept: ms }), ms);
        }),
    },
    /** Never answers until the connection closes; counts how many were started and aborted. */
    hang: {
      handler: (_params, ctx) => {
        log.hanging += 1;
        ctx.onClose(() => log.closed.push(ctx.connectionId));
        return new Promise((_resolve, reject) => {
          ctx.signal.addEventListener('abort', () => {
            log.aborted.push(ctx.signal.reason);
            reject(ctx.signal.reason);
          });
        });
      },
    },
    wait: { handler: async (params) => gate((params as { gate: string }).gate).then(() => 'opened') },
    release: {
      handler: (params) => {
        const name = (params as { gate: string }).gate;
        log.gates.get(name)?.();
        return 'released';
      },
    },
    /** Sends `count` notifications (forever without count), a batch per event-loop turn, until refused. */
    stream: {
      handler: (params, ctx) => {
        const { count, size } = params as { count?: number; size?: number };
        const payload = 'x'.repeat(size ?? 16);
        let finish: (v: unknown) => void = () => {};
        const run: StreamRun = { accepted: 0, stopped: new Promise((resolve) => (finish = resolve)) };
        log.streams.push(run);
        const step = (): void => {
          for (let i = 0; i < 64; i += 1) {
            if (count !== undefined && run.accepted >= count) return finish('done');
            if (!ctx.notify('tick', { n: run.accepted, payload })) return finish(ctx.signal.reason);
            run.accepted += 1;
          }
          setImmediate(step);
        };
        setImmediate(step);
        return { started: true };
      },
    },
  };
  return { methods, log };
}

async function startTestServer(t: Teardown, socketPath: string, extra: Partial<SocketServerOptions> = {}) {
  const { methods, log } = testMethods();
  const internalErrors: unknown[] = [];
  const dispatcher = createDispatcher(methods, { onInternalError: () => {} });
  const server = await startSocketServer({
    socketPath,
    dispatcher,
    onInternalError: (err) => internalErrors.push(err),
    ...extra,
  });
  t.teardown(() => server.close());
  return { server, log, internalErrors };
}

/** Writes the chunks one by one (each reaches the kernel before the next), half-closes, and returns every line received. */
async function exchange(socketPath: string, chunks: readonly Uint8Array[]): Promise<string[]> {
  const socket = net.createConnection(socketPath);
  await once(socket, 'connect');
  const received: Buffer[] = [];
  socket.on('data', (c: Buffer) => received.push(c));
  const closed = once(socket, 'close');
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    await new Promise<void>((resolve, reject) => socket.write(chunk, (err) => (err ? reject(err) : resolve())));
    await tick();
  }
  socket.end();
  await closed;
  return Buffer.concat(received)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '');
}

/** A raw line-oriented client for step-by-step conversations. */
class LineClient {
  readonly lines: string[] = [];
  private buffered = '';
  private waiters: (() => void)[] = [];
  readonly closed: Promise<unknown>;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => {
      const parts = (this.buffered + text).split('\n');
      this.buffered = parts.pop() ?? '';
      this.lines.push(...parts.filter((l) => l !== ''));
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    this.closed = once(socket, 'close');
  }

  static async open(socketPath: string): Promise<LineClient> {
    const socket = net.createConnection(socketPath);
    await once(socket, 'connect');
    return new LineClient(socket);
  }

  send(message: unknown): void {
    this.socket.write(`${typeof message === 'string' ? message : JSON.stringify(message)}\n`);
  }

  /** Waits until `n` lines have arrived; returns them parsed. */
  async receive(n: number): Promise<unknown[]> {
    while (this.lines.length < n) await new Promise<void>((resolve) => this.waiters.push(resolve));
    return this.lines.slice(0, n).map((l) => JSON.parse(l) as unknown);
  }
}

function splitAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const offsets = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const at of offsets) {
    chunks.push(bytes.subarray(from, at));
    from = at;
  }
  chunks.push(bytes.subarray(from));
  return chunks;
}

/** Polls (each event-loop turn) until `cond` holds; the tap timeout bounds it. */
async function eventually(cond: () => boolean): Promise<void> {
  while (!cond()) await new Promise((resolve) => setTimeout(resolve, 5));
}

/** The id of a response line, as a map key. */
function idKey(line: string): string {
  const msg = JSON.parse(line) as { id?: unknown };
  return JSON.stringify(msg.id ?? null);
}

const text = fc.string({
  unit: fc.oneof(
    { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 4 },
    { arbitrary: fc.constantFrom('😀', '\u2028', 'é', '€', '\r', '\n', '"', '\\'), weight: 1 },
  ),
  maxLength: 24,
});

/** A valid request (or notification) as the object to send. `n` makes ids unique within a run. */
const requestAt = (n: number) =>
  fc.oneof(
    fc.record({ method: fc.constant('echo'), params: fc.dictionary(text, text, { maxKeys: 3 }) }),
    fc.record({ method: fc.constant('echo'), params: fc.array(fc.oneof(text, fc.integer(), fc.boolean()), { maxLength: 4 }) }),
    fc.record({ method: fc.constantFrom('fail', 'boom', 'nope'), params: fc.constant({ n }) }),
    fc.constant({ method: 'sleep', params: { ms: n % 3 } }),
  ).chain((body) =>
    fc.oneof(
      { arbitrary: fc.constantFrom({ jsonrpc: '2.0', id: n, ...body }, { jsonrpc: '2.0', id: `r-${n}-é`, ...body }), weight: 5 },
      { arbitrary: fc.constant({ jsonrpc: '2.0', ...body }), weight: 1 },
    ),
  );

const requests = fc.integer({ min: 1, max: 8 }).chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => requestAt(i + 1))));

function expectedIds(reqs: readonly Record<string, unknown>[]): string[] {
  return reqs.filter((r) => Object.hasOwn(r, 'id')).map((r) => JSON.stringify(r.id)).sort();
}

function asMap(lines: string[]): Map<string, string> {
  return new Map(lines.map((l) => [idKey(l), l]));
}

// ---------------------------------------------------------------- properties on one server

t.test('over one server', async (t) => {
  const dir = tempDir(t);
  const { server, internalErrors } = await startTestServer(t, path.join(dir, 's.sock'));

  await t.test('answers any request stream split at any byte offsets the same as sent whole', async (t) => {
    await fc.assert(
      fc.asyncProperty(requests, fc.array(fc.nat(), { maxLength: 12 }), async (reqs, cuts) => {
        const bytes = Buffer.from(reqs.map((r) => `${JSON.stringify(r)}\n`).join(''), 'utf8');
        const whole = await exchange(server.path, [bytes]);
        const split = await exchange(server.path, splitAt(bytes, cuts));
        assert.deepEqual([...asMap(whole).keys()].sort(), expectedIds(reqs));
        assert.equal(split.length, whole.length);
        assert.deepEqual(asMap(split), asMap(whole));
      }),
      { numRuns: 1000 },
    );
    t.pass('holds for 1000 runs');
  });

  await t.test('answers garbage lines with parse errors and the valid requests as without them', async (t) => {
    const garbage = fc
      .string({ unit: 'binary', minLength: 1, maxLength: 30 })
      .map((s) => s.replaceAll('\n', ' '))
      .filter((s) => {
        const line = s.endsWith('\r') ? s.slice(0, -1) : s;
        if (/^[ \t\r]*$/.test(line)) return false;
        try {
          JSON.parse(line);
          return false;
        } catch {
          return true;
        }
      });
    await fc.assert(
      fc.asyncProperty(
        requests,
        fc.array(fc.tuple(fc.nat(), garbage), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        async (reqs, junk, cuts) => {
          const clean = reqs.map((r) => JSON.stringify(r));
          const mixed = [...clean];
          for (const [at, g] of junk) mixed.splice(at % (mixed.length + 1), 0, g);
          const reference = await exchange(server.path, [Buffer.from(clean.map((l) => `${l}\n`).join(''))]);
          const got = await exchange(server.path, splitAt(Buffer.from(mixed.map((l) => `${l}\n`).join('')), cuts));
          const parseErrors = got.filter((l) => {
            const m = JSON.parse(l) as { id: unknown; error?: { code: number; data: { code: string } } };
            return m.id === null && m.error?.code === -32700 && m.error.data.code === 'E_PARSE';
          });
          assert.equal(parseErrors.length, junk.length);
          assert.deepEqual(asMap(got.filter((l) => !parseErrors.includes(l))), asMap(reference));
        },
      ),
      { numRuns: 300 },
    );
    t.pass('holds for 300 runs');
  });

  await t.test('refuses an oversized line and serves the next request on the same connection', async (t) => {
    const big = `{"jsonrpc":"2.0","id":1,"method":"echo","params":["${'a'.repeat(1024 * 1024)}"]}\n`;
    const next = '{"jsonrpc":"2.0","id":2,"method":"echo","params":["after"]}\n';
    const lines = await exchange(server.path, splitAt(Buffer.from(big + next), [1000, 500_000, 1_048_590]));
    t.equal(lines.length, 2);
    t.match(JSON.parse(lines[0] ?? ''), {
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: /over the 1048576-byte limit/, data: { code: 'E_TOO_LARGE', limit: 1048576 } },
    });
    t.same(JSON.parse(lines[1] ?? ''), { jsonrpc: '2.0', id: 2, result: ['after'] });
  });

  await t.test('refuses a 5 MiB line sent in small writes and goes on', async (t) => {
    const client = await LineClient.open(server.path);
    const piece = Buffer.alloc(64 * 1024, 'b');
    for (let i = 0; i < 80; i += 1) client.socket.write(piece);
    client.socket.write('\n');
    client.send({ jsonrpc: '2.0', id: 'next', method: 'echo', params: { ok: true } });
    const [first, second] = await client.receive(2);
    t.match(first, { id: null, error: { data: { code: 'E_TOO_LARGE' } } });
    t.same(second, { jsonrpc: '2.0', id: 'next', result: { ok: true } });
    client.socket.end();
    await client.closed;
  });

  await t.test('survives random disconnects mid-line and mid-request, and a fresh client is answered after each', async (t) => {
    await fc.assert(
      fc.asyncProperty(
        requests,
        fc.nat(),
        fc.constantFrom('destroy-now', 'destroy-after-first-answer', 'end-mid-line'),
        fc.boolean(),
        async (reqs, cutAt, how, withHang) => {
          const lines = reqs.map((r) => JSON.stringify(r));
          if (withHang) lines.unshift('{"jsonrpc":"2.0","id":"h","method":"hang"}');
          const bytes = Buffer.from(lines.map((l) => `${l}\n`).join(''));
          const prefix = bytes.subarray(0, cutAt % (bytes.length + 1));
          const client = await LineClient.open(server.path);
          client.socket.write(prefix);
          if (how === 'destroy-after-first-answer' && expectedIds(reqs).length > 0 && prefix.length === bytes.length) {
            await client.receive(1);
          }
          if (how === 'end-mid-line') client.socket.end();
          else client.socket.destroy();
          await client.closed;
          const fresh = await exchange(server.path, [Buffer.from('{"jsonrpc":"2.0","id":"alive","method":"echo","params":[1]}\n')]);
          assert.deepEqual(fresh, ['{"jsonrpc":"2.0","id":"alive","result":[1]}']);
        },
      ),
      { numRuns: 300 },
    );
    await eventually(() => server.connections() === 0);
    t.same(internalErrors, [], 'no internal error on the server');
  });

  await t.test('aborts the signal and runs onClose callbacks of requests in flight when the client goes away', async (t) => {
    const dir2 = tempDir(t);
    const { server: s2, log: log2 } = await startTestServer(t, path.join(dir2, 's.sock'));
    const client = await LineClient.open(s2.path);
    client.send({ jsonrpc: '2.0', id: 1, method: 'hang' });
    client.send({ jsonrpc: '2.0', id: 2, method: 'hang' });
    await eventually(() => log2.hanging === 2);
    client.socket.destroy();
    await eventually(() => log2.aborted.length === 2 && log2.closed.length === 2);
    t.match(log2.aborted, [{ code: 'E_CANCELED' }, { code: 'E_CANCELED' }]);
    await eventually(() => s2.connections() === 0);
  });

  await t.test('answers a slow call after a fast one sent later on the same connection', async (t) => {
    const client = await LineClient.open(server.path);
    client.send({ jsonrpc: '2.0', id: 'slow', method: 'wait', params: { gate: 'g1' } });
    client.send({ jsonrpc: '2.0', id: 'fast', method: 'echo', params: ['quick'] });
    const [first] = await client.receive(1);
    t.same(first, { jsonrpc: '2.0', id: 'fast', result: ['quick'] });
    client.send({ jsonrpc: '2.0', id: 'rel', method: 'release', params: { gate: 'g1' } });
    const all = await client.receive(3);
    t.same(new Set(all.slice(1).map((m) => (m as { id: string }).id)), new Set(['slow', 'rel']));
    t.same(all.find((m) => (m as { id: string }).id === 'slow'), { jsonrpc: '2.0', id: 'slow', result: 'opened' });
    client.socket.end();
    await client.closed;
  });

  await t.test('delivers the notifications a method sends to its own connection only', async (t) => {
    const a = await LineClient.open(server.path);
    const b = await LineClient.open(server.path);
    a.send({ jsonrpc: '2.0', id: 1, method: 'stream', params: { count: 5 } });
    const got = await a.receive(6);
    t.same(got[0], { jsonrpc: '2.0', id: 1, result: { started: true } });
    t.same(
      got.slice(1).map((m) => (m as { params: { n: number } }).params.n),
      [0, 1, 2, 3, 4],
    );
    t.match(got[1], { jsonrpc: '2.0', method: 'tick' });
    t.notOk(Object.hasOwn(got[1] as object, 'id'));
    b.send({ jsonrpc: '2.0', id: 'b', method: 'echo', params: [] });
    t.same(await b.receive(1), [{ jsonrpc: '2.0', id: 'b', result: [] }]);
    t.equal(b.lines.length, 1);
    a.socket.end();
    b.socket.end();
    await Promise.all([a.closed, b.closed]);
  });

  t.same(internalErrors, [], 'no internal error on the server');
});

// ---------------------------------------------------------------- the socket file

t.test('creates the socket 0600 in a new directory made 0700, and restores the umask', async (t) => {
  const dir = tempDir(t);
  const socketPath = path.join(dir, 'run', 'arpd.sock');
  const umaskBefore = process.umask();
  const { server } = await startTestServer(t, socketPath);
  t.equal(process.umask(), umaskBefore);
  const st = fs.statSync(socketPath);
  t.ok(st.isSocket());
  t.equal((st.mode & 0o777).toString(8), '600');
  t.equal((fs.statSync(path.dirname(socketPath)).mode & 0o777).toString(8), '700');
  t.equal(server.path, socketPath);
});

t.test('refuses a socket path over 107 bytes with a message that says what to do', async (t) => {
  const dir = tempDir(t);
  const socketPath = path.join(dir, `${'s'.repeat(120 - dir.length)}.sock`);
  await t.rejects(startTestServer(t, socketPath), {
    name: 'ArpdError',
    code: 'E_VALIDATION',
    message: `socket path is ${Buffer.byteLength(socketPath)} bytes, over the 107-byte limit for Unix sockets: use --socket with a shorter path`,
  });
  t.notOk(fs.existsSync(socketPath));
});

t.test('refuses a socket directory that other users can write', async (t) => {
  const dir = tempDir(t);
  const open = path.join(dir, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  await t.rejects(startTestServer(t, path.join(open, 's.sock')), { code: 'E_VALIDATION', message: /writable by other users.*chmod 700/ });
});

t.test('refuses a path whose socket is in use with E_UNAVAILABLE and leaves it alone', async (t) => {
  const dir = tempDir(t);
  const socketPath = path.join(dir, 's.sock');
  const { server } = await startTestServer(t, socketPath);
  await t.rejects(startTestServer(t, socketPath), { code: 'E_UNAVAILABLE', message: /is in use/ });
  t.same(await exchange(server.path, [Buffer.from('{"jsonrpc":"2.0","id":1,"method":"echo","params":[]}\n')]), [
    '{"jsonrpc":"2.0","id":1,"result":[]}',
  ]);
});

t.test('close answers the requests in flight, ends connections and removes the socket file', async (t) => {
  const dir = tempDir(t);
  const socketPath = path.join(dir, 's.sock');
  const { server, log } = await startTestServer(t, socketPath);
  const client = await LineClient.open(socketPath);
  client.send({ jsonrpc: '2.0', id: 1, method: 'hang' });
  await eventually(() => log.hanging === 1);
  await server.close();
  t.notOk(fs.existsSync(socketPath));
  t.equal(server.connections(), 0);
  await client.closed;
  t.match(await client.receive(1), [{ id: 1, error: { data: { code: 'E_UNAVAILABLE' } } }]);
});

// ---------------------------------------------------------------- slow consumers

t.test('drops a reader that falls behind with one rpc.dropped notice, and serves the others', async (t) => {
  const dir = tempDir(t);
  const limit = 256 * 1024;
  const { server, log, internalErrors } = await startTestServer(t, path.join(dir, 's.sock'), { maxQueuedBytesPerConnection: limit });
  const slow = await LineClient.open(server.path);
  slow.socket.pause();
  slow.send({ jsonrpc: '2.0', id: 1, method: 'stream', params: { size: 1000 } });
  await eventually(() => log.streams.length === 1);
  const run = log.streams[0] as StreamRun;
  t.match(await run.stopped, { code: 'E_SLOW_CONSUMER' }, 'the producer is told to stop');
  const other = await exchange(server.path, [Buffer.from('{"jsonrpc":"2.0","id":"o","method":"echo","params":[]}\n')]);
  t.same(other, ['{"jsonrpc":"2.0","id":"o","result":[]}']);
  slow.socket.resume();
  await slow.closed;
  const messages = slow.lines.map((l) => JSON.parse(l) as { method?: string; id?: unknown; params?: { n?: number } });
  const ticks = messages.filter((m) => m.method === 'tick');
  t.equal(ticks.length, run.accepted, 'every notification accepted before the drop arrives, in order');
  t.same(
    ticks.map((m) => m.params?.n),
    Array.from({ length: run.accepted }, (_, i) => i),
  );
  t.match(messages.at(-1), { jsonrpc: '2.0', method: 'rpc.dropped', params: { code: 'E_SLOW_CONSUMER', message: /fell more than 262144 bytes behind/ } });
  const received = slow.lines.reduce((sum, l) => sum + Buffer.byteLength(l) + 1, 0);
  t.ok(received < limit + 16 * 1024 * 1024, `bounded output: ${received} bytes`);
  await eventually(() => server.connections() === 0);
  t.same(internalErrors, []);
});

t.test('destroys a dropped reader that never reads once the grace time is over', async (t) => {
  const dir = tempDir(t);
  const { server, log } = await startTestServer(t, path.join(dir, 's.sock'), { maxQueuedBytesPerConnection: 64 * 1024, endGraceMs: 20 });
  const slow = await LineClient.open(server.path);
  slow.socket.pause();
  slow.send({ jsonrpc: '2.0', id: 1, method: 'stream', params: { size: 4000 } });
  await eventually(() => log.streams.length === 1);
  await (log.streams[0] as StreamRun).stopped;
  // The client reads nothing, so only the server can notice: it destroys the connection.
  await eventually(() => server.connections() === 0);
  slow.socket.resume();
  await slow.closed;
  t.notOk(slow.lines.length * 4000 > 64 * 1024 + 16 * 1024 * 1024, 'bounded output');
});

t.test('pauses reading from a client that does not read its answers, and catches up when it does', async (t) => {
  const dir = tempDir(t);
  const { server } = await startTestServer(t, path.join(dir, 's.sock'), { maxQueuedBytesPerConnection: 64 * 1024 });
  const client = await LineClient.open(server.path);
  client.socket.pause();
  const payload = 'p'.repeat(2000);
  const n = 400;
  for (let i = 0; i < n; i += 1) client.send({ jsonrpc: '2.0', id: i, method: 'echo', params: [payload] });
  client.socket.resume();
  const all = await client.receive(n);
  t.same(new Set(all.map((m) => (m as { id: number }).id)).size, n, 'every request is answered');
  client.socket.end();
  await client.closed;
});
