import { ArpdError } from '../errors/index.js';
import type { DomainEvent, JsonObject } from '../events/event-types.js';
import { checkId } from '../ids/id-rules.js';
import { checkExecBudget, execPartOf, parseArpdRuntimeOptions, parseExecConfig, parseProcessSettings, settingsPartOf, type ExecPart } from '../instances/exec-config.js';
import type { ReadModel } from '../projections/registry.js';
import { LIVE_INSTANCE_STATES, type InstanceView } from '../projections/registry-types.js';
import { loopbackNodeOf } from '../policy/ownership.js';
import { restartDecision } from '../policy/restart-policy.js';
import { endpointOf, isOwnEndpoint, sameEndpoint, staleRegistrationsOf } from '../policy/routing.js';
import { optionsOfInstance } from '../policy/runtime-options.js';
import { normalizeEndpoint } from '../policy/selector.js';
import type { CommandOf } from './command-types.js';
import { attempt, type Decision } from './decision.js';
import { liveInstancesOf, profileNotFound } from './profile-deciders.js';

/** Pure decisions about runtime instances. New ids arrive in the command. */

export const MAX_INSTANCES_PER_CREATE = 100;

export function instanceNotFound(id: string): ArpdError {
  return new ArpdError('E_NOT_FOUND', `no runtime instance '${id}': see 'arpd instances list'`, { instance_id: id, arp_code: 'instances.not_found' });
}

export function decideCreateInstances(state: ReadModel, cmd: CommandOf<'CreateInstances'>): Decision {
  return attempt(() => {
    const d = cmd.data;
    const name = checkId('profile name', d.profile, 'runtime_profile');
    if (d.ids.length < 1 || d.ids.length > MAX_INSTANCES_PER_CREATE) {
      throw new ArpdError('E_VALIDATION', `count must be from 1 to ${MAX_INSTANCES_PER_CREATE}, not ${d.ids.length}`, { field: 'count' });
    }
    const profile = state.profiles.get(name);
    let unsafe = false;
    const parts: ExecPart[] = [];
    if (profile === undefined) {
      if (!d.allow_unsafe) {
        throw new ArpdError('E_NOT_FOUND', `runtime profile '${name}' is not on the safe list: add it with 'arpd profiles upsert ${name} --request-json <file>' (see 'arpd profiles list')`, { runtime_profile: name, arp_code: 'runtime_profiles.not_found' });
      }
      unsafe = true;
    } else {
      parts.push(execPartOf(parseExecConfig(profile.profile['extensions'], name)));
      parseArpdRuntimeOptions(profile.profile['extensions']);
      parts.push(settingsPartOf(parseProcessSettings(profile.profile['defaults'], 'defaults'), 'defaults'));
    }
    // refused now rather than recorded as the failure of instances that could never start
    parts.push(settingsPartOf(parseProcessSettings(d.overrides, 'overrides'), 'overrides'));
    checkExecBudget(parts, `an instance of profile '${name}'`, 'overrides');
    if (d.limit_live !== undefined && liveInstancesOf(state, name).length >= d.limit_live) return [];
    for (const id of d.ids) {
      checkId('instance id', id, 'instance_id');
      if (state.instances.has(id)) throw new ArpdError('E_CONFLICT', `instance id '${id}' is already in use`, { instance_id: id });
    }
    return d.ids.map((id): DomainEvent => ({
      type: 'instance.requested',
      data: {
        instance_id: id,
        runtime_profile: name,
        ...(d.overrides === undefined ? {} : { overrides: d.overrides }),
        ...(d.metadata === undefined ? {} : { metadata: d.metadata }),
        ...(d.reason === undefined ? {} : { reason: d.reason }),
        ...(unsafe ? { unsafe: true } : {}),
        ...(cmd.meta.node === undefined ? {} : { node: cmd.meta.node }),
      },
    }));
  });
}

/**
 * The live external instance already registered at this endpoint, if any (a register retry answers with it). The same
 * endpoint written another way (`sameEndpoint`: host case, a default port, localhost for 127.0.0.1) is the same one;
 * a loopback endpoint is one only on the same node (`node`: the node registering, undefined with a single daemon).
 */
