/**
 * The parameters of every operation, as JSON Schemas: the socket's JSON-RPC params and the HTTP API's
 * query strings are both checked against these (one rule, two transports; no hand-written checks).
 * RPC params are validated as they are; HTTP query strings are coerced to the schema's types first
 * ("5" → 5, "true" → true) and need none of the required fields (those come in the path or the body).
 * Unknown fields are refused, naming the field and what is allowed.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { ArpdError } from '../errors/index.js';
import { describe } from './validate.js';

const str = (max: number) => ({ type: 'string', maxLength: max }) as const;
const int = (min: number, max: number) => ({ type: 'integer', minimum: min, maximum: max }) as const;
const bool = { type: 'boolean' } as const;
const RUN_STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
const INSTANCE_STATES = ['starting', 'ready', 'busy', 'stopping', 'stopped', 'error'] as const;
/**
 * An event type filter entry: never empty ('' matched nothing on the socket and, dropped from a query, everything over
 * HTTP), and no comma or whitespace, which no event type holds: over HTTP the query's list is split on commas, so
 * 'a,b' was two types there and one (matching nothing) on the socket.
 */
const eventType = {
  type: 'string', minLength: 1, maxLength: 200, pattern: '^[^,\\s]*$',
  description: "one event type per entry, with no commas or spaces, such as 'run.succeeded', or a family ending in '.' such as 'run.'",
} as const;
const filters = { from_seq: int(1, Number.MAX_SAFE_INTEGER), types: { type: 'array', maxItems: 64, items: eventType }, stream: str(300) } as const;

function obj(properties: Record<string, unknown>, required: readonly string[] = []): Record<string, unknown> {
  return { type: 'object', additionalProperties: false, properties, required: [...required] };
}

/** Params of each operation (the socket method of the same name; HTTP routes use the query part). */
export const PARAM_SCHEMAS = {
  'daemon.status': obj({}),
  'daemon.shutdown': obj({ reason: str(500), keep_instances: bool }),
  'events.read': obj({ ...filters, limit: int(1, 10_000) }),
  'events.subscribe': obj(filters),
  'events.unsubscribe': obj({ subscription: str(100) }, ['subscription']),
  'profiles.list': obj({}),
  'profiles.get': obj({ runtime_profile: str(200) }, ['runtime_profile']),
  'profiles.upsert': obj({ runtime_profile: str(200), request: {} }, ['runtime_profile']),
  'profiles.delete': obj({ runtime_profile: str(200), force: bool }, ['runtime_profile']),
  'instances.list': obj({ all: bool, runtime_profile: str(200), state: { enum: [...INSTANCE_STATES] } }),
  'instances.get': obj({ instance_id: str(200) }, ['instance_id']),
  'instances.create': obj({ request: {}, wait: bool, timeout_ms: int(1, 3_600_000) }, ['request']),
  'instances.register': obj({ request: {} }, ['request']),
  'instances.delete': obj({ instance_id: str(200), wait: bool }, ['instance_id']),
  'runs.submit': obj({ request: {} }, ['request']),
  'runs.get': obj({ run_id: str(200) }, ['run_id']),
  'runs.result': obj({ run_id: str(200) }, ['run_id']),
  'runs.list': obj({
    page_size: int(1, 1000), page_token: str(200), state: { enum: [...RUN_STATES] },
    runtime_profile: str(200), instance_id: str(200), q: str(200), order: { enum: ['asc', 'desc'] },
  }),
  'runs.cancel': obj({ run_id: str(200) }, ['run_id']),
  'runs.trace': obj({ run_id: str(200), from_seq: int(1, Number.MAX_SAFE_INTEGER), limit: int(1, 100_000) }, ['run_id']),
  'runs.wait': obj({ run_id: str(200), timeout_ms: int(1, 86_400_000) }, ['run_id']),
  'runs.follow': obj({ run_id: str(200), from_seq: int(1, Number.MAX_SAFE_INTEGER) }, ['run_id']),
  'runs.prune': obj({ before: str(40), dry_run: bool }, ['before']),
  'log.snapshot': obj({}),
  'log.compact': obj({ budget_bytes: int(1024 * 1024, Number.MAX_SAFE_INTEGER) }),
  'log.replay': obj({ until: str(40), runs_limit: int(0, 100_000) }),
} as const;

export type ParamsName = keyof typeof PARAM_SCHEMAS;

const strict = new Ajv({ strict: true, allErrors: false, verbose: true });
const coercing = new Ajv({ strict: true, allErrors: false, verbose: true, coerceTypes: 'array' });
const compiled = new Map<string, ValidateFunction>();

function validator(name: ParamsName, coerce: boolean): ValidateFunction {
  const key = `${coerce ? 'q' : 'p'}:${name}`;
  let fn = compiled.get(key);
  if (fn === undefined) {
    const schema = structuredClone(PARAM_SCHEMAS[name]) as Record<string, unknown>;
    // a query string carries only the optional parts: ids are in the path and requests in the body
    if (coerce) schema['required'] = [];
    fn = (coerce ? coercing : strict).compile(schema);
    compiled.set(key, fn);
  }
  return fn;
}

/**
 * The params of operation `name`, checked (and, with `coerce`, converted from query strings in place).
 * Absent params are `{}`; anything else but an object is refused.
 */
export function checkParams<T extends Record<string, unknown> = Record<string, unknown>>(name: ParamsName, params: unknown, opts: { coerce?: boolean; where?: string } = {}): T {
  const value = params === undefined || params === null ? {} : params;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ArpdError('E_VALIDATION', `${name} takes its params as an object with named fields (${Object.keys((PARAM_SCHEMAS[name] as { properties: object }).properties).join(', ') || 'none'})`, { field: 'params' });
  }
  const fn = validator(name, opts.coerce === true);
  if (fn(value) === true) return value as T;
  const first = fn.errors?.[0];
  if (first === undefined) throw new ArpdError('E_VALIDATION', `the params of ${name} are not valid`, { field: '' });
  throw describe(opts.where ?? `${name} params`, value, first);
}
