import type { JsonObject } from '../events/event-types.js';

/**
 * Waiting runs are indexed by the most specific field of their `runtime_selector`, so the router
 * finds the runs an instance can take without scanning the whole queue:
 * `i:<instance_id>`, `p:<runtime_profile>`, `n:<runtime_name>`, or `*` (no selector).
 * (A `runtime_api_endpoint` selector is routed at submit and never waits.)
 */
export function queueKeyOf(request: JsonObject | undefined): string {
  const sel = request?.['runtime_selector'];
  if (sel === null || typeof sel !== 'object' || Array.isArray(sel)) return '*';
  const s = sel as Record<string, unknown>;
  if (typeof s['instance_id'] === 'string') return `i:${s['instance_id']}`;
  if (typeof s['runtime_profile'] === 'string') return `p:${s['runtime_profile']}`;
  if (typeof s['runtime_name'] === 'string') return `n:${s['runtime_name']}`;
  return '*';
}

/** The keys under which runs an instance could take wait. */
export function queueKeysFor(inst: { instance_id: string; runtime_profile?: string | undefined; runtime_name?: string | undefined }): string[] {
  const keys = [`i:${inst.instance_id}`];
  if (inst.runtime_profile !== undefined) keys.push(`p:${inst.runtime_profile}`);
  if (inst.runtime_name !== undefined) keys.push(`n:${inst.runtime_name}`);
  keys.push('*');
  return keys;
}
