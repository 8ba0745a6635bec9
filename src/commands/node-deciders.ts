import { ArpdError } from '../errors/index.js';
import type { DomainEvent } from '../events/event-types.js';
import { checkId } from '../ids/id-rules.js';
import type { ReadModel } from '../projections/registry.js';
import { LIVE_INSTANCE_STATES, type InstanceView } from '../projections/registry-types.js';
import { loopbackInstancesOf } from '../policy/ownership.js';
import type { CommandOf } from './command-types.js';
import { attempt, type Decision } from './decision.js';

/**
 * Pure decisions about the nodes of a cluster sharing one store. A node joins at each start (a new incarnation),
 * leaves at a clean stop, and is recorded lost by another node once its lease expired past the grace: then, in the
 * same append, its managed instances are recorded failed and the runs it claimed fail E_NODE_LOST, started or not (a claim
 * not yet started may already be at its runtime: handed to another node it could run twice). Queued runs, claimed by
 * no node, stay in the queue for the others. The `node:<id>` stream's revision makes one declaration win.
 * External instances registered on the node at a loopback address are reached only from its host: when it leaves
 * or is lost they are recorded failed (E_NODE_LEFT, E_NODE_LOST) in the same append rather than adopted by another
 * node, which would probe (and send runs to) its own 127.0.0.1; the node checks them again when it comes back.
 */

/** Why a loopback external instance of a node that is gone cannot be reached, and what to do. */
function unreachableReason(inst: InstanceView, nodeId: string, what: string): string {
  const at = inst.runtime_api_endpoint ?? '';
  return `${what}: instance '${inst.instance_id}' was registered on that node at ${at}, a loopback address only that node's host reaches, so no other node checks it or sends it runs; start node '${nodeId}' again (it checks the instance again), or register the runtime from a daemon on that host ('arpd instances register --endpoint ${at}') and deregister this one`;
}


export function decideJoinNode(state: ReadModel, cmd: CommandOf<'JoinNode'>): Decision {
  return attempt(() => {
    const d = cmd.data;
    checkId('node id', d.node_id, 'node_id');
    const now = state.nodes.get(d.node_id);
    if (now?.incarnation === d.incarnation && now.state === 'joined') return [];
    return [{ type: 'node.joined', data: { node_id: d.node_id, incarnation: d.incarnation, host: d.host, pid: d.pid, boot_id: d.boot_id, version: d.version, data_dir: d.data_dir } }];
  });
}

/** A node leaves as the incarnation that joined, and records the loopback external instances it listed failed. */
export function decideLeaveNode(state: ReadModel, cmd: CommandOf<'LeaveNode'>): Decision {
  const now = state.nodes.get(cmd.data.node_id);
  if (now === undefined || now.incarnation !== cmd.data.incarnation || now.state !== 'joined') return [];
  const left = `node '${now.node_id}' (host ${now.host}) left (${cmd.data.reason})`;
  return [
    { type: 'node.left', data: { node_id: now.node_id, incarnation: now.incarnation, reason: cmd.data.reason } },
    ...loopbackInstancesOf(state, now.node_id, new Set(cmd.data.instances)).map((inst): DomainEvent => ({
      type: 'instance.failed', data: { instance_id: inst.instance_id, code: 'E_NODE_LEFT', reason: unreachableReason(inst, now.node_id, left) },
    })),
  ];
}

/**
 * Records a node lost (once per incarnation), and what it owned: each listed instance still live on that node, each
 * listed run still claimed by it. A node that came back meanwhile (another incarnation) is left alone. Listing more
 * for a node already lost records only what is still owned (leftovers a first declaration did not see).
 */
export function decideDeclareNodeLost(state: ReadModel, cmd: CommandOf<'DeclareNodeLost'>): Decision {
  const d = cmd.data;
  const node = state.nodes.get(d.node_id);
  if (node === undefined || node.incarnation !== d.incarnation) return [];
  const by = cmd.meta.node;
  if (by === d.node_id) return new ArpdError('E_CONFLICT', `node '${d.node_id}' cannot record itself lost`, { node_id: d.node_id });
  const silent = `node '${d.node_id}' (host ${node.host}) was silent for ${Math.round(d.silent_ms / 1000)}s and was recorded lost`;
  const events: DomainEvent[] = [];
  if (node.state !== 'lost') {
    events.push({ type: 'node.lost', data: { node_id: d.node_id, incarnation: d.incarnation, silent_ms: d.silent_ms, declared_by: by ?? 'unknown' } });
  }
  for (const inst of loopbackInstancesOf(state, d.node_id, new Set(d.instances))) {
    events.push({ type: 'instance.failed', data: { instance_id: inst.instance_id, code: 'E_NODE_LOST', reason: unreachableReason(inst, d.node_id, silent) } });
  }
  for (const id of new Set(d.instances)) {
    const inst = state.instances.get(id);
    if (inst === undefined || !inst.managed || inst.node !== d.node_id || !LIVE_INSTANCE_STATES.has(inst.state)) continue;
    if (inst.state === 'stopping') events.push({ type: 'instance.stopped', data: { instance_id: id, reason: `${silent} while stopping it` } });
    else events.push({ type: 'instance.failed', data: { instance_id: id, code: 'E_NODE_LOST', reason: `${silent}: its runtime process on that host is stopped when the node comes back` } });
  }
  for (const id of new Set(d.runs)) {
    const run = state.runs.get(id);
    if (run === undefined || run.node !== d.node_id || (run.phase !== 'routed' && run.phase !== 'started')) continue;
    // A node claims a run as it sends it to its runtime: a claim not yet marked started may already be at the lost
    // node's runtime, which can go on running it while the node is away. Handing it to another node could run it
    // twice, so it ends here like a started one (an accepted run never runs twice).
    const where = run.phase === 'routed' ? 'after it claimed the run and may have sent it to its runtime' : 'while the run was in flight there';
    events.push({ type: 'run.failed', data: { run_id: id, error: { code: 'E_NODE_LOST', message: `${silent} ${where}: its end is unknown; submit it again if it must run`, details: { node_id: d.node_id } } } });
  }
  return events;
}
