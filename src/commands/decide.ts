import type { ReadModel } from '../projections/registry.js';
import type { Command } from './command-types.js';
import { decidePruneRuns, decideRecordLogRepair, decideStartDaemon, decideStopDaemon } from './daemon-deciders.js';
import type { Decision } from './decision.js';
import {
  decideCreateInstances,
  decideDeleteInstance,
  decideMarkInstanceReady,
  decideRecordInstanceFailure,
  decideRecordInstanceStarting,
  decideRecordInstanceStopped,
  decideRegisterInstance,
  decideRestartInstance,
  decideRetireStaleRegistration,
  decideStopInstance,
} from './instance-deciders.js';
import { decideDeclareNodeLost, decideJoinNode, decideLeaveNode } from './node-deciders.js';
import { decideDeleteProfile, decideSeedDefaultProfile, decideUpsertProfile } from './profile-deciders.js';
import {
  decideCancelRun,
  decideEndRun,
  decideExpireQueuedRun,
  decideFailStalledRun,
  decideRecordTraceBatch,
  decideRouteRun,
  decideStartRun,
  decideSubmitRun,
  decideTimeOutRun,
} from './run-deciders.js';

/** The one decider: (state, command) → events to append, or the refusal. Pure. */
export function decide(state: ReadModel, cmd: Command): Decision {
  switch (cmd.type) {
    case 'StartDaemon': return decideStartDaemon(cmd);
    case 'StopDaemon': return decideStopDaemon(cmd);
    case 'RecordLogRepair': return decideRecordLogRepair(state, cmd);
    case 'PruneRuns': return decidePruneRuns(state, cmd);
    case 'SeedDefaultProfile': return decideSeedDefaultProfile(state, cmd);
    case 'UpsertProfile': return decideUpsertProfile(state, cmd);
    case 'DeleteProfile': return decideDeleteProfile(state, cmd);
    case 'CreateInstances': return decideCreateInstances(state, cmd);
    case 'RegisterInstance': return decideRegisterInstance(state, cmd);
    case 'DeleteInstance': return decideDeleteInstance(state, cmd);
    case 'StopInstance': return decideStopInstance(state, cmd);
    case 'RecordInstanceStarting': return decideRecordInstanceStarting(state, cmd);
    case 'MarkInstanceReady': return decideMarkInstanceReady(state, cmd);
    case 'RecordInstanceFailure': return decideRecordInstanceFailure(state, cmd);
    case 'RecordInstanceStopped': return decideRecordInstanceStopped(state, cmd);
    case 'RestartInstance': return decideRestartInstance(state, cmd);
    case 'RetireStaleRegistration': return decideRetireStaleRegistration(state, cmd);
    case 'SubmitRun': return decideSubmitRun(state, cmd);
    case 'RouteRun': return decideRouteRun(state, cmd);
    case 'StartRun': return decideStartRun(state, cmd);
    case 'RecordTraceBatch': return decideRecordTraceBatch(state, cmd);
    case 'EndRun': return decideEndRun(state, cmd);
    case 'CancelRun': return decideCancelRun(state, cmd);
    case 'ExpireQueuedRun': return decideExpireQueuedRun(state, cmd);
    case 'TimeOutRun': return decideTimeOutRun(state, cmd);
    case 'FailStalledRun': return decideFailStalledRun(state, cmd);
    case 'JoinNode': return decideJoinNode(state, cmd);
    case 'LeaveNode': return decideLeaveNode(state, cmd);
    case 'DeclareNodeLost': return decideDeclareNodeLost(state, cmd);
    default: {
      const unhandled: never = cmd;
      throw new Error(`no decider for ${JSON.stringify(unhandled)}`);
    }
  }
}

/**
 * The keys a command is serialized on: every stream it may write, plus the streams whose state its
 * decision must not see change under it (routing a run reads the instance's load).
 */
export function keysOf(cmd: Command): string[] {
  switch (cmd.type) {
    case 'StartDaemon':
    case 'StopDaemon':
      return ['daemon'];
    case 'RecordLogRepair':
      return ['log', ...cmd.data.runs.map((r) => `run:${r.run_id}`)];
    case 'PruneRuns':
      return ['log', ...cmd.data.run_ids.map((id) => `run:${id}`)];
    case 'SeedDefaultProfile':
      return ['profile:default'];
    case 'UpsertProfile':
    case 'DeleteProfile':
      return [`profile:${cmd.data.name}`];
    case 'CreateInstances':
      return [`profile:${cmd.data.profile}`, ...cmd.data.ids.map((id) => `instance:${id}`)];
    case 'RegisterInstance':
    case 'DeleteInstance':
    case 'StopInstance':
      return [`instance:${cmd.data.id}`];
    case 'RecordInstanceStarting':
    case 'MarkInstanceReady':
    case 'RecordInstanceFailure':
    case 'RecordInstanceStopped':
    case 'RestartInstance':
      return [`instance:${cmd.data.instance_id}`];
    case 'RetireStaleRegistration':
      return [`instance:${cmd.data.instance_id}`, `instance:${cmd.data.by_instance_id}`];
    case 'RouteRun':
      return [`run:${cmd.data.run_id}`, `instance:${cmd.data.instance_id}`];
    case 'SubmitRun':
    case 'StartRun':
    case 'RecordTraceBatch':
    case 'EndRun':
    case 'CancelRun':
    case 'ExpireQueuedRun':
    case 'TimeOutRun':
    case 'FailStalledRun':
      return [`run:${cmd.data.run_id}`];
    case 'JoinNode':
      return [`node:${cmd.data.node_id}`];
    case 'LeaveNode':
      return [`node:${cmd.data.node_id}`, ...cmd.data.instances.map((id) => `instance:${id}`)];
    case 'DeclareNodeLost':
      return [`node:${cmd.data.node_id}`, ...cmd.data.instances.map((id) => `instance:${id}`), ...cmd.data.runs.map((id) => `run:${id}`)];
    default: {
      const unhandled: never = cmd;
      throw new Error(`no keys for ${JSON.stringify(unhandled)}`);
    }
  }
}
