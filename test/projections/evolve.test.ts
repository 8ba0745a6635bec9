import fc from 'fast-check';
import t from 'tap';
import type { DomainEvent } from '../../src/events/event-types.js';
import { evolveInstance, evolveProfile, evolveRun, evolveRunProgress } from '../../src/projections/evolve.js';
import { arpStateOf } from '../../src/policy/routing.js';
import type { RunProgress } from '../../src/projections/registry-types.js';
import type { InstanceView, ProfileView, RunView } from '../../src/projections/registry-types.js';
import { foldEvents } from '../../src/projections/registry.js';
import { stamp, storedLog } from '../fixtures-helpers/arbitraries.js';

const given = (events: DomainEvent[]): ReturnType<typeof stamp> => stamp(events);

function foldRun(events: DomainEvent[]): RunView | undefined {
  let view: RunView | undefined;
  for (const e of given(events)) view = evolveRun(view, e, 0);
  return view;
}

function foldProgress(events: DomainEvent[]): RunProgress | undefined {
  let p: RunProgress | undefined;
  for (const e of given(events)) p = evolveRunProgress(p, e);
  return p;
}

function foldInstance(events: DomainEvent[]): InstanceView | undefined {
  let view: InstanceView | undefined;
  for (const e of given(events)) view = evolveInstance(view, e);
  return view;
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

const accepted: DomainEvent = { type: 'run.accepted', data: { run_id: 'r1', request: { input: 1 }, request_hash: 'h1' } };

t.test('a run goes from accepted through queued, routed and started to succeeded', async (t) => {
  const events: DomainEvent[] = [
    accepted,
    { type: 'run.queued', data: { run_id: 'r1', deadline: '2024-05-01T13:00:00.000Z' } },
    { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i1', runtime_api_endpoint: 'http://e/', deadline: '2024-05-01T14:00:00.000Z' } },
    { type: 'run.started', data: { run_id: 'r1', instance_id: 'i1' } },
    { type: 'run.trace', data: { run_id: 'r1', level: 'info', type: 'step', data: { seq: 1 }, bytes: 9 } },
    { type: 'run.trace', data: { run_id: 'r1', level: 'info', type: 'step', data: { seq: 2 }, bytes: 9 } },
    { type: 'run.succeeded', data: { run_id: 'r1', result: { out: 1 } } },
  ];
  t.match(foldRun(events.slice(0, 3)), { phase: 'routed', deadline: '2024-05-01T13:00:00.000Z', run_deadline: '2024-05-01T14:00:00.000Z', request: { input: 1 } });
  t.match(foldRun(events.slice(0, 4)), { state: 'running', phase: 'started', started_at: '2024-05-01T12:00:00.003Z' });
  t.same(foldRun(events), {
    run_id: 'r1', state: 'succeeded', phase: 'ended', order: 0, request_hash: 'h1', instance_id: 'i1', runtime_api_endpoint: 'http://e/',
    accepted_at: '2024-05-01T12:00:00.000Z', queued_at: '2024-05-01T12:00:00.001Z', started_at: '2024-05-01T12:00:00.003Z',
    ended_at: '2024-05-01T12:00:00.006Z', result_rev: 7,
  }, 'the request and deadlines are dropped once the run ended');
  t.same(foldProgress(events), { trace_lines: 7, trace_events: 2, trace_bytes: 18, runtime_seq: 2, last_event_at: '2024-05-01T12:00:00.006Z' }, 'every event moves the progress; trace lines count their bytes and runtime seq');
  t.equal(foldRun([...events, { type: 'run.failed', data: { run_id: 'r1', error: { code: 'E_X', message: 'late' } } }])?.state, 'succeeded', 'an ended run stays ended');
});

t.test('a failed run keeps its error, a canceled one gets E_CANCELED', async (t) => {
  t.match(foldRun([accepted, { type: 'run.failed', data: { run_id: 'r1', error: { code: 'E_X', message: 'boom' } } }]), { state: 'failed', phase: 'ended', error: { code: 'E_X', message: 'boom' }, result_rev: 2 });
  t.match(foldRun([accepted, { type: 'run.canceled', data: { run_id: 'r1', reason: 'user asked' } }]), { state: 'canceled', error: { code: 'E_CANCELED', message: 'user asked' } });
});

t.test('events of a run that was never accepted fold to nothing', async (t) => {
  t.equal(foldRun([{ type: 'run.started', data: { run_id: 'r1', instance_id: 'i1' } }, { type: 'run.succeeded', data: { run_id: 'r1', result: {} } }]), undefined);
});

t.test('an instance goes from requested to ready, stopping and stopped; busy and idle of old logs leave it ready', async (t) => {
  const steps: DomainEvent[] = [
    { type: 'instance.requested', data: { instance_id: 'i1', runtime_profile: 'p1' } },
    { type: 'instance.starting', data: { instance_id: 'i1', pid: 42, argv: ['rt'] } },
    { type: 'instance.ready', data: { instance_id: 'i1', runtime_api_endpoint: 'http://e/', runtime_name: 'rt' } },
    { type: 'instance.busy', data: { instance_id: 'i1', active_runs: 2 } },
    { type: 'instance.idle', data: { instance_id: 'i1', active_runs: 0 } },
    { type: 'instance.stopping', data: { instance_id: 'i1', reason: 'asked' } },
    { type: 'instance.stopped', data: { instance_id: 'i1', reason: 'asked', exit_code: 0 } },
  ];
  const states = steps.map((_, i) => foldInstance(steps.slice(0, i + 1))?.state);
  t.same(states, ['starting', 'starting', 'ready', 'ready', 'ready', 'stopping', 'stopped']);
  t.match(foldInstance(steps.slice(0, 3)), { instance_id: 'i1', managed: true, pid: 42, attempt: 1, runtime_api_endpoint: 'http://e/', runtime_name: 'rt', runtime_profile: 'p1' });
});

t.test('a failed instance carries its stderr tail, a registered one is unmanaged', async (t) => {
  t.match(foldInstance([
    { type: 'instance.requested', data: { instance_id: 'i1', runtime_profile: 'p1' } },
    { type: 'instance.failed', data: { instance_id: 'i1', code: 'E_RUNTIME_LOST', reason: 'exited', stderr_tail: 'trace', exit_code: 1 } },
  ]), { state: 'error', error: { code: 'E_RUNTIME_LOST', message: 'exited', details: { stderr_tail: 'trace', exit_code: 1, signal: null } } });
  t.match(foldInstance([{ type: 'instance.registered', data: { instance_id: 'x', runtime_api_endpoint: 'http://x/' } }]), { instance_id: 'x', managed: false, state: 'starting' });
  t.match(foldInstance([{ type: 'instance.registered', data: { instance_id: 'x', runtime_api_endpoint: 'http://x/' } }, { type: 'instance.deregistered', data: { instance_id: 'x' } }]), { state: 'stopped', reason: 'deregistered' });
  t.match(foldInstance([
    { type: 'instance.registered', data: { instance_id: 'x', runtime_api_endpoint: 'http://127.0.0.1:9' } },
    { type: 'instance.ready', data: { instance_id: 'x', runtime_api_endpoint: 'http://127.0.0.1:9' } },
    { type: 'instance.superseded', data: { instance_id: 'x', by_instance_id: 'm', runtime_api_endpoint: 'http://127.0.0.1:9', reason: "superseded: now 'm'" } },
  ]), { state: 'stopped', reason: "superseded: now 'm'", superseded_by: 'm', managed: false }, 'a superseded registration is stopped, naming the managed instance');
});

t.test('a ready instance is busy exactly while it has as many runs in flight as its profile allows', async (t) => {
  const reg = foldEvents(given([
    { type: 'profile.upserted', data: { runtime_profile: 'p1', profile: { runtime_profile: 'p1', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['x'] }, 'arpd.runtime': { max_concurrent_runs: 2 } } } } },
    { type: 'instance.requested', data: { instance_id: 'i1', runtime_profile: 'p1' } },
    { type: 'instance.ready', data: { instance_id: 'i1', runtime_api_endpoint: 'http://e/' } },
    accepted,
    { type: 'run.routed', data: { run_id: 'r1', instance_id: 'i1', runtime_api_endpoint: 'http://e/' } },
  ]));
  const inst = reg.instances.get('i1') as InstanceView;
  t.equal(arpStateOf(reg, inst), 'ready', '1 of 2');
  reg.apply({ ...given([accepted])[0], seq: 100, stream: 'run:r2', rev: 1, type: 'run.accepted', data: { run_id: 'r2', request: {}, request_hash: 'h' } } as never);
  reg.apply({ ...given([accepted])[0], seq: 101, stream: 'run:r2', rev: 2, type: 'run.routed', v: 2, data: { run_id: 'r2', instance_id: 'i1', runtime_api_endpoint: 'http://e/' } } as never);
  t.equal(arpStateOf(reg, inst), 'busy', '2 of 2');
  reg.apply({ ...given([accepted])[0], seq: 102, stream: 'run:r2', rev: 3, type: 'run.canceled', data: { run_id: 'r2', reason: 'x' } } as never);
  t.equal(arpStateOf(reg, inst), 'ready', 'a run ended: room again');
});

