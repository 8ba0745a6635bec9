import { readFileSync } from 'node:fs';

/**
 * Who a pid is. A pid alone can be reused; a pid plus its start time (clock ticks since boot) plus the
 * boot id names one process. Linux reads /proc; elsewhere start time and boot id are unknown ('') and
 * only liveness is checked.
 */

let cachedBootId: string | undefined;

export function bootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = '';
    }
  }
  return cachedBootId;
}

/** Field 22 of /proc/<pid>/stat (starttime), or undefined when the process or /proc is not there. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm (field 2) may contain spaces and parentheses: fields after it start after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19]; // field 22 is the 20th after comm and state
  } catch {
    return undefined;
  }
}

/** Field 4 of /proc/<pid>/stat (the parent pid), or undefined. */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const n = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isSafeInteger(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Zombies count as gone: they hold a pid but will never do work again. */
export function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

export interface ProcessIdentity {
  pid: number;
  start_time: string;
  boot_id: string;
}

export function identityOf(pid: number): ProcessIdentity {
  return { pid, start_time: processStartTime(pid) ?? '', boot_id: bootId() };
}

/** True only when the pid is alive now and is the same process that was recorded. */
export function isSameProcess(recorded: ProcessIdentity): boolean {
  if (!isAlive(recorded.pid) || isZombie(recorded.pid)) return false;
  if (recorded.boot_id !== '' && bootId() !== '' && recorded.boot_id !== bootId()) return false;
  if (recorded.start_time !== '') {
    const now = processStartTime(recorded.pid);
    if (now !== undefined && now !== recorded.start_time) return false;
  }
  return true;
}