export function findLiveByEndpoint(state: ReadModel, endpoint: string, node?: string): string | undefined {
  for (const inst of state.instances.values()) {
    const at = endpointOf(inst);
    if (inst.managed || at === undefined) continue;
    if ((LIVE_INSTANCE_STATES.has(inst.state) || inst.state === 'error') && sameEndpoint(at, { endpoint, node })) return inst.instance_id;
  }
  return undefined;
}

/**
 * The live managed instance whose runtime listens at this endpoint, if any: registering it too would give it a second
 * id. A loopback endpoint is its runtime's only on the node it runs on.
 */
export function findManagedByEndpoint(state: ReadModel, endpoint: string, node?: string): string | undefined {
  for (const inst of state.instances.values()) {
    const at = endpointOf(inst);
    if (!inst.managed || at === undefined || !LIVE_INSTANCE_STATES.has(inst.state)) continue;
    if (sameEndpoint(at, { endpoint, node })) return inst.instance_id;
  }
  return undefined;
}

/** An external endpoint: http(s), no credentials in it (they would be stored in the log and shown), not the daemon itself. */
export function checkEndpoint(endpoint: string, own: readonly string[]): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ArpdError('E_VALIDATION', `runtime_api_endpoint '${endpoint.slice(0, 200)}' is not a URL: give it as http://host:port`, { field: 'runtime_api_endpoint' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ArpdError('E_VALIDATION', `runtime_api_endpoint must be http:// or https://, not ${url.protocol}`, { field: 'runtime_api_endpoint' });
  }
  if (url.username !== '' || url.password !== '') {
    throw new ArpdError('E_VALIDATION', 'runtime_api_endpoint must not hold credentials (user:password@): arpd would store them in its log and show them in listings; put the runtime behind a local address instead', { field: 'runtime_api_endpoint', rule: 'no-credentials' });
  }
  if (url.search !== '' || url.hash !== '') {
    throw new ArpdError('E_VALIDATION', 'runtime_api_endpoint must not have a query or fragment: give the base URL the ARP paths (/v1/…) go under', { field: 'runtime_api_endpoint' });
  }
  if (isOwnEndpoint(endpoint, own)) {
    throw new ArpdError('E_VALIDATION', `runtime_api_endpoint ${endpoint} is this daemon's own address: registering it would send runs back to arpd in a loop; give a runtime's endpoint`, { field: 'runtime_api_endpoint', rule: 'not-self' });
  }
  return normalizeEndpoint(endpoint);
}

export function decideRegisterInstance(state: ReadModel, cmd: CommandOf<'RegisterInstance'>): Decision {
  return attempt(() => {
    const d = cmd.data;
    const endpoint = checkEndpoint(d.endpoint, d.own_endpoints);
    checkId('instance id', d.id, 'instance_id');
    if (d.profile !== undefined) checkId('profile name', d.profile, 'runtime_profile');
    if (findLiveByEndpoint(state, endpoint, cmd.meta.node) !== undefined) return [];
    const managed = findManagedByEndpoint(state, endpoint, cmd.meta.node);
    if (managed !== undefined) {
      throw new ArpdError('E_CONFLICT', `runtime_api_endpoint ${endpoint} is the endpoint of instance '${managed}', which arpd started and manages: runs already reach that runtime as '${managed}' (select it with runtime_selector.instance_id), and registering it too would give one runtime two instance ids; register another runtime's endpoint`, { field: 'runtime_api_endpoint', rule: 'not-managed', instance_id: managed });
    }
    if (state.instances.has(d.id)) throw new ArpdError('E_CONFLICT', `instance id '${d.id}' is already in use`, { instance_id: d.id });
    return [{
      type: 'instance.registered',
      data: {
        instance_id: d.id,
        runtime_api_endpoint: endpoint,
        ...(d.profile === undefined ? {} : { runtime_profile: d.profile }),
        ...(d.runtime_name === undefined ? {} : { runtime_name: d.runtime_name }),
        ...(d.metadata === undefined ? {} : { metadata: d.metadata as JsonObject }),
        ...(cmd.meta.node === undefined ? {} : { node: cmd.meta.node }),
      },
    }];
  });
}

