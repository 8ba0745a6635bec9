/** What the daemon wires (src/daemon): the metrics registry, the telemetry parts. */
import { ArpdMetrics } from './arpd-metrics.js';

export { ArpdMetrics } from './arpd-metrics.js';
export { telemetryParts, type TelemetryDeps, type TelemetryParts } from './telemetry-parts.js';

/** The daemon's metrics; made before the log is opened, so the store's `onCommit` can feed it from the first commit. */
export function createMetrics(version: string): ArpdMetrics {
  return new ArpdMetrics({ version });
}
