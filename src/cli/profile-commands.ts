import type { RuntimeProfileUpsertRequest } from '../client/index.js';
import { ArpdError } from '../errors/index.js';
import { withArpd } from './connection.js';
import type { ResolvedGlobals } from './global-options.js';
import { readJsonObject } from './json-file.js';
import { info, out, printJson, printSortedJson, printTable } from './output.js';

/**
 * `arpd profiles list|get|upsert|delete`. Spelled `arpd runtime-profiles …` (JARVIS), list, get and upsert
 * print the JSON the HTTP API returns, sorted as JARVIS prints it, and delete prints nothing.
 */

type Json = Record<string, unknown>;

export interface Spelling { jarvis: boolean }

export async function profilesList(g: ResolvedGlobals, s: Spelling): Promise<number> {
  return withArpd(g, async (arpd) => {
    const r = await arpd.profiles.list();
    if (s.jarvis) { printSortedJson(r); return 0; }
    if (g.json) { printJson(r); return 0; }
    if (r.profiles.length === 0) { info('no runtime profiles: add one with arpd profiles upsert <name> --request-json <file>'); return 0; }
    printTable(['PROFILE', 'RUNTIME', 'DRIVER', 'DESCRIPTION'], r.profiles.map((p) => {
      const exec = ((p.extensions as Json | undefined)?.['arp.jarvis.exec'] as Json | undefined) ?? {};
      return [p.runtime_profile, p.runtime_name ?? '-', String(exec['driver'] ?? '-'), (p.description ?? '').slice(0, 60)];
    }));
    return 0;
  });
}

export async function profilesGet(g: ResolvedGlobals, name: string, s: Spelling): Promise<number> {
  return withArpd(g, async (arpd) => {
    const r = await arpd.profiles.get(name);
    if (s.jarvis) printSortedJson(r); else printJson(r);
    return 0;
  });
}

interface UpsertFlags { requestJson?: string; runtimeName?: string; description?: string; command?: string[] }

export async function profilesUpsert(g: ResolvedGlobals, name: string, o: UpsertFlags, s: Spelling): Promise<number> {
  if (o.requestJson === undefined && o.command === undefined && o.runtimeName === undefined && o.description === undefined) {
    throw new ArpdError('E_VALIDATION', 'give the profile as --request-json <file> (or flags: --runtime-name, --description, -- <command...>)', { usage: true });
  }
  let request: Json = o.requestJson === undefined ? {} : readJsonObject(o.requestJson, 'profile');
  if (o.runtimeName !== undefined) request = { ...request, runtime_name: o.runtimeName };
  if (o.description !== undefined) request = { ...request, description: o.description };
  if (o.command !== undefined && o.command.length > 0) {
    request = { ...request, extensions: { ...((request['extensions'] as Json | undefined) ?? {}), 'arp.jarvis.exec': { driver: 'command', command_template: o.command } } };
  }
  return withArpd(g, async (arpd) => {
    const r = await arpd.profiles.upsert(name, request as RuntimeProfileUpsertRequest);
    if (s.jarvis) printSortedJson(r);
    else if (g.json) printJson(r);
    else out(`profile ${name} saved`);
    return 0;
  });
}

export async function profilesDelete(g: ResolvedGlobals, name: string, force: boolean, s: Spelling): Promise<number> {
  return withArpd(g, async (arpd) => {
    const r = await arpd.profiles.delete(name, { force });
    if (s.jarvis) return 0;
    if (g.json) printJson(r); else out(`profile ${name} deleted`);
    return 0;
  });
}
