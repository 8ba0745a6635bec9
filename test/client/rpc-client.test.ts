import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { callOnce, connect, type RpcNotification } from '../../src/client/rpc-client.js';
import { ArpdError } from '../../src/errors/index.js';
import { ERROR_CODES, type ErrorCode } from '../../src/errors/index.js';
import { createDispatcher, type MethodTable } from '../../src/server/rpc-dispatch.js';
import { startSocketServer, type SocketServerOptions } from '../../src/server/socket-server.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

function tempDir(t: Teardown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'arpd-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `answering`: 'hang' and 'stuck' answer at once (the daemon after a restart, in the restart tests). */
function testMethods(answering = false) {
  const calls: Record<string, number> = {};
  const count = (name: string): void => {
    calls[name] = (calls[name] ?? 0) + 1;
  };
  const gates = new Map<string, () => void>();
  const methods: MethodTable = {
    echo: {
      handler: (params) => {
        count('echo');
        return params;
      },
    },
    fail: {
      handler: (params) => {
        const { code, message, data } = params as { code: ErrorCode; message: string; data?: Record<string, unknown> };
        throw new ArpdError(code, message, data);
      },
    },
    boom: {
      handler: () => {
        throw new Error('plain failure with a secret');
      },
    },
    /** Answers only when the connection closes or the server shuts down (with the abort reason). */
    hang: {
      handler: (_params, ctx) => {
        count('hang');
        if (answering) return 'answered';
        return new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason)));
      },
    },
    /** Never answers, whatever happens: the connection has to be cut. */
    stuck: {
      handler: () => {
        count('stuck');
        if (answering) return 'answered';
        return new Promise(() => {});
      },
    },
    wait: {
      handler: (params) => new Promise((resolve) => gates.set((params as { gate: string }).gate, () => resolve('opened'))),
    },
    release: {
      handler: (params) => {
        gates.get((params as { gate: string }).gate)?.();
        return 'released';
      },
    },
    stream: {
      handler: (params, ctx) => {
        const n = (params as { count: number }).count;
        setImmediate(() => {
          for (let i = 0; i < n; i += 1) ctx.notify('tick', { n: i });
          ctx.notify('other', { last: true });
        });
        return { started: true };
      },
    },
  };
  return { methods, calls };
}

async function startTestServer(socketPath: string, extra: Partial<SocketServerOptions> = {}, answering = false) {
  const { methods, calls } = testMethods(answering);
  const server = await startSocketServer({ socketPath, dispatcher: createDispatcher(methods, { onInternalError: () => {} }), ...extra });
  return { server, calls };
}

async function setup(t: Teardown, extra: Partial<SocketServerOptions> = {}) {
  const socketPath = path.join(tempDir(t), 's.sock');
  const started = await startTestServer(socketPath, extra);
  t.teardown(() => started.server.close());
  return { socketPath, ...started };
}

t.test('calls a method and gets its result', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  t.same(await client.call('echo', { a: 1, s: 'é😀\u2028' }), { a: 1, s: 'é😀\u2028' });
  t.same(await client.call('echo', [1, null]), [1, null]);
  t.same(await client.call<string[]>('rpc.methods'), ['boom', 'echo', 'fail', 'hang', 'release', 'rpc.methods', 'stream', 'stuck', 'wait']);
});

t.test('round-trips any JSON params through echo', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  await fc.assert(
    fc.asyncProperty(fc.oneof(fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()), fc.array(fc.jsonValue())), async (params) => {
      const normal = JSON.parse(JSON.stringify(params)) as unknown;
      assert.deepEqual(await client.call('echo', params), normal);
    }),
    { numRuns: 300 },
  );
  t.pass('holds for 300 runs');
});

t.test('rebuilds every ArpdError with its code, message and data', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...codes),
      fc.string({ minLength: 1 }),
      fc.option(fc.dictionary(fc.string().filter((k) => k !== 'code' && k !== '__proto__'), fc.jsonValue(), { minKeys: 1 }), { nil: undefined }),
      async (code, message, data) => {
        const params = data === undefined ? { code, message } : { code, message, data };
        const err = await client.call('fail', params).then(
          () => assert.fail('the call resolved'),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ArpdError);
        assert.equal(err.code, code);
        assert.equal(err.message, message);
        assert.deepEqual(err.data, data === undefined ? undefined : JSON.parse(JSON.stringify(data)));
        assert.equal(err.exitCode, ERROR_CODES[code].exit);
      },
    ),
    { numRuns: 200 },
  );
  t.pass('holds for 200 runs');
});

