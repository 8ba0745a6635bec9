import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import type { TraceLine } from './trace-line.js';

/**
 * Reads a run's own log (`runs/<id>/trace.jsonl`). Trace lines are never held in memory by the
 * daemon: they are read from here when asked.
 */

export function readTraceLines(path: string, opts: { fromSeq?: number | undefined; limit?: number | undefined } = {}): TraceLine[] {
  if (!existsSync(path)) return [];
  const from = opts.fromSeq ?? 1;
  const limit = opts.limit ?? Number.MAX_SAFE_INTEGER;
  const out: TraceLine[] = [];
  const text = readFileSync(path, 'utf8');
  let start = 0;
  let lineNo = 0;
  while (start < text.length && out.length < limit) {
    const nl = text.indexOf('\n', start);
    if (nl === -1) break; // a line still being written
    lineNo++;
    if (lineNo >= from) {
      try {
        out.push(JSON.parse(text.slice(start, nl)) as TraceLine);
      } catch { /* a damaged line: `arpd log verify` reports it */ }
    }
    start = nl + 1;
  }
  return out;
}

/** The line with this seq, looked up from the end (the terminal event is the last line). */
export function readTraceLineAt(path: string, seq: number): TraceLine | undefined {
  if (!existsSync(path)) return undefined;
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    let window = Math.min(size, 64 * 1024);
    for (;;) {
      const buf = Buffer.allocUnsafe(window);
      readSync(fd, buf, 0, window, size - window);
      const lines = buf.toString('utf8').split('\n');
      if (window < size) lines.shift(); // may be cut
      for (let i = lines.length - 1; i >= 0; i--) {
        const l = lines[i] as string;
        if (l === '') continue;
        try {
          const parsed = JSON.parse(l) as TraceLine;
          if (parsed.seq === seq) return parsed;
          if (parsed.seq < seq) return undefined;
        } catch { /* skip */ }
      }
      if (window >= size) return undefined;
      window = Math.min(size, window * 8);
    }
  } finally {
    closeSync(fd);
  }
}
