import type { ReadModel } from '../projections/registry.js';
import type { InstanceView, RunView } from '../projections/registry-types.js';
import { isLoopbackEndpoint } from './routing.js';

/**
 * Pure rules of who acts on what when several daemons (nodes) share one store. With a single daemon (the JSONL
 * store) there is no node: `me` is undefined and every rule says "act". With nodes:
 * - a managed instance is its node's: only that node starts, stops, health-checks, reaps and routes runs to it
 *   (its process runs on that node's host);
 * - an external instance at a loopback address (localhost, any 127.x, [::1]: `isLoopbackEndpoint`) registered on a node is that node's
 *   alone, as a managed one: only that host reaches it, so no other node probes it or routes runs to it, even when
 *   its node is gone (it is then recorded failed, E_NODE_LEFT or E_NODE_LOST, not adopted);
 * - any other external instance is stewarded by the node that registered it while that node is joined, else by the
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

/**
 * The node whose host alone reaches an external instance: the node it was registered on, when its endpoint is a
 * loopback address (another node's 127.0.0.1 is another machine). Undefined for a managed instance (always its node's
 * anyway), a routable endpoint, or an instance recorded with no node (a single daemon).
 */
export function loopbackNodeOf(inst: InstanceView): string | undefined {
  if (inst.managed || inst.node === undefined || inst.runtime_api_endpoint === undefined) return undefined;
  return isLoopbackEndpoint(inst.runtime_api_endpoint) ? inst.node : undefined;
}

/** The node that acts on the instance (undefined with a single daemon). */
export function stewardOf(state: ReadModel, inst: InstanceView): string | undefined {
  if (inst.node !== undefined && (inst.managed || loopbackNodeOf(inst) !== undefined || state.nodes.get(inst.node)?.state === 'joined')) return inst.node;
  return firstJoinedNode(state) ?? inst.node;
}

/**
 * The node's live (starting, ready, busy) loopback external instances (`loopbackNodeOf`), by id: all of them, or those
 * among `ids`.
 */
export function loopbackInstancesOf(state: ReadModel, nodeId: string, ids?: Iterable<string>): InstanceView[] {
  const out: InstanceView[] = [];
  const consider = (id: string): void => {
    const inst = state.instances.get(id);
    if (inst !== undefined && loopbackNodeOf(inst) === nodeId && (inst.state === 'starting' || inst.state === 'ready' || inst.state === 'busy')) out.push(inst);
  };
  if (ids !== undefined) for (const id of ids) consider(id);
  else for (const s of ['starting', 'ready', 'busy'] as const) for (const id of state.instanceIdsInState(s)) consider(id);
  return out.sort((a, b) => a.instance_id.localeCompare(b.instance_id));
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

/**
 * What a node owns now: its managed instances that live, its loopback external instances that live
 * (`loopbackNodeOf`), and the runs it claimed that have not ended.
 */
export function ownedBy(state: ReadModel, nodeId: string): { instances: string[]; runs: string[] } {
  const instances: string[] = [];
  for (const s of LIVE_INSTANCE_STATES) {
    for (const id of state.instanceIdsInState(s)) {
      const inst = state.instances.get(id);
      if (inst !== undefined && inst.node === nodeId && (inst.managed || loopbackNodeOf(inst) === nodeId)) instances.push(id);
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
