import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { checkId } from '../../src/ids/id-rules.js';
import { createDispatcher, type CallContext, type InternalErrorInfo, type MethodTable } from '../../src/server/rpc-dispatch.js';

function context(): CallContext & { notes: { method: string; params: unknown }[] } {
  const notes: { method: string; params: unknown }[] = [];
  return {
    connectionId: 'conn-test',
    signal: new AbortController().signal,
    notify: (method, params) => {
      notes.push({ method, params });
      return true;
    },
    onClose: () => {},
    notes,
  };
}

function setup() {
  const calls: { method: string; params: unknown }[] = [];
  const internal: { err: unknown; info: InternalErrorInfo }[] = [];
  const methods: MethodTable = {
    echo: { handler: (params) => params, idempotent: true },
    nothing: { handler: () => undefined },
    record: {
      handler: (params) => {
        calls.push({ method: 'record', params });
        return 'recorded';
      },
    },
    notFound: {
      handler: async () => {
        throw new ArpdError('E_NOT_FOUND', "run 'r1' does not exist: list runs with 'arpd runs list'", { runId: 'r1' });
      },
    },
    validate: { handler: (params) => checkId('run id', (params as { id?: unknown }).id, 'id') },
    boom: {
      handler: () => {
        throw new Error('secret detail /etc/passwd');
      },
    },
    internalArpd: {
      handler: () => {
        throw new ArpdError('E_INTERNAL', 'internal error: the projection is missing');
      },
    },
    bigint: { handler: () => ({ n: 10n }) },
    whoami: { handler: (_params, ctx) => ctx.connectionId },
    shout: {
      handler: (params, ctx) => {
        ctx.notify('shouted', params);
        return 'ok';
      },
    },
  };
  const dispatcher = createDispatcher(methods, { onInternalError: (err, info) => internal.push({ err, info }) });
  const ctx = context();
  const send = async (line: string): Promise<unknown> => {
    const out = await dispatcher.handleLine(line, ctx);
    return out === null ? null : JSON.parse(out);
  };
  return { dispatcher, calls, internal, ctx, send };
}

t.test('answers a request with its result and id', async (t) => {
  const { send } = setup();
  t.same(await send('{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":[1,"é"]}}'), { jsonrpc: '2.0', id: 1, result: { a: [1, 'é'] } });
  t.same(await send('{"jsonrpc":"2.0","id":"x-1","method":"echo","params":[true,null]}'), { jsonrpc: '2.0', id: 'x-1', result: [true, null] });
  t.same(await send('{"jsonrpc":"2.0","id":null,"method":"echo","params":{}}'), { jsonrpc: '2.0', id: null, result: {} });
});

t.test('answers null for a handler that returns nothing, and passes no params as undefined', async (t) => {
  const { send, calls } = setup();
  t.same(await send('{"jsonrpc":"2.0","id":2,"method":"nothing"}'), { jsonrpc: '2.0', id: 2, result: null });
  await send('{"jsonrpc":"2.0","id":3,"method":"record"}');
  t.same(calls, [{ method: 'record', params: undefined }]);
});

t.test('passes the call context to the handler', async (t) => {
  const { send, ctx } = setup();
  t.same(await send('{"jsonrpc":"2.0","id":1,"method":"whoami"}'), { jsonrpc: '2.0', id: 1, result: 'conn-test' });
  await send('{"jsonrpc":"2.0","id":2,"method":"shout","params":{"x":1}}');
  t.same(ctx.notes, [{ method: 'shouted', params: { x: 1 } }]);
});

t.test('answers bad JSON with -32700 E_PARSE and a null id', async (t) => {
  const { send } = setup();
  for (const line of ['{', 'not json', '{"jsonrpc":"2.0","id":1,"method":"echo",}', "{'a':1}"]) {
    const res = await send(line);
    t.match(res, { jsonrpc: '2.0', id: null, error: { code: -32700, message: /not valid JSON.*one JSON-RPC 2\.0 object per line/, data: { code: 'E_PARSE' } } }, line);
    t.notOk(Object.hasOwn(res as object, 'result'));
  }
});

