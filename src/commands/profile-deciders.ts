import { ArpdError } from '../errors/index.js';
import type { DomainEvent, JsonObject } from '../events/event-types.js';
import { checkId } from '../ids/id-rules.js';
import { ARPD_RUNTIME_EXTENSION_KEY, checkExecBudget, EXEC_EXTENSION_KEY, execPartOf, parseArpdRuntimeOptions, parseExecConfig, parseProcessSettings, settingsPartOf } from '../instances/exec-config.js';
import type { ReadModel } from '../projections/registry.js';
import { LIVE_INSTANCE_STATES } from '../projections/registry-types.js';
import type { CommandOf } from './command-types.js';
import { attempt, type Decision } from './decision.js';

/** Pure decisions about runtime profiles (the safe list). */

export function profileNotFound(name: string): ArpdError {
  return new ArpdError('E_NOT_FOUND', `no runtime profile '${name}': see 'arpd profiles list'`, { runtime_profile: name, arp_code: 'runtime_profiles.not_found' });
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * A profile must say how to start its runtime: a profile that cannot start anything is not a safe-list
 * entry (JARVIS refuses it too, and the ARP conformance suite expects a refusal of `{}`).
 */
function checkStartable(body: JsonObject, name: string): void {
  const ext = body['extensions'];
  const exec = ext !== null && typeof ext === 'object' && !Array.isArray(ext) ? (ext as JsonObject)[EXEC_EXTENSION_KEY] : undefined;
  if (exec === undefined) {
    throw new ArpdError('E_VALIDATION', `profile '${name}' has no extensions["${EXEC_EXTENSION_KEY}"]: a safe-list entry must say how to start its runtime (driver command, pip or npm); see the README's "Runtime profiles"`, { field: `extensions["${EXEC_EXTENSION_KEY}"]`, rule: 'required' });
  }
  const config = parseExecConfig(ext, name);
  if ((ext as JsonObject)[ARPD_RUNTIME_EXTENSION_KEY] !== undefined) parseArpdRuntimeOptions(ext);
  // the launcher reads them again; refused here, a bad one never reaches an instance
  const defaults = parseProcessSettings(body['defaults'], 'defaults');
  checkExecBudget([execPartOf(config), settingsPartOf(defaults, 'defaults')], `profile '${name}'`);
}

export function decideUpsertProfile(state: ReadModel, cmd: CommandOf<'UpsertProfile'>): Decision {
  return attempt(() => {
    const name = checkId('profile name', cmd.data.name, 'runtime_profile');
    const request = cmd.data.request;
    if ('runtime_profile' in request && request['runtime_profile'] !== name) {
      throw new ArpdError('E_VALIDATION', `the body names profile '${String(request['runtime_profile'])}' but the path names '${name}': make them equal or leave it out of the body`, { field: 'runtime_profile' });
    }
    const { runtime_profile: _ignored, ...body } = request;
    checkStartable(body, name);
    const profile: JsonObject = { runtime_profile: name, ...body };
    const existing = state.profiles.get(name);
    if (existing !== undefined && sameJson(existing.profile, profile)) return []; // nothing changes: nothing to record
    return [{ type: 'profile.upserted', data: { runtime_profile: name, profile } }];
  });
}

/** The bundled profile, written once: never again after it was deleted or replaced. */
export function decideSeedDefaultProfile(state: ReadModel, cmd: CommandOf<'SeedDefaultProfile'>): Decision {
  if (state.streamRev('profile:default') > 0) return [];
  return [{ type: 'profile.upserted', data: { runtime_profile: 'default', profile: { runtime_profile: 'default', ...cmd.data.profile } } }];
}

export function liveInstancesOf(state: ReadModel, profile: string): string[] {
  return [...state.instanceIdsOfProfile(profile)].filter((id) => {
    const inst = state.instances.get(id);
    return inst !== undefined && LIVE_INSTANCE_STATES.has(inst.state);
  });
}

export function decideDeleteProfile(state: ReadModel, cmd: CommandOf<'DeleteProfile'>): Decision {
  return attempt(() => {
    const name = checkId('profile name', cmd.data.name, 'runtime_profile');
    if (!state.profiles.has(name)) throw profileNotFound(name);
    const live = liveInstancesOf(state, name);
    if (live.length > 0 && !cmd.data.force) {
      throw new ArpdError('E_CONFLICT', `profile '${name}' is used by ${live.length} live instance(s) (${live.slice(0, 5).join(', ')}): delete them first, or force it ('--force', or '?force=true' over HTTP; the instances keep running)`, { runtime_profile: name, instances: live });
    }
    const event: DomainEvent = { type: 'profile.deleted', data: { runtime_profile: name, ...(cmd.data.force && live.length > 0 ? { forced: true } : {}) } };
    return [event];
  });
}