t.test('gets E_INTERNAL with a short message for an unexpected failure, and E_METHOD_NOT_FOUND for an unknown method', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  await t.rejects(client.call('boom'), { name: 'ArpdError', code: 'E_INTERNAL', message: 'internal error: see the daemon log for details' });
  await t.rejects(client.call('nope'), { name: 'ArpdError', code: 'E_METHOD_NOT_FOUND', data: { method: 'nope' } });
});

t.test('times out with E_TIMEOUT and goes on serving later calls', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  await t.rejects(client.call('hang', undefined, { timeoutMs: 30 }), { name: 'ArpdError', code: 'E_TIMEOUT', message: /'hang' got no answer within 30 ms/ });
  t.same(await client.call('echo', ['still here']), ['still here']);
});

t.test('a time-limit error names the SDK option to raise, or the hint its caller gave (the CLI names --timeout)', async (t) => {
  const { socketPath } = await setup(t);
  const sdk = await connect(socketPath);
  t.teardown(() => sdk.close());
  const sdkErr = await sdk.call('hang', undefined, { timeoutMs: 30 }).then(() => undefined, (e: unknown) => e);
  t.match(sdkErr, { code: 'E_TIMEOUT', message: /allow more time with the timeoutMs option \(of connect\(\) or of the call\)$/ });
  t.notMatch((sdkErr as Error).message, /--timeout/, 'an SDK caller is not told of a CLI flag');
  const cli = await connect(socketPath, { timeoutHint: '--timeout <seconds>' });
  t.teardown(() => cli.close());
  const cliErr = await cli.call('hang', undefined, { timeoutMs: 30 }).then(() => undefined, (e: unknown) => e);
  t.match(cliErr, { code: 'E_TIMEOUT', message: /allow more time with --timeout <seconds>$/ });
});

t.test('cancels a call with E_CANCELED when its signal aborts', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  const ac = new AbortController();
  const call = client.call('hang', undefined, { signal: ac.signal });
  ac.abort();
  await t.rejects(call, { code: 'E_CANCELED' });
});

t.test('matches answers that come out of order to their calls', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  const slow = client.call('wait', { gate: 'g' });
  t.same(await client.call('echo', ['fast']), ['fast']);
  t.equal(await client.call('release', { gate: 'g' }), 'released');
  t.equal(await slow, 'opened');
});

t.test('gives E_DAEMON_NOT_RUNNING, saying how to start it, when nothing listens on the socket', async (t) => {
  const dir = tempDir(t);
  const missing = path.join(dir, 'none.sock');
  await t.rejects(connect(missing), {
    name: 'ArpdError',
    code: 'E_DAEMON_NOT_RUNNING',
    message: `no arpd daemon is running on '${missing}': start it with 'arpd daemon start'`,
  });
  const notASocket = path.join(dir, 'file.sock');
  fs.writeFileSync(notASocket, '');
  await t.rejects(connect(notASocket), { code: 'E_DAEMON_NOT_RUNNING' });
  await t.rejects(callOnce(missing, 'echo', []), { code: 'E_DAEMON_NOT_RUNNING' });
});

t.test('refuses a socket path over 107 bytes', async (t) => {
  await t.rejects(connect(`/tmp/${'x'.repeat(120)}.sock`), { code: 'E_VALIDATION', message: /over the 107-byte limit/ });
});

t.test('delivers server notifications to onAnyNotification and to onNotification', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  const ticks: unknown[] = [];
  const stop = client.onNotification('tick', (params) => ticks.push(params));
  const all = new Promise<RpcNotification[]>((resolve) => {
    const seen: RpcNotification[] = [];
    const off = client.onAnyNotification((n) => {
      seen.push(n);
      if (seen.length === 4) { off(); resolve(seen); }
    });
  });
  const last = new Promise<unknown>((resolve) => client.onNotification('other', resolve));
  t.same(await client.call('stream', { count: 3 }), { started: true });
  t.same(await all, [
    { method: 'tick', params: { n: 0 } },
    { method: 'tick', params: { n: 1 } },
    { method: 'tick', params: { n: 2 } },
    { method: 'other', params: { last: true } },
  ] satisfies RpcNotification[]);
  t.same(await last, { last: true });
  t.same(ticks, [{ n: 0 }, { n: 1 }, { n: 2 }]);
  stop();
  const secondLast = new Promise<unknown>((resolve) => client.onNotification('other', resolve));
  await client.call('stream', { count: 2 });
  await secondLast;
  t.equal(ticks.length, 3, 'a stopped listener gets nothing more');
});

