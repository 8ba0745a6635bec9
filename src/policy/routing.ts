import type { DaemonOptions } from '../config/daemon-options.js';
import { ArpdError } from '../errors/index.js';
import { isValidId } from '../ids/id-rules.js';
import type { JsonObject } from '../events/event-types.js';
import { isServing, type ReadModel } from '../projections/registry.js';
import type { InstanceView, RunView } from '../projections/registry-types.js';
import { restartDecision } from './restart-policy.js';
import { capacityOf, optionsOfInstance, optionsOfProfile } from './runtime-options.js';
import { describeSelector, matchesSelector, normalizeEndpoint, selectorOf, type RuntimeSelector } from './selector.js';

/**
 * Pure routing policy, shared by the deciders (which check it when a decision is recorded) and the
 * run router (which uses it to choose what to ask for): which instances may take a run, which
 * profile arpd may start by itself, whether a selector can ever match, and what a waiting run
 * waits for.
 *
 * Length: over 300 lines because the deciders and the router must read the same rules, so they are kept in one
 * place; every function is pure and small.
 */

export interface RoutingPolicy {
  /** arpd may start instances by itself for waiting runs (`--no-autostart-instances` turns it off). */
  autostart: boolean;
  /** `--default-profile`: the profile a run with no selector may start. */
  defaultProfile?: string | undefined;
}

/** The routing policy the daemon's options give. */
export function routingPolicyOf(o: Pick<DaemonOptions, 'runs' | 'defaultProfile'>): RoutingPolicy {
  return { autostart: o.runs?.autostartInstances ?? true, ...(o.defaultProfile === undefined ? {} : { defaultProfile: o.defaultProfile }) };
}

const LIVE_STATES = ['starting', 'ready', 'busy'] as const;

/** Live (starting, ready, busy) instances matching the selector, oldest first. */
export function liveMatches(state: ReadModel, sel: RuntimeSelector | undefined): InstanceView[] {
  const out: InstanceView[] = [];
  const consider = (inst: InstanceView | undefined): void => {
    if (inst !== undefined && (LIVE_STATES as readonly string[]).includes(inst.state) && matchesSelector(inst, sel)) out.push(inst);
  };
  if (sel?.instance_id !== undefined) consider(state.instances.get(sel.instance_id));
  else if (sel?.runtime_profile !== undefined) for (const id of state.instanceIdsOfProfile(sel.runtime_profile)) consider(state.instances.get(id));
  else for (const s of LIVE_STATES) for (const id of state.instanceIdsInState(s)) consider(state.instances.get(id));
  return out.sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.instance_id.localeCompare(b.instance_id)));
}

/** Runs the instance is taking now, and how many it may take. */
export function loadOf(state: ReadModel, inst: InstanceView): { active: number; capacity: number } {
  return { active: state.activeRuns(inst.instance_id).size, capacity: capacityOf(state, inst) };
}

export function hasRoom(state: ReadModel, inst: InstanceView): boolean {
  const { active, capacity } = loadOf(state, inst);
  return active < capacity;
}

/** The ARP state of an instance: a ready instance at capacity is busy. */
export function arpStateOf(state: ReadModel, inst: InstanceView): InstanceView['state'] {
  if (inst.state === 'ready' || inst.state === 'busy') return hasRoom(state, inst) ? 'ready' : 'busy';
  return inst.state;
}

/**
 * Instances counted by their ARP state, as `instances list` shows each (a ready one at capacity is busy; the
 * recorded state says ready): what `arpd daemon status` counts.
 */
export function countInstancesByArpState(state: ReadModel, recorded: Record<InstanceView['state'], number>): Record<InstanceView['state'], number> {
  const out = { ...recorded };
  for (const recordedState of ['ready', 'busy'] as const) {
    for (const id of state.instanceIdsInState(recordedState)) {
      const inst = state.instances.get(id);
      if (inst === undefined) continue;
      const shown = arpStateOf(state, inst);
      if (shown !== recordedState) { out[recordedState]--; out[shown]++; }
    }
  }
  return out;
}

