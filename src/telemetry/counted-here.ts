import type { StoredEvent } from '../events/envelope.js';
import type { ReadModel } from '../projections/registry.js';

/**
 * Does this daemon count an event's metrics and export its run's trace? With a single daemon (`me` undefined),
 * always. When daemons share a store each sees every event, so each is counted once, where the work was done: an
 * event of a claimed run by the node that claimed it (unless that node was lost: then by the node that wrote the
 * end), anything else by the node that wrote it.
 */
export function countedHere(state: ReadModel, me: string | undefined, e: StoredEvent): boolean {
  if (me === undefined) return true;
  if (e.stream.startsWith('run:')) {
    const owner = state.runs.get(e.stream.slice(4))?.node;
    if (owner !== undefined && state.nodes.get(owner)?.state !== 'lost') return owner === me;
  }
  return e.meta.node === me;
}