/** Deleting: a managed instance starts stopping; an external one is deregistered. Deleting a stopped one changes nothing. */
export function decideDeleteInstance(state: ReadModel, cmd: CommandOf<'DeleteInstance'>): Decision {
  return attempt(() => {
    const id = checkId('instance id', cmd.data.id, 'instance_id');
    const inst = state.instances.get(id);
    if (inst === undefined) throw instanceNotFound(id);
    if (!inst.managed) return inst.state === 'stopped' ? [] : [{ type: 'instance.deregistered', data: { instance_id: id } }];
    if (inst.state === 'stopped' || inst.state === 'stopping') return [];
    return [{ type: 'instance.stopping', data: { instance_id: id, reason: cmd.data.reason } }];
  });
}

/** arpd stops a managed instance by itself (shutdown, an idle extra one): nothing for external or already stopping ones. */
export function decideStopInstance(state: ReadModel, cmd: CommandOf<'StopInstance'>): Decision {
  const inst = state.instances.get(cmd.data.id);
  if (inst === undefined || !inst.managed || !LIVE_INSTANCE_STATES.has(inst.state) || inst.state === 'stopping') return [];
  return [{ type: 'instance.stopping', data: { instance_id: inst.instance_id, reason: cmd.data.reason } }];
}

/**
 * A process was spawned: recorded only while the instance is starting (a deleted one records nothing more), and
 * only by the node that owns it when daemons share a store.
 */
export function decideRecordInstanceStarting(state: ReadModel, cmd: CommandOf<'RecordInstanceStarting'>): Decision {
  const d = cmd.data;
  const inst = state.instances.get(d.instance_id);
  if (inst === undefined || inst.state !== 'starting') return [];
  if (cmd.meta.node !== undefined && inst.node !== undefined && inst.node !== cmd.meta.node) return [];
  return [{
    type: 'instance.starting',
    data: {
      instance_id: d.instance_id, pid: d.pid, argv: d.argv, attempt: d.attempt,
      ...(d.pid_start_time === undefined ? {} : { pid_start_time: d.pid_start_time }),
      ...(d.boot_id === undefined ? {} : { boot_id: d.boot_id }),
      ...(d.endpoint === undefined ? {} : { runtime_api_endpoint: normalizeEndpoint(d.endpoint) }),
      ...(cmd.meta.node === undefined ? {} : { node: cmd.meta.node }),
    },
  }];
}

/**
 * The runtime answers its health and version checks. Its `runtime_name` is the profile's when the
 * profile names one (JARVIS does the same), else what the runtime reports. A stopping or stopped
 * instance is never revived by a late check, nor a loopback external instance by another node's (`checkedFromElsewhere`).
 */
export function decideMarkInstanceReady(state: ReadModel, cmd: CommandOf<'MarkInstanceReady'>): Decision {
  const d = cmd.data;
  const inst = state.instances.get(d.instance_id);
  if (inst === undefined || inst.state === 'stopped' || inst.state === 'stopping' || checkedFromElsewhere(inst, cmd.meta.node)) return [];
  if ((inst.state === 'ready' || inst.state === 'busy') && d.adopted !== true && inst.runtime_api_endpoint === normalizeEndpoint(d.endpoint)) return [];
  const profileName = inst.runtime_profile === undefined ? undefined : state.profiles.get(inst.runtime_profile)?.profile['runtime_name'];
  const name = inst.managed
    ? (typeof profileName === 'string' ? profileName : d.runtime_name ?? inst.runtime_name)
    : inst.runtime_name ?? d.runtime_name;
  return [{
    type: 'instance.ready',
    data: {
      instance_id: d.instance_id,
      runtime_api_endpoint: normalizeEndpoint(d.endpoint),
      ...(name === undefined ? {} : { runtime_name: name }),
      ...(d.runtime_version === undefined ? {} : { runtime_version: d.runtime_version }),
      ...(d.adopted === true ? { adopted: true } : {}),
    },
  }];
}

