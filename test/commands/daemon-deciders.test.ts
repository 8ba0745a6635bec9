import fc from 'fast-check';
import t from 'tap';
import { decidePruneRuns, decideRecordLogRepair, decideStartDaemon, decideStopDaemon } from '../../src/commands/daemon-deciders.js';
import { attempt, type Decision } from '../../src/commands/decision.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { command, events, given, refusal } from './given.js';

// given() stamps the k-th event at 2026-01-01T00:00:0k, so a run ends at the time of its end event.
const accepted = (id: string): DomainEvent => ({ type: 'run.accepted', data: { run_id: id, request: { input: { goal: 'g' }, run_id: id }, request_hash: `h-${id}` } });
const queued = (id: string): DomainEvent => ({ type: 'run.queued', data: { run_id: id, deadline: '2026-01-01T01:00:00.000Z' } });
const succeeded = (id: string): DomainEvent => ({ type: 'run.succeeded', data: { run_id: id, result: { run_id: id, ok: true } } });
const failed = (id: string): DomainEvent => ({ type: 'run.failed', data: { run_id: id, error: { code: 'E_RUNTIME_ERROR', message: 'no' } } });
const canceled = (id: string): DomainEvent => ({ type: 'run.canceled', data: { run_id: id, reason: 'asked' } });

/** A decision, or the code of the refusal however the decider gave it (returned or thrown). */
const decided = (fn: () => Decision): Decision => attempt(() => {
  const d = fn();
  if (d instanceof Error) throw d;
  return d;
});

t.test('starting the daemon records daemon.started with what the command says', async (t) => {
  const data = { pid: 42, version: '1.2.3', boot_id: 'b-1', host: 'box' };
  t.same(events(decideStartDaemon(command('StartDaemon', data))), [{ type: 'daemon.started', data }]);
});

t.test('stopping the daemon records daemon.stopped with its pid, reason and whether the run logs are complete', async (t) => {
  const data = { pid: 42, reason: 'SIGTERM', run_logs_complete: false };
  t.same(events(decideStopDaemon(command('StopDaemon', data))), [{ type: 'daemon.stopped', data }]);
});

t.test('a log repair is recorded and fails each named run that has not ended, with E_LOG_REPAIRED and why', async (t) => {
  const reg = given(accepted('live'), queued('live'), accepted('done'), succeeded('done'), accepted('gone'), failed('gone'));
  const d = events(decideRecordLogRepair(reg, command('RecordLogRepair', {
    restored: 7, lost: 2, copies: ['/d/events.jsonl.damaged-1'],
    runs: [{ run_id: 'live', why: 'its end was lost' }, { run_id: 'done', why: 'x' }, { run_id: 'unknown', why: 'y' }, { run_id: 'gone', why: 'z' }],
  })));
  t.same(d[0], { type: 'log.repaired', data: { restored: 7, lost: 2, runs_failed: ['live'], copies: ['/d/events.jsonl.damaged-1'] } });
  t.equal(d.length, 2);
  t.same(d[1]?.type, 'run.failed');
  const error = (d[1]?.data as { run_id: string; error: { code: string; message: string } });
  t.equal(error.run_id, 'live');
  t.equal(error.error.code, 'E_LOG_REPAIRED');
  t.match(error.error.message, /its end was lost/);
  t.match(error.error.message, /submit it again/, 'says what to do');
});

t.test('a log repair that names no live run is still recorded', async (t) => {
  const d = events(decideRecordLogRepair(given(), command('RecordLogRepair', { restored: 0, lost: 1, copies: [], runs: [] })));
  t.same(d, [{ type: 'log.repaired', data: { restored: 0, lost: 1, runs_failed: [], copies: [] } }]);
});

