import { join } from 'node:path';
import t from 'tap';
import Fastify from 'fastify';
import { SCHEMAS, isValid, type SchemaName } from '../../src/schemas/index.js';
import {
  ORACLE_ALIASES,
  ORACLE_FILE,
  SPEC_DIR,
  dereferenced,
  listFiles,
  oracleFor,
  oracleSchemaFiles,
  readJson,
} from './oracle.js';

const NAMES = Object.keys(SCHEMAS) as SchemaName[];

/** Spec schema files arpd has no use for: the tool registry, the trace index and bare enums inlined in ours. */
const NOT_ARPDS = new Set([
  'common/status.schema.json',
  'daemon/instances/instance_state.schema.json',
  'runtime/runs/run_event_type.schema.json',
  'runtime/runs/run_state.schema.json',
  'trace/trace_index.schema.json',
  'trace/trace_level.schema.json',
  'tool_registry/tools/tool_definition.schema.json',
  'tool_registry/tools/tool_invocation_request.schema.json',
  'tool_registry/tools/tool_invocation_result.schema.json',
  'tool_registry/tools/tool_source.schema.json',
]);

const byOracleFile = new Map<string, SchemaName>([
  ...NAMES.map((n) => [ORACLE_FILE[n], n] as const),
  ...Object.entries(ORACLE_ALIASES),
]);

/** Our schema name for a vector file such as 'daemon/runs/run_request.json', or undefined when it is not ours. */
function schemaForVector(file: string): SchemaName | undefined {
  return byOracleFile.get(file.replace(/\.json$/, '.schema.json'));
}

/** Drops annotations (title, description) from schema nodes, leaving property maps' keys alone. */
function meaning(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(meaning);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'title' || k === 'description') continue;
    if ((k === 'properties' || k === 'patternProperties') && v !== null && typeof v === 'object') {
      out[k] = Object.fromEntries(Object.entries(v).map(([p, s]) => [p, meaning(s)]));
    } else {
      out[k] = meaning(v);
    }
  }
  return out;
}

t.test('every spec schema file is either one of arpd\'s schemas or named as not arpd\'s', async (t) => {
  for (const file of oracleSchemaFiles()) {
    t.ok(byOracleFile.has(file) || NOT_ARPDS.has(file), file);
  }
});

t.test('each arpd schema means the same as the spec schema it was written from', async (t) => {
  for (const name of NAMES) {
    t.same(meaning(SCHEMAS[name]), meaning(dereferenced(ORACLE_FILE[name])), name);
  }
  for (const [file, name] of Object.entries(ORACLE_ALIASES)) {
    t.same(meaning(SCHEMAS[name]), meaning(dereferenced(file)), `${file} is ${name}`);
  }
});

for (const dir of ['conformance/json_vectors', 'examples']) {
  t.test(`accepts every ${dir} payload of a schema arpd has, as the spec does`, async (t) => {
    let checked = 0;
    for (const file of listFiles(join(SPEC_DIR, dir))) {
      const name = schemaForVector(file);
      const value = readJson(join(SPEC_DIR, dir, file));
      if (name === undefined) {
        t.ok(NOT_ARPDS.has(file.replace(/\.json$/, '.schema.json')), `${file} belongs to a schema arpd leaves out`);
        continue;
      }
      t.ok(oracleFor(file.replace(/\.json$/, '.schema.json'))(value), `the spec accepts ${file}`);
      t.ok(isValid(name, value), `arpd's ${name} accepts ${file}`);
      checked++;
    }
    t.ok(checked >= 20, `checked ${checked} payloads`);
  });
}

t.test('refuses every invalid conformance vector of a schema arpd has, as the spec does', async (t) => {
  const dir = join(SPEC_DIR, 'conformance/json_vectors_invalid');
  let checked = 0;
  for (const file of listFiles(dir)) {
    const name = schemaForVector(file);
    if (name === undefined) continue;
    const value = readJson(join(dir, file));
    t.notOk(oracleFor(file.replace(/\.json$/, '.schema.json'))(value), `the spec refuses ${file}`);
    t.notOk(isValid(name, value), `arpd's ${name} refuses ${file}`);
    checked++;
  }
  t.equal(checked, 4, 'run_event, run_request, run_result and run_status have invalid vectors');
});

t.test('serves as fastify route schemas for a body and a response', async (t) => {
  const app = Fastify();
  app.post('/v1/runs', { schema: { body: SCHEMAS.RunRequest, response: { 200: SCHEMAS.RunStatus } } }, async (req) => {
    const body = req.body as { run_id?: string };
    return { run_id: body.run_id ?? 'run_1', state: 'queued' };
  });
  t.teardown(() => app.close());
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = (body: unknown) =>
    fetch(`${url}/v1/runs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const ok = await post({ run_id: 'run_9', input: { goal: 'hi' } });
  t.equal(ok.status, 200);
  t.same(await ok.json(), { run_id: 'run_9', state: 'queued' });

  const bad = await post({ input: {} });
  t.equal(bad.status, 400);
});
