import type { JsonObject } from '../events/event-types.js';
import type { ArpdRuntimeOptions } from '../instances/exec-config.js';

/** Where a run's time limit comes from, for the message when it runs out. */
export type DeadlineSource = 'limits.timeout_ms' | 'run_timeout_ms' | 'default';

/** limits.timeout_ms of a request when it is a positive number. */
export function requestTimeoutMs(request: JsonObject | undefined): number | undefined {
  const limits = request?.['limits'];
  if (limits === null || typeof limits !== 'object' || Array.isArray(limits)) return undefined;
  const t = (limits as Record<string, unknown>)['timeout_ms'];
  return typeof t === 'number' && Number.isFinite(t) && t > 0 ? t : undefined;
}

/**
 * Pure: how long a run may take from its acceptance, and why: its own `limits.timeout_ms`, else the
 * profile's `run_timeout_ms`, else the daemon's default (`--run-timeout`).
 */
export function runTimeLimit(request: JsonObject | undefined, profile: Pick<ArpdRuntimeOptions, 'runTimeoutMs'> | undefined, defaultMs: number): { ms: number; source: DeadlineSource } {
  const own = requestTimeoutMs(request);
  if (own !== undefined) return { ms: own, source: 'limits.timeout_ms' };
  if (profile !== undefined && profile.runTimeoutMs > 0) return { ms: profile.runTimeoutMs, source: 'run_timeout_ms' };
  return { ms: defaultMs, source: 'default' };
}

export function addMs(iso: string, ms: number): string {
  return new Date(Date.parse(iso) + ms).toISOString();
}

/** The queue time a request asks for (`extensions["arpd.queue_timeout_ms"]`), if it asks. */
export function requestQueueTimeoutMs(request: JsonObject | undefined): unknown {
  const ext = request?.['extensions'];
  if (ext === null || typeof ext !== 'object' || Array.isArray(ext)) return undefined;
  return (ext as Record<string, unknown>)['arpd.queue_timeout_ms'];
}
