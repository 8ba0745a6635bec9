import { profileNotFound } from '../commands/profile-deciders.js';
import type { DaemonContext } from '../daemon/daemon-context.js';
import type { JsonObject } from '../events/event-types.js';
import { checkId } from '../ids/id-rules.js';
import { EXEC_EXTENSION_KEY } from '../instances/exec-config.js';
import { validate } from '../schemas/index.js';
import type { RuntimeProfile, RuntimeProfileListResponse } from '../schemas/index.js';
import { refuseWhileStopping } from './guards.js';

/** The profile every fresh data dir starts with: the bundled reference runtime. */
export const DEFAULT_PROFILE: JsonObject = {
  runtime_name: 'arpd-reference-runtime',
  description: 'The reference ARP runtime bundled with arpd (arithmetic and echo; see `arpd runtime serve --help`).',
  extensions: {
    [EXEC_EXTENSION_KEY]: { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '{port}'] },
    // the reference runtime is cheap: when runs wait for busy ones, arpd may start up to 4
    'arpd.runtime': { max_instances: 4 },
  },
};

/** Operations on the safe list, shared by the socket and HTTP transports. */
export class ProfileOps {
  constructor(private readonly ctx: DaemonContext) {}

  list(): RuntimeProfileListResponse {
    const profiles = [...this.ctx.state.profiles.values()]
      .sort((a, b) => a.runtime_profile.localeCompare(b.runtime_profile))
      .map((p) => p.profile as unknown as RuntimeProfile);
    return { profiles };
  }

  get(name: string): RuntimeProfile {
    checkId('profile name', name, 'runtime_profile');
    const p = this.ctx.state.profiles.get(name);
    if (p === undefined) throw profileNotFound(name);
    return p.profile as unknown as RuntimeProfile;
  }

  async upsert(name: string, request: unknown): Promise<RuntimeProfile> {
    checkId('profile name', name, 'runtime_profile');
    const body = validate('RuntimeProfileUpsertRequest', request) as unknown as JsonObject;
    refuseWhileStopping(this.ctx);
    await this.ctx.bus.execute(this.ctx.command('UpsertProfile', { name, request: body }, 'api'));
    return this.get(name);
  }

  async delete(name: string, force: boolean): Promise<{ deleted: string }> {
    refuseWhileStopping(this.ctx);
    await this.ctx.bus.execute(this.ctx.command('DeleteProfile', { name, force }, 'api'));
    return { deleted: name };
  }
}
