/**
 * The ARP v1 `TraceEvent` schema from the shared spec, compiled as a test oracle. The schema's `$ref`s
 * are relative file names, so each referenced file is added under the id its relative path resolves to.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import formatsModule, { type FormatsPlugin } from 'ajv-formats';

const here = dirname(fileURLToPath(import.meta.url));
const SCHEMAS = resolve(here, '../../../shared/arp-spec-v1/schemas');
const BASE = 'https://arp-spec.invalid/v1/schemas/';

const addFormats: FormatsPlugin =
  (formatsModule as unknown as { default?: FormatsPlugin }).default ?? (formatsModule as unknown as FormatsPlugin);

function load(file: string): object {
  return JSON.parse(readFileSync(join(SCHEMAS, file), 'utf8')) as object;
}

let validator: ValidateFunction | undefined;

/** The oracle validator for one trace line (an ARP TraceEvent). */
export function traceEventValidator(): ValidateFunction {
  if (validator === undefined) {
    const ajv = new Ajv({ strict: true, allErrors: true });
    addFormats(ajv);
    ajv.addSchema(load('common/extensions.schema.json'), `${BASE}common/extensions.schema.json`);
    ajv.addSchema(load('trace/trace_level.schema.json'), `${BASE}trace/trace_level.schema.json`);
    validator = ajv.compile({ ...load('trace/trace_event.schema.json'), $id: `${BASE}trace/trace_event.schema.json` });
  }
  return validator;
}
