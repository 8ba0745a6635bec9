import { deepStrictEqual, equal, ok } from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { decodeLine, decodeLineString, encodeLine, encodeUnsealedLine, MAX_LINE_BYTES, sealLines } from '../../src/events/line-codec.js';
import { upcast } from '../../src/events/upcasters.js';
import { storedEvent } from '../fixtures-helpers/arbitraries.js';

function baseEvent(data: Record<string, unknown>): StoredEvent {
  return {
    seq: 7, id: '0190a0b0-0000-7000-8000-000000000000', ts: '2024-05-01T12:00:00.000Z', stream: 'run:r1', rev: 3,
    type: 'run.trace', v: 1, data, meta: {},
  } as unknown as StoredEvent;
}

function flipBit(line: Buffer, byte: number, bit: number): Buffer {
  const copy = Buffer.from(line);
  copy[byte] = (copy[byte] as number) ^ (1 << bit);
  return copy;
}

t.test('round-trips any event, awkward strings and finite numbers included', async (t) => {
  fc.assert(
    fc.property(storedEvent, (e) => {
      const line = encodeLine(e);
      const r = decodeLineString(line);
      ok(r.ok, `decoding failed: ${r.ok ? '' : r.reason}`);
      // an older version of a known event is upcast as it is read (test/events/upcasters.test.ts): the same as upcast(e)
      deepStrictEqual(r.event, upcast(e));
    }),
    { numRuns: 1500 },
  );
  t.pass('1500 events round-tripped');
});

t.test('unsealed lines sealed together as bytes are the bytes of the same lines encoded one by one', async (t) => {
  fc.assert(
    fc.property(fc.array(storedEvent, { maxLength: 6 }), (events) => {
      const buf = Buffer.from(events.map((e) => encodeUnsealedLine(e)).join(''), 'utf8');
      sealLines(buf);
      deepStrictEqual(buf, Buffer.from(events.map((e) => encodeLine(e)).join(''), 'utf8'));
    }),
    { numRuns: 500 },
  );
  t.pass('500 batches sealed');
});

t.test('an unsealed line is refused past the line limit like a sealed one', async (t) => {
  const e = baseEvent({ text: 'é'.repeat(600) });
  const bytes = Buffer.byteLength(encodeLine(e));
  t.equal(Buffer.byteLength(encodeUnsealedLine(e, bytes)), bytes);
  t.throws(() => encodeUnsealedLine(e, bytes - 1), { code: 'E_TOO_LARGE' });
});

t.test('decodes a line found anywhere inside a larger buffer', async (t) => {
  fc.assert(
    fc.property(storedEvent, fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ maxLength: 40 }), (e, before, after) => {
      const line = Buffer.from(encodeLine(e), 'utf8');
      const buf = Buffer.concat([before, line.subarray(0, -1), after]);
      const r = decodeLine(buf, before.length, before.length + line.length - 1);
      ok(r.ok);
      deepStrictEqual(r.event, upcast(e));
    }),
    { numRuns: 300 },
  );
  t.pass('decoded at every position');
});

t.test('keeps lone surrogates as the same code units through the escape JSON gives them', async (t) => {
  const strings = ['\ud800', '\udfff', 'a\udc00b', '\ude00\ud83d', '\ud83d\ude00'];
  const line = encodeLine(baseEvent({ strings }));
  t.ok(line.includes('\\ud800') && line.includes('\\udfff'), 'lone surrogates are written as \\u escapes');
  t.notOk(line.includes('\\ud83d\\ude00'), 'a valid pair is written as the character itself');
  const r = decodeLineString(line);
  t.ok(r.ok);
  if (r.ok) {
    const back = (r.event.data as unknown as { strings: string[] }).strings;
    t.same(back.map((s) => [...s].map((c) => c.charCodeAt(0))), strings.map((s) => [...s].map((c) => c.charCodeAt(0))));
    t.equal(back.join('|'), strings.join('|'));
  }
});

t.test('writes every event as exactly one line: the only newline byte is the last one', async (t) => {
  fc.assert(
    fc.property(storedEvent, (e) => {
      const buf = Buffer.from(encodeLine(e), 'utf8');
      equal(buf.indexOf(0x0a), buf.length - 1);
      equal(buf.indexOf(0x0d), -1);
    }),
    { numRuns: 500 },
  );
  t.pass('one line each');
});

