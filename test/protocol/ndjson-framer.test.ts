import assert from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import { DEFAULT_MAX_LINE_BYTES, NdjsonFramer, type FrameItem } from '../../src/protocol/ndjson-framer.js';

/** Text of a line: arbitrary code points, with the awkward ones (emoji, U+2028, CR, tabs) made common. No LF. */
const lineText = fc
  .string({
    unit: fc.oneof(
      { arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }), weight: 4 },
      { arbitrary: fc.constantFrom('\r', '\u2028', '\u2029', '😀', '👩‍👩‍👧', 'é', '€', ' ', '\t', '{', '"'), weight: 2 },
    ),
    maxLength: 40,
  })
  .map((s) => s.replaceAll('\n', ''));

/** Splits bytes at arbitrary offsets (inside multi-byte characters too). */
function splitAt(bytes: Buffer, cuts: number[]): Buffer[] {
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

function frameAll(chunks: Buffer[], maxLineBytes?: number): FrameItem[] {
  const framer = new NdjsonFramer(maxLineBytes === undefined ? {} : { maxLineBytes });
  const items = chunks.flatMap((c) => framer.push(c));
  return [...items, ...framer.end()];
}

/** What a reader should see: one trailing CR stripped, lines of only spaces, tabs and CRs skipped. */
function expectedLines(lines: string[]): FrameItem[] {
  return lines
    .map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l))
    .filter((l) => !/^[ \t\r]*$/.test(l))
    .map((text) => ({ kind: 'line' as const, text }));
}

t.test('frames any lines split at any byte offsets the same as fed whole', async (t) => {
  fc.assert(
    fc.property(fc.array(lineText, { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 20 }), fc.boolean(), (lines, cuts, finalNewline) => {
      const text = lines.join('\n') + (finalNewline ? '\n' : '');
      const bytes = Buffer.from(text, 'utf8');
      const whole = frameAll([bytes]);
      const chunked = frameAll(splitAt(bytes, cuts));
      assert.deepEqual(chunked, whole);
      assert.deepEqual(whole, expectedLines(lines));
    }),
    { numRuns: 2000 },
  );
  t.pass('holds for 2000 runs');
});

t.test('an oversized line in the middle yields one oversized item and keeps the lines around it', async (t) => {
  const max = 64;
  const shortLine = lineText.filter((l) => Buffer.byteLength(l) <= max && !/^[ \t\r]*$/.test(l) && !l.endsWith('\r'));
  fc.assert(
    fc.property(
      fc.array(shortLine, { maxLength: 5 }),
      fc.string({ unit: 'binary', minLength: 17, maxLength: 400 }).map((s) => s.replaceAll('\n', 'x')).filter((s) => Buffer.byteLength(s) > max),
      fc.array(shortLine, { maxLength: 5 }),
      fc.array(fc.nat(), { maxLength: 30 }),
      (before, big, after, cuts) => {
        const bytes = Buffer.from([...before, big, ...after].join('\n') + '\n', 'utf8');
        const items = frameAll(splitAt(bytes, cuts), max);
        const oversized = items.filter((i) => i.kind === 'oversized');
        assert.equal(oversized.length, 1);
        const o = oversized[0];
        assert.ok(o !== undefined && o.kind === 'oversized' && o.bytes > max && o.bytes <= Buffer.byteLength(big));
        assert.deepEqual(
          items.filter((i) => i.kind === 'line'),
          [...before, ...after].map((text) => ({ kind: 'line', text })),
        );
        assert.equal(items.indexOf(o), before.length);
      },
    ),
    { numRuns: 1000 },
  );
  t.pass('holds for 1000 runs');
});

t.test('keeps its buffer within maxLineBytes while a 50 MiB line without newline arrives', async (t) => {
  const framer = new NdjsonFramer();
  const chunk = Buffer.alloc(64 * 1024, 'a');
  const items: FrameItem[] = [];
  let peak = 0;
  for (let sent = 0; sent < 50 * 1024 * 1024; sent += chunk.length) {
    items.push(...framer.push(chunk));
    peak = Math.max(peak, framer.bufferedBytes);
  }
  t.ok(peak <= DEFAULT_MAX_LINE_BYTES, `peak buffered ${peak} bytes`);
  t.equal(framer.bufferedBytes, 0);
  items.push(...framer.push(Buffer.from('\n{"next":true}\n')));
  t.equal(items.length, 2);
  t.match(items[0], { kind: 'oversized' });
  t.same(items[1], { kind: 'line', text: '{"next":true}' });
});

t.test('keeps its buffer within a small maxLineBytes whatever the chunk sizes', async (t) => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 60 }), (sizes) => {
      const framer = new NdjsonFramer({ maxLineBytes: 100 });
      let oversized = 0;
      for (const size of sizes) {
        oversized += framer.push(Buffer.alloc(size, 'z')).length;
        if (framer.bufferedBytes > 100) return false;
      }
      const total = sizes.reduce((a, b) => a + b, 0);
      return oversized === (total > 100 ? 1 : 0);
    }),
    { numRuns: 1000 },
  );
  t.pass('holds for 1000 runs');
});

t.test('accepts a line of exactly maxLineBytes and refuses one byte more', async (t) => {
  const framer = new NdjsonFramer({ maxLineBytes: 10 });
  t.same(framer.push(Buffer.from('0123456789\n')), [{ kind: 'line', text: '0123456789' }]);
  t.same(framer.push(Buffer.from('0123456789A\nok\n')), [{ kind: 'oversized', bytes: 11 }, { kind: 'line', text: 'ok' }]);
});

t.test('reports how many bytes had arrived when the line passed the limit', async (t) => {
  const framer = new NdjsonFramer({ maxLineBytes: 10 });
  t.same(framer.push(Buffer.from('12345678')), []);
  t.same(framer.push(Buffer.from('90abc')), [{ kind: 'oversized', bytes: 13 }]);
  t.same(framer.push(Buffer.from('def')), []);
  t.same(framer.push(Buffer.from('\n')), []);
});

t.test('strips one trailing CR and skips blank lines', async (t) => {
  const framer = new NdjsonFramer();
  const items = framer.push(Buffer.from('a\r\n\r\n  \t\n\nb\r\r\n\u2028\n'));
  t.same(items, [
    { kind: 'line', text: 'a' },
    { kind: 'line', text: 'b\r' },
    { kind: 'line', text: '\u2028' },
  ]);
});

t.test('returns the last line without a newline on end and forgets an oversized tail', async (t) => {
  const framer = new NdjsonFramer({ maxLineBytes: 4 });
  t.same(framer.push(Buffer.from('ab')), []);
  t.same(framer.end(), [{ kind: 'line', text: 'ab' }]);
  t.same(framer.push(Buffer.from('abcdef')), [{ kind: 'oversized', bytes: 6 }]);
  t.same(framer.end(), []);
  t.same(framer.push(Buffer.from('xy\n')), [{ kind: 'line', text: 'xy' }]);
});

t.test('accepts a plain Uint8Array chunk', async (t) => {
  const framer = new NdjsonFramer();
  const bytes = new TextEncoder().encode('héllo\n');
  t.same(framer.push(bytes.subarray(0, 2)), []);
  t.same(framer.push(bytes.subarray(2)), [{ kind: 'line', text: 'héllo' }]);
});

t.test('refuses a maxLineBytes that is not a positive integer', async (t) => {
  for (const bad of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new NdjsonFramer({ maxLineBytes: bad }), {
      name: 'ArpdError',
      code: 'E_VALIDATION',
      data: { field: 'maxLineBytes' },
    });
  }
});
