import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { checkId, isValidId } from '../../src/ids/id-rules.js';

const FIRST = 'ABCXYZabcxyz0189';
const REST = `${FIRST}._-`;
/** An id the rule allows: a letter or digit, then up to 127 of letters, digits, '.', '_', '-'. */
const goodId = fc.tuple(fc.constantFrom(...FIRST), fc.string({ unit: fc.constantFrom(...REST), maxLength: 127 })).map(([a, b]) => a + b);

t.test('an id of 128 characters is allowed, 129 is refused', async (t) => {
  t.ok(isValidId('a'.repeat(128)));
  t.notOk(isValidId('a'.repeat(129)));
  t.equal(checkId('run id', `r${'-'.repeat(127)}`), `r${'-'.repeat(127)}`);
  t.throws(() => checkId('run id', `r${'-'.repeat(128)}`), { code: 'E_VALIDATION' });
});

t.test('letters, digits, dot, underscore and dash are allowed after a letter or digit', async (t) => {
  for (const id of ['a', 'Z', '7', 'run-1', 'run_1', 'run.1', 'a..b', 'v1.2.3', 'A-_.z']) t.ok(isValidId(id), id);
});

t.test('anything that could leave its directory or is not a plain name is refused', async (t) => {
  const bad = ['', '.', '..', '../x', 'a/b', 'a\\b', '.hidden', '-flag', '_x', 'a b', 'a\u0000b', 'a\nb', 'é', 'run:1', 'a%2Fb', '😀', 'x\u2028'];
  for (const id of bad) t.notOk(isValidId(id), [...id].map((c) => c.codePointAt(0)).join(' '));
});

t.test('a value that is not a string is refused', async (t) => {
  for (const v of [undefined, null, 7, {}, ['a'], true]) {
    t.notOk(isValidId(v), String(v));
    t.throws(() => checkId('instance id', v), { code: 'E_VALIDATION' });
  }
});

t.test('every id the rule allows passes and comes back unchanged', async (t) => {
  fc.assert(fc.property(goodId, (id) => isValidId(id) && checkId('run id', id) === id));
  t.pass('held');
});

t.test('an allowed id with any other character put in is refused', async (t) => {
  // any code point (not a lone surrogate) the rule does not allow
  const other = fc.integer({ min: 0, max: 0x10ffff }).filter((n) => n < 0xd800 || n > 0xdfff).map((n) => String.fromCodePoint(n))
    .filter((c) => !REST.includes(c) && !/[A-Za-z0-9]/.test(c));
  fc.assert(fc.property(goodId, other, fc.nat(), (id, c, at) => {
    const i = at % (id.length + 1);
    return !isValidId(id.slice(0, i) + c + id.slice(i));
  }));
  t.pass('held');
});

t.test('an allowed id made longer than 128 characters is refused', async (t) => {
  fc.assert(fc.property(goodId, fc.string({ unit: fc.constantFrom(...REST), minLength: 1, maxLength: 200 }), (id, more) => {
    const long = (id + more).padEnd(129, 'x');
    return long.length > 128 && !isValidId(long);
  }));
  t.pass('held');
});

t.test('the refusal names the kind, shows the value, says the rule and names the field', async (t) => {
  const err = t.throws(() => checkId('profile name', '../etc')) as ArpdError;
  t.ok(err instanceof ArpdError);
  t.equal(err.code, 'E_VALIDATION');
  t.match(err.message, /^profile name '\.\.\/etc' is not allowed: use letters, digits, '-', '_' or '\.'/);
  t.match(err.message, /max 128/);
  t.equal((err.data as { field: string }).field, 'profile_name');
  const named = t.throws(() => checkId('run id', 'a/b', 'request.run_id')) as ArpdError;
  t.equal(named.data?.['field'], 'request.run_id', 'a field given is named');
});

t.test('a long refused value is cut in the message', async (t) => {
  const err = t.throws(() => checkId('run id', `/${'x'.repeat(1000)}`)) as ArpdError;
  t.ok(err.message.includes(`'/${'x'.repeat(63)}…'`));
  t.notOk(err.message.includes('x'.repeat(64)));
});
