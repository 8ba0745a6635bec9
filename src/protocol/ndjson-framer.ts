/**
 * Incremental newline framing at the byte level, for NDJSON over a stream socket.
 *
 * Hand-written on purpose. The `ndjson` package (and `split2` under it) treats an over-long line
 * as a stream error: it errors and ends the whole stream, so one bad line would cost the client its
 * connection and every request in flight on it. We must answer that line with an error and go on
 * with the next one, while never buffering more than `maxLineBytes` whatever the client sends.
 *
 * - Lines are split on byte 0x0A only. 0x0A never occurs inside a multi-byte UTF-8 sequence, so a
 *   chunk boundary inside a character is harmless: bytes are decoded only once a line is complete.
 * - One trailing `\r` is stripped (CRLF senders). Lines made only of JSON whitespace (space, tab,
 *   `\r`) are skipped. Other Unicode spaces (U+2028, U+00A0, ...) are content, not blanks.
 * - A line's size is its bytes between newlines, without the newline. A line over `maxLineBytes`
 *   yields one `oversized` item as soon as the limit is passed, and the rest of it, up to its next
 *   newline, is dropped as it arrives without being buffered.
 */

import { ArpdError } from '../errors/index.js';

export const DEFAULT_MAX_LINE_BYTES = 1_048_576;

export type FrameItem =
  | { readonly kind: 'line'; readonly text: string }
  /** `bytes`: how many bytes of the line had arrived when it passed the limit. */
  | { readonly kind: 'oversized'; readonly bytes: number };

export interface NdjsonFramerOptions {
  /** The largest line accepted, in bytes without the newline. Default 1 MiB. */
  maxLineBytes?: number;
}

const NEWLINE = 0x0a;
const BLANK = /^[ \t\r]*$/;

export class NdjsonFramer {
  readonly maxLineBytes: number;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private discarding = false;

  constructor(options: NdjsonFramerOptions = {}) {
    const max = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new ArpdError('E_VALIDATION', `maxLineBytes ${String(max)} is not allowed: use a positive whole number of bytes`, {
        field: 'maxLineBytes',
      });
    }
    this.maxLineBytes = max;
  }

  /** Bytes held for the line in progress; never more than `maxLineBytes`. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Feeds one chunk; returns the items it completes, in order. */
  push(chunk: Uint8Array): FrameItem[] {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    const out: FrameItem[] = [];
    let start = 0;
    while (start < bytes.length) {
      const nl = bytes.indexOf(NEWLINE, start);
      const end = nl === -1 ? bytes.length : nl;
      const segment = end - start;
      if (this.discarding) {
        // The rest of an oversized line: dropped as it arrives.
      } else if (this.pendingBytes + segment > this.maxLineBytes) {
        out.push({ kind: 'oversized', bytes: this.pendingBytes + segment });
        this.reset();
        this.discarding = true;
      } else if (nl === -1) {
        // Copy, so that a small remainder does not keep a large chunk alive.
        if (segment > 0) this.pending.push(Buffer.from(bytes.subarray(start, end)));
        this.pendingBytes += segment;
      } else {
        this.emit(this.takeLine(bytes.subarray(start, end)), out);
      }
      if (nl === -1) break;
      this.discarding = false;
      start = nl + 1;
    }
    return out;
  }

  /** The stream ended: returns the last line if it had no newline, and forgets all state. */
  end(): FrameItem[] {
    const out: FrameItem[] = [];
    if (!this.discarding && this.pendingBytes > 0) this.emit(this.takeLine(Buffer.alloc(0)), out);
    this.reset();
    this.discarding = false;
    return out;
  }

  private takeLine(tail: Buffer): Buffer {
    const line = this.pending.length === 0 ? tail : Buffer.concat([...this.pending, tail]);
    this.reset();
    return line;
  }

  private emit(line: Buffer, out: FrameItem[]): void {
    let text = line.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    if (!BLANK.test(text)) out.push({ kind: 'line', text });
  }

  private reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }
}
