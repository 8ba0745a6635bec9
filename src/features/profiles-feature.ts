import { decideDeleteProfile, decideUpsertProfile } from '../commands/profile-commands.js';
import type { DaemonContext, Feature } from '../daemon/daemon-context.js';
import { optBool, paramsObject, reqString } from '../daemon/params.js';
import { ArpdError } from '../errors/index.js';
import type { JsonObject } from '../events/event-types.js';
import { checkId } from '../ids/id-rules.js';
import { EXEC_EXTENSION_KEY, parseArpdRuntimeOptions, parseExecConfig } from '../instances/exec-config.js';
import { validate } from '../schemas/index.js';
import type { RuntimeProfile, RuntimeProfileListResponse } from '../schemas/index.js';

/** The profile every fresh data dir starts with: the bundled reference runtime. */
export const DEFAULT_PROFILE: JsonObject = {
  runtime_name: 'arpd-reference-runtime',
  description: 'The reference ARP runtime bundled with arpd (arithmetic and echo; see `arpd runtime serve --help`).',
  extensions: {
    [EXEC_EXTENSION_KEY]: { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0'] },
  },
};

function checkExec(extensions: unknown, name: string): void {
  if (extensions === null || typeof extensions !== 'object') return;
  const ext = extensions as Record<string, unknown>;
  if (ext[EXEC_EXTENSION_KEY] !== undefined) parseExecConfig(extensions, name);
  if (ext['arpd.runtime'] !== undefined) parseArpdRuntimeOptions(extensions);
}

/** Operations on the safe list, shared by the socket and HTTP transports. */
export class ProfileOps {
  constructor(private readonly ctx: DaemonContext) {}

  list(): RuntimeProfileListResponse {
    const profiles = [...this.ctx.projection.registry.profiles.values()]
      .sort((a, b) => a.runtime_profile.localeCompare(b.runtime_profile))
      .map((p) => p.profile as unknown as RuntimeProfile);
    return { profiles };
  }

  get(name: string): RuntimeProfile {
    checkId('profile name', name, 'runtime_profile');
    const p = this.ctx.projection.registry.profiles.get(name);
    if (p === undefined) throw new ArpdError('E_NOT_FOUND', `no runtime profile '${name}': see 'arpd profiles list'`, { runtime_profile: name, arp_code: 'runtime_profiles.not_found' });
    return p.profile as unknown as RuntimeProfile;
  }

  async upsert(name: string, request: unknown): Promise<RuntimeProfile> {
    checkId('profile name', name, 'runtime_profile');
    const body = validate('RuntimeProfileUpsertRequest', request) as unknown as JsonObject;
    this.refuseWhileStopping();
    return this.ctx.bus.execute([`profile:${name}`], (reg) => ({
      events: decideUpsertProfile(reg, { name, request: body, checkExec }),
      result: () => this.get(name),
    }), { actor: 'api' });
  }

  async delete(name: string, force: boolean): Promise<{ deleted: string }> {
    this.refuseWhileStopping();
    return this.ctx.bus.execute([`profile:${name}`], (reg) => ({
      events: decideDeleteProfile(reg, { name, force }),
      result: () => ({ deleted: name }),
    }), { actor: 'api' });
  }

  private refuseWhileStopping(): void {
    if (this.ctx.stopping()) throw new ArpdError('E_UNAVAILABLE', 'the daemon is shutting down: try again once it has restarted');
  }
}

export function profilesFeature(): Feature & { ops(ctx: DaemonContext): ProfileOps } {
  let ops: ProfileOps | undefined;
  const get = (ctx: DaemonContext): ProfileOps => (ops ??= new ProfileOps(ctx));
  return {
    name: 'profiles',
    ops: get,
    async seed(ctx) {
      await ctx.store.append({ type: 'profile.upserted', data: { runtime_profile: 'default', profile: { runtime_profile: 'default', ...DEFAULT_PROFILE } } }, { actor: 'arpd' });
    },
    methods(ctx) {
      const o = get(ctx);
      return {
        'profiles.list': { idempotent: true, handler: (params) => { paramsObject(params, [], 'profiles.list'); return o.list(); } },
        'profiles.get': { idempotent: true, handler: (params) => o.get(reqString(paramsObject(params, ['runtime_profile'], 'profiles.get'), 'runtime_profile', 200)) },
        'profiles.upsert': {
          idempotent: true,
          handler: (params) => {
            const p = paramsObject(params, ['runtime_profile', 'request'], 'profiles.upsert');
            return o.upsert(reqString(p, 'runtime_profile', 200), p['request'] ?? {});
          },
        },
        'profiles.delete': {
          handler: (params) => {
            const p = paramsObject(params, ['runtime_profile', 'force'], 'profiles.delete');
            return o.delete(reqString(p, 'runtime_profile', 200), optBool(p, 'force') ?? false);
          },
        },
      };
    },
  };
}
