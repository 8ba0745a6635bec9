import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ArpdClient, RuntimeInstance, RuntimeProfile, RuntimeProfileUpsertRequest } from '../client/index.js';
import { ArpdError, isErrorCode, toArpdError } from '../errors/index.js';
import { canonicalJson } from '../ids/canonical-json.js';
import { withArpd } from './connection.js';
import type { ResolvedGlobals } from './global-options.js';
import { readJson } from './json-file.js';
import { info, out, printJson, style } from './output.js';

/**
 * `arpd import-jarvis [DIR]`: takes over a JARVIS daemon's data dir (default `~/.arp/daemon`) through the
 * normal API, so everything it does is recorded as events and doing it twice changes nothing:
 * `runtime_profiles.json` (`{"profiles": [...]}`, a list, or an object of profiles by name) becomes
 * profile upserts (an identical profile records nothing), and the external instances of
 * `instances.json` (`{"instances": [...]}` or a list) are registered by endpoint (a live endpoint
 * answers with its instance; one registered but not serving, now or by an earlier import, is `not_serving`; one at an arpd
 * managed instance's endpoint is skipped, E_CONFLICT naming it). Managed JARVIS instances are skipped: their processes belong to JARVIS.
 */

type Json = Record<string, unknown>;

interface ImportedProfile { runtime_profile: string; action: 'imported' | 'unchanged' | 'failed'; reason?: string; code?: string }
interface ImportedInstance {
  jarvis_instance_id: string | null;
  runtime_api_endpoint: string | null;
  /** `not_serving`: registered (now or by an earlier import) but not serving: its endpoint did not answer as an ARP runtime. */
  action: 'registered' | 'already_registered' | 'not_serving' | 'skipped' | 'failed';
  instance_id?: string;
  state?: string;
  reason?: string;
  code?: string;
}
export interface ImportReport { source: string; profiles: ImportedProfile[]; instances: ImportedInstance[] }

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The profiles of runtime_profiles.json, whatever its shape; entries that are not objects are refused by name. */
function profilesOf(raw: unknown, file: string): Array<{ name: string; body: Json } | { name: string; error: string }> {
  let entries: Array<[string | undefined, unknown]>;
  if (Array.isArray(raw)) entries = raw.map((p) => [undefined, p]);
  else if (isObject(raw) && Array.isArray(raw['profiles'])) entries = (raw['profiles'] as unknown[]).map((p) => [undefined, p]);
  else if (isObject(raw)) entries = Object.entries(raw);
  else throw new ArpdError('E_VALIDATION', `${file} holds neither a list of profiles nor an object of them`, { path: file, usage: true });
  return entries.map(([key, p], i) => {
    if (!isObject(p)) return { name: key ?? `#${i + 1}`, error: 'not a JSON object' };
    const named = typeof p['runtime_profile'] === 'string' ? p['runtime_profile'] : key;
    if (named === undefined || named === '') return { name: `#${i + 1}`, error: "it has no 'runtime_profile' name" };
    if (key !== undefined && typeof p['runtime_profile'] === 'string' && p['runtime_profile'] !== key) {
      return { name: key, error: `its key '${key}' and its runtime_profile '${p['runtime_profile']}' differ` };
    }
    const { runtime_profile: _name, ...body } = p;
    return { name: named, body };
  });
}

/** The instances of instances.json, whatever its shape. */
function instancesOf(raw: unknown, file: string): unknown[] {
  if (Array.isArray(raw)) return raw;
  if (isObject(raw) && Array.isArray(raw['instances'])) return raw['instances'] as unknown[];
  throw new ArpdError('E_VALIDATION', `${file} holds neither a list of instances nor {"instances": [...]}`, { path: file, usage: true });
}

/** Key order does not make two profiles different. */
const sameProfile = (existing: RuntimeProfile, body: Json): boolean => {
  const { runtime_profile: _n, ...rest } = existing as unknown as Json;
  return canonicalJson(rest) === canonicalJson(body);
};

async function importProfiles(arpd: ArpdClient, file: string): Promise<ImportedProfile[]> {
  const wanted = profilesOf(readJson(file, 'JARVIS profiles', 'DIR'), file);
  const existing = new Map((await arpd.profiles.list()).profiles.map((p) => [p.runtime_profile, p]));
  const report: ImportedProfile[] = [];
  for (const p of wanted) {
    if ('error' in p) { report.push({ runtime_profile: p.name, action: 'failed', reason: p.error, code: 'E_VALIDATION' }); continue; }
    const before = existing.get(p.name);
    if (before !== undefined && sameProfile(before, p.body)) { report.push({ runtime_profile: p.name, action: 'unchanged' }); continue; }
    try {
      await arpd.profiles.upsert(p.name, p.body as RuntimeProfileUpsertRequest);
      report.push({ runtime_profile: p.name, action: 'imported' });
    } catch (err) {
      const e = toArpdError(err);
      report.push({ runtime_profile: p.name, action: 'failed', reason: e.message, code: e.code });
    }
  }
  return report;
}

/**
 * Why a registered endpoint serves no runs (its registration, now or earlier, found no ARP runtime there: `error`), and
 * what happens next: the daemon checks it again every few seconds and routes runs to it once it answers.
 */
