import { closeSync, openSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { ArpdError } from '../errors/index.js';

/**
 * Reads a log file line by line at the Buffer level (no per-chunk string decoding, no stream
 * machinery): the fastest honest way to fold a large JSONL file. Lines end at byte 0x0A; a final
 * fragment without a newline is reported separately as the tail.
 */
export interface LineSink {
  /** A complete line is buf[start, end) (newline excluded), at byte `offset` of the file, 1-based `lineNo`. Return false to stop. */
  line(buf: Buffer, start: number, end: number, offset: number, lineNo: number): boolean | void;
  /** Bytes after the last newline (a torn or still-being-written line). */
  tail?(offset: number, bytes: number): void;
}

const NL = 0x0a;

/** A compressed segment (`.jsonl.gz`, see log-compact.ts) is inflated whole (a segment is at most its roll size). */
export function scanBuffer(buf: Buffer, sink: LineSink, fromOffset = 0): { bytes: number; lines: number; stopped: boolean } {
  let start = fromOffset;
  let lineNo = 0;
  let nl = buf.indexOf(NL, start);
  while (nl !== -1) {
    lineNo++;
    if (sink.line(buf, start, nl, start, lineNo) === false) return { bytes: nl + 1, lines: lineNo, stopped: true };
    start = nl + 1;
    nl = buf.indexOf(NL, start);
  }
  if (start < buf.length) sink.tail?.(start, buf.length - start);
  return { bytes: start, lines: lineNo, stopped: false };
}

export function scanFile(path: string, sink: LineSink, opts: { fromOffset?: number; chunkBytes?: number } = {}): { bytes: number; lines: number; stopped: boolean } {
  if (path.endsWith('.gz')) {
    let buf: Buffer;
    try {
      buf = gunzipSync(readFileSync(path));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES') throw err;
      throw new ArpdError('E_LOG_CORRUPT', `the compressed log segment ${path} cannot be inflated (${(err as Error).message}): restore it from a backup, or move it aside and start from the newest snapshot`, { file: path });
    }
    return scanBuffer(buf, sink, opts.fromOffset ?? 0);
  }
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const chunkBytes = opts.chunkBytes ?? 8 * 1024 * 1024;
    let buf = Buffer.allocUnsafe(chunkBytes);
    let filePos = opts.fromOffset ?? 0; // file offset of buf[0]
    let have = 0; // valid bytes in buf
    let lineNo = 0;
    while (filePos + have < size) {
      if (have === buf.length) {
        // one line longer than the buffer: grow
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const n = readSync(fd, buf, have, buf.length - have, filePos + have);
      if (n === 0) break;
      const end = have + n;
      const view = buf.subarray(0, end); // search only the bytes read, never the stale rest of the buffer
      let start = 0;
      let nl = view.indexOf(NL, have);
      while (nl !== -1) {
        lineNo++;
        if (sink.line(buf, start, nl, filePos + start, lineNo) === false) {
          return { bytes: filePos + nl + 1, lines: lineNo, stopped: true };
        }
        start = nl + 1;
        nl = start < end ? view.indexOf(NL, start) : -1;
      }
      // move the unfinished line to the front
      if (start > 0) {
        buf.copy(buf, 0, start, end);
        filePos += start;
        have = end - start;
      } else {
        have = end;
      }
    }
    if (have > 0) sink.tail?.(filePos, have);
    return { bytes: filePos, lines: lineNo, stopped: false };
  } finally {
    closeSync(fd);
  }
}
