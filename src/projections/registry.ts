import type { StoredEvent } from '../events/envelope.js';
import { evolveInstance, evolveProfile, evolveRun } from './evolve.js';
import type { InstanceStateName, InstanceView, ProfileView, RunStateName, RunView } from './registry-types.js';

export interface DaemonView {
  pid?: number;
  version?: string;
  started_at?: string;
  stopped_at?: string;
  boots: number;
}

/**
 * The in-memory registry: entity views folded by the pure evolve functions, plus the indexes later
 * parts need. The maps are mutated in place by `apply` alone, and `apply` is called by the one
 * projection pipeline (projection.ts); copying a 100,000-run map per event would make every event
 * O(n). Trace lines are not held here: only counts; lines are read from the run log when asked.
 */
export class Registry {
  readonly profiles = new Map<string, ProfileView>();
  readonly instances = new Map<string, InstanceView>();
  readonly runs = new Map<string, RunView>();
  /** Run ids in submission order: pagination walks this, so pages are stable while runs arrive. */
  readonly runOrder: string[] = [];
  readonly runsByState = new Map<RunStateName, Set<string>>();
  readonly instancesByProfile = new Map<string, Set<string>>();
  readonly instancesByState = new Map<InstanceStateName, Set<string>>();
  readonly daemon: DaemonView = { boots: 0 };
  lastSeq = 0;
  lastTs = '';

  apply(e: StoredEvent): void {
    this.lastSeq = e.seq;
    this.lastTs = e.ts;
    const t = e.type;
    if (t.charCodeAt(0) === 0x72 /* run. */) {
      const runId = e.stream.slice(4);
      const prev = this.runs.get(runId);
      const next = evolveRun(prev, e, prev?.order ?? this.runOrder.length);
      if (next === undefined) return;
      if (prev === undefined) this.runOrder.push(runId);
      this.runs.set(runId, next);
      if (prev?.state !== next.state) {
        if (prev !== undefined) this.runsByState.get(prev.state)?.delete(runId);
        indexAdd(this.runsByState, next.state, runId);
      }
      return;
    }
    if (t.charCodeAt(0) === 0x69 /* instance. */) {
      const id = e.stream.slice(9);
      const prev = this.instances.get(id);
      const next = evolveInstance(prev, e);
      if (next === undefined) return;
      this.instances.set(id, next);
      if (prev?.state !== next.state) {
        if (prev !== undefined) this.instancesByState.get(prev.state)?.delete(id);
        indexAdd(this.instancesByState, next.state, id);
      }
      if (prev?.runtime_profile !== next.runtime_profile) {
        if (prev?.runtime_profile !== undefined) this.instancesByProfile.get(prev.runtime_profile)?.delete(id);
        if (next.runtime_profile !== undefined) indexAdd(this.instancesByProfile, next.runtime_profile, id);
      }
      return;
    }
    if (t === 'profile.upserted' || t === 'profile.deleted') {
      const name = e.data.runtime_profile;
      const next = evolveProfile(this.profiles.get(name), e);
      if (next === undefined) this.profiles.delete(name);
      else this.profiles.set(name, next);
      return;
    }
    if (t === 'daemon.started') {
      this.daemon.pid = e.data.pid;
      this.daemon.version = e.data.version;
      this.daemon.started_at = e.ts;
      this.daemon.boots++;
      return;
    }
    if (t === 'daemon.stopped') {
      this.daemon.stopped_at = e.ts;
    }
  }

  runIdsInState(state: RunStateName): ReadonlySet<string> {
    return this.runsByState.get(state) ?? EMPTY;
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
      instances: [...this.instances.values()].sort((a, b) => a.instance_id.localeCompare(b.instance_id)),
      runs: this.runOrder.map((id) => this.runs.get(id) as RunView),
      counts: { runs: this.countRunsByState(), instances: this.countInstancesByState(), profiles: this.profiles.size },
    };
  }
}

export interface RegistrySnapshot {
  last_seq: number;
  daemon: DaemonView;
  profiles: ProfileView[];
  instances: InstanceView[];
  runs: RunView[];
  counts: { runs: Record<RunStateName, number>; instances: Record<InstanceStateName, number>; profiles: number };
}

const EMPTY: ReadonlySet<string> = new Set();

function indexAdd<K>(index: Map<K, Set<string>>, key: K, id: string): void {
  let set = index.get(key);
  if (set === undefined) {
    set = new Set();
    index.set(key, set);
  }
  set.add(id);
}

/** Folds events into a new registry (tests, tools). */
export function foldEvents(events: Iterable<StoredEvent>, into: Registry = new Registry()): Registry {
  for (const e of events) into.apply(e);
  return into;
}
