import { close, mkdir, open, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { isValidId } from '../ids/id-rules.js';
import type { StoredEvent } from './envelope.js';
import { encodeTraceLine } from './trace-line.js';

/**
 * Writes the per-run logs `runs/<run_id>/trace.jsonl`, off the commit path. They are derived from the global log: the
 * store hands a commit's events here after the commit is durable and acknowledged (`add`), so a run log is never
 * ahead of the global log; the lines are written a moment later, one write per run for everything that arrived
 * meanwhile. A new run's directory and file are created on the thread pool (`mkdir`, `open`), never on the main
 * thread. After a crash a run log that is behind (or was never created) is completed at boot (`run-log-reconcile.ts`).
 *
 * A reader that must see every published line of a run waits for `written(runId)` first: it resolves once every line
 * handed over so far for that run is in the file (or could not be written: then `failed(runId)` is true and the
 * reader answers from the global log instead).
 *
 * Run logs are not fsynced here: a process crash loses nothing that `write` returned (it is in the page cache), and
 * an OS crash changes the boot id, which makes the next boot check every run log. The snapshotter fsyncs the run logs
 * a snapshot relies on, after `written()`.
 */

/** The file operations of a new run log, injectable so tests can hold or fail them. */
export interface RunLogIo {
  mkdir(dir: string, cb: (err: NodeJS.ErrnoException | null) => void): void;
  open(path: string, cb: (err: NodeJS.ErrnoException | null, fd: number) => void): void;
  write(fd: number, text: string): void;
  close(fd: number): void;
}

const realIo: RunLogIo = {
  mkdir: (dir, cb) => mkdir(dir, { mode: 0o700 }, (err) => cb(err !== null && err.code !== 'EEXIST' ? err : null)),
  open: (path, cb) => open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600, cb),
  write: (fd, text) => { writeSync(fd, text); },
  close: (fd) => close(fd, () => undefined),
};

interface RunLog {
  /** Open descriptor; undefined while it is being opened. */
  fd: number | undefined;
  /** Events handed over and not written yet, in order. */
  queue: StoredEvent[];
  /** Resolved when the queue is written (or dropped after a failure). */
  waiters: Array<() => void>;
}

export class RunLogQueue {
  /** Runs with an open descriptor or one being opened, least recently used first. */
  private readonly logs = new Map<string, RunLog>();
  /** Runs with queued events, written at the next flush. */
  private readonly dirty = new Set<string>();
  /** Runs whose log lacks lines in this process (a write or an open failed). */
  private readonly broken = new Set<string>();
  private flushScheduled = false;
  private readonly io: RunLogIo;
  failures = 0;

  constructor(private readonly runsDir: string, io: Partial<RunLogIo> = {}, private readonly maxOpen = 256) {
    this.io = { ...realIo, ...io };
  }

