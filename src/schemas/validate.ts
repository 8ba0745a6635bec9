/**
 * Compiled validators for every schema in `SCHEMAS` (ajv, strict, `uri` and `date-time` formats).
 * A refusal is an `ArpdError('E_VALIDATION')` whose message names the offending field as a dotted path
 * (`input.goal`, `instances[0].state`, `extensions["com.example.x"]`; '' is the payload itself)
 * and says what to send instead.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import formatsModule, { type FormatsPlugin } from 'ajv-formats';
import { ArpdError } from '../errors/index.js';
import { SCHEMAS, isSchemaName, type SchemaName, type SchemaTypes } from './registry.js';
import { isCommonRunEvent } from './run-event-quick-check.js';

// ajv-formats is CommonJS: under NodeNext its default import is the module object, whose `default` is the plugin.
const addFormats: FormatsPlugin =
  (formatsModule as unknown as { default?: FormatsPlugin }).default ?? (formatsModule as unknown as FormatsPlugin);

const ajv = new Ajv({ strict: true, allErrors: false, verbose: true });
addFormats(ajv, ['uri', 'date-time']);

const compiled = new Map<SchemaName, ValidateFunction>();

/**
 * Quick checks for the payloads validated on a hot path, tried before ajv: `true` only for values ajv accepts too;
 * `false` asks ajv, so every refusal and its message is ajv's (test/schemas/run-event-quick-check.test.ts).
 */
const QUICK: Partial<Record<SchemaName, (value: unknown) => boolean>> = { RunEvent: isCommonRunEvent };

/** The compiled ajv validator for a schema name (compiled once, on first use). */
export function getValidator(name: SchemaName): ValidateFunction {
  let fn = compiled.get(name);
  if (fn === undefined) {
    if (!isSchemaName(name)) throw new ArpdError('E_INTERNAL', `no schema is named '${String(name)}'`);
    fn = ajv.compile(SCHEMAS[name]);
    compiled.set(name, fn);
  }
  return fn;
}

export function isValid(name: SchemaName, value: unknown): boolean {
  return QUICK[name]?.(value) === true || getValidator(name)(value) === true;
}

/** The E_VALIDATION error that `validate` would throw, or undefined when the value is valid. */
export function validationProblem(name: SchemaName, value: unknown): ArpdError | undefined {
  if (QUICK[name]?.(value) === true) return undefined;
  const fn = getValidator(name);
  if (fn(value) === true) return undefined;
  const first = fn.errors?.[0];
  if (first === undefined) {
    return new ArpdError('E_VALIDATION', `the payload is not a valid ${name}`, { schema: name, field: '', rule: 'schema' });
  }
  return describe(name, value, first);
}

/**
 * Returns the value, typed, when it is valid for the schema; throws `ArpdError('E_VALIDATION')` otherwise.
 * `validate('RunRequest', body)` infers `RunRequest`; `validate<RunRequest>('RunRequest', body)` also works.
 */
export function validate<N extends SchemaName>(name: N, value: unknown): SchemaTypes[N];
export function validate<T>(name: SchemaName, value: unknown): T;
export function validate(name: SchemaName, value: unknown): unknown {
  const problem = validationProblem(name, value);
  if (problem !== undefined) throw problem;
  return value;
}

// ---- messages ---------------------------------------------------------------------------------

type SchemaLike = {
  type?: string;
  /** Said after a refusal as what to give instead (where a message names it). */
  description?: string;
  enum?: readonly unknown[];
  format?: string;
  properties?: Record<string, SchemaLike>;
  patternProperties?: Record<string, unknown>;
};

