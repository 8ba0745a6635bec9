import type { CpuProfile } from './cpu-profile.js';

/**
 * The part of a whole-process profile (`--cpu-prof`) after its first `skipMs` of sampled time: a
 * daemon's profile without its boot (module loading, log replay), so the hot functions are those of
 * the load that followed.
 */
export function afterFirst(profile: CpuProfile, skipMs: number): CpuProfile {
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let t = 0;
  let k = 0;
  while (k < deltas.length && t < skipMs * 1000) t += deltas[k++] as number;
  return { ...profile, samples: samples.slice(k), timeDeltas: deltas.slice(k) };
}
