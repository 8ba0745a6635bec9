import type { StoredEvent } from './envelope.js';
import { CURRENT_VERSION } from './event-types.js';

/**
 * Old event shapes, brought to the current one when read. A line on disk never changes: when an
 * event type's data gets a new shape, its `CURRENT_VERSION` goes up and an upcaster from the old
 * version is added here. Everything that folds or serves events sees the current shape only.
 *
 * - `instance.starting` v1 → v2: v2 adds an optional `runtime_api_endpoint` (known before it listens).
 * - `run.routed` v1 → v2: v2 adds an optional `deadline` (when the run must have ended). A v1 event
 *   has none; the run's deadline is then worked out from its request and the daemon's default.
 * - `run.started` v1 → v2: `instance_id` became optional (absent for a run sent to an endpoint directly).
 * - `run.trace` v1 → v2: v2 adds an optional `bytes` (size of `data`, for the trace volume limit); a v1
 *   line counts as 0.
 * - `instance.requested` v1 → v2, `instance.starting` v2 → v3, `instance.registered` v1 → v2, `run.routed` v2 → v3:
 *   each adds an optional `node` (the node that owns it when daemons share a store). An older event has none: it
 *   was written by a single daemon, which owns everything.
 */
type Upcaster = (data: Record<string, unknown>) => Record<string, unknown>;

const UPCASTERS: Readonly<Record<string, Upcaster>> = {
  'instance.starting@1': (data) => data,
  'run.routed@1': (data) => data,
  'run.started@1': (data) => data,
  'run.trace@1': (data) => data,
  'instance.requested@1': (data) => data,
  'instance.starting@2': (data) => data,
  'instance.registered@1': (data) => data,
  'run.routed@2': (data) => data,
};

/** The event in its current shape (the same object when it already is). Unknown future versions are left as they are. */
export function upcast(e: StoredEvent): StoredEvent {
  const current = CURRENT_VERSION[e.type];
  if (current === undefined || e.v >= current) return e;
  let data = e.data as unknown as Record<string, unknown>;
  for (let v = e.v; v < current; v++) {
    const up = UPCASTERS[`${e.type}@${v}`];
    if (up === undefined) return e;
    data = up(data);
  }
  return { ...e, v: current, data } as unknown as StoredEvent;
}