function notServing(inst: RuntimeInstance, earlier: boolean): { reason: string; code?: string } {
  const details = ((inst.extensions as Json | undefined)?.['arpd.instance'] as Json | undefined) ?? {};
  const error = isObject(details['error']) ? details['error'] : {};
  const why = typeof error['message'] === 'string' ? error['message'] : typeof details['reason'] === 'string' ? details['reason'] : 'no reason recorded';
  return {
    reason: `${earlier ? 'registered by an earlier import, ' : ''}it gets no runs: ${why}; arpd checks it again every few seconds and sends it runs once it answers (remove it with 'arpd instances delete ${inst.instance_id}')`,
    ...(typeof error['code'] === 'string' ? { code: error['code'] } : {}),
  };
}

async function importInstances(arpd: ArpdClient, file: string): Promise<ImportedInstance[]> {
  const items = instancesOf(readJson(file, 'JARVIS instances', 'DIR'), file);
  // an endpoint registered before answers with its instance: one of these (the daemon tells endpoints apart)
  const known = new Set((await arpd.instances.list()).instances.map((i) => i.instance_id));
  const report: ImportedInstance[] = [];
  for (const item of items) {
    const jarvisId = isObject(item) && typeof item['instance_id'] === 'string' ? item['instance_id'] : null;
    const endpoint = isObject(item) && typeof item['runtime_api_endpoint'] === 'string' && item['runtime_api_endpoint'].trim() !== '' ? item['runtime_api_endpoint'].trim() : null;
    const base = { jarvis_instance_id: jarvisId, runtime_api_endpoint: endpoint };
    if (!isObject(item) || endpoint === null) { report.push({ ...base, action: 'skipped', reason: 'it has no runtime_api_endpoint' }); continue; }
    if (item['managed'] !== false) {
      const pid = typeof item['pid'] === 'number' ? ` (pid ${item['pid']})` : '';
      const profile = typeof item['runtime_profile'] === 'string' ? item['runtime_profile'] : '<profile>';
      report.push({ ...base, action: 'skipped', reason: `a managed JARVIS instance${pid}: its process belongs to JARVIS; start arpd's own with 'arpd instances start --profile ${profile}'` });
      continue;
    }
    try {
      const r = await arpd.instances.register({
        runtime_api_endpoint: endpoint,
        ...(typeof item['runtime_profile'] === 'string' ? { runtime_profile: item['runtime_profile'] } : {}),
        ...(typeof item['runtime_name'] === 'string' ? { runtime_name: item['runtime_name'] } : {}),
        ...(isObject(item['metadata']) ? { metadata: item['metadata'] } : {}),
      });
      const inst = r.instance;
      const earlier = known.has(inst.instance_id);
      known.add(inst.instance_id);
      if (inst.state === 'ready' || inst.state === 'busy') {
        report.push({ ...base, action: earlier ? 'already_registered' : 'registered', instance_id: inst.instance_id, state: inst.state });
      } else {
        report.push({ ...base, action: 'not_serving', instance_id: inst.instance_id, state: inst.state, ...notServing(inst, earlier) });
      }
    } catch (err) {
      const e = toArpdError(err);
      // E_CONFLICT: the runtime there is already arpd's (one of its managed instances): nothing to import
      report.push({ ...base, action: e.code === 'E_CONFLICT' ? 'skipped' : 'failed', reason: e.message, code: e.code });
    }
  }
  return report;
}

export async function importJarvis(g: ResolvedGlobals, dir: string | undefined): Promise<number> {
  const source = resolve(dir ?? join(homedir(), '.arp', 'daemon'));
  if (!existsSync(source) || !statSync(source).isDirectory()) {
    throw new ArpdError('E_NOT_FOUND', `no JARVIS data dir at ${source}: give the directory that holds runtime_profiles.json and instances.json`, { path: source });
  }
  const profilesFile = join(source, 'runtime_profiles.json');
  const instancesFile = join(source, 'instances.json');
  if (!existsSync(profilesFile) && !existsSync(instancesFile)) {
    throw new ArpdError('E_NOT_FOUND', `${source} holds neither runtime_profiles.json nor instances.json: is it a JARVIS daemon's data dir?`, { path: source });
  }
  const report: ImportReport = await withArpd(g, async (arpd) => ({
    source,
    profiles: existsSync(profilesFile) ? await importProfiles(arpd, profilesFile) : [],
    instances: existsSync(instancesFile) ? await importInstances(arpd, instancesFile) : [],
  }));
  if (g.json) printJson(report);
  else {
    out(`imported from ${source}:`);
    for (const p of report.profiles) out(`  profile  ${p.runtime_profile.padEnd(24)} ${p.action}${p.reason === undefined ? '' : `: ${p.reason}`}`);
    for (const i of report.instances) {
      const where = i.runtime_api_endpoint ?? i.jarvis_instance_id ?? '?';
      out(`  instance ${where.padEnd(24)} ${i.action}${i.instance_id === undefined ? '' : ` as ${i.instance_id} (${i.state ?? '?'})`}${i.reason === undefined ? '' : `: ${i.reason}`}`);
    }
    if (report.profiles.length === 0 && report.instances.length === 0) info(style.dim('nothing to import', process.stderr));
  }
  const failed = [...report.profiles, ...report.instances].filter((x) => x.action === 'failed');
  if (failed.length > 0) {
    const first = failed[0]?.code;
    throw new ArpdError(isErrorCode(first) ? first : 'E_VALIDATION', `${failed.length} of ${report.profiles.length + report.instances.length} entries could not be imported (see the reasons above); the others were`, { failed: failed.length });
  }
  return 0;
}
