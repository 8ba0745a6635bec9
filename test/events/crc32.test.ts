import fc from 'fast-check';
import t from 'tap';
import { crc32 } from 'node:zlib';
import { crc32Of } from '../../src/events/crc32.js';

t.test('gives the CRC-32 zlib gives for any bytes at any place in a buffer', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.nat(), (bytes, a, b) => {
    const start = bytes.length === 0 ? 0 : a % (bytes.length + 1);
    const end = start + (bytes.length === start ? 0 : b % (bytes.length - start + 1));
    const want = crc32(bytes.subarray(start, end));
    const got = crc32Of(bytes, start, end);
    if (got !== want) throw new Error(`bytes [${start}, ${end}) of ${bytes.length}: ${got.toString(16)}, zlib says ${want.toString(16)}`);
  }), { numRuns: 2000 });
  t.pass('every case agreed');
});

t.test('sums an empty range to 0 and a known text to its published value', async (t) => {
  t.equal(crc32Of(Buffer.alloc(4), 2, 2), 0);
  t.equal(crc32Of(Buffer.from('123456789'), 0, 9), 0xcbf43926, 'the CRC-32 check value');
});
