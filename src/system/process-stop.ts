import { isSameProcess, type ProcessIdentity } from './process-identity.js';

/**
 * The one stop escalation for a process arpd recorded (a runtime instance, a daemon): SIGTERM, a
 * grace period, SIGKILL, then wait. The identity (pid + start time + boot id) is checked before every
 * signal, so a pid that was reused by another process is never signalled. With `group`, the signals
 * go to the process group (a runtime and everything it started).
 */

export interface StopOptions {
  /** Signal the process group (-pid) rather than the process. */
  group: boolean;
  /** How long after SIGTERM before SIGKILL. */
  graceMs: number;
  /** How long to wait for the process to go after SIGKILL. Default 5000. */
  killWaitMs?: number;
  /** Resolves when the process is gone (a child's 'exit'); default: poll its identity. */
  waitGone?: (ms: number) => Promise<boolean>;
}

export type StopOutcome = 'gone' | 'SIGTERM' | 'SIGKILL' | 'survived';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Sends `signal` to the recorded process (or its group) if it is still that process. */
export function signalRecorded(identity: ProcessIdentity, signal: NodeJS.Signals, group: boolean): boolean {
  if (!isSameProcess(identity)) return false;
  if (group) {
    try {
      process.kill(-identity.pid, signal);
      return true;
    } catch { /* not a group leader: signal the process */ }
  }
  try {
    process.kill(identity.pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Polls until the recorded process is gone or `ms` passed. */
export async function waitIdentityGone(identity: ProcessIdentity, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  let delay = 10;
  while (Date.now() < deadline) {
    if (!isSameProcess(identity)) return true;
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
  return !isSameProcess(identity);
}

export async function stopRecordedProcess(identity: ProcessIdentity, o: StopOptions): Promise<StopOutcome> {
  const waitGone = o.waitGone ?? ((ms: number) => waitIdentityGone(identity, ms));
  if (!isSameProcess(identity)) return 'gone';
  signalRecorded(identity, 'SIGTERM', o.group);
  let outcome: StopOutcome = 'SIGTERM';
  if (!(await waitGone(o.graceMs))) {
    signalRecorded(identity, 'SIGKILL', o.group);
    outcome = 'SIGKILL';
    if (!(await waitGone(o.killWaitMs ?? 5000))) outcome = 'survived';
  }
  if (o.group) {
    // leftovers of the group (grandchildren) go too
    try { process.kill(-identity.pid, 'SIGKILL'); } catch { /* group gone */ }
  }
  return outcome;
}
