/**
 * fast-check arbitraries for event data: strings with the characters that break naive JSON lines
 * (U+2028/U+2029, lone surrogates, CR/LF, NUL, quotes, emoji), finite numbers, nested objects/arrays.
 */
import fc from 'fast-check';
import type { StoredEvent } from '../../src/events/envelope.js';
import { EVENT_TYPES, streamOf, type DomainEvent, type Json, type JsonObject } from '../../src/events/event-types.js';

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const awkward = fc.constantFrom('\u2028', '\u2029', '\r', '\n', '\r\n', '\u0000', '\u001f', '\u007f', '"', '\\', '/', 'é', '😀', '👩‍👩‍👧', '\ufeff', '\uffff', '}', ',"crc":"');

/** Any string, biased towards characters that are awkward in a JSON line. */
export const awkwardString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.oneof(loneSurrogate, awkward, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: 24 }),
  fc.string({ unit: 'binary', maxLength: 24 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
);

/** Finite numbers. -0 is left out: JSON has no negative zero, `JSON.stringify(-0)` is `0`. */
export const finiteNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !Object.is(n, -0)),
  fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, Number.MAX_VALUE, Number.MIN_VALUE, 1e21, 1e-7, 0.1),
);

const { json: jsonValue, obj: jsonObjectArb } = fc.letrec<{ json: Json; obj: JsonObject }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    finiteNumber,
    awkwardString,
    fc.array(tie('json'), { maxLength: 4 }),
    tie('obj'),
  ),
  obj: fc.dictionary(awkwardString, tie('json'), { maxKeys: 4, noNullPrototype: true }),
}));

export const jsonObject: fc.Arbitrary<JsonObject> = jsonObjectArb;
export { jsonValue };

const metaArb = fc.record(
  { correlation_id: awkwardString, causation_id: awkwardString, actor: awkwardString },
  { requiredKeys: [], noNullPrototype: true },
);

/** Any stored event envelope with arbitrary JSON data (the codec does not look at the data's shape). */
export const storedEvent: fc.Arbitrary<StoredEvent> = fc
  .record({
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    id: fc.uuid(),
    ts: awkwardString,
    stream: awkwardString,
    rev: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    type: fc.constantFrom(...EVENT_TYPES),
    v: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
    data: jsonObject,
    meta: metaArb,
  }, { noNullPrototype: true })
  .map((e) => e as unknown as StoredEvent);

const runIds = fc.constantFrom('r1', 'r2', 'r3', 'r4');
const instanceIds = fc.constantFrom('i1', 'i2', 'i3');
const profileIds = fc.constantFrom('p1', 'p2');
const smallObject = fc.dictionary(fc.constantFrom('a', 'b', 'c'), fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean()), { maxKeys: 2, noNullPrototype: true });
/** A record whose listed keys may be left out (never set to undefined: event data is plain JSON). */
function rec<T extends Record<string, unknown>>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }, required: Array<keyof T>): fc.Arbitrary<T> {
  return fc.record(model, { requiredKeys: required, noNullPrototype: true }) as unknown as fc.Arbitrary<T>;
}