/**
 * A check of a loopback external instance by a node other than the one it was registered on (`loopbackNodeOf`) reached
 * that node's own 127.0.0.1, another machine: what it found says nothing about the instance.
 */
function checkedFromElsewhere(inst: InstanceView, node: string | undefined): boolean {
  const home = loopbackNodeOf(inst);
  return node !== undefined && home !== undefined && home !== node;
}

/**
 * A failure is recorded once, and never about an instance that is being stopped or is stopped (nor from another node
 * about a loopback external instance: `checkedFromElsewhere`).
 */
export function decideRecordInstanceFailure(state: ReadModel, cmd: CommandOf<'RecordInstanceFailure'>): Decision {
  const d = cmd.data;
  const inst = state.instances.get(d.instance_id);
  if (inst === undefined || inst.state === 'stopped' || inst.state === 'stopping' || inst.state === 'error' || checkedFromElsewhere(inst, cmd.meta.node)) return [];
  return [{
    type: 'instance.failed',
    data: {
      instance_id: d.instance_id, code: d.code, reason: d.reason,
      ...(d.exit_code === undefined ? {} : { exit_code: d.exit_code }),
      ...(d.signal === undefined ? {} : { signal: d.signal }),
      ...(d.stderr_tail === undefined ? {} : { stderr_tail: d.stderr_tail }),
    },
  }];
}

export function decideRecordInstanceStopped(state: ReadModel, cmd: CommandOf<'RecordInstanceStopped'>): Decision {
  const d = cmd.data;
  const inst = state.instances.get(d.instance_id);
  if (inst === undefined || inst.state === 'stopped') return [];
  return [{
    type: 'instance.stopped',
    data: {
      instance_id: d.instance_id, reason: d.reason,
      ...(d.exit_code === undefined ? {} : { exit_code: d.exit_code }),
      ...(d.signal === undefined ? {} : { signal: d.signal }),
    },
  }];
}

/** The restart policy allows another start of a failed managed instance. */
export function decideRestartInstance(state: ReadModel, cmd: CommandOf<'RestartInstance'>): Decision {
  const inst = state.instances.get(cmd.data.instance_id);
  if (inst === undefined) return [];
  const opts = optionsOfInstance(state, inst);
  const r = restartDecision(inst, opts);
  if (!r.restart) return [];
  if (inst.runtime_profile !== undefined && !state.profiles.has(inst.runtime_profile) && inst.unsafe !== true) return profileNotFound(inst.runtime_profile);
  return [{ type: 'instance.restarting', data: { instance_id: inst.instance_id, attempt: r.attempt, reason: `restart ${r.attempt} of ${opts.restartMax} after: ${inst.reason ?? 'a failure'}` } }];
}

/**
 * A serving managed instance answers at the endpoint of an external registration (the registered runtime was gone and
 * its port went to a runtime arpd started): the registration is retired (`instance.superseded`, naming the managed
 * instance), so runs for it no longer reach the managed runtime under a second id. Never the managed one: it is the
 * runtime that answers there now. Re-checked here; nothing when it no longer holds.
 */
export function decideRetireStaleRegistration(state: ReadModel, cmd: CommandOf<'RetireStaleRegistration'>): Decision {
  const d = cmd.data;
  const managed = state.instances.get(d.by_instance_id);
  if (managed === undefined || !staleRegistrationsOf(state, managed).includes(d.instance_id)) return [];
  const endpoint = endpointOf(managed)?.endpoint as string;
  return [{
    type: 'instance.superseded',
    data: {
      instance_id: d.instance_id,
      by_instance_id: managed.instance_id,
      runtime_api_endpoint: endpoint,
      reason: `superseded: ${endpoint} now answers as instance '${managed.instance_id}', which arpd started and manages (the registered runtime was gone and its port went to '${managed.instance_id}'); select '${managed.instance_id}' for that runtime, or register the external runtime again at its new endpoint`,
    },
  }];
}
