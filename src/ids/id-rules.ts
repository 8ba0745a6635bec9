import { ArpdError } from '../errors/index.js';

/** Ids that may become path segments: letters, digits, '.', '_', '-', 1..128, starting with a letter or digit. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export type IdKind = 'run id' | 'instance id' | 'profile name' | 'subscription id' | 'node id';

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value) && value !== '.' && value !== '..';
}

/** Throws E_VALIDATION with a message that says the rule, or returns the id unchanged. */
export function checkId(kind: IdKind, value: unknown, field?: string): string {
  if (isValidId(value)) return value;
  const shown = typeof value === 'string' ? `'${value.length > 64 ? `${value.slice(0, 64)}…` : value}'` : String(value);
  throw new ArpdError(
    'E_VALIDATION',
    `${kind} ${shown} is not allowed: use letters, digits, '-', '_' or '.', starting with a letter or digit (max 128)`,
    { field: field ?? kind.replace(' ', '_'), rule: ID_PATTERN.source },
  );
}