t.test('ends each line with a CRC32 of every byte before the checksum field', async (t) => {
  const line = encodeLine(baseEvent({ x: 'é' }));
  const m = /^(.*),"crc":"([0-9a-f]{8})"\}\n$/s.exec(line);
  t.ok(m, 'the line ends with ,"crc":"<8 hex>"}');
  if (m !== null) t.equal(m[2], crc32(Buffer.from(m[1] as string, 'utf8')).toString(16).padStart(8, '0'));
});

t.test('detects any single flipped bit in an encoded line', async (t) => {
  fc.assert(
    fc.property(storedEvent, fc.nat(), fc.integer({ min: 0, max: 7 }), (e, at, bit) => {
      const line = Buffer.from(encodeLine(e), 'utf8');
      const body = line.length - 1; // the newline is the scanner's business, not the decoder's
      const flipped = flipBit(line, at % body, bit);
      const r = decodeLine(flipped, 0, body);
      ok(!r.ok, `a flip of bit ${bit} at byte ${at % body} went unnoticed`);
    }),
    { numRuns: 3000 },
  );
  t.pass('3000 random flips detected');
});

t.test('detects a flip of every bit of a line with multi-byte characters', async (t) => {
  const line = Buffer.from(encodeLine(baseEvent({ text: 'é 😀 \u2028 "q" \\ \ud800', n: 12.5, list: [true, null, { a: [] }] })), 'utf8');
  const body = line.length - 1;
  let missed = 0;
  for (let i = 0; i < body; i++) {
    for (let b = 0; b < 8; b++) if (decodeLine(flipBit(line, i, b), 0, body).ok) missed++;
  }
  t.equal(missed, 0, `all ${body * 8} flips detected`);
});

t.test('refuses a line that has a good checksum but is not an event envelope', async (t) => {
  const bad = (obj: Record<string, unknown>): string => {
    const body = JSON.stringify(obj).slice(0, -1);
    return `${body},"crc":"${crc32(body).toString(16).padStart(8, '0')}"}`;
  };
  const good = { seq: 1, id: 'x', ts: 't', stream: 's', rev: 1, type: 'run.trace', v: 1, data: {}, meta: {} };
  t.ok(decodeLineString(bad(good)).ok, 'the control case decodes');
  for (const broken of [{ ...good, seq: 0 }, { ...good, seq: 1.5 }, { ...good, rev: 0 }, { ...good, data: null }, { ...good, meta: 'm' }, { ...good, id: 1 }]) {
    const r = decodeLineString(bad(broken));
    t.notOk(r.ok, JSON.stringify(broken));
    if (!r.ok) t.match(r.reason, /not an event envelope/);
  }
  t.notOk(decodeLineString('{}').ok, 'a too-short line');
  t.notOk(decodeLineString(bad(good).replace(/"([0-9a-f]{8})"\}$/, (_m, h: string) => `"${h.toUpperCase()}"}`)).ok, 'upper-case checksum digits');
});

t.test('accepts a line of exactly the limit and refuses one byte more with E_TOO_LARGE', async (t) => {
  const empty = Buffer.byteLength(encodeLine(baseEvent({ s: '' })));
  for (const unit of ['a', 'é', '€', '😀']) {
    const unitBytes = Buffer.byteLength(unit);
    const room = MAX_LINE_BYTES - empty;
    const fill = unit.repeat(Math.floor(room / unitBytes)) + 'a'.repeat(room % unitBytes);
    const atLimit = encodeLine(baseEvent({ s: fill }));
    t.equal(Buffer.byteLength(atLimit), MAX_LINE_BYTES, `${unit}: exactly the limit is accepted`);
    let err: unknown;
    try { encodeLine(baseEvent({ s: `${fill}a` })); } catch (e) { err = e; }
    t.ok(err instanceof ArpdError, `${unit}: one byte more is refused`);
    t.match(err, { code: 'E_TOO_LARGE', data: { bytes: MAX_LINE_BYTES + 1, limit: MAX_LINE_BYTES } });
  }
  t.throws(() => encodeLine(baseEvent({ s: 'x'.repeat(100) }), 64), { code: 'E_TOO_LARGE' }, 'a smaller limit is honoured');
});
