/**
 * JSON text with the keys of every object sorted: two values that differ only in key order give the same text, so
 * the text can be hashed into an identity (a run request's hash, an install key) or compared. The same text as
 * `JSON.stringify` of the value with its keys sorted: a member whose value is `undefined`, a function or a symbol is
 * left out, and such an array element is `null`.
 *
 * Built by concatenation, not map/join: a request hash is made on every submit (about 2.5x faster measured).
 */
export function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let s = '[';
    for (let i = 0; i < value.length; i++) s += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${s}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (keys.length > 1) keys.sort();
  let s = '{';
  let first = true;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i] as string;
    const v = obj[k];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    s += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${s}}`;
}