/** The least loaded serving instance that matches and has room, if any. */
export function pickInstance(state: ReadModel, sel: RuntimeSelector | undefined): InstanceView | undefined {
  let best: InstanceView | undefined;
  let bestLoad = Infinity;
  for (const inst of liveMatches(state, sel)) {
    if (!isServing(inst)) continue;
    const { active, capacity } = loadOf(state, inst);
    if (active >= capacity) continue;
    const load = active / capacity;
    if (load < bestLoad) {
      best = inst;
      bestLoad = load;
    }
  }
  return best;
}

/** Can a failed instance come back (external revival, or a managed restart still to come)? */
function mayRecover(state: ReadModel, inst: InstanceView): boolean {
  if (inst.state !== 'error') return false;
  if (!inst.managed) return true;
  return restartDecision(inst, optionsOfInstance(state, inst)).restart;
}

/** Profiles whose runtime_name is `name` (by name order). */
function profilesNamed(state: ReadModel, name: string): string[] {
  const out: string[] = [];
  for (const p of state.profiles.values()) if (p.profile['runtime_name'] === name) out.push(p.runtime_profile);
  return out.sort();
}

/**
 * The profile arpd may start by itself for a run with this selector, if any. With no selector that is
 * `--default-profile`, or `default` when it is the only profile on the safe list (a user who added
 * profiles of their own never gets the bundled reference runtime by surprise).
 */
export function autostartProfile(state: ReadModel, sel: RuntimeSelector | undefined, policy: RoutingPolicy): string | undefined {
  if (!policy.autostart) return undefined;
  if (sel === undefined) {
    if (policy.defaultProfile !== undefined) return state.profiles.has(policy.defaultProfile) ? policy.defaultProfile : undefined;
    return state.profiles.size === 1 && state.profiles.has('default') ? 'default' : undefined;
  }
  if (sel.instance_id !== undefined || sel.runtime_api_endpoint !== undefined) return undefined;
  if (sel.runtime_profile !== undefined) {
    const p = state.profiles.get(sel.runtime_profile);
    if (p === undefined) return undefined;
    if (sel.runtime_name !== undefined && p.profile['runtime_name'] !== undefined && p.profile['runtime_name'] !== sel.runtime_name) return undefined;
    return sel.runtime_profile;
  }
  if (sel.runtime_name !== undefined) return profilesNamed(state, sel.runtime_name)[0];
  return undefined;
}

/** Queue keys of waiting runs that an instance of `profile` could take (see queue-keys.ts). */
function waitingFor(state: ReadModel, profile: string, policy: RoutingPolicy): number {
  let n = state.queuedByKey(`p:${profile}`).size;
  const name = state.profiles.get(profile)?.profile['runtime_name'];
  if (typeof name === 'string') n += state.queuedByKey(`n:${name}`).size;
  if (autostartProfile(state, undefined, policy) === profile) n += state.queuedByKey('*').size;
  return n;
}

/**
 * Should arpd start an instance of `profile` now for the runs waiting for it? The first one when none
 * is live; more (up to the profile's `max_instances`) while the waiting runs outnumber what the
 * instances already starting will take and every serving one is full. Returns how many live instances
 * there may be after starting one (the decider refuses when that many already exist), or undefined.
 */
export function scaleUpLimit(state: ReadModel, profile: string, policy: RoutingPolicy): number | undefined {
  if (!policy.autostart || !state.profiles.has(profile)) return undefined;
  const opts = optionsOfProfile(state.profiles.get(profile));
  let live = 0;
  let starting = 0;
  let room = 0;
  for (const id of state.instanceIdsOfProfile(profile)) {
    const inst = state.instances.get(id);
    if (inst === undefined || !(LIVE_STATES as readonly string[]).includes(inst.state)) continue;
    live++;
    if (inst.state === 'starting') starting++;
    else if (isServing(inst)) {
      const { active, capacity } = loadOf(state, inst);
      room += Math.max(0, capacity - active);
    }
  }
  if (live === 0) return 1;
  if (live >= opts.maxInstances || room > 0) return undefined;
  const waiting = waitingFor(state, profile, policy);
  return waiting > starting * opts.maxConcurrentRuns ? live + 1 : undefined;
}

