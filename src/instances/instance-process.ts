import type { ChildProcess } from 'node:child_process';
import { closeSync, copyFileSync, openSync, readSync, statSync, truncateSync } from 'node:fs';
import { isSameProcess, type ProcessIdentity } from '../system/process-identity.js';
import { stopRecordedProcess, type StopOutcome } from '../system/process-stop.js';

/**
 * A managed runtime process on this host: our child (spawned by this daemon) or an adopted one (left
 * running by the previous daemon, known by its recorded identity). Only the process handle lives
 * here; everything else about the instance is in the projections.
 */
export class InstanceProcess {
  child: ChildProcess | undefined;
  exited: { code: number | null; signal: string | null } | undefined;
  private readonly exitWaiters: Array<() => void> = [];
  /** Set when arpd itself stops or kills it, so its exit is not reported as a crash. */
  stopping = false;
  readonly abort = new AbortController();

  constructor(readonly id: string, public identity: ProcessIdentity | undefined, readonly outPath: string, readonly errPath: string) {}

  attach(child: ChildProcess, identity: ProcessIdentity, onExit: (code: number | null, signal: string | null) => void): void {
    this.child = child;
    this.identity = identity;
    child.on('exit', (code, signal) => {
      this.exited = { code, signal };
      this.child = undefined;
      for (const w of this.exitWaiters.splice(0)) w();
      onExit(code, signal);
    });
  }

  /** Is the process still there? (our child: until 'exit'; adopted: by pid + start time) */
  alive(): boolean {
    if (this.child !== undefined) return this.exited === undefined;
    return this.identity !== undefined && isSameProcess(this.identity);
  }

  private waitGone(ms: number): Promise<boolean> {
    if (this.child === undefined) return Promise.resolve(this.exited !== undefined || this.identity === undefined || !isSameProcess(this.identity));
    if (this.exited !== undefined) return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(this.exited !== undefined), ms);
      this.exitWaiters.push(() => { clearTimeout(t); resolve(true); });
    });
  }

  /** SIGTERM the group, wait `graceMs`, SIGKILL; resolves with how it ended. */
  async stop(graceMs: number): Promise<{ outcome: StopOutcome; code: number | null; signal: string | null }> {
    this.stopping = true;
    this.abort.abort();
    if (this.identity === undefined) return { outcome: 'gone', code: null, signal: null };
    const outcome = await stopRecordedProcess(this.identity, {
      group: true,
      graceMs,
      ...(this.child === undefined ? {} : { waitGone: (ms: number) => this.waitGone(ms) }),
    });
    return { outcome, code: this.exited?.code ?? null, signal: this.exited?.signal ?? null };
  }

  /** Rotates an output file past `cap` bytes (the child writes with O_APPEND and goes on at the new end). */
  capLogs(cap: number): void {
    for (const path of [this.outPath, this.errPath]) {
      try {
        if (statSync(path).size > cap) {
          copyFileSync(path, `${path}.1`);
          truncateSync(path, 0);
        }
      } catch { /* no file yet */ }
    }
  }
}

/** The last `lines` non-empty lines of a file (at most `maxBytes` read from its end). */
export function tailOf(path: string, lines = 20, maxBytes = 16 * 1024): string {
  try {
    const size = statSync(path).size;
    const fd = openSync(path, 'r');
    try {
      const n = Math.min(size, maxBytes);
      const buf = Buffer.alloc(n);
      readSync(fd, buf, 0, n, size - n);
      return buf.toString('utf8').split('\n').filter((l) => l.trim() !== '').slice(-lines).join('\n');
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}
