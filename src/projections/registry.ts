/**
 * The registry: the projections every part reads (runs, instances, profiles, nodes) and their indexes, folded
 * by the pure evolve functions.
 *
 * Length: over 300 lines because the indexes (by state, by selector key, queue order, counts) must change in the
 * same step as the views they index; the evolve functions are in evolve.ts and the types in registry-types.ts.
 */
import type { StoredEvent } from '../events/envelope.js';
import { advanceRunProgress, evolveInstance, evolveNode, evolveProfile, evolveRun, type MutableRunProgress } from './evolve.js';
import { queueKeyOf } from './queue-keys.js';
import {
  SERVING_INSTANCE_STATES,
  TERMINAL_RUN_STATES,
  type InstanceStateName,
  type InstanceView,
  type NodeView,
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

/**
 * Ended runs past retention leave memory (src/retention): they are kept on disk, and the registry reads them back
 * through this when asked about one. Reading is synchronous (a small file per run).
 */
export interface RunArchiveReader {
  /** The views of an archived run, rebuilt from its run log; undefined when none is archived under that id. */
  load(runId: string): { view: RunView; progress: RunProgress } | undefined;
  /** The view of the archived run at this place in submission order. */
  viewAt(order: number): RunView | undefined;
  /** A run was pruned (by the event at `seq`): its files go, nothing about it is answered any more. */
  forget(runId: string, seq: number): void;
}

/** What deciders and reactors may read: the registry without its `apply`. */
export interface ReadModel {
  readonly profiles: ReadonlyMap<string, ProfileView>;
  readonly instances: ReadonlyMap<string, InstanceView>;
  /** The runs in memory: every run that has not ended, and the ended ones within retention. */
  readonly runs: ReadonlyMap<string, RunView>;
  /** The nodes of a cluster sharing one store (empty with a single daemon on the JSONL store). */
  readonly nodes: ReadonlyMap<string, NodeView>;
  readonly lastSeq: number;
  /** Any run, in memory or archived (ended past retention; read from disk). */
  run(runId: string): RunView | undefined;
  /** How many runs were ever accepted (the next run's place in submission order). */
  readonly orderCount: number;
  /** How many runs were pruned (`runs.pruned`): a count only, no ids are kept. */
  readonly prunedCount: number;
  /** The run at a place in submission order, in memory or archived. */
  runAtOrder(order: number): RunView | undefined;
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
  /** When the instance last had no run in flight after having one (undefined while it has runs, or never had). */
  lastRunEndedOn(instanceId: string): string | undefined;
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * A run in memory: its lifecycle view (replaced by each lifecycle event) and its progress, moved forward in place.
 * One entry per run, found with one lookup per event; a trace line allocates nothing. Readers get copies of the
 * progress (`progressOf`), never the entry.
 */
class RunEntry implements MutableRunProgress {
  trace_lines = 0;
  trace_events = 0;
  trace_bytes = 0;
  runtime_seq = 0;
  last_event_at = '';
  constructor(public view: RunView) {}
}

function progressOf(r: RunEntry): RunProgress {
  return { trace_lines: r.trace_lines, trace_events: r.trace_events, trace_bytes: r.trace_bytes, runtime_seq: r.runtime_seq, last_event_at: r.last_event_at };
}

/** The run views of the entries, as a read-only map (what `ReadModel.runs` promises). */
class RunViews implements ReadonlyMap<string, RunView> {
  constructor(private readonly byId: ReadonlyMap<string, RunEntry>) {}
  get size(): number {
    return this.byId.size;
  }
  get(id: string): RunView | undefined {
    return this.byId.get(id)?.view;
  }
  has(id: string): boolean {
    return this.byId.has(id);
  }
  forEach(cb: (value: RunView, key: string, map: ReadonlyMap<string, RunView>) => void, thisArg?: unknown): void {
    for (const [id, r] of this.byId) cb.call(thisArg, r.view, id, this);
  }
  *entries(): MapIterator<[string, RunView]> {
    for (const [id, r] of this.byId) yield [id, r.view];
  }
  keys(): MapIterator<string> {
    return this.byId.keys();
  }
  *values(): MapIterator<RunView> {
    for (const r of this.byId.values()) yield r.view;
  }
  [Symbol.iterator](): MapIterator<[string, RunView]> {
    return this.entries();
  }
}

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
  /** The runs in memory by id: view and progress in one entry. */
  private readonly runEntries = new Map<string, RunEntry>();
  readonly runs: ReadonlyMap<string, RunView> = new RunViews(this.runEntries);
  readonly nodes = new Map<string, NodeView>();
  /**
   * Run id by place in submission order, from `orderBase` on (undefined: the run left memory; archived ones are
   * found through the archive). Places are handed out one after another, so an array does: `orderBase +
   * orderIds.length === orderCount`, and places at the front that left memory are dropped.
   */
  private readonly orderIds: Array<string | undefined> = [];
  private orderBase = 0;
  /** Runs ever accepted: the next run's place in submission order. */
  orderCount = 0;
  /** Ended runs in memory, in the order they ended (the oldest leave memory first). */
  private readonly endedOrder = new Set<string>();
  /** Runs that left memory, by state (counts stay whole). */
  private readonly archivedCounts: Record<RunStateName, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, canceled: 0 };
  private archive: RunArchiveReader | undefined;
  /** Runs pruned (their directories deleted): they count nowhere else. */
  prunedCount = 0;
  private readonly runsByState = new Map<RunStateName, Set<string>>();
  private readonly instancesByProfile = new Map<string, Set<string>>();
  private readonly instancesByState = new Map<InstanceStateName, Set<string>>();
  private readonly active = new Map<string, Set<string>>();
  private readonly waiting = new Set<string>();
  private readonly waitingByKey = new Map<string, Set<string>>();
  private readonly lastEnded = new Map<string, string>();
  /**
   * Whether the run indexes (runs by state, waiting runs, runs in flight) are kept up to date. A new registry
   * starts without them: folding a long log (the boot) then changes only the views, and the first read of an
   * index builds them all in one pass over the runs (as `importState` does); from then on `apply` keeps them.
   */
  private runIndexes = false;
  /** Revisions of streams whose view is gone (a deleted profile), so a later write knows where the stream is. */
  private readonly goneRevs = new Map<string, number>();
  private daemonRev = 0;
  private logRev = 0;
  readonly daemon: DaemonView = { boots: 0 };
  lastSeq = 0;
  lastTs = '';

  apply(e: StoredEvent): void {
    this.lastSeq = e.seq;
    this.lastTs = e.ts;
    const t = e.type;
    if (t === 'runs.pruned') {
      this.logRev = Math.max(this.logRev, e.rev);
      for (const r of e.data.runs) this.pruned(r.run_id, r.state, e.seq);
      return;
    }
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
      return;
    }
    if (t === 'node.joined' || t === 'node.left' || t === 'node.lost') {
      const next = evolveNode(this.nodes.get(e.data.node_id), e);
      if (next !== undefined) this.nodes.set(next.node_id, next);
      return;
    }
    if (t === 'log.line_lost' || t === 'log.repaired') this.logRev = Math.max(this.logRev, e.rev);
  }

  private applyRun(e: StoredEvent): void {
    const runId = e.stream.slice(4);
    let entry = this.runEntries.get(runId);
    if (e.type === 'run.trace') {
      // the lifecycle does not change; a run has progress exactly while its view is in memory
      if (entry !== undefined) advanceRunProgress(entry, e);
      return;
    }
    const prev = entry?.view;
    if (prev === undefined && e.type !== 'run.accepted') return;
    const next = evolveRun(prev, e, prev?.order ?? this.orderCount);
    // the id is held once, as the view's run_id, wherever it is kept (each event brings a copy of its own)
    const id = next !== undefined && next.run_id === runId ? next.run_id : runId;
    if (entry === undefined) {
      // accepted: a new run in the next place in submission order
      entry = new RunEntry(next as RunView);
      this.runEntries.set(id, entry);
      this.orderIds.push(id);
      this.orderCount++;
    }
    advanceRunProgress(entry, e);
    if (next === undefined || next === prev) return;
    entry.view = next;
    if (next.phase === 'ended' && prev?.phase !== 'ended') this.endedOrder.add(id);
    if (!this.runIndexes) {
      // the indexes are built from the views when first read; when an instance last saw a run leave is history
      if (prev?.instance_id !== undefined && (prev.phase === 'routed' || prev.phase === 'started')
        && (prev.instance_id !== next.instance_id || (next.phase !== 'routed' && next.phase !== 'started'))) {
        this.lastEnded.set(prev.instance_id, e.ts);
      }
      return;
    }
    if (prev?.state !== next.state) {
      if (prev !== undefined) this.runsByState.get(prev.state)?.delete(id);
      indexAdd(this.runsByState, next.state, id);
    }
    // waiting to be routed
    const wasWaiting = prev !== undefined && (prev.phase === 'accepted' || prev.phase === 'queued');
    const isWaiting = next.phase === 'accepted' || next.phase === 'queued';
    if (wasWaiting !== isWaiting) {
      const key = queueKeyOf(next.request);
      if (isWaiting) {
        this.waiting.add(id);
        indexAdd(this.waitingByKey, key, id);
        // a run sent back to the queue after it was routed waits in its submission place again (rare: O(queue))
        if (prev !== undefined) this.putBackInOrder(key);
      } else if (prev !== undefined) {
        this.waiting.delete(id);
        indexDelete(this.waitingByKey, queueKeyOf(prev.request), id);
      }
    }
    // in flight on an instance
    const wasActive = prev !== undefined && (prev.phase === 'routed' || prev.phase === 'started') && prev.instance_id !== undefined;
    const isActive = (next.phase === 'routed' || next.phase === 'started') && next.instance_id !== undefined;
    if (wasActive && (!isActive || prev.instance_id !== next.instance_id)) {
      indexDelete(this.active, prev.instance_id as string, id);
      this.lastEnded.set(prev.instance_id as string, e.ts);
    }
    if (isActive) indexAdd(this.active, next.instance_id as string, id);
  }

  private putBackInOrder(key: string): void {
    const byOrder = (a: string, b: string): number => (this.runEntries.get(a)?.view.order ?? 0) - (this.runEntries.get(b)?.view.order ?? 0);
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

  /** Sets where archived runs are read from. */
  setArchive(archive: RunArchiveReader | undefined): void {
    this.archive = archive;
  }

  run(runId: string): RunView | undefined {
    return this.runEntries.get(runId)?.view ?? this.archive?.load(runId)?.view;
  }

  runAtOrder(order: number): RunView | undefined {
    const id = order >= this.orderBase ? this.orderIds[order - this.orderBase] : undefined;
    if (id !== undefined) return this.runEntries.get(id)?.view;
    return this.archive?.viewAt(order);
  }

  /** The run ids in memory, in submission order (tools and tests; O(runs)). */
  get runOrder(): string[] {
    return this.orderIds.filter((id): id is string => id !== undefined);
  }

  /** Ended runs in memory, oldest end first. */
  endedInMemory(): ReadonlySet<string> {
    return this.endedOrder;
  }

  /**
   * An ended run leaves memory (its facts stay in the log and its run log; the archive answers for it from now on).
   * Called by retention after the run was written to the archive.
   */
  forget(runId: string): boolean {
    const v = this.runEntries.get(runId)?.view;
    if (v === undefined || v.phase !== 'ended') return false;
    this.runEntries.delete(runId);
    const ids = this.orderIds;
    if (v.order >= this.orderBase) ids[v.order - this.orderBase] = undefined;
    while (ids.length > 0 && ids[0] === undefined) {
      ids.shift();
      this.orderBase++;
    }
    this.endedOrder.delete(runId);
    if (this.runIndexes) this.runsByState.get(v.state)?.delete(runId);
    this.archivedCounts[v.state]++;
    return true;
  }

  /** A pruned run is gone from memory and from the archive's counts (its directory is deleted by the pruner). */
  private pruned(runId: string, state: RunStateName, seq: number): void {
    this.archive?.forget(runId, seq);
    this.forget(runId); // when still in memory: it leaves memory as if archived, then leaves the counts below
    if (this.archivedCounts[state] > 0) this.archivedCounts[state]--;
    this.prunedCount++;
  }

  lastRunEndedOn(instanceId: string): string | undefined {
    return this.lastEnded.get(instanceId);
  }

  progress(runId: string): RunProgress | undefined {
    const entry = this.runEntries.get(runId);
    return entry !== undefined ? progressOf(entry) : this.archive?.load(runId)?.progress;
  }

  activeRuns(instanceId: string): ReadonlySet<string> {
    if (!this.runIndexes) this.buildRunIndexes();
    return this.active.get(instanceId) ?? EMPTY;
  }

  queued(): ReadonlySet<string> {
    if (!this.runIndexes) this.buildRunIndexes();
    return this.waiting;
  }

  queuedByKey(key: string): ReadonlySet<string> {
    if (!this.runIndexes) this.buildRunIndexes();
    return this.waitingByKey.get(key) ?? EMPTY;
  }

  runIdsInState(state: RunStateName): ReadonlySet<string> {
    if (!this.runIndexes) this.buildRunIndexes();
    return this.runsByState.get(state) ?? EMPTY;
  }

  /** The run indexes from the views, in submission order (once; `apply` keeps them from then on). */
  private buildRunIndexes(): void {
    this.runIndexes = true;
    const byOrder = [...this.runEntries.values()].map((r) => r.view).sort((a, b) => a.order - b.order);
    for (const v of byOrder) {
      indexAdd(this.runsByState, v.state, v.run_id);
      if (v.phase === 'accepted' || v.phase === 'queued') {
        this.waiting.add(v.run_id);
        indexAdd(this.waitingByKey, queueKeyOf(v.request), v.run_id);
      }
      if ((v.phase === 'routed' || v.phase === 'started') && v.instance_id !== undefined) indexAdd(this.active, v.instance_id, v.run_id);
    }
  }

  instanceIdsOfProfile(profile: string): ReadonlySet<string> {
    return this.instancesByProfile.get(profile) ?? EMPTY;
  }

  instanceIdsInState(state: InstanceStateName): ReadonlySet<string> {
    return this.instancesByState.get(state) ?? EMPTY;
  }

  streamRev(stream: string): number {
    if (stream.startsWith('run:')) {
      const id = stream.slice(4);
      return this.runEntries.get(id)?.trace_lines ?? this.archive?.load(id)?.progress.trace_lines ?? 0;
    }
    if (stream.startsWith('instance:')) return this.instances.get(stream.slice(9))?.rev ?? 0;
    if (stream.startsWith('profile:')) return this.profiles.get(stream.slice(8))?.rev ?? this.goneRevs.get(stream) ?? 0;
    if (stream.startsWith('node:')) return this.nodes.get(stream.slice(5))?.rev ?? 0;
    if (stream === 'daemon') return this.daemonRev;
    if (stream === 'log') return this.logRev;
    return 0;
  }

  countRunsByState(): Record<RunStateName, number> {
    const a = this.archivedCounts;
    return {
      queued: this.runIdsInState('queued').size + a.queued,
      running: this.runIdsInState('running').size + a.running,
      succeeded: this.runIdsInState('succeeded').size + a.succeeded,
      failed: this.runIdsInState('failed').size + a.failed,
      canceled: this.runIdsInState('canceled').size + a.canceled,
    };
  }

  countInstancesByState(): Record<InstanceStateName, number> {
    const out = { starting: 0, ready: 0, busy: 0, stopping: 0, stopped: 0, error: 0 };
    for (const [state, ids] of this.instancesByState) out[state] = ids.size;
    return out;
  }

  /**
   * The whole state as plain JSON (a snapshot's body): the views and what cannot be rebuilt from them; the indexes
   * are rebuilt by `importState`. `importState(exportState())` gives a registry equal to this one.
   */
  exportState(): RegistryState {
    return {
      v: REGISTRY_STATE_VERSION,
      lastSeq: this.lastSeq,
      lastTs: this.lastTs,
      orderCount: this.orderCount,
      daemon: { ...this.daemon },
      daemonRev: this.daemonRev,
      logRev: this.logRev,
      goneRevs: [...this.goneRevs],
      archivedCounts: { ...this.archivedCounts },
      prunedCount: this.prunedCount,
      profiles: [...this.profiles.values()],
      instances: [...this.instances.values()],
      runs: [...this.runEntries.values()].map((r) => r.view),
      progress: [...this.runEntries].map(([id, r]): [string, RunProgress] => [id, progressOf(r)]),
      lastEnded: [...this.lastEnded],
      endedOrder: [...this.endedOrder],
      nodes: [...this.nodes.values()],
    };
  }

  /** A registry from `exportState` (throws on a state of another version: the caller replays the log instead). */
  static importState(st: RegistryState): Registry {
    if (st.v !== REGISTRY_STATE_VERSION) throw new Error(`registry state version ${String(st.v)}, this arpd reads ${REGISTRY_STATE_VERSION}`);
    const r = new Registry();
    r.lastSeq = st.lastSeq;
    r.lastTs = st.lastTs;
    r.orderCount = st.orderCount;
    Object.assign(r.daemon, st.daemon);
    r.daemonRev = st.daemonRev;
    r.logRev = st.logRev;
    for (const [k, v] of st.goneRevs) r.goneRevs.set(k, v);
    Object.assign(r.archivedCounts, st.archivedCounts);
    r.prunedCount = st.prunedCount;
    for (const p of st.profiles) r.profiles.set(p.runtime_profile, p);
    for (const i of st.instances) {
      r.instances.set(i.instance_id, i);
      indexAdd(r.instancesByState, i.state, i.instance_id);
      if (i.runtime_profile !== undefined) indexAdd(r.instancesByProfile, i.runtime_profile, i.instance_id);
    }
    const byOrder = [...st.runs].sort((a, b) => a.order - b.order);
    r.orderBase = byOrder[0]?.order ?? r.orderCount;
    r.orderIds.length = r.orderCount - r.orderBase;
    r.orderIds.fill(undefined);
    for (const v of byOrder) {
      r.runEntries.set(v.run_id, new RunEntry(v));
      r.orderIds[v.order - r.orderBase] = v.run_id;
    }
    for (const [id, p] of st.progress) {
      const entry = r.runEntries.get(id);
      if (entry === undefined) continue;
      entry.trace_lines = p.trace_lines;
      entry.trace_events = p.trace_events;
      entry.trace_bytes = p.trace_bytes;
      entry.runtime_seq = p.runtime_seq;
      entry.last_event_at = p.last_event_at;
    }
    r.buildRunIndexes();
    for (const [id, ts] of st.lastEnded) r.lastEnded.set(id, ts);
    for (const id of st.endedOrder) if (r.runEntries.has(id)) r.endedOrder.add(id);
    for (const n of st.nodes) r.nodes.set(n.node_id, n);
    return r;
  }

  private archivedTotal(): number {
    const a = this.archivedCounts;
    return a.queued + a.running + a.succeeded + a.failed + a.canceled;
  }

  /** A plain-JSON picture of the whole state (for `arpd log replay` and equality in tests). */
  snapshot(): RegistrySnapshot {
    return {
      last_seq: this.lastSeq,
      daemon: { ...this.daemon },
      profiles: [...this.profiles.values()].sort((a, b) => a.runtime_profile.localeCompare(b.runtime_profile)),
      instances: [...this.instances.values()].sort((a, b) => a.instance_id.localeCompare(b.instance_id)).map((i) => ({ ...i, active_runs: this.activeRuns(i.instance_id).size })),
      runs: this.runOrder.map((id) => {
        const entry = this.runEntries.get(id) as RunEntry;
        return { ...entry.view, ...progressOf(entry) };
      }),
      ...(this.archivedTotal() === 0 ? {} : { archived: { ...this.archivedCounts } }),
      ...(this.prunedCount === 0 ? {} : { pruned: this.prunedCount }),
      ...(this.nodes.size === 0 ? {} : { nodes: [...this.nodes.values()].sort((a, b) => a.node_id.localeCompare(b.node_id)) }),
      counts: { runs: this.countRunsByState(), instances: this.countInstancesByState(), profiles: this.profiles.size },
    };
  }
}

export type RunSnapshotView = RunView & RunProgress;

/** The version of `RegistryState`: a snapshot of another version is not used (the log is replayed instead). 2 added `nodes`. */
export const REGISTRY_STATE_VERSION = 2;

export interface RegistryState {
  v: number;
  lastSeq: number;
  lastTs: string;
  orderCount: number;
  daemon: DaemonView;
  daemonRev: number;
  logRev: number;
  goneRevs: Array<[string, number]>;
  archivedCounts: Record<RunStateName, number>;
  prunedCount: number;
  profiles: ProfileView[];
  instances: InstanceView[];
  runs: RunView[];
  progress: Array<[string, RunProgress]>;
  lastEnded: Array<[string, string]>;
  endedOrder: string[];
  nodes: NodeView[];
}

export interface RegistrySnapshot {
  last_seq: number;
  /** Ended runs that left memory, by state (present once any did). */
  archived?: Record<RunStateName, number>;
  /** Runs pruned (present once any were). */
  pruned?: number;
  /** Nodes of a cluster sharing the store (present once any joined). */
  nodes?: NodeView[];
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
