import { isDeepStrictEqual } from 'node:util';
import t from 'tap';
import fc from 'fast-check';
import type { ArpdError } from '../../src/errors/index.js';
import { isCommonDateTime, isCommonRunEvent } from '../../src/schemas/run-event-quick-check.js';
import { describe, getValidator, validationProblem } from '../../src/schemas/validate.js';

/** What validationProblem('RunEvent', v) said before the quick check: ajv alone. */
function ajvProblem(value: unknown): ArpdError | undefined {
  const fn = getValidator('RunEvent');
  if (fn(value) === true) return undefined;
  const first = fn.errors?.[0];
  if (first === undefined) throw new Error('ajv refused without an error');
  return describe('RunEvent', value, first);
}

const seen = (e: ArpdError | undefined): unknown => (e === undefined ? undefined : { code: e.code, message: e.message, data: e.data });

const two = (max: number): fc.Arbitrary<string> => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));

/** Date-times around the edges of valid: months 00-19, days 00-39, hours 00-29, leap days, odd separators and zones. */
const dateTimeLike: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()) },
  fc.date({ min: new Date('0000-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.tuple(
    fc.constantFrom('2024', '2023', '2000', '2100', '1900', '0000', '9999', '202'),
    two(19), two(39),
    fc.constantFrom('T', 't', ' ', 'x', 'TT'),
    two(29), two(69), two(69),
    fc.constantFrom('', '.1', '.123', '.123456789', '.', '.x'),
    fc.oneof(
      fc.constantFrom('Z', 'z', '', 'Zz', 'UTC'),
      fc.tuple(fc.constantFrom('+', '-'), two(29), fc.constantFrom(':', '', '::'), two(69)).map(([s, h, c, m]) => `${s}${h}${c}${m}`),
      fc.tuple(fc.constantFrom('+', '-'), two(29)).map(([s, h]) => `${s}${h}`),
    ),
  ).map(([y, mo, d, sep, h, mi, s, frac, tz]) => `${y}-${mo}-${d}${sep}${h}:${mi}:${s}${frac}${tz}`),
  fc.constantFrom('2024-02-29T12:00:00Z', '2023-02-29T12:00:00Z', '2100-02-29T00:00:00Z', '2000-02-29T00:00:00Z', '2026-04-31T00:00:00Z',
    '2026-12-31T23:59:60Z', '2026-12-31T23:59:60.5Z', '2026-06-30T12:59:60Z', '2026-01-01T00:00:00+23:59', '2026-01-01T00:00:00+24:00'),
  fc.string(),
);

const eventType = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('token', 'step', 'tool_call', 'tool_result', 'final', 'error') }, fc.constantFrom('token', 'step', 'tool_call', 'tool_result', 'final', 'error'), fc.constantFrom('Token', 'final ', ''), fc.string());
const seqLike = fc.oneof({ weight: 6, arbitrary: fc.nat() }, fc.integer({ min: -3, max: 3 }), fc.double(), fc.constantFrom(2 ** 53, -0, 1.5, Number.NaN), fc.string());
const extensionKey = fc.oneof({ weight: 3, arbitrary: fc.constantFrom('com.example.note', 'io.arp.x') }, fc.constantFrom('com.example.x', 'a.b', 'org.x-y_z', '.a', 'a.', 'ab', 'a b.c', '-a.b'), fc.string());
const field = <T>(valid: fc.Arbitrary<T>): fc.Arbitrary<unknown> => fc.oneof({ weight: 9, arbitrary: valid }, { weight: 1, arbitrary: fc.anything() });

/** RunEvent-like objects: each field present or not, usually of the right kind, sometimes anything; sometimes an extra field. */
const fields = {
  run_id: field(fc.string()),
  seq: field(seqLike),
  type: field(eventType),
  time: field(dateTimeLike),
  data: field(fc.oneof(fc.object(), fc.constant({}))),
  extensions: field(fc.dictionary(extensionKey, fc.anything(), { maxKeys: 3 })),
};
const runEventLike: fc.Arbitrary<unknown> = fc.tuple(
  fc.oneof(
    { weight: 3, arbitrary: fc.record(fields, { requiredKeys: ['run_id', 'seq', 'type', 'time'] }) },
    fc.record(fields, { requiredKeys: [] }),
  ),
  fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, fc.tuple(fc.oneof(fc.constantFrom('level', 'run_id ', '__proto__'), fc.string()), fc.anything())),
).map(([ev, extra]) => (extra === null ? ev : { ...ev, [extra[0]]: extra[1] }));

t.test('accepts only what ajv accepts, and refuses everything ajv refuses with the same error', async (t) => {
  let quick = 0;
  let refused = 0;
  fc.assert(fc.property(fc.oneof({ weight: 8, arbitrary: runEventLike }, { weight: 1, arbitrary: fc.anything() }), (value) => {
    if (isCommonRunEvent(value)) {
      quick++;
      if (getValidator('RunEvent')(value) !== true) return false;
    }
    const before = ajvProblem(value);
    if (before !== undefined) refused++;
    return isDeepStrictEqual(seen(validationProblem('RunEvent', value)), seen(before));
  }), { numRuns: 20_000 });
  // the generator reaches both sides, or the property above says little
  t.ok(quick > 500, `the quick check accepted ${quick} values`);
  t.ok(refused > 500, `ajv refused ${refused} values`);
});

t.test('agrees with ajv on every date-time it accepts', async (t) => {
  const time = getValidator('RunEvent');
  let accepted = 0;
  fc.assert(fc.property(dateTimeLike, (s) => {
    if (!isCommonDateTime(s)) return true;
    accepted++;
    return time({ run_id: 'r', seq: 0, type: 'token', time: s }) === true;
  }), { numRuns: 20_000 });
  t.ok(accepted > 500, `the quick check accepted ${accepted} date-times`);
});

t.test('knows leap days and the length of each month', async (t) => {
  t.ok(isCommonDateTime('2024-02-29T12:00:00Z'));
  t.ok(isCommonDateTime('2000-02-29T00:00:00.5+01:00'));
  t.notOk(isCommonDateTime('2023-02-29T12:00:00Z'));
  t.notOk(isCommonDateTime('2100-02-29T12:00:00Z'));
  t.notOk(isCommonDateTime('2026-04-31T12:00:00Z'));
  t.ok(isCommonDateTime('2026-12-31T23:59:59.999Z'));
});

t.test('leaves a leap second to ajv, which accepts it', async (t) => {
  const ev = { run_id: 'r', seq: 1, type: 'token', time: '2026-12-31T23:59:60Z' };
  t.notOk(isCommonRunEvent(ev));
  t.equal(validationProblem('RunEvent', ev), undefined);
});

t.test('refuses an impossible date with ajv\'s message', async (t) => {
  const problem = validationProblem('RunEvent', { run_id: 'r', seq: 1, type: 'token', time: '2023-02-29T12:00:00Z' });
  t.equal(problem?.message, "field 'time' must be an ISO-8601 date-time such as 2025-01-01T00:00:00Z, not '2023-02-29T12:00:00Z'");
});
