/**
 * Child process for test/events/data-lock.test.ts: one contender in a lock race.
 *   lock-racer.ts <lock path>
 * Prints `ready`, waits for a `go` line on stdin, tries `acquireLock` once, prints `won <pid>` or
 * `lost <code> <message>`. A winner holds the lock until stdin ends, then releases it.
 */
import { createInterface } from 'node:readline';
import { ArpdError } from '../../src/errors/index.js';
import { acquireLock, type HeldLock } from '../../src/events/data-lock.js';

const lockPath = process.argv[2];
if (lockPath === undefined) throw new Error('usage: lock-racer.ts <lock path>');

let held: HeldLock | undefined;
const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (line !== 'go') return;
  try {
    held = acquireLock(lockPath);
    process.stdout.write(`won ${process.pid}\n`);
  } catch (err) {
    const code = err instanceof ArpdError ? err.code : 'NOT_ARPD_ERROR';
    process.stdout.write(`lost ${code} ${(err as Error).message}\n`);
  }
});
lines.on('close', () => {
  held?.release();
});
process.stdout.write('ready\n');
