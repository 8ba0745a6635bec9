import t from 'tap';
import fc from 'fast-check';
import { ArpdError } from '../../src/errors/index.js';
import { SCHEMAS, isValid, validate, validationProblem, type RunRequest, type SchemaName } from '../../src/schemas/index.js';
import { oracleValid } from './oracle.js';

function refusal(name: SchemaName, value: unknown): ArpdError {
  try {
    validate(name, value);
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
  throw new Error('the value was accepted');
}

t.test('returns a valid run request unchanged and typed', async (t) => {
  const body: unknown = { run_id: 'run_1', input: { goal: 'What is 2+2?' }, limits: { max_steps: 3 } };
  const req = validate('RunRequest', body);
  t.equal(req, body);
  t.equal(req.input.goal, 'What is 2+2?');
  const same = validate<RunRequest>('RunRequest', body);
  t.equal(same.limits?.max_steps, 3);
});

t.test('refuses a run request with an unknown field, naming it and what is allowed', async (t) => {
  const err = refusal('RunRequest', { input: { goal: 'x' }, runtime_selector: { foo: 1 } });
  t.equal(err.code, 'E_VALIDATION');
  t.equal(
    err.message,
    "unknown field 'runtime_selector.foo': remove it (allowed: runtime_profile, instance_id, runtime_name, runtime_api_endpoint)",
  );
  t.match(err.data, { schema: 'RunRequest', field: 'runtime_selector.foo', rule: 'additionalProperties' });
});

t.test('refuses a run request without a goal, naming input.goal and its type', async (t) => {
  const err = refusal('RunRequest', { input: {} });
  t.equal(err.message, "missing required field 'input.goal': add it (a string)");
  t.match(err.data, { field: 'input.goal', rule: 'required' });
});

t.test('refuses a goal of the wrong type, saying what type it must be', async (t) => {
  const err = refusal('RunRequest', { input: { goal: 42 } });
  t.equal(err.message, "field 'input.goal' must be a string, not 42");
  t.match(err.data, { field: 'input.goal', rule: 'type', expected: 'string' });
});

t.test('refuses a payload that is not an object, naming the payload itself', async (t) => {
  const err = refusal('RunRequest', ['x']);
  t.equal(err.message, 'the payload must be a JSON object, not an array');
  t.match(err.data, { field: '', rule: 'type' });
});

t.test('names array items by index and odd keys by quoting them', async (t) => {
  const items = refusal('InstanceListResponse', { instances: [{ instance_id: 'i', state: 'ready', runtime_api_endpoint: 'nope' }] });
  t.match(items.message, /^field 'instances\[0\]\.runtime_api_endpoint' must be an absolute URI/);
  const odd = refusal('Metadata', { labels: { 'app.kubernetes.io/name': 7 } });
  t.equal(odd.message, `field 'labels["app.kubernetes.io/name"]' must be a string, not 7`);
});

t.test('refuses an extension key that is not namespaced, saying how to name it', async (t) => {
  const err = refusal('RunRequest', { input: { goal: 'x' }, extensions: { note: 1 } });
  t.match(err.message, /^unknown field 'extensions\.note': remove it, or name it as a namespaced extension key/);
  t.ok(isValid('RunRequest', { input: { goal: 'x' }, extensions: { 'com.example.note': 1 } }));
});

t.test('refuses an out-of-range limit and an unknown state with the bound and the allowed values', async (t) => {
  t.equal(refusal('RunRequest', { input: { goal: 'x' }, limits: { max_steps: 0 } }).message, "field 'limits.max_steps' must be at least 1, not 0");
  t.equal(refusal('Pagination', { page_size: 1001 }).message, "field 'page_size' must be at most 1000, not 1001");
  t.equal(
    refusal('RunStatus', { run_id: 'r', state: 'bogus' }).message,
    "field 'state' must be one of 'queued', 'running', 'succeeded', 'failed', 'canceled'; not 'bogus'",
  );
  t.equal(
    refusal('VersionInfo', { service_name: 'a', service_version: '1', supported_api_versions: [] }).message,
    "field 'supported_api_versions' must have at least 1 item",
  );
  t.match(refusal('TraceEvent', { run_id: 'r', seq: 1, time: 'yesterday', level: 'info', type: 't' }).message, /^field 'time' must be an ISO-8601 date-time/);
});

t.test('tells valid from invalid without throwing', async (t) => {
  t.equal(isValid('Health', { status: 'ok', time: '2025-01-01T00:00:00Z' }), true);
  t.equal(isValid('Health', { status: 'fine', time: '2025-01-01T00:00:00Z' }), false);
  t.equal(validationProblem('Health', { status: 'ok', time: '2025-01-01T00:00:00Z' }), undefined);
  t.equal(validationProblem('Health', {})?.code, 'E_VALIDATION');
});

// ---- agreement with the spec on generated payloads --------------------------------------------

type Node = {
  type?: string;
  enum?: readonly unknown[];
  format?: string;
  minimum?: number;
  maximum?: number;
  items?: Node;
  required?: readonly string[];
  properties?: Record<string, Node>;
  patternProperties?: Record<string, unknown>;
  additionalProperties?: boolean | Node;
};

// payloads arrive as JSON: numbers are finite (Infinity and NaN cannot be written in JSON)
const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.string({ maxLength: 6 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.jsonValue({ maxDepth: 1 }), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 }),
);

