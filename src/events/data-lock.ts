import { closeSync, openSync, readFileSync, unlinkSync, writeSync, fsyncSync, constants, statSync } from 'node:fs';
import { ArpdError } from '../errors/index.js';
import { identityOf, isSameProcess, type ProcessIdentity } from '../system/process-identity.js';

/**
 * `arpd.lock`: held by the one process that may write the log. The file records pid, process start
 * time, boot id and a human start time, so that a lock left by a dead process (or a previous boot) is
 * recognised as stale and taken over safely.
 *
 * Taking over a stale lock is serialised through `arpd.lock.takeover` (created O_EXCL): only the holder
 * of the takeover file may unlink `arpd.lock`, and only after reading it again as stale. A fresh lock
 * is only ever created with O_EXCL, so two starters can never both hold it.
 */

export interface LockInfo extends ProcessIdentity {
  started_at: string;
  version?: string;
}

export interface HeldLock {
  path: string;
  info: LockInfo;
  release(): void;
}

function readLock(path: string): LockInfo | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<LockInfo>;
    if (typeof parsed.pid === 'number') {
      return {
        pid: parsed.pid,
        start_time: typeof parsed.start_time === 'string' ? parsed.start_time : '',
        boot_id: typeof parsed.boot_id === 'string' ? parsed.boot_id : '',
        started_at: typeof parsed.started_at === 'string' ? parsed.started_at : 'an unknown time',
      };
    }
    return undefined;
  } catch {
    return undefined;
  }
}

function tryCreate(path: string, content: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** A lock file with unreadable content older than this is a torn write by a dead process. */
const TORN_GRACE_MS = 2000;

function isStale(path: string, info: LockInfo | undefined): boolean {
  if (info === undefined) {
    try {
      return Date.now() - statSync(path).mtimeMs > TORN_GRACE_MS;
    } catch {
      return true;
    }
  }
  return !isSameProcess(info);
}

function takeOverStale(lockPath: string): void {
  const takeover = `${lockPath}.takeover`;
  const mine = JSON.stringify(identityOf(process.pid));
  if (!tryCreate(takeover, mine)) {
    const holder = readLock(takeover);
    if (isStale(takeover, holder)) {
      try { unlinkSync(takeover); } catch { /* someone else cleaned it */ }
    }
    return; // the caller loops and tries again
  }
  try {
    const info = readLock(lockPath);
    if (isStale(lockPath, info)) {
      try { unlinkSync(lockPath); } catch { /* already gone */ }
    }
  } finally {
    try { unlinkSync(takeover); } catch { /* ignore */ }
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function describeLock(info: LockInfo): string {
  return `pid ${info.pid} (started at ${info.started_at})`;
}

export function acquireLock(lockPath: string, opts: { version?: string; now?: () => Date } = {}): HeldLock {
  const info: LockInfo = {
    ...identityOf(process.pid),
    started_at: (opts.now ?? (() => new Date()))().toISOString(),
    ...(opts.version === undefined ? {} : { version: opts.version }),
  };
  const content = `${JSON.stringify(info)}\n`;
  for (let attempt = 0; attempt < 50; attempt++) {
    if (tryCreate(lockPath, content)) {
      let released = false;
      return {
        path: lockPath,
        info,
        release() {
          if (released) return;
          released = true;
          const now = readLock(lockPath);
          if (now !== undefined && now.pid === info.pid && now.start_time === info.start_time) {
            try { unlinkSync(lockPath); } catch { /* ignore */ }
          }
        },
      };
    }
    const holder = readLock(lockPath);
    if (!isStale(lockPath, holder)) {
      if (holder === undefined) { sleepSync(5); continue; } // being written right now: look again
      throw new ArpdError(
        'E_LOCKED',
        `data dir is already locked by ${describeLock(holder)}: another arpd owns it; use that daemon (arpd daemon status) or stop it (arpd daemon stop)`,
        { pid: holder.pid, started_at: holder.started_at, lock: lockPath },
      );
    }
    takeOverStale(lockPath);
    if (attempt > 5) sleepSync(5);
  }
  throw new ArpdError('E_LOCKED', `could not take the lock ${lockPath}: it keeps changing; is another arpd starting? try again`, { lock: lockPath });
}

/** Reads who holds the lock now (for status and messages), or undefined when free or stale. */
export function lockHolder(lockPath: string): LockInfo | undefined {
  const info = readLock(lockPath);
  if (info === undefined || isStale(lockPath, info)) return undefined;
  return info;
}
