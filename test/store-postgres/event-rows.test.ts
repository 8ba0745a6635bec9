import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import type { EventFilter } from '../../src/events/event-store.js';
import { START, checkCount, checkFilter, comparePos, filterSql, posOf, toStoredEvent, type Pos } from '../../src/store-postgres/event-rows.js';

// The pure parts of reading rows (no database here; test/store-postgres/postgres-event-store.test.ts runs the SQL).

const pos = fc.record({ tx: fc.bigInt({ min: 0n, max: 2n ** 63n }), seq: fc.nat() });

t.test('positions order by transaction first, then by seq', async (t) => {
  t.ok(comparePos({ tx: 5n, seq: 100 }, { tx: 6n, seq: 1 }) < 0);
  t.ok(comparePos({ tx: 6n, seq: 1 }, { tx: 5n, seq: 100 }) > 0);
  t.ok(comparePos({ tx: 5n, seq: 1 }, { tx: 5n, seq: 2 }) < 0);
  t.equal(comparePos({ tx: 5n, seq: 2 }, { tx: 5n, seq: 2 }), 0);
  t.ok(comparePos(START, { tx: 1n, seq: 0 }) < 0, 'START is before every written position');
});

t.test('position order is a total order that agrees with sorting by (tx, seq)', async (t) => {
  fc.assert(fc.property(fc.array(pos, { maxLength: 20 }), (ps) => {
    const sorted = [...ps].sort(comparePos);
    const byKey = [...ps].sort((a, b) => (a.tx === b.tx ? a.seq - b.seq : a.tx < b.tx ? -1 : 1));
    return JSON.stringify(sorted, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) === JSON.stringify(byKey, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }));
  fc.assert(fc.property(pos, pos, (a, b) => Math.sign(comparePos(a, b)) === -Math.sign(comparePos(b, a))));
  t.pass('held');
});

t.test('a row becomes a position and an event with an ISO time and a number seq', async (t) => {
  t.same(posOf({ tx: '9007199254740993', seq: '42' }), { tx: 9007199254740993n, seq: 42 } satisfies Pos, 'a tx past 2^53 keeps every digit');
  const e = toStoredEvent({ seq: '7', tx: '1', id: 'e7', ts: new Date('2026-01-02T03:04:05.006Z'), stream: 'run:r1', rev: 2, type: 'run.queued', v: 1, data: { run_id: 'r1' }, meta: { actor: 'x' } });
  t.same(e, { seq: 7, id: 'e7', ts: '2026-01-02T03:04:05.006Z', stream: 'run:r1', rev: 2, type: 'run.queued', v: 1, data: { run_id: 'r1' }, meta: { actor: 'x' } });
  t.notOk('tx' in e, 'the transaction id stays in the store');
});

t.test('no filter is no condition', async (t) => {
  t.same(filterSql(undefined, 3), { sql: 'true', params: [] });
  t.same(filterSql({}, 3), { sql: 'true', params: [] });
  t.same(filterSql({ types: [] }, 3), { sql: 'true', params: [] });
});

t.test('types split into exact names and families, a stream into exact or prefix', async (t) => {
  const f = filterSql({ types: ['run.queued', 'instance.', 'run.'], stream: 'run:' }, 4);
  t.same(f.params, [['run.queued'], ['instance.', 'run.'], 'run:']);
  t.match(f.sql, /e\.type = ANY \(\$4::text\[\]\)/);
  t.match(f.sql, /unnest\(\$5::text\[\]\)/);
  t.match(f.sql, /starts_with\(e\.stream, \$6\)/);
  t.same(filterSql({ stream: 'run:r1' }, 1), { sql: 'e.stream = $1', params: ['run:r1'] });
});

t.test('property: the placeholders are numbered from the first one given, one for each parameter', async (t) => {
  const filter = fc.record({ types: fc.array(fc.constantFrom('run.', 'run.queued', 'instance.'), { maxLength: 3 }), stream: fc.constantFrom('run:', 'run:r1', 'instance:i1') }, { requiredKeys: [] });
  fc.assert(fc.property(filter, fc.integer({ min: 1, max: 50 }), (f, first) => {
    const { sql, params } = filterSql(f as EventFilter, first);
    const used = [...new Set([...sql.matchAll(/\$(\d+)/g)].map((m) => Number(m[1])))].sort((a, b) => a - b);
    return JSON.stringify(used) === JSON.stringify(params.map((_p, i) => first + i));
  }));
  t.pass('held');
});

t.test('a filter of the wrong shape is E_VALIDATION saying what a filter looks like', async (t) => {
  const bad: unknown[] = [null, 'run.', { types: 'run.' }, { types: [''] }, { types: [7] }, { types: ['a\u0000b'] }, { stream: '' }, { stream: 5 }, { stream: 'run:\u0000' }];
  for (const f of bad) {
    const err = t.throws(() => checkFilter(f as EventFilter)) as ArpdError;
    t.equal(err.code, 'E_VALIDATION', JSON.stringify(f));
    t.match(err.message, /filter/);
  }
  t.doesNotThrow(() => checkFilter(undefined));
  t.doesNotThrow(() => checkFilter({ types: ['run.'], stream: 'run:' }));
});

t.test('a count out of its range or not a whole number is refused, naming it and the range', async (t) => {
  t.equal(checkCount('limit', 10, 1, 100), 10);
  t.equal(checkCount('limit', 1, 1, 100), 1);
  t.equal(checkCount('limit', 100, 1, 100), 100);
  for (const v of [0, 101, 1.5, '10', Number.NaN, undefined]) {
    const err = t.throws(() => checkCount('limit', v, 1, 100)) as ArpdError;
    t.equal(err.code, 'E_VALIDATION');
    t.match(err.message, /^limit must be a whole number from 1 to 100 \(got /);
    t.same(err.data, { limit: String(v) });
  }
});