t.test('close rejects waiting calls with E_CANCELED and calls no listener after it', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  const pending = t.rejects(client.call('hang'), { code: 'E_CANCELED' });
  const lost: ArpdError[] = [];
  client.onDisconnect((e) => lost.push(e));
  await client.close();
  await pending;
  t.same(lost, [], 'closing is not losing the connection');
  await t.rejects(client.call('echo', []), { code: 'E_UNAVAILABLE', message: /client is closed/ });
});

t.test('callOnce connects, calls and closes', async (t) => {
  const { socketPath, server } = await setup(t);
  t.same(await callOnce(socketPath, 'echo', { once: true }), { once: true });
  await t.rejects(callOnce(socketPath, 'fail', { code: 'E_NOT_FOUND', message: 'gone' }), { code: 'E_NOT_FOUND', message: 'gone' });
  while (server.connections() > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(server.connections(), 0);
});

// ---------------------------------------------------------------- lost connections and restarts

/**
 * Starts server A, makes a call on it that A never answers, then stops A (cutting the connection
 * after a short grace) and starts server B on the same path.
 */
async function restartDuringCall(t: Teardown, method: 'stuck' | 'hang', idempotent: boolean) {
  const socketPath = path.join(tempDir(t), 's.sock');
  const a = await startTestServer(socketPath, { endGraceMs: 20 });
  const client = await connect(socketPath, { retryDelayMs: 20 });
  t.teardown(() => client.close());
  const lost: ArpdError[] = [];
  client.onDisconnect((e) => lost.push(e));
  const call = client.call(method, undefined, { idempotent });
  call.catch(() => {});
  while ((a.calls[method] ?? 0) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const closingA = a.server.close();
  const b = await startTestServer(socketPath, {}, true);
  t.teardown(() => b.server.close());
  await closingA;
  return { call, b, lost };
}

t.test('an idempotent call is sent again after the connection is lost and is answered by the restarted daemon', async (t) => {
  const { call, b, lost } = await restartDuringCall(t, 'stuck', true);
  t.equal(await call, 'answered');
  t.equal(b.calls.stuck, 1);
  t.match(lost, [{ code: 'E_UNAVAILABLE' }]);
});

t.test('an idempotent call answered E_UNAVAILABLE by a daemon shutting down is sent again to the restarted one', async (t) => {
  const { call, b } = await restartDuringCall(t, 'hang', true);
  t.equal(await call, 'answered');
  t.equal(b.calls.hang, 1);
});

t.test('a call that is not idempotent fails with E_UNAVAILABLE when the connection is lost and is not sent again', async (t) => {
  const { call, b } = await restartDuringCall(t, 'stuck', false);
  await t.rejects(call, { name: 'ArpdError', code: 'E_UNAVAILABLE', message: /lost during 'stuck'/ });
  t.equal(b.calls.stuck, undefined);
});

t.test('a new call after a restart reconnects by itself', async (t) => {
  const socketPath = path.join(tempDir(t), 's.sock');
  const a = await startTestServer(socketPath);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  t.same(await client.call('echo', ['a']), ['a']);
  await a.server.close();
  const b = await startTestServer(socketPath);
  t.teardown(() => b.server.close());
  t.same(await client.call('echo', ['b']), ['b']);
  t.equal(b.calls.echo, 1);
});

t.test('an idempotent call waits out a daemon restart within its retries', async (t) => {
  const socketPath = path.join(tempDir(t), 's.sock');
  const a = await startTestServer(socketPath);
  const client = await connect(socketPath, { retryDelayMs: 10, retries: 50 });
  t.teardown(() => client.close());
  await a.server.close();
  const call = client.call('echo', ['later'], { idempotent: true });
  const plain = client.call('echo', ['plain']);
  await t.rejects(plain, { code: 'E_DAEMON_NOT_RUNNING' });
  const b = await startTestServer(socketPath);
  t.teardown(() => b.server.close());
  t.same(await call, ['later']);
});

t.test('pause() holds notifications back and resume() delivers them all, in order', async (t) => {
  const { socketPath } = await setup(t);
  const client = await connect(socketPath);
  t.teardown(() => client.close());
  const ticks: number[] = [];
  client.onNotification('tick', (p) => ticks.push((p as { n: number }).n));
  const last = new Promise<void>((resolve) => client.onNotification('other', () => resolve()));
  client.pause();
  const started = client.call('stream', { count: 50 });
  await new Promise((r) => setTimeout(r, 200));
  t.same(ticks, [], 'nothing is read while paused');
  client.resume();
  t.same(await started, { started: true });
  await last;
  t.same(ticks, Array.from({ length: 50 }, (_, i) => i), 'every notification, once, in order');
});
