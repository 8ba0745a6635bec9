import { createHash } from 'node:crypto';
import fc from 'fast-check';
import t from 'tap';
import { canonicalJson } from '../../src/ids/canonical-json.js';
import { installKey } from '../../src/instances/exec-driver-cache.js';

/** The earlier formulation (map/join over sorted keys, as import-jarvis had it), with JSON.stringify's undefined rules. */
function reference(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => (x === undefined ? 'null' : reference(x))).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o).filter((k) => o[k] !== undefined).sort().map((k) => `${JSON.stringify(k)}:${reference(o[k])}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/** The install key's earlier formulation: a copy with sorted keys through JSON.stringify (integer-like keys aside). */
function sortedCopy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedCopy);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) {
      const x = (value as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = sortedCopy(x);
    }
    return out;
  }
  return value;
}

/**
 * JSON values whose objects may hold undefined (the install key's parts can have unset options). Keys start with a
 * letter: an object lists integer-like keys first whatever their order, so only such keys sort the same in a copy.
 */
const withUndefined = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null), fc.constant(undefined), tie('object'), tie('array')),
  object: fc.dictionary(fc.string().map((k) => `k${k}`), tie('value'), { maxKeys: 6 }),
  array: fc.array(tie('value'), { maxLength: 5 }),
})).object;

t.test('the text is the earlier map/join formulation\'s, for any JSON value (so request hashes do not change)', async (t) => {
  fc.assert(fc.property(fc.jsonValue(), (v) => canonicalJson(v) === reference(v)), { numRuns: 2000 });
  // integer-like keys sort as strings too: "" < "0" < "10" < "9"
  t.equal(canonicalJson({ 9: 1, 10: 2, 0: 3, '': 4 }), '{"":4,"0":3,"10":2,"9":1}');
});

t.test('members that are undefined are left out and undefined array elements are null, as JSON.stringify does', async (t) => {
  fc.assert(fc.property(withUndefined, (v) => canonicalJson(v) === reference(v) && canonicalJson(v) === JSON.stringify(sortedCopy(v))), { numRuns: 2000 });
  t.equal(canonicalJson({ b: 1, a: undefined, c: [undefined, 2] }), '{"b":1,"c":[null,2]}');
});

t.test('the same members in another key order give the same text', async () => {
  const shuffled = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }), { minKeys: 2 }).chain((o) => fc.shuffledSubarray(Object.keys(o), { minLength: Object.keys(o).length }).map((keys) => [o, Object.fromEntries(keys.map((k) => [k, o[k]]))] as const));
  fc.assert(fc.property(shuffled, ([a, b]) => canonicalJson(a) === canonicalJson(b)), { numRuns: 1000 });
});

t.test('an install key is the one the earlier code made, so an existing install cache is still found', async (t) => {
  // pinned: sha256 of JSON.stringify of the sorted copy (undefined options dropped), as exec-driver-cache did before
  const parts = { driver: 'pip', spec: 'x==1', options: { noIndex: true, indexUrl: undefined }, python: '/usr/bin/python3' };
  const earlier = createHash('sha256').update(JSON.stringify(sortedCopy(parts))).digest('hex').slice(0, 16);
  t.equal(installKey(parts), earlier);
  t.equal(installKey(parts), 'ddf63bbc105fcfdd', 'the value the build before this module gave');
});
