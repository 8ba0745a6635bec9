import type { JsonObject } from '../events/event-types.js';
import type { InstanceView } from '../projections/registry-types.js';

/** The ARP `runtime_selector` of a RunRequest. */
export interface RuntimeSelector {
  instance_id?: string;
  runtime_profile?: string;
  runtime_name?: string;
  runtime_api_endpoint?: string;
}

/** The selector of a request, or undefined when it has none (or an empty one). */
export function selectorOf(request: JsonObject | undefined): RuntimeSelector | undefined {
  const sel = request?.['runtime_selector'];
  if (sel === null || typeof sel !== 'object' || Array.isArray(sel)) return undefined;
  const s = sel as Record<string, unknown>;
  const out: RuntimeSelector = {};
  if (typeof s['instance_id'] === 'string') out.instance_id = s['instance_id'];
  if (typeof s['runtime_profile'] === 'string') out.runtime_profile = s['runtime_profile'];
  if (typeof s['runtime_name'] === 'string') out.runtime_name = s['runtime_name'];
  if (typeof s['runtime_api_endpoint'] === 'string') out.runtime_api_endpoint = s['runtime_api_endpoint'];
  return Object.keys(out).length === 0 ? undefined : out;
}

/** An endpoint without trailing slashes, for comparing. */
export function normalizeEndpoint(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Pure: does the instance match every field the selector names? (No selector: every instance.) */
export function matchesSelector(inst: InstanceView, sel: RuntimeSelector | undefined): boolean {
  if (sel === undefined) return true;
  if (sel.instance_id !== undefined && inst.instance_id !== sel.instance_id) return false;
  if (sel.runtime_profile !== undefined && inst.runtime_profile !== sel.runtime_profile) return false;
  if (sel.runtime_name !== undefined && inst.runtime_name !== sel.runtime_name) return false;
  if (sel.runtime_api_endpoint !== undefined && (inst.runtime_api_endpoint === undefined || normalizeEndpoint(inst.runtime_api_endpoint) !== normalizeEndpoint(sel.runtime_api_endpoint))) return false;
  return true;
}

export function describeSelector(sel: RuntimeSelector | undefined): string {
  if (sel === undefined) return 'any instance';
  return Object.entries(sel).map(([k, v]) => `${k.replace('runtime_', '')} '${String(v)}'`).join(' and ');
}
