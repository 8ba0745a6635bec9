/**
 * The ARP v1 contract at ../shared/arp-spec-v1, loaded as the test oracle: every schema file added to one ajv
 * instance under an id derived from its path, so the files' relative `$ref`s resolve as written.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import formatsModule, { type FormatsPlugin } from 'ajv-formats';
import type { SchemaName } from '../../src/schemas/index.js';

const here = dirname(fileURLToPath(import.meta.url));
export const SPEC_DIR = resolve(here, '../../../shared/arp-spec-v1');
const SCHEMA_DIR = join(SPEC_DIR, 'schemas');
const BASE = 'https://arp-spec.invalid/v1/schemas/';

const addFormats: FormatsPlugin =
  (formatsModule as unknown as { default?: FormatsPlugin }).default ?? (formatsModule as unknown as FormatsPlugin);

/** Which oracle schema file (relative to schemas/) each arpd schema name was written from. */
export const ORACLE_FILE: Record<SchemaName, string> = {
  Extensions: 'common/extensions.schema.json',
  Metadata: 'common/metadata.schema.json',
  EndpointLocator: 'common/endpoint_locator.schema.json',
  ErrorCause: 'common/error_cause.schema.json',
  ErrorDetail: 'common/error_detail.schema.json',
  ErrorEnvelope: 'common/error.schema.json',
  Health: 'common/health.schema.json',
  VersionInfo: 'common/version_info.schema.json',
  Pagination: 'common/pagination.schema.json',
  ResourceRef: 'common/resource_ref.schema.json',
  RunRequest: 'runtime/runs/run_request.schema.json',
  RunStatus: 'runtime/runs/run_status.schema.json',
  RunResult: 'runtime/runs/run_result.schema.json',
  RunEvent: 'runtime/runs/run_event.schema.json',
  RunListResponse: 'daemon/runs/run_list_response.schema.json',
  TraceEvent: 'trace/trace_event.schema.json',
  TraceResponse: 'daemon/runs/trace_response.schema.json',
  RuntimeProfile: 'daemon/runtime_profiles/runtime_profile.schema.json',
  RuntimeProfileUpsertRequest: 'daemon/runtime_profiles/runtime_profile_upsert_request.schema.json',
  RuntimeProfileListResponse: 'daemon/runtime_profiles/runtime_profile_list_response.schema.json',
  RuntimeInstance: 'daemon/instances/runtime_instance.schema.json',
  InstanceCreateRequest: 'daemon/instances/instance_create_request.schema.json',
  InstanceCreateResponse: 'daemon/instances/instance_create_response.schema.json',
  InstanceRegisterRequest: 'daemon/instances/instance_register_request.schema.json',
  InstanceRegisterResponse: 'daemon/instances/instance_register_response.schema.json',
  InstanceListResponse: 'daemon/instances/instance_list_response.schema.json',
};

/** Files in the spec that alias one of ours (`daemon/runs/run_request` is a `$ref` to the runtime one). */
export const ORACLE_ALIASES: Record<string, SchemaName> = {
  'daemon/runs/run_request.schema.json': 'RunRequest',
  'daemon/runs/run_status.schema.json': 'RunStatus',
  'daemon/runs/run_result.schema.json': 'RunResult',
};

/** Every file under a directory, as paths relative to it with '/' separators, sorted. */
export function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(relative(dir, full).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

export function readJson(path: string): unknown {
  return JSON.parse(readFileSync(path, 'utf8')) as unknown;
}

const schemaFiles = listFiles(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'));
const raw = new Map<string, unknown>(schemaFiles.map((f) => [f, readJson(join(SCHEMA_DIR, f))]));

const ajv = new Ajv({ strict: false, allErrors: false });
addFormats(ajv);
for (const [file, schema] of raw) ajv.addSchema(structuredClone(schema) as object, BASE + file);

const cache = new Map<string, ValidateFunction>();

/** The oracle's validator for a schema file, relative to schemas/ (e.g. 'runtime/runs/run_request.schema.json'). */
export function oracleFor(file: string): ValidateFunction {
  let fn = cache.get(file);
  if (fn === undefined) {
    fn = ajv.getSchema(BASE + file);
    if (fn === undefined) throw new Error(`the spec has no schema file ${file}`);
    cache.set(file, fn);
  }
  return fn;
}

export function oracleValid(name: SchemaName, value: unknown): boolean {
  return oracleFor(ORACLE_FILE[name])(value) === true;
}

/** Schema files in the spec, relative to schemas/. */
export function oracleSchemaFiles(): string[] {
  return [...schemaFiles];
}

/**
 * The oracle schema for a file with every `$ref` replaced by the schema it points to (the spec's refs are all
 * whole-file and acyclic), for comparing meaning with arpd's inlined schemas.
 */
export function dereferenced(file: string): unknown {
  const inline = (node: unknown, from: string): unknown => {
    if (Array.isArray(node)) return node.map((n) => inline(n, from));
    if (node === null || typeof node !== 'object') return node;
    const obj = node as Record<string, unknown>;
    if (typeof obj['$ref'] === 'string') {
      const target = new URL(obj['$ref'], BASE + from).href.slice(BASE.length);
      const rest = Object.fromEntries(Object.entries(obj).filter(([k]) => k !== '$ref'));
      const resolved = inline(raw.get(target), target) as Record<string, unknown>;
      return { ...resolved, ...(inline(rest, from) as Record<string, unknown>) };
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, inline(v, from)]));
  };
  if (!raw.has(file)) throw new Error(`the spec has no schema file ${file}`);
  return inline(raw.get(file), file);
}
