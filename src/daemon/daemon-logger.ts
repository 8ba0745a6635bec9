import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type Logger } from 'pino';

/**
 * The daemon's own log: JSON lines via pino into `logs/daemon.log`, rotated by size
 * (`daemon.log.1` … `.N`). Writes are synchronous so that a fatal error is on disk before exit:
 * a daemon never dies silently. With `alsoStderr` (foreground `arpd serve`), every line also goes
 * to stderr.
 */
export class RotatingFile {
  private fd: number;
  private size: number;

  constructor(readonly path: string, private readonly maxBytes = 10 * 1024 * 1024, private readonly keep = 3, private alsoStderr = false) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.fd = openSync(path, 'a', 0o600);
    this.size = fstatSync(this.fd).size;
  }

  write(line: string): boolean {
    if (this.fd < 0) {
      // closed: a late line goes to stderr, never to whatever file now has our old descriptor number
      try { writeSync(2, line); } catch { /* stderr gone */ }
      return true;
    }
    const bytes = Buffer.byteLength(line);
    try {
      if (this.size + bytes > this.maxBytes && this.size > 0) this.rotate();
      writeSync(this.fd, line);
      this.size += bytes;
    } catch {
      // a full or read-only disk must not take the daemon down with its own log: the line goes to stderr
      if (!this.alsoStderr) { try { writeSync(2, line); } catch { /* stderr gone */ } }
    }
    if (this.alsoStderr) {
      try { writeSync(2, line); } catch { /* stderr gone */ }
    }
    return true;
  }

  private rotate(): void {
    closeSync(this.fd);
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) {
      try { renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`); } catch { /* missing */ }
    }
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, 'a', 0o600);
    this.size = 0;
  }

  /** Lines from now on go to the file only (the caller reports to the user in its own words). */
  fileOnly(): void {
    this.alsoStderr = false;
  }

  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    try { closeSync(fd); } catch { /* closed */ }
  }
}

export function createDaemonLogger(path: string, opts: { alsoStderr: boolean; level?: string; maxBytes?: number }): { logger: Logger; file: RotatingFile } {
  const file = new RotatingFile(path, opts.maxBytes, 3, opts.alsoStderr);
  const logger = pino({ level: opts.level ?? 'info', base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime }, file);
  return { logger, file };
}