/** True when the last instance of the profile arpd started failed recently (after the profile last changed): don't start another yet. */
export function recentlyFailed(state: ReadModel, profile: string, nowMs: number, backoffMs = 10_000): InstanceView | undefined {
  const p = state.profiles.get(profile);
  let latest: InstanceView | undefined;
  for (const id of state.instanceIdsInState('error')) {
    const inst = state.instances.get(id);
    if (inst?.runtime_profile !== profile || !inst.managed) continue;
    if (latest === undefined || inst.updated_at > latest.updated_at) latest = inst;
  }
  if (latest === undefined) return undefined;
  if (p !== undefined && p.updated_at > latest.updated_at) return undefined;
  return nowMs - Date.parse(latest.updated_at) < backoffMs ? latest : undefined;
}

function notFound(message: string, data: JsonObject): ArpdError {
  return new ArpdError('E_NOT_FOUND', message, data);
}

/**
 * An IPv4-mapped IPv6 address as its IPv4 address (`::ffff:7f00:1`, the URL parser's form of `::ffff:127.0.0.1`, is
 * 127.0.0.1); any other host as it is.
 */
function ipv4OfMapped(host: string): string {
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
  if (m === null) return host;
  const hi = parseInt(m[1] as string, 16);
  const lo = parseInt(m[2] as string, 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** A URL's host (lower case, unbracketed, an IPv4-mapped address as IPv4) and port (the scheme's default written out). */
function hostAndPort(u: URL): { host: string; port: string } {
  return {
    host: ipv4OfMapped(u.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase()),
    port: u.port === '' ? (u.protocol === 'https:' ? '443' : '80') : u.port,
  };
}

function parsedUrl(url: string): URL | undefined {
  try {
    return new URL(url);
  } catch {
    return undefined;
  }
}

/**
 * The one reading of "loopback" (a host as `hostAndPort` gives it): localhost, any 127.x, ::1 and the wildcard
 * addresses. Such an address reaches only the host it is used on. `endpointKey`, `isLoopbackEndpoint` (stewardship)
 * and `endpointIdentity` (one runtime or two) all read it from here.
 */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.') || host === '::1' || host === '0.0.0.0' || host === '::';
}

/** The loopback-normalised `host:port` of an http(s) URL (any 127.x as loopback), for comparing with own addresses. */
export function endpointKey(url: string): string | undefined {
  const u = parsedUrl(url);
  if (u === undefined) return undefined;
  const { host, port } = hostAndPort(u);
  return `${isLoopbackHost(host) ? 'loopback' : host}:${port}`;
}

/**
 * Is the URL's host this host's loopback (localhost, any 127.x, ::1, an IPv4-mapped 127.x, the wildcard addresses)? Such
 * an endpoint is reached only from the host it was registered on: when daemons share a store, only from its node.
 */
export function isLoopbackEndpoint(url: string): boolean {
  return endpointKey(url)?.startsWith('loopback:') === true;
}

/**
 * The loopback hosts that are one address as a runtime's endpoint (localhost, 127.0.0.1, ::1 and the wildcard
 * addresses, where a runtime listening on the host answers): among `isLoopbackHost`'s hosts, those `endpointIdentity`
 * writes as one. Another 127.x address (127.0.0.2) is loopback too, but another address.
 */
const MAIN_LOOPBACK: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '::1', '0.0.0.0', '::']);

/**
 * What two endpoints share when they are one runtime, for telling a second registration of a runtime from another
 * runtime: scheme, host (lower case, an IPv4-mapped address as IPv4; localhost, 127.0.0.1, ::1 and the wildcard
 * addresses as one), port (the scheme's default written out) and path (trailing slashes dropped). A loopback address
 * (`isLoopbackHost`: any 127.x too) reaches the host of the node it was registered or started on, so when daemons
 * share a store (`node` given) it is that node's loopback: 127.0.0.1:8400, or 127.0.0.2:8400, on node a and on node b
 * are two runtimes. Any other difference (another port, another 127.x address, another path) may be another runtime.
 * Not an http(s) URL: undefined.
 */
