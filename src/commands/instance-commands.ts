import { ArpdError } from '../errors/index.js';
import type { JsonObject } from '../events/event-types.js';
import type { AppendInput } from '../events/log-store.js';
import { checkId } from '../ids/id-rules.js';
import { LIVE_INSTANCE_STATES } from '../projections/registry-types.js';
import type { Registry } from '../projections/registry.js';

/** Pure decisions about runtime instances. New ids arrive in the command. */

export interface CreateInstances {
  profile: string;
  ids: string[];
  overrides?: JsonObject | undefined;
  metadata?: JsonObject | undefined;
  allowUnsafe: boolean;
  reason?: string;
  /** Throws E_VALIDATION when the profile's exec config cannot start anything. */
  checkStartable: (profile: JsonObject, name: string) => void;
}

export const MAX_INSTANCES_PER_CREATE = 100;

export function decideCreateInstances(reg: Registry, cmd: CreateInstances): AppendInput[] {
  const name = checkId('profile name', cmd.profile, 'runtime_profile');
  if (cmd.ids.length < 1 || cmd.ids.length > MAX_INSTANCES_PER_CREATE) {
    throw new ArpdError('E_VALIDATION', `count must be from 1 to ${MAX_INSTANCES_PER_CREATE}, not ${cmd.ids.length}`, { field: 'count' });
  }
  const profile = reg.profiles.get(name);
  let unsafe = false;
  if (profile === undefined) {
    if (!cmd.allowUnsafe) {
      throw new ArpdError('E_NOT_FOUND', `runtime profile '${name}' is not on the safe list: add it with 'arpd profiles upsert ${name} --request-json <file>' (see 'arpd profiles list')`, { runtime_profile: name, arp_code: 'runtime_profiles.not_found' });
    }
    unsafe = true;
  } else {
    cmd.checkStartable(profile.profile, name);
  }
  for (const id of cmd.ids) {
    checkId('instance id', id, 'instance_id');
    if (reg.instances.has(id)) throw new ArpdError('E_CONFLICT', `instance id '${id}' is already in use`, { instance_id: id });
  }
  return cmd.ids.map((id) => ({
    type: 'instance.requested' as const,
    expectedRev: 0,
    data: {
      instance_id: id,
      runtime_profile: name,
      ...(cmd.overrides === undefined ? {} : { overrides: cmd.overrides }),
      ...(cmd.metadata === undefined ? {} : { metadata: cmd.metadata }),
      ...(cmd.reason === undefined ? {} : { reason: cmd.reason }),
      ...(unsafe ? { unsafe: true } : {}),
    },
  }));
}

export interface RegisterInstance {
  id: string;
  endpoint: string;
  profile?: string | undefined;
  runtimeName?: string | undefined;
  metadata?: JsonObject | undefined;
}

/** An endpoint already registered and live is answered with that instance (idempotent retry). */
export function findLiveByEndpoint(reg: Registry, endpoint: string): string | undefined {
  const norm = endpoint.replace(/\/+$/, '');
  for (const inst of reg.instances.values()) {
    if (LIVE_INSTANCE_STATES.has(inst.state) || inst.state === 'error') {
      if (inst.runtime_api_endpoint !== undefined && inst.runtime_api_endpoint.replace(/\/+$/, '') === norm && !inst.managed) return inst.instance_id;
    }
  }
  return undefined;
}

export function checkEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ArpdError('E_VALIDATION', `runtime_api_endpoint '${endpoint}' is not a URL: give it as http://host:port`, { field: 'runtime_api_endpoint' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArpdError('E_VALIDATION', `runtime_api_endpoint must be http:// or https://, not ${url.protocol}`, { field: 'runtime_api_endpoint' });
  }
  return endpoint.replace(/\/+$/, '');
}

export function decideRegisterInstance(reg: Registry, cmd: RegisterInstance): AppendInput[] {
  const endpoint = checkEndpoint(cmd.endpoint);
  checkId('instance id', cmd.id, 'instance_id');
  if (cmd.profile !== undefined) checkId('profile name', cmd.profile, 'runtime_profile');
  if (findLiveByEndpoint(reg, endpoint) !== undefined) return [];
  return [{
    type: 'instance.registered',
    expectedRev: 0,
    data: {
      instance_id: cmd.id,
      runtime_api_endpoint: endpoint,
      ...(cmd.profile === undefined ? {} : { runtime_profile: cmd.profile }),
      ...(cmd.runtimeName === undefined ? {} : { runtime_name: cmd.runtimeName }),
      ...(cmd.metadata === undefined ? {} : { metadata: cmd.metadata }),
    },
  }];
}

export function notFoundInstance(id: string): ArpdError {
  return new ArpdError('E_NOT_FOUND', `no runtime instance '${id}': see 'arpd instances list'`, { instance_id: id, arp_code: 'instances.not_found' });
}

/** Deleting: a managed instance starts stopping; an external one is deregistered. Deleting a stopped one changes nothing. */
export function decideDeleteInstance(reg: Registry, cmd: { id: string; reason: string }): AppendInput[] {
  checkId('instance id', cmd.id, 'instance_id');
  const inst = reg.instances.get(cmd.id);
  if (inst === undefined) throw notFoundInstance(cmd.id);
  if (!inst.managed) {
    if (inst.state === 'stopped') return [];
    return [{ type: 'instance.deregistered', data: { instance_id: cmd.id } }];
  }
  if (inst.state === 'stopped' || inst.state === 'stopping') return [];
  return [{ type: 'instance.stopping', data: { instance_id: cmd.id, reason: cmd.reason } }];
}
