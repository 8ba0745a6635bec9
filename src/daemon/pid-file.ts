import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { ProcessIdentity } from '../system/process-identity.js';

/** `arpd.pid`: who the daemon is (pid + start time + boot id) and where it listens. */
export interface PidInfo extends ProcessIdentity {
  started_at: string;
  version: string;
  data_dir: string;
  socket: string;
  http_url?: string;
}

export function writePidFile(path: string, info: PidInfo): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(info)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

export function readPidFile(path: string): PidInfo | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Partial<PidInfo>;
    if (typeof parsed.pid !== 'number') return undefined;
    return parsed as PidInfo;
  } catch {
    return undefined;
  }
}

/** Removes the pid file only if it still names `pid`. */
export function removePidFile(path: string, pid: number): void {
  const info = readPidFile(path);
  if (info === undefined || info.pid === pid) rmSync(path, { force: true });
}