t.test('answers an invalid request object with -32600 E_PROTOCOL naming the field', async (t) => {
  const { send, calls } = setup();
  const cases: [string, unknown, string][] = [
    ['42', null, 'request'],
    ['"text"', null, 'request'],
    ['null', null, 'request'],
    ['{"id":1,"method":"record"}', 1, 'jsonrpc'],
    ['{"jsonrpc":"1.0","id":1,"method":"record"}', 1, 'jsonrpc'],
    ['{"jsonrpc":2,"id":1,"method":"record"}', 1, 'jsonrpc'],
    ['{"jsonrpc":"2.0","id":1}', 1, 'method'],
    ['{"jsonrpc":"2.0","id":1,"method":7}', 1, 'method'],
    ['{"jsonrpc":"2.0","id":{"a":1},"method":"record"}', null, 'id'],
    ['{"jsonrpc":"2.0","id":[1],"method":"record"}', null, 'id'],
    ['{"jsonrpc":"2.0","id":true,"method":"record"}', null, 'id'],
    ['{"jsonrpc":"2.0","id":1,"method":"record","params":"x"}', 1, 'params'],
    ['{"jsonrpc":"2.0","id":1,"method":"record","params":3}', 1, 'params'],
    ['{"jsonrpc":"2.0","id":1,"method":"record","params":null}', 1, 'params'],
    ['{"jsonrpc":"2.0","method":"record","params":"x"}', null, 'params'],
  ];
  for (const [line, id, field] of cases) {
    t.match(await send(line), { jsonrpc: '2.0', id, error: { code: -32600, message: String, data: { code: 'E_PROTOCOL', field } } }, line);
  }
  t.same(calls, [], 'no handler runs for an invalid request');
});

t.test('answers an unknown method with -32601 E_METHOD_NOT_FOUND saying how to list methods', async (t) => {
  const { send } = setup();
  for (const method of ['nope', 'constructor', '__proto__', 'toString', 'hasOwnProperty', '']) {
    t.match(
      await send(JSON.stringify({ jsonrpc: '2.0', id: 9, method })),
      { jsonrpc: '2.0', id: 9, error: { code: -32601, message: /rpc\.methods/, data: { code: 'E_METHOD_NOT_FOUND', method } } },
      method,
    );
  }
});

t.test('maps a thrown ArpdError to its rpc code, message and data', async (t) => {
  const { send, internal } = setup();
  t.same(await send('{"jsonrpc":"2.0","id":4,"method":"notFound"}'), {
    jsonrpc: '2.0',
    id: 4,
    error: {
      code: -32004,
      message: "run 'r1' does not exist: list runs with 'arpd runs list'",
      data: { runId: 'r1', code: 'E_NOT_FOUND' },
    },
  });
  t.same(internal, [], 'an expected error is not logged as internal');
});

t.test('answers E_VALIDATION with -32602 and the offending field', async (t) => {
  const { send } = setup();
  t.match(await send('{"jsonrpc":"2.0","id":5,"method":"validate","params":{"id":"../x"}}'), {
    id: 5,
    error: { code: -32602, message: /'\.\.\/x' is not allowed: use letters/, data: { code: 'E_VALIDATION', field: 'id' } },
  });
  t.same(await send('{"jsonrpc":"2.0","id":6,"method":"validate","params":{"id":"ok-1"}}'), { jsonrpc: '2.0', id: 6, result: 'ok-1' });
});

t.test('turns any other throw into -32603 E_INTERNAL with a short message and logs the full error', async (t) => {
  const { send, internal } = setup();
  const res = await send('{"jsonrpc":"2.0","id":7,"method":"boom"}');
  t.same(res, {
    jsonrpc: '2.0',
    id: 7,
    error: { code: -32603, message: 'internal error: see the daemon log for details', data: { code: 'E_INTERNAL' } },
  });
  t.notMatch(JSON.stringify(res), /passwd/, 'the detail stays in the log');
  t.equal(internal.length, 1);
  t.match(internal[0], { err: { message: 'secret detail /etc/passwd' }, info: { method: 'boom', connectionId: 'conn-test' } });
});

t.test('logs a thrown E_INTERNAL ArpdError and still answers with it', async (t) => {
  const { send, internal } = setup();
  t.match(await send('{"jsonrpc":"2.0","id":8,"method":"internalArpd"}'), {
    id: 8,
    error: { code: -32603, message: 'internal error: the projection is missing', data: { code: 'E_INTERNAL' } },
  });
  t.equal(internal.length, 1);
});

