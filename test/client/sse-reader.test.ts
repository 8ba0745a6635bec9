/**
 * readSse: a text/event-stream body read as events. Properties: any byte-wise chunking of a stream
 * yields the same events (multi-byte characters split across chunks included); it reads a chunk only
 * when asked for the next event; an event over the limit ends the stream with E_TOO_LARGE.
 */
import fc from 'fast-check';
import t from 'tap';
import { readSse, type SseMessage } from '../../src/client/sse-reader.js';

async function* chunked(bytes: Buffer, cuts: number[], pulls?: { n: number }): AsyncGenerator<Uint8Array> {
  let at = 0;
  for (const cut of [...cuts.filter((c) => c > 0 && c < bytes.length)].sort((a, b) => a - b).concat(bytes.length)) {
    if (cut <= at) continue;
    if (pulls !== undefined) pulls.n++;
    yield bytes.subarray(at, cut);
    at = cut;
  }
}

async function all(it: AsyncIterable<SseMessage>): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const m of it) out.push(m);
  return out;
}

/** How the daemon writes an event (src/server/http-sse.ts): optional id, event name, one data line of JSON. */
function encode(events: Array<{ event: string; data: unknown; id?: number | undefined }>, comments = true): string {
  return `${comments ? ': trace of run x\n\n' : ''}${events.map((e) => `${e.id === undefined ? '' : `id: ${e.id}\n`}event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`).join(comments ? ': keep-alive\n\n' : '')}`;
}

const eventArb = fc.record({
  event: fc.constantFrom('trace', 'end', 'event', 'error'),
  data: fc.jsonValue(),
  id: fc.option(fc.nat(), { nil: undefined }),
});

t.test('yields the same events whatever the chunking of the bytes', async (t) => {
  await fc.assert(fc.asyncProperty(
    fc.array(eventArb, { maxLength: 20 }),
    fc.array(fc.nat(), { maxLength: 40 }),
    fc.boolean(),
    async (events, cuts, crlf) => {
      let text = encode(events);
      if (crlf) text = text.replace(/\n/g, '\r\n');
      const bytes = Buffer.from(text, 'utf8');
      const whole = await all(readSse(chunked(bytes, [])));
      const split = await all(readSse(chunked(bytes, cuts.map((c) => c % (bytes.length + 1)))));
      const expected = events.map((e) => ({ event: e.event, data: JSON.stringify(e.data), ...(e.id === undefined ? {} : { id: String(e.id) }) }));
      if (JSON.stringify(whole) !== JSON.stringify(expected)) throw new Error(`whole: ${JSON.stringify(whole)} != ${JSON.stringify(expected)}`);
      if (JSON.stringify(split) !== JSON.stringify(expected)) throw new Error(`split: ${JSON.stringify(split)} != ${JSON.stringify(expected)}`);
    },
  ), { numRuns: 300 });
  t.pass('holds for 300 runs');
});

t.test('pulls a chunk only when the reader asks for the next event', async (t) => {
  const bytes = Buffer.from(encode([{ event: 'trace', data: 1 }, { event: 'trace', data: 2 }, { event: 'trace', data: 3 }], false));
  const one = encode([{ event: 'trace', data: 1 }], false).length;
  const pulls = { n: 0 };
  const it = readSse(chunked(bytes, [one, one * 2], pulls));
  t.equal(pulls.n, 0, 'nothing is read before the first next()');
  t.equal((await it.next()).value?.data, '1');
  t.equal(pulls.n, 1, 'one chunk for one event');
  t.equal((await it.next()).value?.data, '2');
  t.equal(pulls.n, 2);
  await it.return(undefined);
});

t.test('ends with E_TOO_LARGE when an event passes the limit, after the events before it', async (t) => {
  const text = encode([{ event: 'trace', data: 'small' }], false) + `event: trace\ndata: "${'x'.repeat(5000)}"\n\n`;
  const got: string[] = [];
  await t.rejects((async () => { for await (const m of readSse(chunked(Buffer.from(text), [10, 100, 1000, 2000]), 1000)) got.push(m.data); })(), { name: 'ArpdError', code: 'E_TOO_LARGE' });
  t.same(got, ['"small"']);
});
