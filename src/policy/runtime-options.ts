import { ARPD_RUNTIME_DEFAULTS, parseArpdRuntimeOptions, type ArpdRuntimeOptions } from '../instances/exec-config.js';
import type { ReadModel } from '../projections/registry.js';
import type { InstanceView, ProfileView } from '../projections/registry-types.js';

const cache = new WeakMap<ProfileView, ArpdRuntimeOptions>();

/** The `extensions["arpd.runtime"]` options of a profile, fully defaulted (a profile that breaks the rules gets the defaults). */
export function optionsOfProfile(profile: ProfileView | undefined): ArpdRuntimeOptions {
  if (profile === undefined) return ARPD_RUNTIME_DEFAULTS;
  let o = cache.get(profile);
  if (o === undefined) {
    try {
      o = parseArpdRuntimeOptions(profile.profile['extensions']);
    } catch {
      o = ARPD_RUNTIME_DEFAULTS;
    }
    cache.set(profile, o);
  }
  return o;
}

/** The options that govern an instance: its profile's (the defaults for an external instance without one). */
export function optionsOfInstance(state: ReadModel, inst: Pick<InstanceView, 'runtime_profile'>): ArpdRuntimeOptions {
  return optionsOfProfile(inst.runtime_profile === undefined ? undefined : state.profiles.get(inst.runtime_profile));
}

/** How many runs the instance takes at once. */
export function capacityOf(state: ReadModel, inst: Pick<InstanceView, 'runtime_profile'>): number {
  return optionsOfInstance(state, inst).maxConcurrentRuns;
}