const profileAndDaemonEvents: Array<fc.Arbitrary<DomainEvent>> = [
  fc.record({ runtime_profile: profileIds, profile: smallObject }).map((data): DomainEvent => ({ type: 'profile.upserted', data })),
  fc.record({ runtime_profile: profileIds }).map((data): DomainEvent => ({ type: 'profile.deleted', data })),
  fc.record({ pid: fc.nat(9999), version: fc.constant('1'), boot_id: fc.constant('b'), host: fc.constant('h') }).map((data): DomainEvent => ({ type: 'daemon.started', data })),
  fc.record({ pid: fc.nat(9999), reason: fc.constant('stop') }).map((data): DomainEvent => ({ type: 'daemon.stopped', data })),
];
const instanceEvents: Array<fc.Arbitrary<DomainEvent>> = [
  rec({ instance_id: instanceIds, runtime_profile: profileIds, overrides: smallObject, metadata: smallObject, reason: fc.constant('auto') }, ['instance_id', 'runtime_profile']).map((data): DomainEvent => ({ type: 'instance.requested', data } as DomainEvent)),
  rec({ instance_id: instanceIds, pid: fc.nat(9999), pid_start_time: fc.constant('123'), argv: fc.constant<string[]>(['node']), attempt: fc.nat(3) }, ['instance_id', 'pid', 'argv']).map((data): DomainEvent => ({ type: 'instance.starting', data } as DomainEvent)),
  rec({ instance_id: instanceIds, runtime_api_endpoint: fc.constant('http://127.0.0.1:1/'), runtime_name: fc.constant('rt'), runtime_version: fc.constant('1') }, ['instance_id', 'runtime_api_endpoint']).map((data): DomainEvent => ({ type: 'instance.ready', data } as DomainEvent)),
  fc.record({ instance_id: instanceIds, active_runs: fc.nat(3) }).map((data): DomainEvent => ({ type: 'instance.busy', data })),
  fc.record({ instance_id: instanceIds, active_runs: fc.nat(3) }).map((data): DomainEvent => ({ type: 'instance.idle', data })),
  fc.record({ instance_id: instanceIds, reason: fc.constant('asked') }).map((data): DomainEvent => ({ type: 'instance.stopping', data })),
  rec({ instance_id: instanceIds, reason: fc.constant('exited'), exit_code: fc.nat(2) }, ['instance_id', 'reason']).map((data): DomainEvent => ({ type: 'instance.stopped', data } as DomainEvent)),
  rec({ instance_id: instanceIds, code: fc.constant('E_RUNTIME_LOST'), reason: fc.constant('crashed'), stderr_tail: fc.constant('oops') }, ['instance_id', 'code', 'reason']).map((data): DomainEvent => ({ type: 'instance.failed', data } as DomainEvent)),
  rec({ instance_id: instanceIds, runtime_api_endpoint: fc.constant('http://127.0.0.1:2/'), runtime_profile: profileIds }, ['instance_id', 'runtime_api_endpoint']).map((data): DomainEvent => ({ type: 'instance.registered', data } as DomainEvent)),
  fc.record({ instance_id: instanceIds }).map((data): DomainEvent => ({ type: 'instance.deregistered', data })),
  fc.record({ instance_id: instanceIds, attempt: fc.integer({ min: 1, max: 3 }), reason: fc.constant('crashed') }).map((data): DomainEvent => ({ type: 'instance.restarting', data })),
  fc.record({ instance_id: instanceIds, by_instance_id: instanceIds, runtime_api_endpoint: fc.constant('http://127.0.0.1:2'), reason: fc.constant('superseded') }).map((data): DomainEvent => ({ type: 'instance.superseded', data })),
];
const runAccepted: fc.Arbitrary<DomainEvent> = fc.record({ run_id: runIds, request: smallObject, request_hash: fc.constant('h') }).map((data): DomainEvent => ({ type: 'run.accepted', data }));
const runEvents: Array<fc.Arbitrary<DomainEvent>> = [
  runAccepted,
  rec({ run_id: runIds, deadline: fc.constant('2024-05-01T13:00:00.000Z') }, ['run_id']).map((data): DomainEvent => ({ type: 'run.queued', data } as DomainEvent)),
  rec({ run_id: runIds, instance_id: instanceIds, runtime_api_endpoint: fc.constantFrom('http://127.0.0.1:1/', 'http://127.0.0.1:3/'), deadline: fc.constant('2024-05-01T14:00:00.000Z') }, ['run_id', 'runtime_api_endpoint']).map((data): DomainEvent => ({ type: 'run.routed', data } as DomainEvent)),
  rec({ run_id: runIds, instance_id: instanceIds }, ['run_id']).map((data): DomainEvent => ({ type: 'run.started', data } as DomainEvent)),
  rec({ run_id: runIds, level: fc.constantFrom('debug', 'info', 'warn', 'error'), type: fc.constant('step'), data: fc.record({ seq: fc.nat(50) }), bytes: fc.nat(64) }, ['run_id', 'level', 'type']).map((data): DomainEvent => ({ type: 'run.trace', data } as DomainEvent)),
  fc.record({ run_id: runIds, reason: fc.constant('user') }).map((data): DomainEvent => ({ type: 'run.cancel_requested', data })),
  fc.record({ run_id: runIds, result: smallObject }).map((data): DomainEvent => ({ type: 'run.succeeded', data })),
  fc.record({ run_id: runIds, error: fc.constant({ code: 'E_RUNTIME_ERROR', message: 'boom' }) }).map((data): DomainEvent => ({ type: 'run.failed', data })),
  fc.record({ run_id: runIds, reason: fc.constant('user') }).map((data): DomainEvent => ({ type: 'run.canceled', data })),
];

/** Any domain event over small id pools, in no particular order (events of unknown entities included). */
export const domainEvent: fc.Arbitrary<DomainEvent> = fc.oneof(...profileAndDaemonEvents, ...instanceEvents, ...runEvents);

/** Gives domain events the envelope the store would: seq from 1, per-stream revisions, rising timestamps. */
export function stamp(events: readonly DomainEvent[]): StoredEvent[] {
  const revs = new Map<string, number>();
  return events.map((e, i) => {
    const stream = streamOf(e);
    const rev = (revs.get(stream) ?? 0) + 1;
    revs.set(stream, rev);
    const ts = new Date(Date.UTC(2024, 4, 1, 12, 0, 0, i)).toISOString();
    return { seq: i + 1, id: `id-${i + 1}`, ts, stream, rev, type: e.type, v: 1, data: e.data, meta: {} } as StoredEvent;
  });
}

/** A stored event log of any order of events. */
export const storedLog = (maxLength = 80): fc.Arbitrary<StoredEvent[]> => fc.array(domainEvent, { maxLength }).map(stamp);

/**
 * A longer log in which runs are accepted early and often and most events are runs' and instances',
 * so that runs go through whole lifecycles (queued, routed, started, canceled, ended twice, ...)
 * instead of mostly meeting events of runs never accepted.
 */
export const busyLog = (maxLength = 120): fc.Arbitrary<StoredEvent[]> => fc
  .array(fc.oneof(
    { weight: 2, arbitrary: runAccepted },
    { weight: 8, arbitrary: fc.oneof(...runEvents) },
    { weight: 4, arbitrary: fc.oneof(...instanceEvents) },
    { weight: 1, arbitrary: fc.oneof(...profileAndDaemonEvents) },
  ), { maxLength, size: 'medium' })
  .map(stamp);
