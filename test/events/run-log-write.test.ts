import t from 'tap';
import { writeWhole } from '../../src/events/run-log-queue.js';

/** A file that takes at most `room` bytes per write (a nearly full disk), then throws once `full` is reached. */
function shortWriter(room: number, full = Number.POSITIVE_INFINITY): { out: Buffer[]; write: (fd: number, d: string | Buffer, o?: number, l?: number) => number } {
  const out: Buffer[] = [];
  let total = 0;
  return {
    out,
    write: (_fd, d, o = 0, l) => {
      const bytes = typeof d === 'string' ? Buffer.from(d) : d.subarray(o, o + (l ?? d.length - o));
      if (total >= full) throw Object.assign(new Error('no space'), { code: 'ENOSPC' });
      const n = Math.min(room, bytes.length, full - total);
      out.push(Buffer.from(bytes.subarray(0, n)));
      total += n;
      return n;
    },
  };
}

t.test('a run log write that the disk takes in parts is written whole, multi-byte characters included', async (t) => {
  const text = `${JSON.stringify({ text: 'héllo wörld ✓'.repeat(20) })}\n${JSON.stringify({ n: 2 })}\n`;
  const w = shortWriter(7);
  writeWhole(3, text, w.write);
  t.equal(Buffer.concat(w.out).toString('utf8'), text);
  t.ok(w.out.length > 10, 'it took many writes');
});

t.test('a run log write whose rest fails throws the error instead of leaving a torn line silently', async (t) => {
  const w = shortWriter(10, 25);
  t.throws(() => writeWhole(3, 'x'.repeat(100), w.write), { code: 'ENOSPC' });
  const zero = (_fd: number, d: string | Buffer): number => (typeof d === 'string' ? 5 : 0);
  t.throws(() => writeWhole(3, 'y'.repeat(20), zero), { code: 'ENOSPC' }, 'a write that takes nothing is an error, not a loop');
});

t.test('a write taken whole at once is one write', async (t) => {
  const w = shortWriter(1 << 20);
  writeWhole(3, 'abc\n', w.write);
  t.equal(w.out.length, 1);
});
