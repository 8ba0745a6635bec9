import type { Feature } from './daemon-context.js';
import type { DaemonOptions } from './daemon-options.js';
import { profilesFeature } from '../features/profiles-feature.js';
import { instancesFeature, type InstancesFeatureOptions } from '../features/instances-feature.js';
import { runsFeature, type RunsFeatureOptions } from '../features/runs-feature.js';
import { httpFeature, type HttpOptions } from '../features/http-feature.js';

/** The parts the daemon is made of, in start order (they stop in reverse). */
export async function loadFeatures(options: DaemonOptions): Promise<Feature[]> {
  const extra = options.extra ?? {};
  const profiles = profilesFeature();
  const instances = instancesFeature((extra['instances'] ?? {}) as InstancesFeatureOptions);
  const runs = runsFeature(instances, (extra['runs'] ?? {}) as RunsFeatureOptions);
  const features: Feature[] = [profiles, instances, runs];
  // HTTP last: it starts once everything it serves is up, and stops first. The CLI always sets extra.http
  // (on unless --no-http); options built in code without it get no HTTP server.
  const http = extra['http'];
  if (http !== undefined && http !== false) features.push(httpFeature(http as HttpOptions, { profiles, instances, runs }));
  return features;
}
