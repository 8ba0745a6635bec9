import { close, mkdir, open, rmdir, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { isValidId } from '../ids/id-rules.js';
import type { StoredEvent } from './envelope.js';
import { encodeTraceLine } from './trace-line.js';

/**
 * Writes the per-run logs `runs/<run_id>/trace.jsonl`, off the commit path. They are derived from the global log: the
 * store hands a commit's events here after the commit is durable and acknowledged (`add`), so a run log is never
 * ahead of the global log; the lines are written a moment later, one write per run for everything that arrived
 * meanwhile. After a crash a run log that is behind (or was never created) is completed at boot (`run-log-reconcile.ts`).
 *
 * A run's directory and file are created when the run leaves the queue (its first event past `run.accepted` and
 * `run.queued`: routed, canceled, failed...), before its first trace line, or when someone reads its trace: a burst
 * of submits that queue costs no file system work. Until then its lines wait here (`deferred`). A snapshot has them
 * created first (`allWritten`), since a boot from it completes only the run logs of the log's tail; a clean stop
 * leaves them (then it takes no snapshot, and the next boot finds these runs in the tail it replays and leaves their
 * logs uncreated again: `seed`).
 * Directories and files are created on the thread pool (`mkdir`, `open`), one at a time: several `mkdir`s in the one
 * `runs/` directory at once contend for its lock in the kernel and cost several times the CPU (measured: BENCHMARKS.md).
 * A run about to need its file goes before the runs a snapshot asks for. A creation already on the thread pool when its
 * log is closed (`close`, `forget`) goes no further: no file is opened, and the directory it made is removed if empty.
 *
 * A pruned run's log is forgotten when its `runs.pruned` event is handed over (before the fold deletes its directory).
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
  /** Removes a directory if it is empty (any error is ignored: one that holds files stays). */
  rmdir(dir: string, cb: () => void): void;
}

const realIo: RunLogIo = {
  mkdir: (dir, cb) => mkdir(dir, { mode: 0o700 }, (err) => cb(err !== null && err.code !== 'EEXIST' ? err : null)),
  open: (path, cb) => open(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600, cb),
  write: (fd, text) => writeWhole(fd, text),
  close: (fd) => close(fd, () => undefined),
  rmdir: (dir, cb) => rmdir(dir, () => cb()),
};

interface RunLog {
  /** Open descriptor; undefined while it is being opened. */
  fd: number | undefined;
  /** Events handed over and not written yet, in order. */
  queue: StoredEvent[];
  /** Resolved when the queue is written (or dropped after a failure). */
  waiters: Array<() => void>;
  /** Creates the directory and file; defined while the creation waits its turn. */
  start?: (() => void) | undefined;
}

/** Events of a run that leave its log uncreated (it waits in the queue). */
const DEFERRABLE = new Set(['run.accepted', 'run.queued']);

type WriteFn = (fd: number, data: string | Buffer, offset?: number, length?: number) => number;

/**
 * Writes all of `text`: a nearly full disk takes part of a write without an error, and the rest is then written (or
 * its error thrown), never dropped, which would glue the next line to a torn one.
 */
export function writeWhole(fd: number, text: string, write: WriteFn = (f, d, o, l) => (typeof d === 'string' ? writeSync(f, d) : writeSync(f, d, o, l))): void {
  const n = write(fd, text);
  if (n >= text.length && n === Buffer.byteLength(text)) return;
  const buf = Buffer.from(text);
  for (let off = n; off < buf.length;) {
    const more = write(fd, buf, off, buf.length - off);
    if (more <= 0) throw Object.assign(new Error(`a write of a run log wrote nothing (${buf.length - off} bytes left)`), { code: 'ENOSPC' });
    off += more;
  }
}

/** True for the events of a run still waiting in the queue: its log need not exist yet. */
export function defersRunLog(type: string): boolean {
  return DEFERRABLE.has(type);
}

export class RunLogQueue {
  /** Runs with a log open, being opened, or waiting to be created. */
  private readonly logs = new Map<string, RunLog>();
  /** Runs with an open descriptor, least recently used first. */
  private readonly openLogs = new Map<string, RunLog>();
  /** Queued runs whose log is not created yet: their lines so far, in order. */
  private readonly deferred = new Map<string, StoredEvent[]>();
  /** Creations waiting for their turn (one at a time): runs that need their file now, then the rest. */
  private readonly toCreate: { now: RunLog[]; later: RunLog[] } = { now: [], later: [] };
  private creating = false;
  /** Runs with queued events, written at the next flush. */
  private readonly dirty = new Set<string>();
  /** Runs whose log lacks lines in this process (a write or an open failed). */
  private readonly broken = new Set<string>();
  private flushScheduled = false;
  private readonly io: RunLogIo;
  failures = 0;

  /** `seed`: runs still queued whose logs a boot left uncreated, with their lines so far. */
  constructor(private readonly runsDir: string, io: Partial<RunLogIo> = {}, private readonly maxOpen = 256, seed?: ReadonlyMap<string, readonly StoredEvent[]>) {
    this.io = { ...realIo, ...io };
    if (seed !== undefined) for (const [runId, events] of seed) this.deferred.set(runId, [...events]);
  }

  /** Runs whose log is not created yet (they wait in the queue). */
  get waiting(): number {
    return this.deferred.size;
  }