const keyish = fc.oneof(
  fc.constantFrom('foo', 'com.example.note', 'org.x-y.z_1', 'a.b', 'nodot', '.lead', 'trail.', 'a..b', '-x.y', 'x y.z'),
  fc.string({ maxLength: 6 }),
);

/** Payloads shaped by a schema, mostly right, with wrong types, missing or extra fields and bad formats mixed in. */
function shaped(node: Node, depth = 0): fc.Arbitrary<unknown> {
  return fc.oneof({ arbitrary: conforming(node, depth), weight: 14 }, { arbitrary: junk, weight: 1 });
}

function conforming(node: Node, depth: number): fc.Arbitrary<unknown> {
  if (node.enum !== undefined) return fc.oneof({ arbitrary: fc.constantFrom(...node.enum), weight: 9 }, { arbitrary: fc.constant('bogus'), weight: 1 });
  switch (node.type) {
    case 'string':
      if (node.format === 'uri') {
        return fc.constantFrom('http://127.0.0.1:7777', 'unix:///tmp/arp.sock', 'file:///x', 'https://a.b/c?d#e', 'not a uri', '', '//host/x', 'http://');
      }
      if (node.format === 'date-time') {
        return fc.oneof(
          fc.date({ min: new Date('1970-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }).map((d) => d.toISOString()),
          fc.constantFrom('2025-01-01T00:00:00+02:00', '2025-13-01T00:00:00Z', '2025-01-01', 'yesterday', '2025-01-01 00:00:00Z'),
        );
      }
      return fc.string({ maxLength: 8 });
    case 'integer': {
      const lo = node.minimum ?? -5;
      const hi = node.maximum ?? lo + 100;
      return fc.oneof(fc.integer({ min: lo - 2, max: hi + 2 }), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }));
    }
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(node.items === undefined ? fc.jsonValue() : shaped(node.items, depth + 1), { maxLength: depth > 3 ? 1 : 3 });
    case 'object':
      return objectOf(node, depth);
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

function objectOf(node: Node, depth: number): fc.Arbitrary<unknown> {
  if (node.patternProperties !== undefined) {
    return fc.dictionary(keyish, fc.jsonValue({ maxDepth: 1 }), { maxKeys: 2 });
  }
  if (node.properties === undefined) {
    const values = typeof node.additionalProperties === 'object' ? shaped(node.additionalProperties, depth + 1) : fc.jsonValue({ maxDepth: 1 });
    return fc.dictionary(fc.string({ maxLength: 5 }), values, { maxKeys: 3 });
  }
  const required = new Set(node.required ?? []);
  const fields = Object.entries(node.properties).map(([key, sub]) =>
    fc.option(shaped(sub, depth + 1).map((v) => [key, v] as const), { freq: required.has(key) ? 12 : 2, nil: undefined }),
  );
  const extras = fc.oneof(
    { arbitrary: fc.constant([] as (readonly [string, unknown])[]), weight: 10 },
    { arbitrary: fc.array(fc.tuple(keyish, fc.jsonValue({ maxDepth: 1 })), { minLength: 1, maxLength: 2 }), weight: 1 },
  );
  return fc.tuple(fc.tuple(...fields), extras).map(([present, extra]) => {
    const out: Record<string, unknown> = {};
    for (const pair of present) if (pair !== undefined) out[pair[0]] = pair[1];
    for (const [k, v] of extra) if (!(k in out)) out[k] = v;
    return out;
  });
}

const AGREED: SchemaName[] = ['RunRequest', 'RuntimeProfileUpsertRequest', 'InstanceCreateRequest', 'TraceEvent'];

for (const name of AGREED) {
  t.test(`agrees with the spec on valid and invalid for generated ${name} payloads`, async (t) => {
    let valid = 0;
    let invalid = 0;
    fc.assert(
      fc.property(shaped(SCHEMAS[name] as Node), (value) => {
        const ours = isValid(name, value);
        if (ours) valid++;
        else invalid++;
        return ours === oracleValid(name, value);
      }),
      { numRuns: 1500 },
    );
    // The generator must reach both sides, or agreement would say little.
    t.ok(valid >= 100, `${valid} generated payloads were valid`);
    t.ok(invalid >= 100, `${invalid} generated payloads were invalid`);
  });
}