export function endpointIdentity(url: string, node?: string): string | undefined {
  const u = parsedUrl(url);
  if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:')) return undefined;
  const { host, port } = hostAndPort(u);
  let where = host;
  if (isLoopbackHost(host)) {
    const address = MAIN_LOOPBACK.has(host) ? 'loopback' : host;
    where = node === undefined ? address : `${address}@${node}`;
  }
  return `${u.protocol}//${where}:${port}${u.pathname.replace(/\/+$/, '')}`;
}

/** An endpoint and the node it is reached from (undefined with a single daemon). */
export interface EndpointOnNode { endpoint: string; node?: string | undefined }

/**
 * Whether two endpoint URLs are one runtime's (`endpointIdentity`, a loopback one on its node); strings that are not
 * URLs only when equal without trailing slashes.
 */
export function sameEndpoint(a: EndpointOnNode, b: EndpointOnNode): boolean {
  const ka = endpointIdentity(a.endpoint, a.node);
  return ka === undefined ? normalizeEndpoint(a.endpoint) === normalizeEndpoint(b.endpoint) : ka === endpointIdentity(b.endpoint, b.node);
}

/** An instance's endpoint and node, for `sameEndpoint` (undefined when it has no endpoint yet). */
export function endpointOf(inst: InstanceView): EndpointOnNode | undefined {
  return inst.runtime_api_endpoint === undefined ? undefined : { endpoint: inst.runtime_api_endpoint, node: inst.node };
}

/**
 * The external registrations a serving managed instance makes stale: live or failed external instances at its
 * endpoint (`sameEndpoint`). Its runtime answers there now, so the registered runtime is gone (its port went to a
 * runtime arpd started) and a run for the registration would reach the managed runtime under a second id.
 */
export function staleRegistrationsOf(state: ReadModel, managed: InstanceView): string[] {
  const at = endpointOf(managed);
  if (!managed.managed || !isServing(managed) || at === undefined) return [];
  const out: string[] = [];
  for (const s of ['starting', 'ready', 'busy', 'error'] as const) {
    for (const id of state.instanceIdsInState(s)) {
      const inst = state.instances.get(id);
      const other = inst === undefined ? undefined : endpointOf(inst);
      if (inst !== undefined && !inst.managed && other !== undefined && sameEndpoint(other, at)) out.push(id);
    }
  }
  return out.sort();
}

/** `endpointIdentity` of an instance's endpoint on its node, kept per view (a view is replaced, never changed). */
const identityOfView = new WeakMap<InstanceView, string>();
function identityOf(inst: InstanceView & { runtime_api_endpoint: string }): string {
  let key = identityOfView.get(inst);
  if (key === undefined) {
    key = endpointIdentity(inst.runtime_api_endpoint, inst.node) ?? `raw:${normalizeEndpoint(inst.runtime_api_endpoint)}`;
    identityOfView.set(inst, key);
  }
  return key;
}

/**
 * The serving managed instance that answers at an external instance's endpoint now, if any (`sameEndpoint`): the
 * registration is stale (`staleRegistrationsOf`) and about to be retired, and a run sent to it would reach the managed
 * runtime under a second id. Undefined at once for a managed instance (the routing hot path pays one test); for an
 * external one (rare), one look at each serving instance, its endpoint's identity kept per view.
 */
export function answeredByManaged(state: ReadModel, inst: InstanceView): string | undefined {
  if (inst.managed || inst.runtime_api_endpoint === undefined) return undefined;
  const key = identityOf(inst as InstanceView & { runtime_api_endpoint: string });
  for (const s of ['ready', 'busy'] as const) {
    for (const id of state.instanceIdsInState(s)) {
      const m = state.instances.get(id);
      if (m !== undefined && m.managed && m.runtime_api_endpoint !== undefined && isServing(m) && identityOf(m as InstanceView & { runtime_api_endpoint: string }) === key) return id;
    }
  }
  return undefined;
}

