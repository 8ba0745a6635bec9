import { closeSync, mkdirSync, openSync, writeSync, constants } from 'node:fs';
import { join } from 'node:path';
import { isValidId } from '../ids/id-rules.js';

/**
 * Writes the per-run logs `runs/<run_id>/trace.jsonl`. They are derived from the global log: a line
 * is written only after its event is durable in the global log, so a run log is never ahead of it;
 * after a crash a run log that is behind is completed at boot (see `run-log-reconcile.ts`).
 * Open file descriptors are cached (least recently used closed past `maxOpen`).
 *
 * Run logs are not fsynced: a process crash loses nothing that `write` returned (it is in the page
 * cache), and an OS crash changes the boot id, which makes the next boot check every run log.
 */
export class RunLogWriter {
  private readonly fds = new Map<string, number>();

  constructor(private readonly runsDir: string, private readonly maxOpen = 256) {}

  private fdFor(runId: string): number {
    const cached = this.fds.get(runId);
    if (cached !== undefined) {
      // refresh LRU position
      this.fds.delete(runId);
      this.fds.set(runId, cached);
      return cached;
    }
    if (!isValidId(runId)) throw new Error(`refusing run log path for id ${JSON.stringify(runId)}`);
    const dir = join(this.runsDir, runId);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const fd = openSync(join(dir, 'trace.jsonl'), constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o600);
    this.fds.set(runId, fd);
    if (this.fds.size > this.maxOpen) {
      const [oldId, oldFd] = this.fds.entries().next().value as [string, number];
      this.closeOne(oldId, oldFd);
    }
    return fd;
  }

  private closeOne(runId: string, fd: number): void {
    this.fds.delete(runId);
    closeSync(fd);
  }

  append(runId: string, text: string): void {
    const fd = this.fdFor(runId);
    writeSync(fd, text);
  }

  /** Forgets a run's cached descriptor (e.g. before its directory is deleted). */
  forget(runId: string): void {
    const fd = this.fds.get(runId);
    if (fd !== undefined) this.closeOne(runId, fd);
  }

  /** Closes every cached descriptor. */
  close(): void {
    for (const [runId, fd] of [...this.fds]) {
      try { this.closeOne(runId, fd); } catch { /* best effort at shutdown */ }
    }
  }
}
