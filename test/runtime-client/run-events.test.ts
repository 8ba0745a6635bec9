import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { streamRunEvents, type SseMessage, type StreamOptions } from '../../src/runtime-client/run-events.js';
import { failure, runtime } from '../helpers/runtime-stand-in.js';

const sse = (res: ServerResponse) => res.writeHead(200, { 'content-type': 'text/event-stream' });
const opts = (o: Partial<StreamOptions> = {}): StreamOptions => ({ maxMessageBytes: 1024, ...o });

/** The messages of a batch without the fields the parser left undefined (what a message's JSON would hold). */
const plain = (batch: SseMessage[]): SseMessage[] => batch.map((m) => JSON.parse(JSON.stringify(m)) as SseMessage);

async function collect(gen: AsyncGenerator<SseMessage[]>): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const batch of gen) out.push(...plain(batch));
  return out;
}


t.test('yields each message with its id, event and data, in order, and ends with the stream', async (t) => {
  const { endpoint, client } = await runtime(t, (_req, res) => {
    sse(res);
    const text = 'id: 1\nevent: run.progress\ndata: {"p":1}\n\n: a comment\n\nid: 2\ndata: line one\ndata: line two\n\nevent: run.done\ndata: é€😀é€😀é€😀\n\n';
    const bytes = Buffer.from(text);
    // one byte a write (TCP may join them again on the way: the split is a chance, not a promise)
    let i = 0;
    const next = () => {
      if (i >= bytes.length) { res.end(); return; }
      res.write(bytes.subarray(i, i + 1), next);
      i += 1;
    };
    next();
  });
  t.same(await collect(streamRunEvents(client, endpoint, 'r1', opts())), [
    { id: '1', event: 'run.progress', data: '{"p":1}' },
    { id: '2', data: 'line one\nline two' },
    { event: 'run.done', data: 'é€😀é€😀é€😀' },
  ]);
});

t.test('asks for the run events path with the run id encoded, Last-Event-ID and traceparent', async (t) => {
  let seen: IncomingMessage | undefined;
  const { endpoint, client } = await runtime(t, (req, res) => { seen = req; sse(res); res.end(); });
  await collect(streamRunEvents(client, `${endpoint}//`, 'run 1/x', opts({ lastEventId: '41', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })));
  t.equal(seen?.url, '/v1/runs/run%201%2Fx/events');
  t.equal(seen?.headers['accept'], 'text/event-stream');
  t.equal(seen?.headers['last-event-id'], '41');
  t.equal(seen?.headers['traceparent'], '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01');
});

t.test('a runtime without an event stream is E_METHOD_NOT_FOUND so the caller can poll instead', async (t) => {
  for (const [status, type] of [[404, 'application/json'], [405, 'text/plain'], [200, 'application/json']] as const) {
    const { endpoint, client } = await runtime(t, (_req, res) => { res.writeHead(status, { 'content-type': type }); res.end('{}'); });
    const err = await failure(collect(streamRunEvents(client, endpoint, 'r1', opts())));
    t.equal(err.code, 'E_METHOD_NOT_FOUND', `${status} ${type}`);
    t.equal(err.data?.['http_status'], status);
  }
});

t.test('a runtime that fails the event stream with a 5xx is E_RUNTIME_ERROR', async (t) => {
  const { endpoint, client } = await runtime(t, (_req, res) => { res.writeHead(503, { 'content-type': 'text/event-stream' }); res.end(); });
  const err = await failure(collect(streamRunEvents(client, endpoint, 'r1', opts())));
  t.equal(err.code, 'E_RUNTIME_ERROR');
  t.match(err.message, /503/);
});

