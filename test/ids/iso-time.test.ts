import t from 'tap';
import { checkIsoTime, parseIsoTime } from '../../src/ids/iso-time.js';

t.test('reads a date as midnight UTC and a date-time with its zone, as Date.parse does', async (t) => {
  for (const text of ['2026-01-31', '2024-02-29', '2026-01-31T12:00Z', '2026-01-31T12:00:00Z', '2026-01-31T12:00:00.123Z', '2026-01-31T23:59:59.123456789+02:00', '2026-01-31T00:00:00-05:30']) {
    t.equal(parseIsoTime(text), Date.parse(text), text);
  }
});

t.test('refuses a day or an hour that does not exist, rather than read it as the next one', async (t) => {
  for (const text of ['2026-02-30', '2026-02-29', '2026-04-31', '2026-13-01', '2026-00-10', '2026-01-00', '2026-01-31T24:00:00Z', '2026-01-31T12:60:00Z', '2026-01-31T12:00:60Z', '2026-01-31T12:00:00+24:00']) {
    t.equal(parseIsoTime(text), undefined, text);
  }
});

t.test('refuses anything around or instead of such a time, and a time without a zone', async (t) => {
  for (const text of ['2026-01-01 junk', '2026-01-01garbage', ' 2026-01-01', '2026-01-01T12:00:00', '2026-01-01 12:00Z', '20260101', '2026-1-1', '1.5', 'yesterday', '', '+002026-01-01']) {
    t.equal(parseIsoTime(text), undefined, JSON.stringify(text));
  }
});

t.test('a refusal is E_VALIDATION naming the field and what it takes', async (t) => {
  t.throws(() => checkIsoTime('2026-02-30', 'before'), { code: 'E_VALIDATION', message: /^before takes an ISO-8601 date or a time with its zone \(e\.g\. 2026-01-31 or 2026-01-31T12:00:00Z\), not '2026-02-30'$/, data: { field: 'before' } });
  t.equal(checkIsoTime('2026-01-31', 'before'), Date.UTC(2026, 0, 31));
});
