import type { InstanceView } from '../projections/registry-types.js';

/** The ARP `runtime_selector` of a RunRequest. */
export interface RuntimeSelector {
  instance_id?: string;
  runtime_profile?: string;
  runtime_name?: string;
  runtime_api_endpoint?: string;
}

function norm(url: string): string {
  return url.replace(/\/+$/, '');
}

/** Pure: does the instance match every field the selector names? (No selector: every instance.) */
export function matchesSelector(inst: InstanceView, sel: RuntimeSelector | undefined): boolean {
  if (sel === undefined) return true;
  if (sel.instance_id !== undefined && inst.instance_id !== sel.instance_id) return false;
  if (sel.runtime_profile !== undefined && inst.runtime_profile !== sel.runtime_profile) return false;
  if (sel.runtime_name !== undefined && inst.runtime_name !== sel.runtime_name) return false;
  if (sel.runtime_api_endpoint !== undefined && (inst.runtime_api_endpoint === undefined || norm(inst.runtime_api_endpoint) !== norm(sel.runtime_api_endpoint))) return false;
  return true;
}

/** Which profile arpd may start by itself for this selector, if any. */
export function autostartProfile(sel: RuntimeSelector | undefined): string | undefined {
  if (sel === undefined || Object.keys(sel).length === 0) return 'default';
  if (sel.instance_id !== undefined || sel.runtime_api_endpoint !== undefined || sel.runtime_name !== undefined) return undefined;
  return sel.runtime_profile;
}

export function describeSelector(sel: RuntimeSelector | undefined): string {
  if (sel === undefined || Object.keys(sel).length === 0) return 'any instance';
  return Object.entries(sel).map(([k, v]) => `${k.replace('runtime_', '')} '${String(v)}'`).join(' and ');
}
