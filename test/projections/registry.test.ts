import { deepStrictEqual, equal } from 'node:assert/strict';
import fc from 'fast-check';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import { foldEvents, Registry } from '../../src/projections/registry.js';
import { stamp, storedLog } from '../fixtures-helpers/arbitraries.js';

const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
const INSTANCE_STATES = ['starting', 'ready', 'busy', 'stopping', 'stopped', 'error'] as const;

/** The indexes and counts of a registry, recomputed from its views. */
function checkIndexes(r: Registry): void {
  const runStates = new Map<string, string[]>();
  const waiting: string[] = [];
  const active = new Map<string, string[]>();
  for (const [id, run] of r.runs) {
    equal(run.run_id, id, 'a run view is keyed by its id');
    runStates.set(run.state, [...(runStates.get(run.state) ?? []), id]);
    if (run.phase === 'accepted' || run.phase === 'queued') waiting.push(id);
    if ((run.phase === 'routed' || run.phase === 'started') && run.instance_id !== undefined) active.set(run.instance_id, [...(active.get(run.instance_id) ?? []), id]);
  }
  for (const state of RUN_STATES) deepStrictEqual([...r.runIdsInState(state)].sort(), (runStates.get(state) ?? []).sort(), `runs in state ${state}`);
  deepStrictEqual([...r.runOrder].sort(), [...r.runs.keys()].sort(), 'runOrder lists each run once');
  for (const [i, id] of r.runOrder.entries()) equal(r.runs.get(id)?.order, i, 'a run keeps its submission position');
  deepStrictEqual([...r.queued()], waiting.sort((a, b) => (r.runs.get(a)?.order ?? 0) - (r.runs.get(b)?.order ?? 0)), 'the queue is the waiting runs in submission order');
  const instanceStates = new Map<string, string[]>();
  const byProfile = new Map<string, string[]>();
  for (const [id, inst] of r.instances) {
    instanceStates.set(inst.state, [...(instanceStates.get(inst.state) ?? []), id]);
    if (inst.runtime_profile !== undefined) byProfile.set(inst.runtime_profile, [...(byProfile.get(inst.runtime_profile) ?? []), id]);
    deepStrictEqual([...r.activeRuns(id)].sort(), (active.get(id) ?? []).sort(), `runs in flight on ${id}`);
  }
  for (const state of INSTANCE_STATES) deepStrictEqual([...r.instanceIdsInState(state)].sort(), (instanceStates.get(state) ?? []).sort(), `instances in state ${state}`);
  for (const [profile, ids] of byProfile) deepStrictEqual([...r.instanceIdsOfProfile(profile)].sort(), ids.sort(), `instances of profile ${profile}`);
  const counts = r.countInstancesByState();
  for (const [state, n] of Object.entries(counts)) equal(n, instanceStates.get(state)?.length ?? 0);
}

t.test('folding the whole log equals folding a prefix and then the rest', async (t) => {
  fc.assert(
    fc.property(storedLog(), fc.nat(), (log, at) => {
      const cut = log.length === 0 ? 0 : at % (log.length + 1);
      const whole = foldEvents(log).snapshot();
      const split = foldEvents(log.slice(cut), foldEvents(log.slice(0, cut))).snapshot();
      deepStrictEqual(split, whole);
    }),
    { numRuns: 1000 },
  );
  t.pass('1000 logs folded both ways');
});

t.test('keeps its indexes and counts equal to its views after any sequence of events', async (t) => {
  fc.assert(
    fc.property(storedLog(), (log) => {
      const r = new Registry();
      for (const e of log) {
        r.apply(e);
        checkIndexes(r);
      }
      equal(r.lastSeq, log.length);
    }),
    { numRuns: 500 },
  );
  t.pass('indexes checked after every event');
});

t.test('folds the same log into the same snapshot every time, as plain JSON', async (t) => {
  fc.assert(
    fc.property(storedLog(), (log) => {
      const a = foldEvents(log).snapshot();
      deepStrictEqual(foldEvents(log).snapshot(), a);
      deepStrictEqual(JSON.parse(JSON.stringify(a)), a, 'a snapshot is plain JSON');
    }),
    { numRuns: 300 },
  );
  t.pass('deterministic');
});

t.test('snapshots runs in submission order and counts each state', async (t) => {
  const log: StoredEvent[] = stamp([
    { type: 'run.accepted', data: { run_id: 'b', request: {}, request_hash: 'h' } },
    { type: 'run.accepted', data: { run_id: 'a', request: {}, request_hash: 'h' } },
    { type: 'run.started', data: { run_id: 'b', instance_id: 'i1' } },
    { type: 'run.accepted', data: { run_id: 'c', request: {}, request_hash: 'h' } },
    { type: 'run.succeeded', data: { run_id: 'a', result: {} } },
    { type: 'run.canceled', data: { run_id: 'c', reason: 'x' } },
    { type: 'daemon.started', data: { pid: 1, version: 'v', boot_id: 'b', host: 'h' } },
    { type: 'daemon.started', data: { pid: 2, version: 'v2', boot_id: 'b', host: 'h' } },
  ]);
  const s = foldEvents(log).snapshot();
  t.same(s.runs.map((r) => [r.run_id, r.state, r.order]), [['b', 'running', 0], ['a', 'succeeded', 1], ['c', 'canceled', 2]]);
  t.same(s.counts.runs, { queued: 0, running: 1, succeeded: 1, failed: 0, canceled: 1 });
  t.match(s.daemon, { pid: 2, version: 'v2', boots: 2 });
  t.equal(s.last_seq, 8);
});
