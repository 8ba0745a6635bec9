import type { Feature } from './daemon-context.js';
import type { DaemonOptions } from './daemon-options.js';
import { profilesFeature } from '../features/profiles-feature.js';
import { instancesFeature, type InstancesFeatureOptions } from '../features/instances-feature.js';
import { runsFeature, type RunsFeatureOptions } from '../features/runs-feature.js';

/** The parts the daemon is made of, in start order (they stop in reverse). */
export async function loadFeatures(options: DaemonOptions): Promise<Feature[]> {
  const extra = options.extra ?? {};
  const instances = instancesFeature((extra['instances'] ?? {}) as InstancesFeatureOptions);
  const runs = runsFeature(instances, (extra['runs'] ?? {}) as RunsFeatureOptions);
  const features: Feature[] = [profilesFeature(), instances, runs];
  return features;
}
