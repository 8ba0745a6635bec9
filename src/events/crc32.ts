/**
 * CRC-32 (the zlib / IEEE 802.3 one, the same value as `zlib.crc32`) of `buf[start, end)`, read in place. Decoding
 * the log checks one per line: zlib's needs a Buffer view of the line (an object per line) and a call into C++,
 * which for lines of a few hundred bytes costs more than the sum itself; this reads 8 bytes per step through 8
 * tables ("slicing-by-8", Intel 2006).
 */

const TABLES = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLES[n] = c;
}
for (let n = 0; n < 256; n++) {
  for (let t = 1; t < 8; t++) {
    const prev = TABLES[(t - 1) * 256 + n] as number;
    TABLES[t * 256 + n] = (prev >>> 8) ^ (TABLES[prev & 0xff] as number);
  }
}

export function crc32Of(buf: Uint8Array, start: number, end: number): number {
  const T = TABLES;
  let c = -1;
  let i = start;
  for (const last = end - 8; i <= last; i += 8) {
    const a = ((buf[i] as number) | ((buf[i + 1] as number) << 8) | ((buf[i + 2] as number) << 16) | ((buf[i + 3] as number) << 24)) ^ c;
    c = (T[1792 + (a & 0xff)] as number) ^ (T[1536 + ((a >>> 8) & 0xff)] as number) ^ (T[1280 + ((a >>> 16) & 0xff)] as number)
      ^ (T[1024 + (a >>> 24)] as number) ^ (T[768 + (buf[i + 4] as number)] as number) ^ (T[512 + (buf[i + 5] as number)] as number)
      ^ (T[256 + (buf[i + 6] as number)] as number) ^ (T[buf[i + 7] as number] as number);
  }
  for (; i < end; i++) c = (T[(c ^ (buf[i] as number)) & 0xff] as number) ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