t.test('an instance view always carries the id of its events, even when its first event is not a request', async (t) => {
  const view = foldInstance([{ type: 'instance.busy', data: { instance_id: 'i7', active_runs: 1 } }]);
  t.equal(view?.instance_id, 'i7');
});

t.test('a profile keeps its creation time across upserts and disappears when deleted', async (t) => {
  let view: ProfileView | undefined;
  const events = given([
    { type: 'profile.upserted', data: { runtime_profile: 'p1', profile: { a: 1 } } },
    { type: 'profile.upserted', data: { runtime_profile: 'p1', profile: { a: 2 } } },
  ]);
  for (const e of events) view = evolveProfile(view, e);
  t.same(view, { runtime_profile: 'p1', profile: { a: 2 }, created_at: events[0]?.ts, updated_at: events[1]?.ts, rev: 2 });
  t.equal(evolveProfile(view, given([{ type: 'profile.deleted', data: { runtime_profile: 'p1' } }])[0] as never), undefined);
});

t.test('evolve never changes the view or the event it is given', async (t) => {
  fc.assert(
    fc.property(storedLog(60), (log) => {
      deepFreeze(log);
      // a registry whose every view is frozen as soon as it is stored would throw on any in-place change
      const r = foldEvents([]);
      for (const e of log) {
        r.apply(e);
        for (const v of r.runs.values()) deepFreeze(v);
        for (const v of r.instances.values()) deepFreeze(v);
        for (const v of r.profiles.values()) deepFreeze(v);
      }
    }),
    { numRuns: 300 },
  );
  t.pass('no frozen view or event was written to');
});