t.test('an event larger than the limit ends the stream with E_TRACE_LIMIT after the events before it', async (t) => {
  const { endpoint, client } = await runtime(t, (_req, res) => { sse(res); res.end(`data: small\n\ndata: ${'x'.repeat(2000)}\n\ndata: never\n\n`); });
  const got: SseMessage[] = [];
  const err = await failure((async () => { for await (const batch of streamRunEvents(client, endpoint, 'r1', opts())) got.push(...plain(batch)); })());
  t.same(got, [{ data: 'small' }]);
  t.equal(err.code, 'E_TRACE_LIMIT');
  t.match(err.message, /2000 bytes, over the limit of 1024/);
});

t.test('a message that grows past the limit without ending is E_TRACE_LIMIT before it ends', async (t) => {
  const { endpoint, client } = await runtime(t, (_req, res) => {
    sse(res);
    res.write('data: ');
    const chunk = 'y'.repeat(512);
    let n = 0;
    const more = () => { if (n++ < 64 && !res.destroyed) res.write(chunk, more); };
    more(); // 32 KiB with no blank line: the stream stays open, the message never ends
  });
  const err = await failure(collect(streamRunEvents(client, endpoint, 'r1', opts())));
  t.equal(err.code, 'E_TRACE_LIMIT');
  t.match(err.message, /more than 1024 bytes/);
});

t.test('a stream that breaks off is E_RUNTIME_LOST', async (t) => {
  const { endpoint, client } = await runtime(t, (_req, res) => {
    sse(res);
    res.write('data: one\n\n', () => setImmediate(() => res.socket?.destroy()));
  });
  const got: SseMessage[] = [];
  const err = await failure((async () => { for await (const batch of streamRunEvents(client, endpoint, 'r1', opts())) got.push(...plain(batch)); })());
  t.same(got, [{ data: 'one' }]);
  t.equal(err.code, 'E_RUNTIME_LOST');
});

t.test('a runtime that cannot be reached is E_RUNTIME_LOST', async (t) => {
  const { endpoint, client } = await runtime(t, () => undefined);
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  t.ok(endpoint !== `http://127.0.0.1:${port}`);
  const err = await failure(collect(streamRunEvents(client, `http://127.0.0.1:${port}`, 'r1', opts())));
  t.equal(err.code, 'E_RUNTIME_LOST');
});

t.test('an abort ends the stream quietly, before or during it', async (t) => {
  const { endpoint, client } = await runtime(t, (_req, res) => { sse(res); res.write('data: one\n\n'); });
  const before = new AbortController();
  before.abort();
  t.same(await collect(streamRunEvents(client, endpoint, 'r1', opts({ signal: before.signal }))), [], 'aborted before it opened');
  const during = new AbortController();
  const got: SseMessage[] = [];
  for await (const batch of streamRunEvents(client, endpoint, 'r1', opts({ signal: during.signal }))) {
    got.push(...plain(batch));
    during.abort();
  }
  t.same(got, [{ data: 'one' }], 'aborted after the first event');
});

t.test('yields the events that came in one read together, in order', async (t) => {
  const text = Array.from({ length: 100 }, (_, i) => `id: ${i + 1}\ndata: {"n":${i + 1}}\n\n`).join('');
  const { endpoint, client } = await runtime(t, (_req, res) => { sse(res); res.end(text); });
  const batches: SseMessage[][] = [];
  for await (const batch of streamRunEvents(client, endpoint, 'r1', opts())) batches.push(plain(batch));
  t.same(batches.flat().map((m) => m.id), Array.from({ length: 100 }, (_, i) => String(i + 1)), 'every event, in order');
  t.ok(batches.length < 100, `${batches.length} batches for 100 events written at once`);
});

t.test('bytes that are not UTF-8 become U+FFFD in the message, and the stream goes on', async (t) => {
  const { endpoint, client } = await runtime(t, (_req, res) => {
    sse(res);
    res.end(Buffer.concat([Buffer.from('data: {"a":"'), Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}\n\ndata: {"b":1}\n\n')]));
  });
  t.same(await collect(streamRunEvents(client, endpoint, 'r1', opts())), [{ data: '{"a":"\uFFFD\uFFFD\uFFFD"}' }, { data: '{"b":1}' }]);
});