/** Is `url` one of the daemon's own listen addresses? (Registering or routing to it would loop.) */
export function isOwnEndpoint(url: string, own: readonly string[]): boolean {
  const key = endpointKey(url);
  return key !== undefined && own.some((o) => endpointKey(o) === key);
}

export type SubmitRoute =
  | { kind: 'queue' }
  | { kind: 'direct'; endpoint: string; instance_id?: string };

/**
 * What happens to a new run, decided at submit: queue it (something can match now or once it has
 * started), send it straight to a `runtime_api_endpoint`, or refuse it at once because nothing can
 * ever match (an unknown or deleted instance, a profile not on the safe list, a runtime name nobody
 * has, conflicting selector fields, no profile to start for a run without a selector). A run for an endpoint names the
 * ready instance serving it (`sameEndpoint`; a loopback one only on `node`, the node deciding, when daemons share a store).
 */
export function submitRoute(state: ReadModel, request: JsonObject, policy: RoutingPolicy, ownEndpoints: readonly string[], node?: string): SubmitRoute | ArpdError {
  const sel = selectorOf(request);
  if (sel?.runtime_api_endpoint !== undefined) {
    const others = (['instance_id', 'runtime_profile', 'runtime_name'] as const).filter((k) => sel[k] !== undefined);
    if (others.length > 0) {
      return new ArpdError('E_VALIDATION', `runtime_selector.runtime_api_endpoint cannot be combined with ${others.join(', ')}: a run for an endpoint goes to that endpoint directly; send only runtime_api_endpoint, or only the other fields`, { field: 'runtime_selector.runtime_api_endpoint', rule: 'exclusive' });
    }
    let url: URL;
    try {
      url = new URL(sel.runtime_api_endpoint);
    } catch {
      return new ArpdError('E_VALIDATION', `runtime_selector.runtime_api_endpoint '${sel.runtime_api_endpoint.slice(0, 200)}' is not a URL: give it as http://host:port`, { field: 'runtime_selector.runtime_api_endpoint' });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      return new ArpdError('E_VALIDATION', `runtime_selector.runtime_api_endpoint must be http:// or https://, not ${url.protocol}`, { field: 'runtime_selector.runtime_api_endpoint' });
    }
    if (url.username !== '' || url.password !== '') {
      return new ArpdError('E_VALIDATION', 'runtime_selector.runtime_api_endpoint must not hold credentials (user:password@): arpd would store them in its log', { field: 'runtime_selector.runtime_api_endpoint' });
    }
    if (isOwnEndpoint(sel.runtime_api_endpoint, ownEndpoints)) {
      return new ArpdError('E_VALIDATION', `runtime_selector.runtime_api_endpoint ${sel.runtime_api_endpoint} is this daemon's own address: a run sent there would loop; give a runtime's endpoint`, { field: 'runtime_selector.runtime_api_endpoint', rule: 'not-self' });
    }
    const endpoint = normalizeEndpoint(sel.runtime_api_endpoint);
    for (const id of state.instanceIdsInState('ready')) {
      const inst = state.instances.get(id);
      const at = inst === undefined ? undefined : endpointOf(inst);
      // a stale external registration at the endpoint is not named: the managed instance serving there is
      if (at !== undefined && sameEndpoint(at, { endpoint, node }) && answeredByManaged(state, inst as InstanceView) === undefined) return { kind: 'direct', endpoint, instance_id: id };
    }
    return { kind: 'direct', endpoint };
  }
  if (sel?.instance_id !== undefined) {
    const inst = state.instances.get(sel.instance_id);
    if (inst === undefined || inst.state === 'stopped' || inst.state === 'stopping') {
      return notFound(`runtime_selector.instance_id '${sel.instance_id}' is ${inst === undefined ? 'not a known instance' : `${inst.state} (${inst.reason ?? 'deleted'})`}: see 'arpd instances list'`, { field: 'runtime_selector.instance_id', instance_id: sel.instance_id, arp_code: 'instances.not_found' });
    }
    if (sel.runtime_profile !== undefined && inst.runtime_profile !== sel.runtime_profile) {
      return new ArpdError('E_VALIDATION', `runtime_selector names instance '${inst.instance_id}' and profile '${sel.runtime_profile}', but that instance is of profile '${inst.runtime_profile ?? '(none)'}': drop one of them`, { field: 'runtime_selector.runtime_profile', rule: 'consistent', instance_id: inst.instance_id });
    }
    if (sel.runtime_name !== undefined && inst.runtime_name !== undefined && inst.runtime_name !== sel.runtime_name) {
      return new ArpdError('E_VALIDATION', `runtime_selector names instance '${inst.instance_id}' and runtime_name '${sel.runtime_name}', but that instance runs '${inst.runtime_name}': drop one of them`, { field: 'runtime_selector.runtime_name', rule: 'consistent', instance_id: inst.instance_id });
    }
    if (inst.state === 'error' && !mayRecover(state, inst)) {
      return new ArpdError('E_NOT_READY', `instance '${inst.instance_id}' has failed (${inst.reason ?? 'error'}) and will not be restarted: delete it and start another, or choose another instance`, { field: 'runtime_selector.instance_id', instance_id: inst.instance_id, arp_code: 'instances.not_ready' });
    }
    return { kind: 'queue' };
  }
  if (sel?.runtime_profile !== undefined && !state.profiles.has(sel.runtime_profile) && liveMatches(state, sel).length === 0) {
    // a name no profile can have ('../x'): the caller's mistake, not a profile to add
    const shown = sel.runtime_profile.slice(0, 130);
    if (!isValidId(sel.runtime_profile)) {
      return new ArpdError('E_VALIDATION', `runtime_selector.runtime_profile '${shown}' cannot be a profile name: names use letters, digits, '.', '_' and '-', 1 to 128 of them, starting with a letter or digit (see 'arpd profiles list')`, { field: 'runtime_selector.runtime_profile', rule: 'id' });
    }
    return notFound(`runtime profile '${sel.runtime_profile}' is not on the safe list and no instance has it: add it with 'arpd profiles upsert ${sel.runtime_profile} --request-json <file>' (see 'arpd profiles list')`, { field: 'runtime_selector.runtime_profile', runtime_profile: sel.runtime_profile, arp_code: 'runtime_profiles.not_found' });
  }
  if (sel?.runtime_name !== undefined && liveMatches(state, sel).length === 0 && profilesNamed(state, sel.runtime_name).length === 0) {
    return notFound(`no instance and no profile has runtime_name '${sel.runtime_name}': see 'arpd instances list' and 'arpd profiles list'`, { field: 'runtime_selector.runtime_name', runtime_name: sel.runtime_name, arp_code: 'instances.not_found' });
  }
  if (liveMatches(state, sel).length > 0) return { kind: 'queue' };
  for (const id of state.instanceIdsInState('error')) {
    const inst = state.instances.get(id);
    if (inst !== undefined && matchesSelector(inst, sel) && mayRecover(state, inst)) return { kind: 'queue' };
  }
  if (autostartProfile(state, sel, policy) !== undefined) return { kind: 'queue' };
  if (sel === undefined) {
    const names = [...state.profiles.keys()].sort();
    const listed = names.length === 0 ? 'there are none: add one with arpd profiles upsert' : `profiles: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}`;
    const message = policy.autostart
      ? `no instance is running and arpd will not choose a profile for you: name one with runtime_selector.runtime_profile (${listed}), start one with 'arpd instances start --profile <name>', or start the daemon with --default-profile <name>`
      : `no instance is running and --no-autostart-instances is set, so arpd starts none: start one with 'arpd instances start --profile <name>' (${listed}), then submit again`;
    return new ArpdError('E_NOT_READY', message, { field: 'runtime_selector', profiles: names.slice(0, 50), arp_code: 'instances.no_ready' });
  }
  return new ArpdError('E_NOT_READY', `no instance matching ${describeSelector(sel)} is running and arpd will not start one (${policy.autostart ? 'no profile to start' : '--no-autostart-instances is set'}): start one with 'arpd instances start'`, { field: 'runtime_selector', arp_code: 'instances.no_ready' });
}

