import type { ReadModel } from '../projections/registry.js';
import type { InstanceView, RunView } from '../projections/registry-types.js';

/**
 * Pure rules of who acts on what when several daemons (nodes) share one store. With a single daemon (the JSONL
 * store) there is no node: `me` is undefined and every rule says "act". With nodes:
 * - a managed instance is its node's: only that node starts, stops, health-checks, reaps and routes runs to it
 *   (its process runs on that node's host);
 * - an external instance is stewarded by the node that registered it while that node is joined, else by the
 *   joined node with the smallest id (so each external runtime is probed and filled by one node, not N);
 * - a run is the node's that claimed it (`run.routed`): only that node sends it, follows it, writes its local
 *   run log and counts its metrics.
 */

/** The joined node with the smallest id, if any. */
export function firstJoinedNode(state: ReadModel): string | undefined {
  let first: string | undefined;
  for (const n of state.nodes.values()) if (n.state === 'joined' && (first === undefined || n.node_id < first)) first = n.node_id;
  return first;
}

/** The node that acts on the instance (undefined with a single daemon). */
export function stewardOf(state: ReadModel, inst: InstanceView): string | undefined {
  if (inst.node !== undefined && (inst.managed || state.nodes.get(inst.node)?.state === 'joined')) return inst.node;
  return firstJoinedNode(state) ?? inst.node;
}

/** Does node `me` act on this instance? Always, with a single daemon. */
export function actsOnInstance(state: ReadModel, me: string | undefined, inst: InstanceView): boolean {
  if (me === undefined) return true;
  const steward = stewardOf(state, inst);
  return steward === undefined || steward === me;
}

/** Does node `me` send and follow this run? Always, with a single daemon. */
export function ownsRun(me: string | undefined, run: Pick<RunView, 'node'>): boolean {
  return me === undefined || run.node === me;
}

const LIVE_INSTANCE_STATES = ['starting', 'ready', 'busy', 'stopping'] as const;

/** What a node owns now: its managed instances that live, and the runs it claimed that have not ended. */
export function ownedBy(state: ReadModel, nodeId: string): { instances: string[]; runs: string[] } {
  const instances: string[] = [];
  for (const s of LIVE_INSTANCE_STATES) {
    for (const id of state.instanceIdsInState(s)) {
      const inst = state.instances.get(id);
      if (inst?.managed === true && inst.node === nodeId) instances.push(id);
    }
  }
  const runs: string[] = [];
  for (const s of ['queued', 'running'] as const) {
    for (const id of state.runIdsInState(s)) {
      const run = state.runs.get(id);
      if (run?.node === nodeId && (run.phase === 'routed' || run.phase === 'started')) runs.push(id);
    }
  }
  return { instances, runs };
}
