import { crc32 } from 'node:zlib';
import { ArpdError } from '../errors/index.js';
import { crc32Of } from './crc32.js';
import { hex8 } from './hex.js';
import type { StoredEvent } from './envelope.js';
import { upcast } from './upcasters.js';

/** A log line is at most 1 MiB, newline included. A larger event is refused before anything is written. */
export const MAX_LINE_BYTES = 1024 * 1024;

/**
 * Line format: the envelope as one JSON object whose last member is `"crc":"<8 hex>"`, then `\n`.
 * The CRC32 covers every byte of the line before `,"crc":"`, so a flipped bit anywhere is detected,
 * not just one that breaks the JSON.
 */
const CRC_SUFFIX_BYTES = 18; // ,"crc":"XXXXXXXX"}
const CRC_PREFIX = ',"crc":"';


/** The tail of a line whose checksum is not filled in yet: `sealLines` writes the 8 hex digits over the zeros. */
const UNSEALED_TAIL = `${CRC_PREFIX}00000000"}\n`;

/** The envelope's JSON without its closing brace: every byte the checksum covers. */
function bodyOf(event: StoredEvent): string {
  const json = JSON.stringify({
    seq: event.seq, id: event.id, ts: event.ts, stream: event.stream, rev: event.rev,
    type: event.type, v: event.v, data: event.data, meta: event.meta,
  });
  return json.slice(0, -1);
}

function checkSize(line: string, event: StoredEvent, maxLineBytes: number): void {
  // Fast path: a UTF-16 length under a quarter of the limit cannot exceed it in UTF-8.
  if (line.length * 3 <= maxLineBytes) return;
  const bytes = Buffer.byteLength(line);
  if (bytes > maxLineBytes) {
    throw new ArpdError(
      'E_TOO_LARGE',
      `event ${event.type} is ${bytes} bytes, over the ${maxLineBytes}-byte line limit: store large payloads as artifacts and reference them`,
      { bytes, limit: maxLineBytes, type: event.type },
    );
  }
}

/** Encodes one stored event as a log line (with trailing newline). Throws E_TOO_LARGE past the limit. */
export function encodeLine(event: StoredEvent, maxLineBytes = MAX_LINE_BYTES): string {
  const body = bodyOf(event);
  const line = `${body}${CRC_PREFIX}${hex8(crc32(body))}"}\n`;
  checkSize(line, event, maxLineBytes);
  return line;
}

/**
 * The log line of one event with its checksum left as `00000000`, to be filled in by `sealLines` once the lines of a
 * commit are bytes: the writer turns its batch into UTF-8 once and sums each line in place, where `encodeLine` converts
 * each line to UTF-8 a second time just for its checksum. Throws E_TOO_LARGE past the limit.
 */
export function encodeUnsealedLine(event: StoredEvent, maxLineBytes = MAX_LINE_BYTES): string {
  const line = `${bodyOf(event)}${UNSEALED_TAIL}`;
  checkSize(line, event, maxLineBytes);
  return line;
}

const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/**
 * Fills in the checksum of every line in `buf` (whole lines from `encodeUnsealedLine`, as UTF-8), in place: the
 * bytes are then those of the same lines from `encodeLine`. A line ends at its first `\n` (JSON text has none raw,
 * and no byte of a multi-byte UTF-8 character is one).
 */
export function sealLines(buf: Buffer): void {
  let start = 0;
  for (let end = buf.indexOf(0x0a, start); end !== -1; end = buf.indexOf(0x0a, start)) {
    const bodyEnd = end - CRC_SUFFIX_BYTES;
    const crc = crc32Of(buf, start, bodyEnd);
    for (let i = 0, at = bodyEnd + CRC_PREFIX.length; i < 8; i++, at++) buf[at] = HEX_DIGITS[(crc >>> (28 - 4 * i)) & 0xf] as number;
    start = end + 1;
  }
}

export type DecodeResult = { ok: true; event: StoredEvent } | { ok: false; reason: string };

const C_QUOTE = 0x22;
const C_BRACE = 0x7d;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * Decodes one line (without its newline) from `buf[start, end)`. Checks the checksum, the JSON and
 * the envelope's shape. Never throws.
 */
export function decodeLine(buf: Buffer, start: number, end: number): DecodeResult {
  const len = end - start;
  if (len < CRC_SUFFIX_BYTES + 2) return { ok: false, reason: 'line too short' };
  const s = end - CRC_SUFFIX_BYTES;
  // ,"crc":"
  if (buf[s] !== 0x2c || buf[s + 1] !== C_QUOTE || buf[s + 2] !== 0x63 || buf[s + 3] !== 0x72 || buf[s + 4] !== 0x63
    || buf[s + 5] !== C_QUOTE || buf[s + 6] !== 0x3a || buf[s + 7] !== C_QUOTE || buf[end - 2] !== C_QUOTE || buf[end - 1] !== C_BRACE) {
    return { ok: false, reason: 'no checksum field at the end of the line' };
  }
  let want = 0;
  for (let i = s + 8; i < s + 16; i++) {
    const h = hexValue(buf[i] as number);
    if (h < 0) return { ok: false, reason: 'checksum is not 8 lowercase hex digits' };
    want = want * 16 + h;
  }
  const got = crc32Of(buf, start, s);
  if (got !== want) return { ok: false, reason: `checksum mismatch (line says ${hex8(want)}, content is ${hex8(got)})` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(buf.toString('utf8', start, s) + '}');
  } catch (err) {
    return { ok: false, reason: `bad JSON: ${(err as Error).message}` };
  }
  const e = parsed as Partial<StoredEvent> | null;
  if (e === null || typeof e !== 'object' || Array.isArray(e)
    || !Number.isSafeInteger(e.seq) || (e.seq as number) < 1
    || typeof e.id !== 'string' || typeof e.ts !== 'string' || typeof e.stream !== 'string'
    || !Number.isSafeInteger(e.rev) || (e.rev as number) < 1
    || typeof e.type !== 'string' || !Number.isSafeInteger(e.v)
    || e.data === null || typeof e.data !== 'object' || e.meta === null || typeof e.meta !== 'object') {
    return { ok: false, reason: 'the line is not an event envelope' };
  }
  return { ok: true, event: upcast(e as StoredEvent) };
}

/** Decodes a line given as a string (tests, tools). */
export function decodeLineString(line: string): DecodeResult {
  const buf = Buffer.from(line.endsWith('\n') ? line.slice(0, -1) : line, 'utf8');
  return decodeLine(buf, 0, buf.length);
}