t.test('pruning runs that ended before the time records one runs.pruned with each run and its end state', async (t) => {
  const reg = given(accepted('a'), succeeded('a'), accepted('b'), failed('b'), accepted('c'), canceled('c'));
  const d = events(decided(() => decidePruneRuns(reg, command('PruneRuns', { run_ids: ['a', 'b', 'c'], before: '2026-01-01T00:01:00Z' }))));
  t.same(d, [{ type: 'runs.pruned', data: { runs: [{ run_id: 'a', state: 'succeeded' }, { run_id: 'b', state: 'failed' }, { run_id: 'c', state: 'canceled' }], before: '2026-01-01T00:01:00Z' } }]);
});

t.test('pruning a run that has not ended, or ended at or after the time, is E_CONFLICT and prunes nothing', async (t) => {
  // a ends at :02, live never ends
  const reg = given(accepted('a'), succeeded('a'), accepted('live'), queued('live'));
  t.equal(refusal(decided(() => decidePruneRuns(reg, command('PruneRuns', { run_ids: ['a', 'live'], before: '2026-01-01T00:01:00Z' })))), 'E_CONFLICT', 'still going');
  t.equal(refusal(decided(() => decidePruneRuns(reg, command('PruneRuns', { run_ids: ['a'], before: '2026-01-01T00:00:02Z' })))), 'E_CONFLICT', 'ended exactly at the time');
  t.equal(refusal(decided(() => decidePruneRuns(reg, command('PruneRuns', { run_ids: ['a'], before: '2026-01-01T00:00:01Z' })))), 'E_CONFLICT', 'ended after it');
  t.same(events(decided(() => decidePruneRuns(reg, command('PruneRuns', { run_ids: ['a'], before: '2026-01-01T00:00:02.001Z' })))).length, 1, 'a millisecond later it goes');
});

t.test('pruning runs that are no longer known records nothing, so pruning again is a no-op', async (t) => {
  const reg = given(accepted('a'), succeeded('a'), { type: 'runs.pruned', data: { runs: [{ run_id: 'a', state: 'succeeded' }], before: '2026-01-02T00:00:00Z' } });
  t.same(events(decided(() => decidePruneRuns(reg, command('PruneRuns', { run_ids: ['a', 'never'], before: '2026-01-02T00:00:00Z' })))), []);
});

t.test('a prune time that is not ISO-8601 is E_VALIDATION naming --before', async (t) => {
  const d = decided(() => decidePruneRuns(given(), command('PruneRuns', { run_ids: [], before: 'last tuesday' })));
  t.equal(refusal(d), 'E_VALIDATION');
  t.match((d as Error).message, /--before takes an ISO-8601 time .*'last tuesday'/);
});

t.test('property: a prune records exactly the known runs named, or refuses when one of them has not ended before the time', async (t) => {
  const endings = [succeeded, failed, canceled, queued];
  fc.assert(fc.property(
    fc.array(fc.constantFrom(0, 1, 2, 3), { minLength: 1, maxLength: 8 }),
    fc.array(fc.nat({ max: 9 }), { maxLength: 8 }),
    fc.integer({ min: 1, max: 20 }),
    (kinds, picks, beforeSec) => {
      const history: DomainEvent[] = kinds.flatMap((k, i) => [accepted(`r${i}`), (endings[k] as (id: string) => DomainEvent)(`r${i}`)]);
      const reg = given(...history);
      const named = [...new Set(picks.map((p) => `r${p}`))];
      const before = `2026-01-01T00:00:${String(beforeSec).padStart(2, '0')}Z`;
      const d = decided(() => decidePruneRuns(reg, command('PruneRuns', { run_ids: named, before })));
      const known = named.filter((id) => Number(id.slice(1)) < kinds.length);
      // run i's end event is the (2i+2)-th event: it ends at second 2i+2
      const blocking = known.filter((id) => { const i = Number(id.slice(1)); return kinds[i] === 3 || 2 * i + 2 >= beforeSec; });
      if (blocking.length > 0) return refusal(d) === 'E_CONFLICT';
      if (known.length === 0) return Array.isArray(d) && d.length === 0;
      const pruned = (events(d)[0]?.data as { runs: Array<{ run_id: string }> }).runs.map((r) => r.run_id);
      return JSON.stringify(pruned) === JSON.stringify(known);
    },
  ));
  t.pass('held');
});
