import type { StoredEvent } from '../events/envelope.js';
import { evolveInstance, evolveProfile, evolveRun, evolveRunProgress } from './evolve.js';
import { queueKeyOf } from './queue-keys.js';
import {
  SERVING_INSTANCE_STATES,
  TERMINAL_RUN_STATES,
  type InstanceStateName,
  type InstanceView,
  type ProfileView,
  type RunProgress,
  type RunStateName,
  type RunView,
} from './registry-types.js';

export interface DaemonView {
  pid?: number;
  version?: string;
  started_at?: string;
  stopped_at?: string;
  boots: number;
}

/** What deciders and reactors may read: the registry without its `apply`. */
export interface ReadModel {
  readonly profiles: ReadonlyMap<string, ProfileView>;
  readonly instances: ReadonlyMap<string, InstanceView>;
  readonly runs: ReadonlyMap<string, RunView>;
  /** Run ids in submission order. */
  readonly runOrder: readonly string[];
  readonly lastSeq: number;
  progress(runId: string): RunProgress | undefined;
  /** Runs routed to the instance that have not ended. */
  activeRuns(instanceId: string): ReadonlySet<string>;
  /** Runs waiting to be routed, in submission order. */
  queued(): ReadonlySet<string>;
  /** Waiting runs whose selector's most specific field is `key` (see queue-keys.ts), in submission order. */
  queuedByKey(key: string): ReadonlySet<string>;
  runIdsInState(state: RunStateName): ReadonlySet<string>;
  instanceIdsOfProfile(profile: string): ReadonlySet<string>;
  instanceIdsInState(state: InstanceStateName): ReadonlySet<string>;
  /** The stream's revision as folded here (0 for a stream never seen). */
  streamRev(stream: string): number;
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * The in-memory registry: entity views folded by the pure evolve functions, plus the indexes the
 * deciders and reactors need (runs by state, waiting runs by selector, runs in flight by instance,
 * instances by profile and state). The maps are changed in place by `apply` alone, and `apply` is
 * called by the one projection pipeline (projection.ts); copying a 100,000-run map per event would
 * make every event O(n). Trace lines are not held here, only counts; lines are read from the run log.
 */
export class Registry implements ReadModel {
  readonly profiles = new Map<string, ProfileView>();
  readonly instances = new Map<string, InstanceView>();
  readonly runs = new Map<string, RunView>();
  private readonly progressOf = new Map<string, RunProgress>();
  /** Run ids in submission order: pagination walks this, so pages are stable while runs arrive. */
  readonly runOrder: string[] = [];
  private readonly runsByState = new Map<RunStateName, Set<string>>();
  private readonly instancesByProfile = new Map<string, Set<string>>();
  private readonly instancesByState = new Map<InstanceStateName, Set<string>>();
  private readonly active = new Map<string, Set<string>>();
  private readonly waiting = new Set<string>();
  private readonly waitingByKey = new Map<string, Set<string>>();
  /** Revisions of streams whose view is gone (a deleted profile), so a later write knows where the stream is. */
  private readonly goneRevs = new Map<string, number>();
  private daemonRev = 0;
  readonly daemon: DaemonView = { boots: 0 };
  lastSeq = 0;
  lastTs = '';

  apply(e: StoredEvent): void {
    this.lastSeq = e.seq;
    this.lastTs = e.ts;
    const t = e.type;
    if (t.charCodeAt(0) === 0x72 /* run. */) {
      this.applyRun(e);
      return;
    }
    if (t.charCodeAt(0) === 0x69 /* instance. */) {
      this.applyInstance(e);
      return;
    }
    if (t === 'profile.upserted' || t === 'profile.deleted') {
      const name = e.data.runtime_profile;
      const next = evolveProfile(this.profiles.get(name), e);
      if (next === undefined) {
        this.profiles.delete(name);
        this.goneRevs.set(e.stream, e.rev);
      } else {
        this.profiles.set(name, next);
        this.goneRevs.delete(e.stream);
      }
      return;
    }
    if (t === 'daemon.started') {
      this.daemonRev = e.rev;
      this.daemon.pid = e.data.pid;
      this.daemon.version = e.data.version;
      this.daemon.started_at = e.ts;
      this.daemon.boots++;
      return;
    }
    if (t === 'daemon.stopped') {
      this.daemonRev = e.rev;
      this.daemon.stopped_at = e.ts;
    }
  }

  private applyRun(e: StoredEvent): void {
    const runId = e.stream.slice(4);
    const prev = this.runs.get(runId);
    if (prev === undefined && e.type !== 'run.accepted') return;
    this.progressOf.set(runId, evolveRunProgress(this.progressOf.get(runId), e));
    if (e.type === 'run.trace') return; // the lifecycle does not change
    const next = evolveRun(prev, e, prev?.order ?? this.runOrder.length);
    if (next === undefined || next === prev) return;
    if (prev === undefined) this.runOrder.push(runId);
    this.runs.set(runId, next);
    if (prev?.state !== next.state) {
      if (prev !== undefined) this.runsByState.get(prev.state)?.delete(runId);
      indexAdd(this.runsByState, next.state, runId);
    }
    // waiting to be routed
    const wasWaiting = prev !== undefined && (prev.phase === 'accepted' || prev.phase === 'queued');
    const isWaiting = next.phase === 'accepted' || next.phase === 'queued';
    if (wasWaiting !== isWaiting) {
      const key = queueKeyOf(next.request);
      if (isWaiting) {
        this.waiting.add(runId);
        indexAdd(this.waitingByKey, key, runId);
        // a run sent back to the queue after it was routed waits in its submission place again (rare: O(queue))
        if (prev !== undefined) this.putBackInOrder(key);
      } else if (prev !== undefined) {
        this.waiting.delete(runId);
        indexDelete(this.waitingByKey, queueKeyOf(prev.request), runId);
      }
    }
    // in flight on an instance
    const wasActive = prev !== undefined && (prev.phase === 'routed' || prev.phase === 'started') && prev.instance_id !== undefined;
    const isActive = (next.phase === 'routed' || next.phase === 'started') && next.instance_id !== undefined;
    if (wasActive && (!isActive || prev.instance_id !== next.instance_id)) indexDelete(this.active, prev.instance_id as string, runId);
    if (isActive) indexAdd(this.active, next.instance_id as string, runId);
  }

