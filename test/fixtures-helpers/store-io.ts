/**
 * Injectable store I/O for fault tests: the real `write`/`fdatasync`, wrapped so a test can count
 * calls, make one fail like a sick disk (EIO, ENOSPC), or freeze the writer the way a crash would.
 */
import { fdatasync, fdatasyncSync, ftruncateSync, write, writeSync } from 'node:fs';
import type { StoreIo } from '../../src/events/log-store.js';

export const realWrite = (fd: number, buf: Buffer, offset: number, length: number): Promise<number> =>
  new Promise((resolve, reject) => {
    write(fd, buf, offset, length, null, (err, n) => (err ? reject(err) : resolve(n)));
  });

export const realFdatasync = (fd: number): Promise<void> =>
  new Promise((resolve, reject) => {
    fdatasync(fd, (err) => (err ? reject(err) : resolve()));
  });

export function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: simulated failure, ${syscall}`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  return err;
}

/** What a frozen writer had put on disk when it stopped. */
export interface Freeze {
  /** Bytes of the batch that reached the file. */
  written: number;
  /** Bytes the batch had. */
  total: number;
  /** The part that reached the file. */
  bytes: Buffer;
}

/**
 * Real I/O that counts calls and can be told to fail or freeze on its next call.
 * - `failWrite`/`failSync`: the next write/sync rejects with that errno (a write first puts
 *   `partialBytes` of its buffer in the file, as a disk that fills up half-way would);
 * - `freezeAfter(fraction)`: the next write puts that fraction of its buffer in the file and never returns;
 *   `freezeAtSync()`: the next write completes and the sync after it never returns.
 */
export class ControlledIo implements StoreIo {
  writes = 0;
  syncs = 0;
  failWrite: { code: string; partialBytes: number } | undefined;
  failSync: { code: string } | undefined;
  /** The taking back of a failed commit fails too (EIO, EROFS). */
  failTruncate: { code: string } | undefined;
  truncates = 0;
  private freeze: { atSync: boolean; fraction: number } | undefined;
  private frozen: ((f: Freeze) => void) | undefined;
  private lastWrite: Freeze = { written: 0, total: 0, bytes: Buffer.alloc(0) };

  write = async (fd: number, buf: Buffer, offset: number, length: number): Promise<number> => {
    this.writes++;
    if (this.failWrite !== undefined) {
      const { code, partialBytes } = this.failWrite;
      this.failWrite = undefined;
      if (partialBytes > 0) writeSync(fd, buf, offset, Math.min(partialBytes, length));
      throw errnoError(code, 'write');
    }
    if (this.freeze !== undefined && !this.freeze.atSync) {
      const n = Math.min(length, Math.floor(this.freeze.fraction * length));
      if (n > 0) writeSync(fd, buf, offset, n);
      this.stop({ written: n, total: length, bytes: Buffer.from(buf.subarray(offset, offset + n)) });
      return new Promise<number>(() => { /* a crashed process never returns */ });
    }
    const n = await realWrite(fd, buf, offset, length);
    this.lastWrite = { written: n, total: length, bytes: Buffer.from(buf.subarray(offset, offset + n)) };
    return n;
  };

  truncate = async (fd: number, length: number): Promise<void> => {
    this.truncates++;
    if (this.failTruncate !== undefined) {
      const { code } = this.failTruncate;
      this.failTruncate = undefined;
      throw errnoError(code, 'ftruncate');
    }
    ftruncateSync(fd, length);
    fdatasyncSync(fd);
  };

  fdatasync = async (fd: number): Promise<void> => {
    this.syncs++;
    if (this.failSync !== undefined) {
      const { code } = this.failSync;
      this.failSync = undefined;
      throw errnoError(code, 'fdatasync');
    }
    if (this.freeze?.atSync === true) {
      this.stop(this.lastWrite);
      return new Promise<void>(() => { /* a crashed process never returns */ });
    }
    return realFdatasync(fd);
  };

  /** The next write puts `fraction` (0..1) of its bytes in the file and never returns. Resolves when that happened. */
  freezeAfter(fraction: number): Promise<Freeze> {
    return this.arm({ atSync: false, fraction });
  }

  /** The next write completes, its sync never returns. Resolves when that happened. */
  freezeAtSync(): Promise<Freeze> {
    return this.arm({ atSync: true, fraction: 1 });
  }

  private arm(freeze: { atSync: boolean; fraction: number }): Promise<Freeze> {
    this.freeze = freeze;
    return new Promise((resolve) => { this.frozen = resolve; });
  }

  private stop(f: Freeze): void {
    const cb = this.frozen;
    this.frozen = undefined;
    cb?.(f);
  }
}
