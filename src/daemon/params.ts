import { ArpdError } from '../errors/index.js';

/**
 * Small, strict readers for RPC params: unknown fields and wrong types are refused with E_VALIDATION
 * naming the field, so a typo never silently does something else.
 */
export type Params = Record<string, unknown>;

export function paramsObject(params: unknown, allowed: readonly string[], method: string): Params {
  if (params === undefined || params === null) return {};
  if (typeof params !== 'object' || Array.isArray(params)) {
    throw new ArpdError('E_VALIDATION', `${method} takes its params as an object with named fields (${allowed.join(', ') || 'none'})`, { field: 'params' });
  }
  for (const key of Object.keys(params)) {
    if (!allowed.includes(key)) {
      throw new ArpdError('E_VALIDATION', `unknown field '${key}' for ${method}: remove it (allowed: ${allowed.join(', ') || 'none'})`, { field: key, allowed: [...allowed] });
    }
  }
  return params as Params;
}

export function optInt(p: Params, field: string, min: number, max: number): number | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new ArpdError('E_VALIDATION', `field '${field}' must be a whole number from ${min} to ${max}, not ${JSON.stringify(v)}`, { field, min, max });
  }
  return v;
}

export function optString(p: Params, field: string, maxLength = 4096): string | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > maxLength) {
    throw new ArpdError('E_VALIDATION', `field '${field}' must be a string of at most ${maxLength} characters`, { field });
  }
  return v;
}

export function reqString(p: Params, field: string, maxLength = 4096): string {
  const v = optString(p, field, maxLength);
  if (v === undefined) throw new ArpdError('E_VALIDATION', `missing required field '${field}': add it (a string)`, { field });
  return v;
}

export function optBool(p: Params, field: string): boolean | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ArpdError('E_VALIDATION', `field '${field}' must be true or false, not ${JSON.stringify(v)}`, { field });
  return v;
}

export function optStringArray(p: Params, field: string, maxItems = 64): string[] | undefined {
  const v = p[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > maxItems || !v.every((x) => typeof x === 'string')) {
    throw new ArpdError('E_VALIDATION', `field '${field}' must be a list of at most ${maxItems} strings`, { field });
  }
  return v as string[];
}
