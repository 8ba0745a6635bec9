import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import { CURRENT_VERSION, EVENT_TYPES, type EventType } from '../../src/events/event-types.js';
import { decodeLineString, encodeLine } from '../../src/events/line-codec.js';
import { upcast } from '../../src/events/upcasters.js';
import { foldEvents } from '../../src/projections/registry.js';

const stored = (seq: number, type: EventType, v: number, data: Record<string, unknown>, stream: string, rev = 1): StoredEvent =>
  ({ seq, id: `e${seq}`, ts: `2026-01-01T00:00:0${seq}.000Z`, stream, rev, type, v, data, meta: {} }) as unknown as StoredEvent;

/** Real v1 shapes, as older arpd versions wrote them. */
const V1: Partial<Record<EventType, { data: Record<string, unknown>; stream: string }>> = {
  'instance.requested': { data: { instance_id: 'i1', runtime_profile: 'default' }, stream: 'instance:i1' },
  'instance.starting': { data: { instance_id: 'i1', pid: 42, argv: ['rt', 'serve'], attempt: 1 }, stream: 'instance:i1' },
  'instance.registered': { data: { instance_id: 'x1', runtime_api_endpoint: 'http://127.0.0.1:9001' }, stream: 'instance:x1' },
  'run.routed': { data: { run_id: 'r1', instance_id: 'i1', runtime_api_endpoint: 'http://127.0.0.1:9000' }, stream: 'run:r1' },
  'run.started': { data: { run_id: 'r1', instance_id: 'i1' }, stream: 'run:r1' },
  'run.trace': { data: { run_id: 'r1', level: 'info', type: 'step', data: { n: 1 } }, stream: 'run:r1' },
};

t.test('every event type whose shape changed reads its version 1 as the current version', async (t) => {
  const changed = EVENT_TYPES.filter((type) => CURRENT_VERSION[type] > 1);
  t.ok(changed.length > 0);
  for (const type of changed) {
    const v1 = V1[type];
    t.ok(v1 !== undefined, `${type}: a v1 sample is in this test (add one with the upcaster)`);
    if (v1 === undefined) continue;
    const up = upcast(stored(1, type, 1, v1.data, v1.stream));
    t.equal(up.v, CURRENT_VERSION[type], `${type} v1 reads as v${CURRENT_VERSION[type]}`);
    t.same(up.data, v1.data, `${type}: the fields it had keep their values (the new ones are optional)`);
  }
});

t.test('an event already in its current version is returned as it is', async (t) => {
  for (const type of EVENT_TYPES) {
    const e = stored(1, type, CURRENT_VERSION[type], { x: 1 }, 'daemon');
    t.equal(upcast(e), e, type);
  }
});

t.test('a version newer than this arpd knows is left as it is', async (t) => {
  const e = stored(1, 'run.trace', 99, { run_id: 'r1', level: 'info', type: 'x' }, 'run:r1');
  t.equal(upcast(e), e);
});

t.test('a v1 line on disk stays v1 and is read as the current version', async (t) => {
  const sample = V1['run.trace'];
  if (sample === undefined) throw new Error('no sample');
  const line = encodeLine(stored(1, 'run.trace', 1, sample.data, sample.stream));
  t.match(line, /"v":1,/, 'the line keeps its version');
  const decoded = decodeLineString(line);
  t.ok(decoded.ok);
  if (decoded.ok) t.equal(decoded.event.v, CURRENT_VERSION['run.trace']);
});

t.test('a log of v1 events folds: a run without a routed deadline, trace lines without bytes count 0 bytes', async (t) => {
  const events = [
    stored(1, 'profile.upserted', 1, { runtime_profile: 'p', profile: { runtime_profile: 'p' } }, 'profile:p'),
    stored(2, 'instance.requested', 1, { instance_id: 'i1', runtime_profile: 'p' }, 'instance:i1'),
    stored(3, 'instance.starting', 1, (V1['instance.starting'] as { data: Record<string, unknown> }).data, 'instance:i1', 2),
    stored(4, 'run.accepted', 1, { run_id: 'r1', request: { input: {} }, request_hash: 'h' }, 'run:r1'),
    stored(5, 'run.routed', 1, (V1['run.routed'] as { data: Record<string, unknown> }).data, 'run:r1', 2),
    stored(6, 'run.started', 1, (V1['run.started'] as { data: Record<string, unknown> }).data, 'run:r1', 3),
    stored(7, 'run.trace', 1, (V1['run.trace'] as { data: Record<string, unknown> }).data, 'run:r1', 4),
  ].map(upcast);
  const reg = foldEvents(events);
  t.equal(reg.instances.get('i1')?.pid, 42);
  t.equal(reg.runs.get('r1')?.state, 'running');
  t.equal(reg.runs.get('r1')?.run_deadline, undefined);
  t.same(reg.progress('r1'), { trace_lines: 4, trace_events: 1, trace_bytes: 0, runtime_seq: 0, last_event_at: '2026-01-01T00:00:07.000Z' });
});
