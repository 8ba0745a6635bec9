import type { Feature } from './daemon-context.js';

/** The parts the daemon is made of, in start order (they stop in reverse). */
export async function loadFeatures(): Promise<Feature[]> {
  return [];
}