t.test('answers E_INTERNAL when the result cannot be serialized', async (t) => {
  const { send, internal } = setup();
  t.match(await send('{"jsonrpc":"2.0","id":10,"method":"bigint"}'), { id: 10, error: { code: -32603, data: { code: 'E_INTERNAL' } } });
  t.equal(internal.length, 1);
});

t.test('runs a notification without answering it, even when it fails', async (t) => {
  const { send, calls, internal } = setup();
  t.equal(await send('{"jsonrpc":"2.0","method":"record","params":{"n":1}}'), null);
  t.same(calls, [{ method: 'record', params: { n: 1 } }]);
  t.equal(await send('{"jsonrpc":"2.0","method":"nope"}'), null);
  t.equal(await send('{"jsonrpc":"2.0","method":"notFound"}'), null);
  t.equal(await send('{"jsonrpc":"2.0","method":"boom"}'), null);
  t.equal(internal.length, 1, 'an internal failure of a notification is still logged');
});

t.test('answers a batch with an array of responses, leaving out notifications', async (t) => {
  const { send, calls } = setup();
  const res = await send(
    JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'echo', params: [1] },
      { jsonrpc: '2.0', method: 'record', params: ['n'] },
      { jsonrpc: '2.0', id: 2, method: 'nope' },
      42,
      [],
      { jsonrpc: '2.0', id: 3, method: 'notFound' },
    ]),
  );
  t.match(res, [
    { id: 1, result: [1] },
    { id: 2, error: { code: -32601, data: { code: 'E_METHOD_NOT_FOUND' } } },
    { id: null, error: { code: -32600, data: { code: 'E_PROTOCOL' } } },
    { id: null, error: { code: -32600, data: { code: 'E_PROTOCOL' } } },
    { id: 3, error: { code: -32004, data: { code: 'E_NOT_FOUND' } } },
  ]);
  t.equal((res as unknown[]).length, 5);
  t.same(calls, [{ method: 'record', params: ['n'] }]);
});

t.test('answers an empty batch with one -32600 error', async (t) => {
  const { send } = setup();
  t.match(await send('[]'), { jsonrpc: '2.0', id: null, error: { code: -32600, data: { code: 'E_PROTOCOL', field: 'batch' } } });
});

t.test('answers nothing to a batch of notifications only', async (t) => {
  const { send, calls } = setup();
  t.equal(await send('[{"jsonrpc":"2.0","method":"record","params":[1]},{"jsonrpc":"2.0","method":"record","params":[2]}]'), null);
  t.equal(calls.length, 2);
});

t.test('lists its methods with rpc.methods', async (t) => {
  const { send, dispatcher } = setup();
  const res = (await send('{"jsonrpc":"2.0","id":1,"method":"rpc.methods"}')) as { result: string[] };
  t.same(res.result, [...res.result].sort());
  t.ok(res.result.includes('rpc.methods'));
  t.ok(res.result.includes('echo'));
  t.same(dispatcher.methodNames(), res.result);
});

t.test('refuses a method table that claims an rpc.* name', async (t) => {
  t.throws(() => createDispatcher({ 'rpc.methods': { handler: () => 1 } }), { name: 'ArpdError', code: 'E_VALIDATION' });
});

t.test('answers any line with one JSON-RPC 2.0 message or nothing, and never rejects', async (t) => {
  const { dispatcher } = setup();
  const ctx = context();
  const line = fc.oneof(
    fc.string({ unit: 'binary' }),
    fc.json(),
    fc.record({ jsonrpc: fc.constantFrom('2.0', '1.0'), id: fc.oneof(fc.integer(), fc.string(), fc.constant(null)), method: fc.constantFrom('echo', 'nope', 'boom', 'notFound', 'rpc.methods'), params: fc.jsonValue() }).map((r) => JSON.stringify(r)),
  );
  await fc.assert(
    fc.asyncProperty(line, async (text) => {
      const out = await dispatcher.handleLine(text, ctx);
      if (out === null) return true;
      const parsed: unknown = JSON.parse(out);
      const messages = Array.isArray(parsed) ? parsed : [parsed];
      return messages.every(
        (m: Record<string, unknown>) => m.jsonrpc === '2.0' && Object.hasOwn(m, 'id') && Object.hasOwn(m, 'result') !== Object.hasOwn(m, 'error'),
      );
    }),
    { numRuns: 1000 },
  );
  t.pass('holds for 1000 runs');
});