  private putBackInOrder(key: string): void {
    const byOrder = (a: string, b: string): number => (this.runs.get(a)?.order ?? 0) - (this.runs.get(b)?.order ?? 0);
    for (const set of [this.waiting, this.waitingByKey.get(key)]) {
      if (set === undefined) continue;
      const ids = [...set].sort(byOrder);
      set.clear();
      for (const id of ids) set.add(id);
    }
  }

  private applyInstance(e: StoredEvent): void {
    const id = e.stream.slice(9);
    const prev = this.instances.get(id);
    const next = evolveInstance(prev, e);
    if (next === undefined || next === prev) return;
    this.instances.set(id, next);
    if (prev?.state !== next.state) {
      if (prev !== undefined) this.instancesByState.get(prev.state)?.delete(id);
      indexAdd(this.instancesByState, next.state, id);
    }
    if (prev?.runtime_profile !== next.runtime_profile) {
      if (prev?.runtime_profile !== undefined) this.instancesByProfile.get(prev.runtime_profile)?.delete(id);
      if (next.runtime_profile !== undefined) indexAdd(this.instancesByProfile, next.runtime_profile, id);
    }
  }

  progress(runId: string): RunProgress | undefined {
    return this.progressOf.get(runId);
  }

  activeRuns(instanceId: string): ReadonlySet<string> {
    return this.active.get(instanceId) ?? EMPTY;
  }

  queued(): ReadonlySet<string> {
    return this.waiting;
  }

  queuedByKey(key: string): ReadonlySet<string> {
    return this.waitingByKey.get(key) ?? EMPTY;
  }

  runIdsInState(state: RunStateName): ReadonlySet<string> {
    return this.runsByState.get(state) ?? EMPTY;
  }

  instanceIdsOfProfile(profile: string): ReadonlySet<string> {
    return this.instancesByProfile.get(profile) ?? EMPTY;
  }

  instanceIdsInState(state: InstanceStateName): ReadonlySet<string> {
    return this.instancesByState.get(state) ?? EMPTY;
  }

  streamRev(stream: string): number {
    if (stream.startsWith('run:')) return this.progressOf.get(stream.slice(4))?.trace_lines ?? 0;
    if (stream.startsWith('instance:')) return this.instances.get(stream.slice(9))?.rev ?? 0;
    if (stream.startsWith('profile:')) return this.profiles.get(stream.slice(8))?.rev ?? this.goneRevs.get(stream) ?? 0;
    if (stream === 'daemon') return this.daemonRev;
    return 0;
  }

  countRunsByState(): Record<RunStateName, number> {
    return {
      queued: this.runIdsInState('queued').size,
      running: this.runIdsInState('running').size,
      succeeded: this.runIdsInState('succeeded').size,
      failed: this.runIdsInState('failed').size,
      canceled: this.runIdsInState('canceled').size,
    };
  }

  countInstancesByState(): Record<InstanceStateName, number> {
    const out = { starting: 0, ready: 0, busy: 0, stopping: 0, stopped: 0, error: 0 };
    for (const [state, ids] of this.instancesByState) out[state] = ids.size;
    return out;
  }

  /** A plain-JSON picture of the whole state (for `arpd log replay` and equality in tests). */
  snapshot(): RegistrySnapshot {
    return {
      last_seq: this.lastSeq,
      daemon: { ...this.daemon },
      profiles: [...this.profiles.values()].sort((a, b) => a.runtime_profile.localeCompare(b.runtime_profile)),
      instances: [...this.instances.values()].sort((a, b) => a.instance_id.localeCompare(b.instance_id)).map((i) => ({ ...i, active_runs: this.activeRuns(i.instance_id).size })),
      runs: this.runOrder.map((id) => ({ ...(this.runs.get(id) as RunView), ...(this.progressOf.get(id) as RunProgress) })),
      counts: { runs: this.countRunsByState(), instances: this.countInstancesByState(), profiles: this.profiles.size },
    };
  }
}

export type RunSnapshotView = RunView & RunProgress;

export interface RegistrySnapshot {
  last_seq: number;
  daemon: DaemonView;
  profiles: ProfileView[];
  instances: Array<InstanceView & { active_runs: number }>;
  runs: RunSnapshotView[];
  counts: { runs: Record<RunStateName, number>; instances: Record<InstanceStateName, number>; profiles: number };
}

/** Is the instance taking runs (ready, not stopping)? */
export function isServing(inst: InstanceView): boolean {
  return SERVING_INSTANCE_STATES.has(inst.state) && inst.runtime_api_endpoint !== undefined;
}

export function isEnded(run: RunView): boolean {
  return TERMINAL_RUN_STATES.has(run.state);
}

function indexAdd<K>(index: Map<K, Set<string>>, key: K, id: string): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(id);
}

function indexDelete<K>(index: Map<K, Set<string>>, key: K, id: string): void {
  const set = index.get(key);
  if (set === undefined) return;
  set.delete(id);
  if (set.size === 0) index.delete(key);
}

/** Folds events into a new registry (tests, tools). */
export function foldEvents(events: Iterable<StoredEvent>, into: Registry = new Registry()): Registry {
  for (const e of events) into.apply(e);
  return into;
}
