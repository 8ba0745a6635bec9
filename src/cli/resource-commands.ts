import { readFileSync } from 'node:fs';
import type { RpcClient } from '../client/index.js';
import { ArpdError } from '../errors/index.js';
import type { TraceLine } from '../events/trace-line.js';
import { withClient } from './connection.js';
import type { ResolvedGlobals } from './global-options.js';
import { EXIT, info, out, printJson, printTable, style } from './output.js';

/** `arpd profiles|instances|runs …`: thin clients of the daemon's socket methods. */

type Json = Record<string, unknown>;

export function readJsonFile(path: string, what: string): Json {
  let text: string;
  try {
    text = path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (err) {
    throw new ArpdError('E_VALIDATION', `cannot read ${what} file '${path}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { field: 'request-json', usage: true });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (err) {
    throw new ArpdError('E_VALIDATION', `${what} file '${path}' is not a JSON object: ${(err as Error).message}`, { field: 'request-json', usage: true });
  }
}

// ---- profiles -------------------------------------------------------------------------------------

export async function profilesList(g: ResolvedGlobals): Promise<number> {
  return withClient(g, async (c) => {
    const r = await c.call<{ profiles: Json[] }>('profiles.list', {});
    if (g.json) { printJson(r); return 0; }
    if (r.profiles.length === 0) { info('no runtime profiles: add one with arpd profiles upsert <name> --request-json <file>'); return 0; }
    printTable(['PROFILE', 'RUNTIME', 'DRIVER', 'DESCRIPTION'], r.profiles.map((p) => {
      const exec = ((p['extensions'] as Json | undefined)?.['arp.jarvis.exec'] as Json | undefined) ?? {};
      return [String(p['runtime_profile']), String(p['runtime_name'] ?? '-'), String(exec['driver'] ?? '-'), String(p['description'] ?? '').slice(0, 60)];
    }));
    return 0;
  });
}

export async function profilesGet(g: ResolvedGlobals, name: string): Promise<number> {
  return withClient(g, async (c) => { printJson(await c.call('profiles.get', { runtime_profile: name })); return 0; });
}

export async function profilesUpsert(g: ResolvedGlobals, name: string, o: { requestJson?: string; runtimeName?: string; description?: string; command?: string[] }): Promise<number> {
  let request: Json = o.requestJson === undefined ? {} : readJsonFile(o.requestJson, 'profile');
  if (o.runtimeName !== undefined) request = { ...request, runtime_name: o.runtimeName };
  if (o.description !== undefined) request = { ...request, description: o.description };
  if (o.command !== undefined && o.command.length > 0) {
    request = { ...request, extensions: { ...((request['extensions'] as Json | undefined) ?? {}), 'arp.jarvis.exec': { driver: 'command', command_template: o.command } } };
  }
  if (o.requestJson === undefined && o.command === undefined && o.runtimeName === undefined && o.description === undefined) {
    throw new ArpdError('E_VALIDATION', 'give the profile as --request-json <file> (or flags: --runtime-name, --description, -- <command...>)', { usage: true });
  }
  return withClient(g, async (c) => {
    const r = await c.call<Json>('profiles.upsert', { runtime_profile: name, request });
    if (g.json) printJson(r); else out(`profile ${name} saved`);
    return 0;
  });
}

export async function profilesDelete(g: ResolvedGlobals, name: string, force: boolean): Promise<number> {
  return withClient(g, async (c) => {
    const r = await c.call('profiles.delete', { runtime_profile: name, force });
    if (g.json) printJson(r); else out(`profile ${name} deleted`);
    return 0;
  });
}

// ---- instances ------------------------------------------------------------------------------------

function instanceRows(list: Json[]): string[][] {
  return list.map((i) => {
    const ext = ((i['extensions'] as Json | undefined)?.['arpd.instance'] as Json | undefined) ?? {};
    const endpoint = i['runtime_api_endpoint'] === undefined ? '-' : String(i['runtime_api_endpoint']);
    return [String(i['instance_id']), String(i['state']), String(i['runtime_profile'] ?? '-'), i['managed'] === false ? 'external' : 'managed', endpoint, String(ext['reason'] ?? '')];
  });
}

export async function instancesList(g: ResolvedGlobals, all: boolean): Promise<number> {
  return withClient(g, async (c) => {
    const r = await c.call<{ instances: Json[] }>('instances.list', { all });
    if (g.json) { printJson(r); return 0; }
    if (r.instances.length === 0) { info('no instances: start one with arpd instances start --profile default'); return 0; }
    printTable(['INSTANCE', 'STATE', 'PROFILE', 'KIND', 'ENDPOINT', 'REASON'], instanceRows(r.instances));
    return 0;
  });
}

export async function instancesGet(g: ResolvedGlobals, id: string): Promise<number> {
  return withClient(g, async (c) => { printJson(await c.call('instances.get', { instance_id: id })); return 0; });
}

function parseEnv(list: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new ArpdError('E_VALIDATION', `--env takes KEY=VALUE, not '${kv}'`, { field: 'env', usage: true });
    env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return env;
}

export async function instancesStart(g: ResolvedGlobals, o: { profile?: string; count?: number; env: string[]; args: string[]; toolRegistryUrl?: string; wait: boolean }): Promise<number> {
  if (o.profile === undefined) throw new ArpdError('E_VALIDATION', 'say which profile to start: --profile <name> (see arpd profiles list)', { field: 'profile', usage: true });
  const overrides: Json = {};
  if (o.env.length > 0) overrides['env'] = parseEnv(o.env);
  if (o.args.length > 0) overrides['args'] = o.args;
  if (o.toolRegistryUrl !== undefined) overrides['tool_registry_url'] = o.toolRegistryUrl;
  const request: Json = { runtime_profile: o.profile, count: o.count ?? 1, ...(Object.keys(overrides).length === 0 ? {} : { overrides }) };
  return withClient(g, async (c) => {
    const stop = c.onNotification('instances.progress', (p) => {
      const { instance_id, line } = p as { instance_id: string; line: string };
      if (!g.json) info(style.dim(`${instance_id}: ${line}`, process.stderr));
    });
    if (o.wait && !g.json) info(style.dim(`starting ${String(request['count'])} instance(s) of ${o.profile}…`, process.stderr));
    const r = await c.call<{ instances: Json[] }>('instances.create', { request, wait: o.wait }, { timeoutMs: o.wait ? 0 : g.timeoutMs });
    stop();
    if (g.json) printJson(r); else printTable(['INSTANCE', 'STATE', 'PROFILE', 'KIND', 'ENDPOINT', 'REASON'], instanceRows(r.instances));
    if (o.wait && r.instances.some((i) => i['state'] !== 'ready' && i['state'] !== 'busy')) return EXIT.ERROR;
    return 0;
  });
}

export async function instancesRegister(g: ResolvedGlobals, o: { endpoint?: string; profile?: string; name?: string }): Promise<number> {
  if (o.endpoint === undefined) throw new ArpdError('E_VALIDATION', 'give the runtime endpoint: --endpoint http://host:port', { field: 'endpoint', usage: true });
  const request: Json = { runtime_api_endpoint: o.endpoint, ...(o.profile === undefined ? {} : { runtime_profile: o.profile }), ...(o.name === undefined ? {} : { runtime_name: o.name }) };
  return withClient(g, async (c) => {
    const r = await c.call<{ instance: Json }>('instances.register', { request });
    if (g.json) printJson(r); else printTable(['INSTANCE', 'STATE', 'PROFILE', 'KIND', 'ENDPOINT', 'REASON'], instanceRows([r.instance]));
    return r.instance['state'] === 'ready' ? 0 : EXIT.ERROR;
  });
}

export async function instancesDelete(g: ResolvedGlobals, id: string): Promise<number> {
  return withClient(g, async (c) => {
    const r = await c.call('instances.delete', { instance_id: id }, { timeoutMs: Math.max(g.timeoutMs, 60_000) });
    if (g.json) printJson(r); else out(`instance ${id} deleted`);
    return 0;
  });
}

// ---- runs -----------------------------------------------------------------------------------------

function printTraceLine(line: TraceLine, json: boolean): void {
  if (json) { process.stdout.write(`${JSON.stringify(line)}\n`); return; }
  let data = JSON.stringify(line.data ?? {});
  if (data.length > 140) data = `${data.slice(0, 137)}...`;
  const lvl = line.level === 'error' ? style.red(line.level, process.stdout) : style.dim(line.level);
  out(`${String(line.seq).padStart(4)} ${style.dim(line.time)} ${lvl.padEnd(5)} ${line.type.padEnd(12)} ${data}`);
}

async function follow(c: RpcClient, runId: string, json: boolean): Promise<Json> {
  const stop = c.onNotification('runs.trace', (p) => printTraceLine((p as { line: TraceLine }).line, json));
  try {
    return await c.call<Json>('runs.follow', { run_id: runId }, { timeoutMs: 0 });
  } finally {
    stop();
  }
}

function resultText(r: Json): string {
  const output = r['output'] as Json | undefined;
  if (output !== undefined && typeof output['text'] === 'string') return output['text'];
  return JSON.stringify(output ?? r, null, 2);
}

export async function runsSubmit(g: ResolvedGlobals, o: { requestJson?: string; goal?: string; profile?: string; instance?: string; runId?: string; timeoutMs?: number; wait: boolean; follow: boolean }): Promise<number> {
  let request: Json;
  if (o.requestJson !== undefined) request = readJsonFile(o.requestJson, 'run request');
  else if (o.goal !== undefined) request = { input: { goal: o.goal } };
  else throw new ArpdError('E_VALIDATION', 'give the run as --goal "…" or --request-json <file>', { usage: true });
  if (o.profile !== undefined || o.instance !== undefined) {
    request['runtime_selector'] = { ...((request['runtime_selector'] as Json | undefined) ?? {}), ...(o.profile === undefined ? {} : { runtime_profile: o.profile }), ...(o.instance === undefined ? {} : { instance_id: o.instance }) };
  }
  if (o.runId !== undefined) request['run_id'] = o.runId;
  if (o.timeoutMs !== undefined) request['limits'] = { ...((request['limits'] as Json | undefined) ?? {}), timeout_ms: o.timeoutMs };
  return withClient(g, async (c) => {
    const status = await c.call<Json>('runs.submit', { request });
    const runId = String(status['run_id']);
    if (!o.wait && !o.follow) {
      if (g.json) printJson(status); else out(runId);
      return 0;
    }
    if (!g.json) info(style.dim(`run ${runId} ${String(status['state'])}`, process.stderr));
    const end = o.follow ? await follow(c, runId, g.json) : await c.call<Json>('runs.wait', { run_id: runId }, { timeoutMs: 0 });
    const state = String(end['state']);
    const result = await c.call<Json>('runs.result', { run_id: runId });
    if (g.json) printJson({ status: end, result });
    else {
      info(style.dim(`run ${runId} ${state}`, process.stderr));
      if (state === 'succeeded') out(resultText(result));
      else {
        const err = result['error'] as Json | undefined;
        info(`${style.red('run ' + state + ':')} ${String(err?.['message'] ?? '')} ${style.dim(`[${String(err?.['code'] ?? state)}]`, process.stderr)}`);
      }
    }
    return state === 'succeeded' ? 0 : EXIT.ERROR;
  });
}

export async function runsList(g: ResolvedGlobals, o: { state?: string; limit?: number; pageToken?: string }): Promise<number> {
  return withClient(g, async (c) => {
    const r = await c.call<{ runs: Json[]; pagination?: Json }>('runs.list', { ...(o.state === undefined ? {} : { state: o.state }), page_size: o.limit ?? 100, ...(o.pageToken === undefined ? {} : { page_token: o.pageToken }) });
    if (g.json) { printJson(r); return 0; }
    if (r.runs.length === 0) { info('no runs'); return 0; }
    printTable(['RUN', 'STATE', 'INSTANCE', 'STARTED', 'ENDED'], r.runs.map((s) => [String(s['run_id']), String(s['state']), String(s['runtime_instance_id'] ?? '-'), String(s['started_at'] ?? '-'), String(s['ended_at'] ?? '-')]));
    const next = r.pagination?.['next_page_token'];
    if (typeof next === 'string') info(style.dim(`more: arpd runs list --page-token ${next}`, process.stderr));
    return 0;
  });
}

export async function runsStatus(g: ResolvedGlobals, id: string): Promise<number> {
  return withClient(g, async (c) => {
    const s = await c.call<Json>('runs.get', { run_id: id });
    if (g.json) { printJson(s); return 0; }
    for (const k of ['run_id', 'state', 'runtime_instance_id', 'started_at', 'ended_at']) if (s[k] !== undefined) out(`${style.bold(k.padEnd(20))} ${String(s[k])}`);
    const err = ((s['extensions'] as Json | undefined)?.['arpd.run'] as Json | undefined)?.['error'] as Json | undefined;
    if (err !== undefined) out(`${style.bold('error'.padEnd(20))} ${String(err['message'])} [${String(err['code'])}]`);
    return 0;
  });
}

export async function runsResult(g: ResolvedGlobals, id: string): Promise<number> {
  return withClient(g, async (c) => {
    const r = await c.call<Json>('runs.result', { run_id: id });
    printJson(r);
    return r['ok'] === true ? 0 : EXIT.ERROR;
  });
}

export async function runsTrace(g: ResolvedGlobals, id: string, doFollow: boolean): Promise<number> {
  return withClient(g, async (c) => {
    if (doFollow) { await follow(c, id, g.json); return 0; }
    const r = await c.call<{ events: TraceLine[] }>('runs.trace', { run_id: id });
    for (const line of r.events) printTraceLine(line, g.json);
    return 0;
  });
}

export async function runsCancel(g: ResolvedGlobals, id: string): Promise<number> {
  return withClient(g, async (c) => {
    const s = await c.call<Json>('runs.cancel', { run_id: id });
    if (g.json) printJson(s); else out(`run ${id} ${String(s['state'])}`);
    return 0;
  });
}