/**
 * What a waiting run was waiting for, in words, for the error of a run whose queue time ran out:
 * the matching instances and why none took it, or why there was none.
 */
export function describeWait(state: ReadModel, run: RunView, policy: RoutingPolicy, waitedMs: number): string {
  const sel = selectorOf(run.request);
  const what = sel?.instance_id !== undefined ? `instance '${sel.instance_id}'` : sel === undefined ? 'any instance' : `an instance matching ${describeSelector(sel)}`;
  const seconds = `${Math.round(waitedMs / 100) / 10}s`;
  const live = liveMatches(state, sel);
  const parts: string[] = [];
  for (const inst of live.slice(0, 5)) {
    if (isServing(inst)) {
      const { active, capacity } = loadOf(state, inst);
      parts.push(`${inst.instance_id} was busy with ${active} of ${capacity} run(s)`);
    } else {
      parts.push(`${inst.instance_id} was ${inst.state === 'starting' ? 'still starting' : inst.state}`);
    }
  }
  if (live.length > 5) parts.push(`and ${live.length - 5} more`);
  let hint: string;
  if (live.length === 0) {
    let failed: InstanceView | undefined;
    for (const id of state.instanceIdsInState('error')) {
      const inst = state.instances.get(id);
      if (inst !== undefined && matchesSelector(inst, sel) && (failed === undefined || inst.updated_at > failed.updated_at)) failed = inst;
    }
    const profile = autostartProfile(state, sel, policy);
    parts.push(failed !== undefined ? `the last matching instance ${failed.instance_id} failed: ${failed.reason ?? 'error'}` : 'no instance matched');
    hint = profile === undefined ? ": start one with 'arpd instances start'" : `: arpd tried to start one of profile '${profile}'; check 'arpd instances list --all'`;
  } else {
    hint = ': start more instances, raise max_concurrent_runs, or give the run a longer queue timeout (extensions["arpd.queue_timeout_ms"])';
  }
  return `the run waited ${seconds} for ${what} and none took it (${parts.join('; ')})${hint}`;
}

