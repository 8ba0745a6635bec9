import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { PARAM_SCHEMAS, checkParams, type ParamsName } from '../../src/schemas/params.js';

const names = Object.keys(PARAM_SCHEMAS) as ParamsName[];

/** The refusal of `fn`: its code, its field and its message. */
function refusal(fn: () => unknown): { code: string; field: unknown; message: string; schema: unknown } {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof ArpdError)) throw err;
    return { code: err.code, field: err.data?.['field'], message: err.message, schema: err.data?.['schema'] };
  }
  throw new Error('expected a refusal');
}

t.test('good params pass and come back as given', async (t) => {
  const p = { run_id: 'r1', from_seq: 3, limit: 10 };
  t.equal(checkParams('runs.trace', p), p);
  t.same(checkParams('runs.list', { page_size: 50, state: 'running', order: 'desc' }), { page_size: 50, state: 'running', order: 'desc' });
  t.same(checkParams('daemon.status', undefined), {}, 'absent params are {}');
  t.same(checkParams('daemon.status', null), {});
});

t.test('params that are not an object are refused and the allowed fields are named', async (t) => {
  for (const bad of ['r1', 7, ['r1'], true]) {
    const r = refusal(() => checkParams('runs.get', bad));
    t.equal(r.code, 'E_VALIDATION', JSON.stringify(bad));
    t.equal(r.field, 'params');
    t.match(r.message, /runs\.get takes its params as an object with named fields \(run_id\)/);
  }
  t.match(refusal(() => checkParams('daemon.status', 'x')).message, /\(none\)/);
});

t.test('a missing required field is refused, naming it', async (t) => {
  const r = refusal(() => checkParams('runs.get', {}));
  t.equal(r.code, 'E_VALIDATION');
  t.equal(r.field, 'run_id');
  t.match(r.message, /missing required field 'run_id'/);
});

t.test('an unknown field is refused, naming it and the allowed ones', async (t) => {
  const r = refusal(() => checkParams('runs.wait', { run_id: 'r1', timeout: 5 }));
  t.equal(r.field, 'timeout');
  t.match(r.message, /unknown field 'timeout': remove it \(allowed: run_id, timeout_ms\)/);
});

t.test('a field of the wrong type or out of range is refused, naming the field and the rule', async (t) => {
  const cases: Array<[ParamsName, Record<string, unknown>, string, RegExp]> = [
    ['runs.trace', { run_id: 'r1', limit: 0 }, 'limit', /at least 1/],
    ['runs.trace', { run_id: 'r1', limit: 100_001 }, 'limit', /at most 100000/],
    ['runs.trace', { run_id: 'r1', from_seq: 1.5 }, 'from_seq', /integer/],
    ['runs.list', { state: 'sleeping' }, 'state', /one of 'queued', 'running'/],
    ['runs.list', { order: 'up' }, 'order', /one of 'asc', 'desc'/],
    ['instances.list', { all: 'yes' }, 'all', /boolean/],
    ['runs.get', { run_id: 'x'.repeat(201) }, 'run_id', /./],
    ['events.read', { types: 'run.' }, 'types', /array/],
    ['log.compact', { budget_bytes: 1024 }, 'budget_bytes', /at least 1048576/],
  ];
  for (const [name, params, field, message] of cases) {
    const r = refusal(() => checkParams(name, params));
    t.equal(r.code, 'E_VALIDATION', `${name} ${JSON.stringify(params).slice(0, 60)}`);
    t.equal(r.field, field, `${name}: names ${field}`);
    t.match(r.message, message);
    t.match(r.message, new RegExp(`'${field}'`), 'the message names the field');
  }
});

t.test('query strings are converted to the schema types and need no required field', async (t) => {
  t.same(checkParams('runs.trace', { from_seq: '5', limit: '20' }, { coerce: true, where: 'query' }), { from_seq: 5, limit: 20 });
  t.same(checkParams('instances.list', { all: 'true' }, { coerce: true }), { all: true });
  t.same(checkParams('runs.get', {}, { coerce: true }), {}, 'the run id is in the path');
  const r = refusal(() => checkParams('runs.trace', { limit: 'ten' }, { coerce: true, where: 'query' }));
  t.equal(r.field, 'limit');
  t.equal(r.schema, 'query', 'the refusal says it is the query');
  t.equal(refusal(() => checkParams('runs.trace', { limit: 'ten' })).schema, 'runs.trace params', 'else the operation');
});

t.test('without coercion a number in a string is refused', async (t) => {
  t.equal(refusal(() => checkParams('runs.trace', { run_id: 'r1', limit: '20' })).field, 'limit');
});

t.test('every operation refuses any unknown field, naming it', async (t) => {
  fc.assert(fc.property(fc.constantFrom(...names), fc.stringMatching(/^[a-z_]{1,12}$/), (name, key) => {
    const props = (PARAM_SCHEMAS[name] as { properties: Record<string, unknown> }).properties;
    fc.pre(!(key in props));
    const r = refusal(() => checkParams(name, { [key]: 1 }, { coerce: true }));
    return r.code === 'E_VALIDATION' && r.field === key;
  }));
  t.pass('held');
});
