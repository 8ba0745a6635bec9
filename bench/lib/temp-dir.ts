import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Scratch directories for benchmarks, on the same disk as the project (so an fsync measured here is
 * the fsync the daemon gets): `$ARPD_BENCH_TMPDIR` if set, else `os.tmpdir()` when it is on the same
 * device as the working directory, else `<cwd>/.arpd-bench`. Every directory made here is removed
 * after use, and at exit if a benchmark threw.
 */

const live = new Set<string>();
let exitHook = false;

function removeAll(): void {
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
}

export function scratchParent(): string {
  const override = process.env['ARPD_BENCH_TMPDIR'];
  if (override !== undefined && override !== '') {
    mkdirSync(override, { recursive: true });
    return resolve(override);
  }
  const tmp = tmpdir();
  if (statSync(tmp).dev === statSync(process.cwd()).dev) return tmp;
  const local = join(process.cwd(), '.arpd-bench');
  mkdirSync(local, { recursive: true });
  return local;
}

/** A new empty directory; remove it with `removeTempDir` (or let `withTempDir` do it). */
export function makeTempDir(label: string): string {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', removeAll);
  }
  const dir = mkdtempSync(join(scratchParent(), `arpd-bench-${label}-`));
  live.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  live.delete(dir);
}

export async function withTempDir<T>(label: string, fn: (dir: string) => Promise<T> | T): Promise<T> {
  const dir = makeTempDir(label);
  try {
    return await fn(dir);
  } finally {
    removeTempDir(dir);
  }
}