/**
 * Should an instance arpd started by itself for waiting runs be stopped now? When it has no run in flight, none is
 * waiting that it could take, another instance of its profile is serving (one is always kept), and it has been idle
 * for `graceMs` (since it became ready or its last run ended). Returns when to look again, or true.
 */
export function scaleDownCheck(state: ReadModel, inst: InstanceView, nowMs: number, graceMs: number): true | { lookAgainAt: number } | false {
  if (!inst.managed || inst.reason_started !== 'autostart' || !isServing(inst) || inst.runtime_profile === undefined) return false;
  if (state.activeRuns(inst.instance_id).size > 0) return false;
  let others = 0;
  for (const id of state.instanceIdsOfProfile(inst.runtime_profile)) {
    const other = state.instances.get(id);
    if (other !== undefined && id !== inst.instance_id && isServing(other)) others++;
  }
  if (others === 0) return false;
  for (const key of [`i:${inst.instance_id}`, `p:${inst.runtime_profile}`, ...(inst.runtime_name === undefined ? [] : [`n:${inst.runtime_name}`]), '*']) {
    for (const runId of state.queuedByKey(key)) {
      const run = state.runs.get(runId);
      if (run !== undefined && matchesSelector(inst, selectorOf(run.request))) return false;
    }
  }
  const since = Math.max(Date.parse(inst.ready_at ?? inst.updated_at), Date.parse(state.lastRunEndedOn(inst.instance_id) ?? '1970-01-01T00:00:00Z'));
  return nowMs - since >= graceMs ? true : { lookAgainAt: since + graceMs };
}
