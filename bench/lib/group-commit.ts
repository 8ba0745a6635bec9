import { closeSync, constants, fdatasyncSync, openSync, writeSync } from 'node:fs';

/**
 * The raw limit of a durable append: callers queue a line and a promise; one committer (scheduled
 * by setImmediate while the queue is not empty) writes every queued line with one writeSync, one
 * fdatasyncSync, then resolves them all. The same design as the baseline of `bench/log-append.ts`.
 */
export class BareGroupCommit {
  private lines: string[] = [];
  private waiters: Array<() => void> = [];
  private scheduled = false;
  private readonly fd: number;
  /** Number of write + fdatasync batches so far. */
  batches = 0;

  constructor(path: string) {
    this.fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  }

  /** Resolves once `text` (one or more whole lines) is written and fdatasynced. */
  append(text: string): Promise<void> {
    return new Promise((resolve) => {
      this.lines.push(text);
      this.waiters.push(resolve);
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.commit);
      }
    });
  }

  private readonly commit = (): void => {
    const lines = this.lines;
    const waiters = this.waiters;
    this.lines = [];
    this.waiters = [];
    const buf = Buffer.from(lines.join(''), 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    fdatasyncSync(this.fd);
    this.batches++;
    for (const w of waiters) w();
    if (this.lines.length > 0) setImmediate(this.commit);
    else this.scheduled = false;
  };

  close(): void {
    closeSync(this.fd);
  }
}

/** Latency of single appends of `line` (each write + fdatasync alone), in ms: what one durable event costs at the least. */
export function fdatasyncLatencies(path: string, line: string, count: number): number[] {
  const fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
  const out: number[] = [];
  try {
    const buf = Buffer.from(line, 'utf8');
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      writeSync(fd, buf);
      fdatasyncSync(fd);
      out.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
  }
  return out;
}
