import type { InstanceCreateRequest, RuntimeInstance } from '../client/index.js';
import { ArpdError, isErrorCode } from '../errors/index.js';
import { withArpd } from './connection.js';
import type { ResolvedGlobals } from './global-options.js';
import { info, out, printJson, printSortedJson, printTable, style } from './output.js';

/**
 * `arpd instances list|get|start|register|delete`, and their JARVIS spellings `arpd list|start|register|delete`
 * (which print the JSON the HTTP API returns). An instance that did not come up (start, register) is
 * printed and then reported as the one error line, with the code the daemon recorded for it.
 */

type Json = Record<string, unknown>;

export interface Spelling { jarvis: boolean }

function detailsOf(i: RuntimeInstance): Json {
  return ((i.extensions as Json | undefined)?.['arpd.instance'] as Json | undefined) ?? {};
}

const HEADER = ['INSTANCE', 'STATE', 'PROFILE', 'KIND', 'ENDPOINT', 'REASON'];

/**
 * The table of instances: a NODE column (before ENDPOINT: a loopback endpoint is that node's host) only when some
 * instance has a node, that is when daemons share a store.
 */
function printInstances(list: RuntimeInstance[]): void {
  const withNode = list.some((i) => detailsOf(i)['node'] !== undefined);
  const rows = list.map((i) => {
    const endpoint = i.runtime_api_endpoint === undefined ? '-' : String(i.runtime_api_endpoint);
    const node = withNode ? [String(detailsOf(i)['node'] ?? '-')] : [];
    return [i.instance_id, i.state, i.runtime_profile ?? '-', i.managed === false ? 'external' : 'managed', ...node, endpoint, String(detailsOf(i)['reason'] ?? '')];
  });
  printTable(withNode ? [...HEADER.slice(0, 4), 'NODE', ...HEADER.slice(4)] : HEADER, rows);
}

/** Why an instance is not ready, as the ArpdError to report (its recorded code, else E_RUNTIME_ERROR). */
function instanceFailure(i: RuntimeInstance): ArpdError {
  const d = detailsOf(i);
  const err = (d['error'] ?? {}) as Json;
  const code = isErrorCode(err['code']) ? err['code'] : 'E_RUNTIME_ERROR';
  const why = String(err['message'] ?? d['reason'] ?? 'no reason recorded');
  // an instance that never had a process (its install or its settings failed) has no logs to point to
  const logs = d['pid'] === undefined ? '' : `; see 'arpd instances logs ${i.instance_id}'`;
  const message = i.managed === false
    ? `the runtime at ${i.runtime_api_endpoint} was registered as ${i.instance_id} but is ${i.state}: ${why}`
    : `instance ${i.instance_id} of profile ${i.runtime_profile ?? '?'} is ${i.state}, not ready: ${why}${logs}`;
  return new ArpdError(code, message, { instance_id: i.instance_id, state: i.state });
}

export async function instancesList(g: ResolvedGlobals, all: boolean, s: Spelling): Promise<number> {
  return withArpd(g, async (arpd) => {
    const r = await arpd.instances.list({ all });
    if (s.jarvis) { printSortedJson(r); return 0; }
    if (g.json) { printJson(r); return 0; }
    if (r.instances.length === 0) { info('no instances: start one with arpd instances start --profile default'); return 0; }
    printInstances(r.instances);
    return 0;
  });
}

export async function instancesGet(g: ResolvedGlobals, id: string): Promise<number> {
  return withArpd(g, async (arpd) => { printJson(await arpd.instances.get(id)); return 0; });
}

function parseEnv(list: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ArpdError('E_VALIDATION', `--env takes KEY=VALUE, not '${kv}'`, { field: 'env', usage: true });
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

interface StartFlags { profile?: string | undefined; count?: number | undefined; env: readonly string[]; args: readonly string[]; toolRegistryUrl?: string | undefined; wait: boolean }

export async function instancesStart(g: ResolvedGlobals, o: StartFlags, s: Spelling): Promise<number> {
  if (o.profile === undefined) throw new ArpdError('E_VALIDATION', 'say which profile to start: --profile <name> (see arpd profiles list)', { field: 'profile', usage: true });
  const overrides: Json = {};
  if (o.env.length > 0) overrides['env'] = parseEnv(o.env);
  if (o.args.length > 0) overrides['args'] = [...o.args];
  if (o.toolRegistryUrl !== undefined) overrides['tool_registry_url'] = o.toolRegistryUrl;
  const request = { runtime_profile: o.profile, count: o.count ?? 1, ...(Object.keys(overrides).length === 0 ? {} : { overrides }) } as InstanceCreateRequest;
  const quiet = g.json || s.jarvis;
  return withArpd(g, async (arpd) => {
    if (o.wait && !quiet) info(style.dim(`starting ${String(request.count)} instance(s) of ${o.profile}…`, process.stderr));
    const r = await arpd.instances.start(request, {
      wait: o.wait,
      ...(quiet ? {} : { onProgress: (p: { instance_id: string; line: string }) => info(style.dim(`${p.instance_id}: ${p.line}`, process.stderr)) }),
      ...(o.wait ? {} : { timeoutMs: g.timeoutMs }),
    });
    if (s.jarvis) printSortedJson(r);
    else if (g.json) printJson(r);
    else printInstances(r.instances);
    const failed = o.wait ? r.instances.find((i) => i.state !== 'ready' && i.state !== 'busy') : undefined;
    if (failed !== undefined) throw instanceFailure(failed);
    return 0;
  });
}

interface RegisterFlags { endpoint?: string | undefined; profile?: string | undefined; name?: string | undefined }

export async function instancesRegister(g: ResolvedGlobals, o: RegisterFlags, s: Spelling): Promise<number> {
  if (o.endpoint === undefined) throw new ArpdError('E_VALIDATION', `give the runtime endpoint: ${s.jarvis ? '--runtime-api-endpoint' : '--endpoint'} http://host:port`, { field: 'endpoint', usage: true });
  const request = { runtime_api_endpoint: o.endpoint, ...(o.profile === undefined ? {} : { runtime_profile: o.profile }), ...(o.name === undefined ? {} : { runtime_name: o.name }) };
  return withArpd(g, async (arpd) => {
    const r = await arpd.instances.register(request);
    if (s.jarvis) printSortedJson(r);
    else if (g.json) printJson(r);
    else printInstances([r.instance]);
    if (r.instance.state !== 'ready' && r.instance.state !== 'busy') throw instanceFailure(r.instance);
    return 0;
  });
}

export async function instancesDelete(g: ResolvedGlobals, id: string, s: Spelling): Promise<number> {
  return withArpd(g, async (arpd) => {
    const r = await arpd.instances.delete(id, { timeoutMs: Math.max(g.timeoutMs, 60_000) });
    if (s.jarvis) return 0;
    if (g.json) printJson(r); else out(`instance ${id} deleted`);
    return 0;
  });
}
