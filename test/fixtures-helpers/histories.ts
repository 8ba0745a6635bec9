/**
 * fast-check histories of runs as a daemon writes them: each run goes accepted → (queued) → routed → started →
 * trace lines → one end (succeeded, failed or canceled), or stops part-way (still in flight at the end); the runs'
 * events are interleaved at random with instance and profile events, a daemon restart now and then, and (optionally)
 * a prune of runs that ended earlier. Ends are spread over days so age-based retention has something to do.
 */
import fc from 'fast-check';
import type { DomainEvent, JsonObject } from '../../src/events/event-types.js';

export interface HistoryOptions { maxRuns?: number; prune?: boolean }

interface RunPlan { id: string; steps: number; end: 'succeeded' | 'failed' | 'canceled'; traces: number; instance: string; big: boolean }

const runPlan = (i: number): fc.Arbitrary<RunPlan> => fc.record({
  id: fc.constant(`r${i}`),
  steps: fc.integer({ min: 1, max: 6 }),
  end: fc.constantFrom('succeeded' as const, 'failed' as const, 'canceled' as const),
  traces: fc.integer({ min: 0, max: 3 }),
  instance: fc.constantFrom('i1', 'i2'),
  big: fc.boolean(),
});

function lifecycle(p: RunPlan, day: () => string): DomainEvent[] {
  const run_id = p.id;
  const request: JsonObject = { run_id, input: { goal: p.big ? 'x'.repeat(300) : `g-${run_id}` }, runtime_selector: { runtime_profile: 'p1' } };
  const all: DomainEvent[] = [
    { type: 'run.accepted', data: { run_id, request, request_hash: `h-${run_id}` } },
    { type: 'run.queued', data: { run_id, deadline: '2030-01-01T00:00:00.000Z' } },
    { type: 'run.routed', data: { run_id, instance_id: p.instance, runtime_api_endpoint: 'http://127.0.0.1:9/' } },
    { type: 'run.started', data: { run_id, instance_id: p.instance } },
  ];
  for (let t = 0; t < p.traces; t++) all.push({ type: 'run.trace', data: { run_id, level: 'info', type: 'step', data: { n: t } } });
  const end: DomainEvent = p.end === 'succeeded'
    ? { type: 'run.succeeded', data: { run_id, result: { ok: true, at: day() } } }
    : p.end === 'failed'
      ? { type: 'run.failed', data: { run_id, error: { code: 'E_RUNTIME_ERROR', message: 'boom' } } }
      : { type: 'run.canceled', data: { run_id, reason: 'asked' } };
  // steps: how far the run got (6 = ended)
  const upTo = p.steps >= 5 ? all.length : Math.min(p.steps, all.length);
  const out = all.slice(0, upTo);
  if (p.steps >= 5) out.push(end);
  return out;
}

/** A history: the domain events in append order. */
export const runHistory = (o: HistoryOptions = {}): fc.Arbitrary<DomainEvent[]> =>
  fc.integer({ min: 1, max: o.maxRuns ?? 24 }).chain((n) => fc.tuple(
    fc.tuple(...Array.from({ length: n }, (_, i) => runPlan(i))),
    fc.array(fc.nat(1000), { minLength: 0, maxLength: 400 }),
    fc.array(fc.constantFrom('restart', 'instance', 'profile', 'prune'), { maxLength: 6 }),
  )).map(([plans, picks, extras]) => {
    let d = 0;
    const day = (): string => new Date(Date.UTC(2024, 0, 1 + (d++ % 30))).toISOString();
    const queues = plans.map((p) => lifecycle(p, day));
    const out: DomainEvent[] = [
      { type: 'profile.upserted', data: { runtime_profile: 'p1', profile: { runtime_profile: 'p1' } } },
      { type: 'instance.registered', data: { instance_id: 'i1', runtime_api_endpoint: 'http://127.0.0.1:9/', runtime_profile: 'p1' } },
      { type: 'instance.registered', data: { instance_id: 'i2', runtime_api_endpoint: 'http://127.0.0.1:8/', runtime_profile: 'p1' } },
    ];
    const ended: Array<{ run_id: string; state: 'succeeded' | 'failed' | 'canceled' }> = [];
    const pruned = new Set<string>();
    let pick = 0;
    let extra = 0;
    const left = (): number => queues.reduce((s, q) => s + q.length, 0);
    while (left() > 0) {
      const live = queues.map((q, i) => [q, i] as const).filter(([q]) => q.length > 0);
      const [q] = live[(picks[pick++ % Math.max(1, picks.length)] ?? 0) % live.length] as (typeof live)[number];
      const e = q.shift() as DomainEvent;
      out.push(e);
      if (e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.canceled') ended.push({ run_id: e.data.run_id, state: e.type.slice(4) as 'succeeded' | 'failed' | 'canceled' });
      if (pick % 17 === 0 && extra < extras.length) {
        const x = extras[extra++];
        if (x === 'restart') out.push({ type: 'daemon.stopped', data: { pid: 1, reason: 'test' } }, { type: 'daemon.started', data: { pid: 2, version: '1', boot_id: 'b', host: 'h' } });
        else if (x === 'instance') out.push({ type: 'instance.stopping', data: { instance_id: 'i2', reason: 'asked' } }, { type: 'instance.stopped', data: { instance_id: 'i2', reason: 'exited' } });
        else if (x === 'profile') out.push({ type: 'profile.upserted', data: { runtime_profile: 'p2', profile: { n: extra } } });
        else if (x === 'prune' && o.prune === true) {
          const batch = ended.filter((r) => !pruned.has(r.run_id)).slice(0, 2);
          for (const r of batch) pruned.add(r.run_id);
          if (batch.length > 0) out.push({ type: 'runs.pruned', data: { runs: batch, before: '2030-01-01T00:00:00.000Z' } });
        }
      }
    }
    return out;
  });