/** The E_VALIDATION error for one ajv error: names the field as a dotted path and says what to send. */
export function describe(name: string, root: unknown, err: ErrorObject): ArpdError {
  const at = pathOf(root, err.instancePath);
  const parent = (err.parentSchema ?? {}) as SchemaLike;
  const base = { schema: name, rule: err.keyword };
  const params = err.params as Record<string, unknown>;

  switch (err.keyword) {
    case 'required': {
      const missing = String(params['missingProperty']);
      const field = join(at, missing);
      const want = parent.properties?.[missing];
      const hint = want === undefined ? '' : ` (${expected(want)})`;
      return fail(`missing required field '${field}': add it${hint}`, { ...base, field });
    }
    case 'additionalProperties': {
      const extra = String(params['additionalProperty']);
      const field = join(at, extra);
      if (parent.patternProperties !== undefined) {
        return fail(
          `unknown field '${field}': remove it, or name it as a namespaced extension key '<org>.<key>' (for example 'com.example.note')`,
          { ...base, field, allowed: Object.keys(parent.patternProperties) },
        );
      }
      const allowed = Object.keys(parent.properties ?? {});
      const list = allowed.length === 0 ? 'no fields are allowed here' : `allowed: ${allowed.join(', ')}`;
      return fail(`unknown field '${field}': remove it (${list})`, { ...base, field, allowed });
    }
    case 'type': {
      const want = String(params['type']);
      const subject = at === '' ? 'the payload' : `field '${at}'`;
      return fail(`${subject} must be ${article(want)}, not ${shown(err.data)}`, { ...base, field: at, expected: want });
    }
    case 'enum': {
      const values = (params['allowedValues'] as unknown[] | undefined) ?? [];
      const list = values.map((v) => JSON.stringify(v).replace(/^"|"$/g, "'")).join(', ');
      return fail(`field '${at}' must be one of ${list}; not ${shown(err.data)}`, { ...base, field: at, allowed: values });
    }
    case 'format': {
      const format = String(params['format']);
      return fail(`field '${at}' must be ${formatHint(format)}, not ${shown(err.data)}`, { ...base, field: at, format });
    }
    case 'minimum':
    case 'maximum': {
      const limit = params['limit'];
      const bound = err.keyword === 'minimum' ? 'at least' : 'at most';
      return fail(`field '${at}' must be ${bound} ${String(limit)}, not ${shown(err.data)}`, { ...base, field: at, limit });
    }
    case 'minLength': {
      const limit = Number(params['limit']);
      const rule = limit === 1 ? 'must not be empty' : `must be at least ${limit} characters long`;
      return fail(`field '${at}' ${rule}${parent.description === undefined ? '' : `: give ${parent.description}`}`, { ...base, field: at, limit });
    }
    case 'pattern': {
      const pattern = String(params['pattern']);
      const want = parent.description === undefined ? `it must match /${pattern}/` : `give ${parent.description}`;
      return fail(`field '${at}' cannot be ${shown(err.data)}: ${want}`, { ...base, field: at, pattern });
    }
    case 'minItems': {
      const limit = Number(params['limit']);
      return fail(`field '${at}' must have at least ${limit} item${limit === 1 ? '' : 's'}`, { ...base, field: at, limit });
    }
    default:
      return fail(`field '${at}' is not valid: it ${err.message ?? 'breaks the schema'}`, { ...base, field: at });
  }
}

function fail(message: string, data: Record<string, unknown>): ArpdError {
  return new ArpdError('E_VALIDATION', message, data);
}

/** A JSON pointer (`/instances/0/state`) as a dotted path (`instances[0].state`), walking the value to tell arrays. */
function pathOf(root: unknown, pointer: string): string {
  if (pointer === '') return '';
  let out = '';
  let node: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(node) && /^\d+$/.test(key)) {
      out += `[${key}]`;
      node = node[Number(key)];
    } else {
      out = join(out, key);
      node = node !== null && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
    }
  }
  return out;
}

function join(path: string, key: string): string {
  if (path === '') return key; // a top-level field is named as it is
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

function article(type: string): string {
  switch (type) {
    case 'object':
      return 'a JSON object';
    case 'array':
      return 'an array';
    case 'integer':
      return 'an integer';
    default:
      return `a ${type}`;
  }
}

function expected(schema: SchemaLike): string {
  if (schema.enum !== undefined) return `one of ${schema.enum.map((v) => String(v)).join(', ')}`;
  if (schema.format !== undefined) return formatHint(schema.format);
  return schema.type === undefined ? 'any JSON value' : article(schema.type);
}

function formatHint(format: string): string {
  switch (format) {
    case 'uri':
      return 'an absolute URI such as http://127.0.0.1:7777';
    case 'date-time':
      return 'an ISO-8601 date-time such as 2025-01-01T00:00:00Z';
    default:
      return `a '${format}'`;
  }
}

/** A short, safe rendering of the offending value for a message. */
function shown(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    const cut = value.length > 40 ? `${value.slice(0, 40)}…` : value;
    return JSON.stringify(cut).replace(/^"|"$/g, "'");
  }
  return String(value);
}
