import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { Logger } from 'pino';
import { listLogFiles } from '../events/log-files.js';

/**
 * Progress lines while a boot replays a long log (a first boot after an upgrade replays everything): at most one
 * `replayed N of M events` line every few seconds, so a daemon that is not ready yet says how far it is.
 * M is read once from the log's last line (unknown with only compressed segments: then the line says N alone).
 */
export class ReplayProgress {
  private count = 0;
  private readonly total: number | undefined;
  private next: number;
  private readonly t0: number;

  constructor(root: string, fromSeq: number, private readonly logger: Logger, private readonly everyMs = 5000, private readonly now: () => number = Date.now) {
    const head = lastSeqOnDisk(root);
    this.total = head === undefined || head <= fromSeq ? undefined : head - fromSeq;
    this.t0 = this.now();
    this.next = this.t0 + everyMs;
  }

  /** One event replayed (cheap: the clock is read once every 4,096 events). */
  tick(): void {
    if ((++this.count & 4095) !== 0) return;
    const t = this.now();
    if (t < this.next) return;
    this.next = t + this.everyMs;
    const of = this.total === undefined ? '' : ` of ${this.total.toLocaleString('en-US')}`;
    this.logger.info({ replayed: this.count, ...(this.total === undefined ? {} : { of: this.total }), ms: t - this.t0 }, `replayed ${this.count.toLocaleString('en-US')}${of} events`);
  }
}

/** The seq of the last whole line of the log on disk (undefined when none can be read cheaply). */
export function lastSeqOnDisk(root: string): number | undefined {
  for (const file of listLogFiles(root).reverse()) {
    if (file.compressed) return undefined;
    let fd: number;
    try { fd = openSync(file.path, 'r'); } catch { continue; }
    try {
      const size = fstatSync(fd).size;
      if (size === 0) continue;
      const len = Math.min(size, 1024 * 1024 + 1);
      const buf = Buffer.allocUnsafe(len);
      const n = readSync(fd, buf, 0, len, size - len);
      const text = buf.toString('utf8', 0, n);
      const end = text.lastIndexOf('\n');
      const start = text.lastIndexOf('\n', end - 1) + 1;
      if (end <= 0) continue;
      const m = /^\{"seq":(\d+),/.exec(text.slice(start, end));
      if (m !== null) return Number(m[1]);
    } finally {
      closeSync(fd);
    }
  }
  return undefined;
}
