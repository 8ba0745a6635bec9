import { ArpdError } from '../errors/index.js';
import type { JsonObject } from '../events/event-types.js';
import type { AppendInput } from '../events/log-store.js';
import { checkId } from '../ids/id-rules.js';
import { LIVE_INSTANCE_STATES } from '../projections/registry-types.js';
import type { Registry } from '../projections/registry.js';

/**
 * Pure decisions about runtime profiles (the safe list). Given the registry and a command, return the
 * events to append, or throw an ArpdError. The request body has been schema-checked at the edge;
 * `checkExec` (the exec driver rules) is passed in so this file stays free of driver details.
 */

export interface UpsertProfile {
  name: string;
  request: JsonObject;
  checkExec: (extensions: unknown, name: string) => void;
}

export function profileFromRequest(name: string, request: JsonObject): JsonObject {
  return { runtime_profile: name, ...request };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function decideUpsertProfile(reg: Registry, cmd: UpsertProfile): AppendInput[] {
  const name = checkId('profile name', cmd.name, 'runtime_profile');
  if ('runtime_profile' in cmd.request && cmd.request['runtime_profile'] !== name) {
    throw new ArpdError('E_VALIDATION', `the body names profile '${String(cmd.request['runtime_profile'])}' but the path names '${name}': make them equal or leave it out of the body`, { field: 'runtime_profile' });
  }
  const { runtime_profile: _ignored, ...body } = cmd.request;
  if (body['extensions'] !== undefined) cmd.checkExec(body['extensions'], name);
  const profile = profileFromRequest(name, body);
  const existing = reg.profiles.get(name);
  if (existing !== undefined && sameJson(existing.profile, profile)) return []; // nothing changes: nothing to record
  return [{ type: 'profile.upserted', data: { runtime_profile: name, profile } }];
}

export interface DeleteProfile {
  name: string;
  force: boolean;
}

export function liveInstancesOf(reg: Registry, profile: string): string[] {
  const ids = reg.instancesByProfile.get(profile);
  if (ids === undefined) return [];
  return [...ids].filter((id) => {
    const inst = reg.instances.get(id);
    return inst !== undefined && LIVE_INSTANCE_STATES.has(inst.state);
  });
}

export function decideDeleteProfile(reg: Registry, cmd: DeleteProfile): AppendInput[] {
  const name = checkId('profile name', cmd.name, 'runtime_profile');
  if (!reg.profiles.has(name)) {
    throw new ArpdError('E_NOT_FOUND', `no runtime profile '${name}': see 'arpd profiles list'`, { runtime_profile: name, arp_code: 'runtime_profiles.not_found' });
  }
  const live = liveInstancesOf(reg, name);
  if (live.length > 0 && !cmd.force) {
    throw new ArpdError('E_CONFLICT', `profile '${name}' is used by ${live.length} live instance(s) (${live.slice(0, 5).join(', ')}): delete them first, or use --force (the instances keep running)`, { runtime_profile: name, instances: live });
  }
  return [{ type: 'profile.deleted', data: { runtime_profile: name, ...(cmd.force && live.length > 0 ? { forced: true } : {}) } }];
}
