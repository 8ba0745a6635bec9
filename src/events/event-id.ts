import { randomBytes } from 'node:crypto';
import { HEX2 } from './hex.js';

const hex = (byte: number): string => HEX2[byte] as string;

/**
 * Time-ordered unique event ids: UUIDv7 (RFC 9562) with a 12-bit counter in `rand_a` so ids made in
 * the same millisecond still sort in creation order. Only the store calls this. Ids are made one per event (a burst
 * of trace lines makes thousands a second): the time part is formatted once per millisecond, and the random bytes
 * are read in place through a hex table.
 */
export function createEventIdFactory(now: () => number = Date.now): () => string {
  let lastMs = -1;
  let counter = 0;
  let pool = randomBytes(4096);
  let poolPos = 0;
  let prefixMs = -1;
  let prefix = '';
  return () => {
    let ms = now();
    if (ms <= lastMs) {
      ms = lastMs;
      counter++;
      if (counter > 0xfff) { ms = lastMs + 1; counter = 0; }
    } else {
      counter = 0;
    }
    lastMs = ms;
    if (ms !== prefixMs) {
      const tsHex = ms.toString(16).padStart(12, '0');
      prefix = `${tsHex.slice(0, 8)}-${tsHex.slice(8, 12)}-`;
      prefixMs = ms;
    }
    if (poolPos + 8 > pool.length) { pool = randomBytes(4096); poolPos = 0; }
    const p = pool;
    const i = poolPos;
    poolPos += 8;
    const a = (0x7000 | counter).toString(16);
    const b = hex(((p[i] as number) & 0x3f) | 0x80) + hex(p[i + 1] as number);
    const c = hex(p[i + 2] as number) + hex(p[i + 3] as number) + hex(p[i + 4] as number) + hex(p[i + 5] as number) + hex(p[i + 6] as number) + hex(p[i + 7] as number);
    return `${prefix}${a}-${b}-${c}`;
  };
}