  /** Hands over a commit's events (already durable); the run events among them are written shortly. */
  add(events: readonly StoredEvent[]): void {
    for (const e of events) {
      if (e.type === 'runs.pruned') {
        // their directories are deleted as the event is folded: a later run that uses the id again opens a new log
        // rather than writing into the deleted file (where its lines would be lost)
        for (const r of e.data.runs) this.forget(r.run_id);
        continue;
      }
      if (!e.stream.startsWith('run:')) continue;
      const runId = e.stream.slice(4);
      let log = this.logs.get(runId);
      if (log === undefined) {
        if (DEFERRABLE.has(e.type)) {
          const early = this.deferred.get(runId);
          if (early === undefined) this.deferred.set(runId, [e]);
          else early.push(e);
          continue;
        }
        log = this.create(runId, true);
      } else if (log.start !== undefined) {
        this.hurry(log);
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
    if (this.deferred.has(runId)) this.create(runId, true);
    const log = this.logs.get(runId);
    if (log?.start !== undefined) this.hurry(log);
    return this.waitFor(runId, log);
  }

  private waitFor(runId: string, log: RunLog | undefined): Promise<void> {
    if (log === undefined || (log.queue.length === 0 && log.fd !== undefined)) return Promise.resolve();
    if (log.fd !== undefined) {
      this.writeOne(runId, log);
      return Promise.resolve();
    }
    return new Promise((resolve) => log.waiters.push(resolve));
  }

  /**
   * Resolves once every line handed over so far is written (or known lost). Lines handed over later are not waited
   * for: a steady stream of new runs never holds it up. `queuedToo: false` leaves the logs of queued runs uncreated.
   */
  allWritten(opts: { queuedToo?: boolean } = {}): Promise<void> {
    if (opts.queuedToo !== false) for (const runId of [...this.deferred.keys()]) this.create(runId, false);
    this.flush();
    const waits: Array<Promise<void>> = [];
    for (const [runId, log] of this.logs) if (log.fd === undefined) waits.push(this.waitFor(runId, log));
    return waits.length === 0 ? Promise.resolve() : Promise.all(waits).then(() => undefined);
  }

  /** Starts creating a run's log, with the lines it deferred queued first. */
  private create(runId: string, urgent: boolean): RunLog {
    const early = this.deferred.get(runId);
    this.deferred.delete(runId);
    const log: RunLog = { fd: undefined, queue: early ?? [], waiters: [] };
    this.logs.set(runId, log);
    if (log.queue.length > 0) this.dirty.add(runId);
    this.openLog(runId, log, urgent);
    return log;
  }

  /** A log waiting behind a snapshot's creations is needed now: it goes first. */
  private hurry(log: RunLog): void {
    if (!this.toCreate.now.includes(log)) this.toCreate.now.push(log);
    this.nextCreation();
  }

  /** Starts the next creation waiting, if none is under way. */
  private nextCreation(): void {
    while (!this.creating) {
      const log = this.toCreate.now.shift() ?? this.toCreate.later.shift();
      if (log === undefined) return;
      const start = log.start;
      if (start === undefined) continue; // started already (hurried), or forgotten
      log.start = undefined;
      this.creating = true;
      start();
    }
  }

  private openLog(runId: string, log: RunLog, urgent: boolean): void {
    const done = (err: unknown, fd?: number): void => {
      if (this.logs.get(runId) !== log) {
        // forgotten while opening (its directory is being deleted)
        if (fd !== undefined) this.io.close(fd);
      } else if (err !== null && err !== undefined) {
        this.drop(runId, log);
      } else {
        log.fd = fd;
        this.openLogs.set(runId, log);
        this.writeOne(runId, log);
        this.evict();
      }
    };
    if (!isValidId(runId)) {
      queueMicrotask(() => done(new Error(`refusing run log path for id ${JSON.stringify(runId)}`)));
      return;
    }
    const dir = join(this.runsDir, runId);
    const finished = (err: unknown, fd?: number): void => {
      this.creating = false;
      try {
        done(err, fd);
      } finally {
        this.nextCreation();
      }
    };
    log.start = () => {
      if (this.logs.get(runId) !== log) { finished(null); return; } // forgotten while waiting its turn
      this.io.mkdir(dir, (err) => {
        if (err !== null) { finished(err); return; }
        // closed or forgotten while the mkdir was on the thread pool: no file is created, and the directory it may
        // have just made (empty) is taken back before the next creation starts
        if (this.logs.get(runId) !== log) { this.io.rmdir(dir, () => finished(null)); return; }
        this.io.open(join(dir, 'trace.jsonl'), (err2, fd) => finished(err2, err2 === null ? fd : undefined));
      });
    };
    (urgent ? this.toCreate.now : this.toCreate.later).push(log);
    this.nextCreation();
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
      this.openLogs.delete(runId);
      this.openLogs.set(runId, log);
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
    if (this.openLogs.size <= this.maxOpen) return;
    for (const [runId, log] of this.openLogs) {
      if (this.openLogs.size <= this.maxOpen) break;
      if (log.fd === undefined || log.queue.length > 0) continue;
      this.openLogs.delete(runId);
      this.logs.delete(runId);
      this.io.close(log.fd);
    }
  }

  /** Forgets a run's log (e.g. before its directory is deleted): queued lines of it are dropped. */
  forget(runId: string): void {
    this.deferred.delete(runId);
    const log = this.logs.get(runId);
    if (log === undefined) return;
    log.start = undefined;
    this.logs.delete(runId);
    this.openLogs.delete(runId);
    this.dirty.delete(runId);
    if (log.fd !== undefined) this.io.close(log.fd);
    for (const w of log.waiters) w();
    log.waiters = [];
  }

  /** Closes every descriptor (after `allWritten()`, at a clean stop). */
  close(): void {
    this.openLogs.clear();
    for (const [runId, log] of [...this.logs]) {
      log.start = undefined;
      this.logs.delete(runId);
      if (log.fd !== undefined) {
        try { this.io.close(log.fd); } catch { /* best effort at shutdown */ }
      }
    }
  }
}
