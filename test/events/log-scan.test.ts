import { deepStrictEqual } from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { scanFile } from '../../src/events/log-scan.js';
import { removeDir, tempDir } from '../fixtures-helpers/events.js';

interface Seen { lines: Array<[number, number, string]>; tail: [number, number] | undefined; result: ReturnType<typeof scanFile> }

function scan(path: string, chunkBytes: number, fromOffset = 0, stopAfter = Infinity): Seen {
  const lines: Seen['lines'] = [];
  let tail: Seen['tail'];
  const result = scanFile(path, {
    line(buf, start, end, offset, lineNo) {
      lines.push([offset, lineNo, buf.toString('latin1', start, end)]);
      return lines.length < stopAfter;
    },
    tail(offset, bytes) { tail = [offset, bytes]; },
  }, { chunkBytes, fromOffset });
  return { lines, tail, result };
}

/** What a scan must report, worked out by splitting the whole buffer. */
function expected(buf: Buffer, from: number): Omit<Seen, 'result'> {
  const lines: Seen['lines'] = [];
  let start = from;
  for (let nl = buf.indexOf(0x0a, from); nl !== -1; nl = buf.indexOf(0x0a, start)) {
    lines.push([start, lines.length + 1, buf.toString('latin1', start, nl)]);
    start = nl + 1;
  }
  return { lines, tail: start < buf.length ? [start, buf.length - start] : undefined };
}

t.test('reports the same lines and tail for any chunk size, lines longer than a chunk included', async (t) => {
  const dir = tempDir('scan');
  t.teardown(() => removeDir(dir));
  const path = join(dir, 'f');
  const content = fc.array(fc.oneof(fc.constant(0x0a), fc.integer({ min: 0, max: 255 })), { maxLength: 300 }).map((a) => Buffer.from(a));
  fc.assert(
    fc.property(content, fc.integer({ min: 1, max: 40 }), fc.nat(), (buf, chunkBytes, fromSeed) => {
      writeFileSync(path, buf);
      const from = buf.length === 0 ? 0 : fromSeed % (buf.length + 1);
      const want = expected(buf, from);
      const got = scan(path, chunkBytes, from);
      deepStrictEqual({ lines: got.lines, tail: got.tail }, want);
      deepStrictEqual(got.result, { bytes: want.tail?.[0] ?? buf.length, lines: want.lines.length, stopped: false });
    }),
    { numRuns: 1500 },
  );
  t.pass('1500 files scanned');
});

t.test('stops when the sink says so and reports how far it read', async (t) => {
  const dir = tempDir('scan-stop');
  t.teardown(() => removeDir(dir));
  const path = join(dir, 'f');
  writeFileSync(path, 'aa\nbbb\ncccc\ntail');
  const got = scan(path, 4, 0, 2);
  t.same(got.lines.map((l) => l[2]), ['aa', 'bbb']);
  t.same(got.result, { bytes: 7, lines: 2, stopped: true });
  t.equal(got.tail, undefined, 'no tail is reported after a stop');
});
