/**
 * The registry as it was at a point of the log — the fold of `arpd log replay --until` — bounded for an HTTP
 * answer: newest runs first (at most `limits.runs`), instances and profiles capped, each run without its request.
 */
import type { StoredEvent } from '../events/envelope.js';
import { damagedRead, forEachEvent } from '../events/log-read.js';
import type { RunView } from '../projections/registry-types.js';
import type { Registry } from '../projections/registry.js';
import { replayStart } from '../retention/replay-start.js';
import type { ReplayUntil } from '../server/http-ui-api.js';

export interface ReplayJob {
  root: string;
  until: ReplayUntil;
  limits: { runs: number; instances: number; profiles: number };
}

export interface ReplayAnswer {
  until: string | null;
  /** The last event folded (0: none). */
  last_seq: number;
  last_ts: string | null;
  daemon: Record<string, unknown>;
  counts: ReturnType<Registry['snapshot']>['counts'];
  profiles: unknown[];
  profiles_total: number;
  instances: unknown[];
  instances_total: number;
  /** Newest first. */
  runs: Array<Omit<RunView, 'request'>>;
  runs_total: number;
}

function keep(until: ReplayUntil): (e: StoredEvent) => boolean {
  if ('seq' in until) return (e) => e.seq <= until.seq;
  if ('time' in until) {
    const t = Date.parse(until.time);
    return (e) => Date.parse(e.ts) <= t;
  }
  return () => true;
}

/**
 * The fold, as `arpd log replay --until` does it: from the oldest snapshot that holds what the disk budget removed
 * (else seq 1), and E_LOG_CORRUPT at a damaged line (never a registry of the events before it, shown as the state
 * at `until`).
 */
export function replayRegistry(job: ReplayJob): ReplayAnswer {
  const untilSeq = 'seq' in job.until ? job.until.seq : undefined;
  const { projection, fromSeq } = replayStart(job.root, { seq: untilSeq, timeMs: 'time' in job.until ? Date.parse(job.until.time) : undefined });
  const reg = projection.registry;
  const ok = keep(job.until);
  forEachEvent(job.root, (e) => {
    if (!ok(e)) return false;
    reg.apply(e);
    return true;
  }, { fromSeq, ...(untilSeq === undefined ? {} : { toSeq: untilSeq }), onDamage: (at) => { throw damagedRead(at, 'the state after it cannot be replayed'); } });
  const runs: Array<Omit<RunView, 'request'>> = [];
  for (let i = reg.runOrder.length - 1; i >= 0 && runs.length < job.limits.runs; i--) {
    const v = reg.runs.get(reg.runOrder[i] as string);
    if (v === undefined) continue;
    const { request: _request, ...rest } = v;
    runs.push(rest);
  }
  const instances = [...reg.instances.values()].sort((a, b) => b.updated_at.localeCompare(a.updated_at) || a.instance_id.localeCompare(b.instance_id));
  const profiles = [...reg.profiles.values()].sort((a, b) => a.runtime_profile.localeCompare(b.runtime_profile));
  return {
    until: 'seq' in job.until ? String(job.until.seq) : 'time' in job.until ? job.until.time : null,
    last_seq: reg.lastSeq,
    last_ts: reg.lastTs === '' ? null : reg.lastTs,
    daemon: { ...reg.daemon },
    counts: { runs: reg.countRunsByState(), instances: reg.countInstancesByState(), profiles: reg.profiles.size },
    profiles: profiles.slice(0, job.limits.profiles),
    profiles_total: profiles.length,
    instances: instances.slice(0, job.limits.instances),
    instances_total: instances.length,
    runs,
    runs_total: reg.runOrder.length,
  };
}