  /** Hands over a commit's events (already durable); the run events among them are written shortly. */
  add(events: readonly StoredEvent[]): void {
    for (const e of events) {
      if (!e.stream.startsWith('run:')) continue;
      const runId = e.stream.slice(4);
      let log = this.logs.get(runId);
      if (log === undefined) {
        log = { fd: undefined, queue: [], waiters: [] };
        this.logs.set(runId, log);
        this.openLog(runId, log);
      }
      log.queue.push(e);
      this.dirty.add(runId);
    }
    if (this.dirty.size > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** True when a line of this run could not be written in this process (read it from the global log). */
  failed(runId: string): boolean {
    return this.broken.has(runId);
  }

  /** Resolves once every line of `runId` handed over so far is written (or known lost: see `failed`). */
  written(runId: string): Promise<void> {
    const log = this.logs.get(runId);
    if (log === undefined || (log.queue.length === 0 && log.fd !== undefined)) return Promise.resolve();
    if (log.fd !== undefined) {
      this.writeOne(runId, log);
      return Promise.resolve();
    }
    return new Promise((resolve) => log.waiters.push(resolve));
  }

  /**
   * Resolves once every line handed over so far is written (or known lost). Lines handed over later are not waited
   * for: a steady stream of new runs never holds it up.
   */
  allWritten(): Promise<void> {
    this.flush();
    const waits: Array<Promise<void>> = [];
    for (const [runId, log] of this.logs) if (log.fd === undefined) waits.push(this.written(runId));
    return waits.length === 0 ? Promise.resolve() : Promise.all(waits).then(() => undefined);
  }

  private openLog(runId: string, log: RunLog): void {
    const done = (err: unknown, fd?: number): void => {
      if (this.logs.get(runId) !== log) {
        // forgotten while opening (its directory is being deleted)
        if (fd !== undefined) this.io.close(fd);
      } else if (err !== null && err !== undefined) {
        this.drop(runId, log);
      } else {
        log.fd = fd;
        this.writeOne(runId, log);
        this.evict();
      }
    };
    if (!isValidId(runId)) {
      queueMicrotask(() => done(new Error(`refusing run log path for id ${JSON.stringify(runId)}`)));
      return;
    }
    const dir = join(this.runsDir, runId);
    this.io.mkdir(dir, (err) => {
      if (err !== null) { done(err); return; }
      this.io.open(join(dir, 'trace.jsonl'), (err2, fd) => done(err2, err2 === null ? fd : undefined));
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const runId of this.dirty) {
      const log = this.logs.get(runId);
      if (log === undefined) { this.dirty.delete(runId); continue; }
      if (log.fd !== undefined) this.writeOne(runId, log);
    }
  }

  /** One write for everything queued for this run. */
  private writeOne(runId: string, log: RunLog): void {
    if (log.queue.length > 0 && log.fd !== undefined && this.broken.has(runId)) {
      // after a failed write nothing more is appended: a line missing in the middle would look whole at boot,
      // which completes the log from its last line
      log.queue = [];
    } else if (log.queue.length > 0 && log.fd !== undefined) {
      let text = '';
      for (const e of log.queue) text += encodeTraceLine(e, runId);
      log.queue = [];
      try {
        this.io.write(log.fd, text);
      } catch {
        this.failures++;
        this.broken.add(runId);
      }
      // most recently used last
      this.logs.delete(runId);
      this.logs.set(runId, log);
    }
    this.dirty.delete(runId);
    const waiters = log.waiters;
    log.waiters = [];
    for (const w of waiters) w();
  }

  /** A run log that could not be opened: its queued lines are lost here (the next boot writes them). */
  private drop(runId: string, log: RunLog): void {
    if (log.queue.length > 0) { this.failures++; this.broken.add(runId); }
    log.queue = [];
    this.logs.delete(runId);
    this.dirty.delete(runId);
    for (const w of log.waiters) w();
    log.waiters = [];
  }

  /** Closes the least recently used descriptors past `maxOpen` (never one with lines still queued). */
  private evict(): void {
    if (this.logs.size <= this.maxOpen) return;
    for (const [runId, log] of this.logs) {
      if (this.logs.size <= this.maxOpen) break;
      if (log.fd === undefined || log.queue.length > 0) continue;
      this.logs.delete(runId);
      this.io.close(log.fd);
    }
  }

  /** Forgets a run's log (e.g. before its directory is deleted): queued lines of it are dropped. */
  forget(runId: string): void {
    const log = this.logs.get(runId);
    if (log === undefined) return;
    this.logs.delete(runId);
    this.dirty.delete(runId);
    if (log.fd !== undefined) this.io.close(log.fd);
    for (const w of log.waiters) w();
    log.waiters = [];
  }

  /** Closes every descriptor (after `allWritten()`, at a clean stop). */
  close(): void {
    for (const [runId, log] of [...this.logs]) {
      this.logs.delete(runId);
      if (log.fd !== undefined) {
        try { this.io.close(log.fd); } catch { /* best effort at shutdown */ }
      }
    }
  }
}
