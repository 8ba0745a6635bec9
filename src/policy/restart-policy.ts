import type { ArpdRuntimeOptions } from '../instances/exec-config.js';
import type { InstanceView } from '../projections/registry-types.js';

export type RestartDecision =
  | { restart: true; attempt: number; delayMs: number }
  | { restart: false; why: string };

/**
 * Pure: should a failed managed instance be started again, and after how long? `restart: on-failure`
 * restarts up to `restart_max` times with an exponential backoff from `restart_backoff_ms`.
 */
export function restartDecision(inst: InstanceView, rt: Pick<ArpdRuntimeOptions, 'restart' | 'restartMax' | 'restartBackoffMs'>): RestartDecision {
  if (!inst.managed) return { restart: false, why: 'external instances are not restarted by arpd' };
  if (inst.state !== 'error') return { restart: false, why: `the instance is ${inst.state}, not failed` };
  if (rt.restart !== 'on-failure') return { restart: false, why: 'the profile says restart: never' };
  if (inst.restarts >= rt.restartMax) return { restart: false, why: `the restart limit (${rt.restartMax}) is reached` };
  return { restart: true, attempt: inst.restarts + 1, delayMs: rt.restartBackoffMs * 2 ** inst.restarts };
}
