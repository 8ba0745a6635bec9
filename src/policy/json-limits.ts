/**
 * Limits on the shape of JSON arpd accepts or records: nesting depth and size. The depth check runs
 * over JSON text before it is parsed (a 5,000-level document never reaches a recursive parser) or
 * over a parsed value with an explicit stack (never recursion).
 */

/** Default nesting limit of request bodies and RPC params. */
export const MAX_REQUEST_DEPTH = 64;

/**
 * True when the text holds at most `max` opening brackets (strings included): then it cannot nest deeper than `max`.
 * A bound, found with `indexOf` (a native scan, several times faster than reading each character in JS): a runtime
 * event has a handful of brackets, far under the limit.
 */
function fewBrackets(text: string, max: number): boolean {
  let n = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++n > max) return false;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++n > max) return false;
  return true;
}

/** True when the JSON text nests deeper than `max` (strings are skipped; the text need not be valid JSON). */
export function jsonTextTooDeep(text: string, max: number): boolean {
  if (fewBrackets(text, max)) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** Same check for bytes (request lines, bodies) without decoding them. */
export function jsonBytesTooDeep(buf: Uint8Array, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i] as number;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/** The nesting depth of a parsed value (0 for a scalar), counted with an explicit stack, stopping past `max`. */
export function jsonValueDepth(value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  let deepest = 0;
  const stack: Array<{ v: unknown; d: number }> = [{ v: value, d: 0 }];
  while (stack.length > 0) {
    const { v, d } = stack.pop() as { v: unknown; d: number };
    if (v === null || typeof v !== 'object') continue;
    const depth = d + 1;
    if (depth > deepest) deepest = depth;
    if (deepest > max) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push({ v: child, d: depth });
  }
  return deepest;
}
