import fc from 'fast-check';
import t from 'tap';
import type { Json } from '../../src/events/event-types.js';
import { jsonBytesTooDeep, jsonTextTooDeep, jsonValueDepth, MAX_REQUEST_DEPTH } from '../../src/policy/json-limits.js';

/** The obvious recursive definition the real functions must agree with (0 for a scalar). */
function referenceDepth(v: Json): number {
  if (v === null || typeof v !== 'object') return 0;
  const children: Json[] = Array.isArray(v) ? v : Object.values(v);
  return 1 + Math.max(0, ...children.map(referenceDepth));
}

/** Strings full of what a naive depth scanner trips on: brackets, quotes and backslashes inside strings. */
const tricky = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', ',', ':', 'a', 'é', '😀', '\u2028'), maxLength: 8 });
const { json } = fc.letrec<{ json: Json }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'medium', maxDepth: 12 },
    fc.constant(null), fc.boolean(), fc.integer(), tricky,
    fc.array(tie('json'), { maxLength: 3 }),
    fc.dictionary(tricky, tie('json'), { maxKeys: 3, noNullPrototype: true }),
  ),
}));

t.test('the text, byte and value depth checks agree with a recursive reference on any JSON', async () => {
  fc.assert(fc.property(json, fc.integer({ min: 0, max: 14 }), fc.boolean(), (value, max, pretty) => {
    const depth = referenceDepth(value);
    const text = pretty ? JSON.stringify(value, null, 2) : JSON.stringify(value);
    return jsonTextTooDeep(text, max) === depth > max
      && jsonBytesTooDeep(Buffer.from(text, 'utf8'), max) === depth > max
      && jsonValueDepth(value) === depth
      && jsonValueDepth(value, max) === Math.min(depth, max + 1);
  }), { numRuns: 2000 });
});

t.test('a string holding brackets does not count as nesting', async (t) => {
  const text = JSON.stringify({ a: '[[[[{{{{', b: '\\"[[[[' });
  t.notOk(jsonTextTooDeep(text, 1));
  t.notOk(jsonBytesTooDeep(Buffer.from(text), 1));
  t.ok(jsonTextTooDeep('{"a":[[]]}', 2), 'three levels are more than two');
  t.notOk(jsonTextTooDeep('{"a":[[]]}', 3));
});

t.test('100,000 levels of nesting are measured without recursion', async (t) => {
  const n = 100_000;
  const text = '['.repeat(n) + ']'.repeat(n);
  t.equal(jsonTextTooDeep(text, MAX_REQUEST_DEPTH), true);
  t.equal(jsonTextTooDeep(text, n), false);
  t.equal(jsonBytesTooDeep(Buffer.from(text), MAX_REQUEST_DEPTH), true);
  t.equal(jsonBytesTooDeep(Buffer.from(text), n), false);
  let value: Json = [];
  for (let i = 1; i < n; i++) value = i % 2 === 0 ? [value] : { k: value };
  t.equal(jsonValueDepth(value), n);
  t.equal(jsonValueDepth(value, MAX_REQUEST_DEPTH), MAX_REQUEST_DEPTH + 1, 'it stops past the limit');
});
