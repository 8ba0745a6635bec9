import { readFileSync, statSync } from 'node:fs';
import { ArpdError } from '../errors/index.js';

/** The largest request file read (the daemon's own request limit is far below it). */
const MAX_JSON_FILE_BYTES = 16 * 1024 * 1024;

/** Reads a JSON file (`-` for stdin) that must hold a JSON value; `flag` names where it came from. */
export function readJson(path: string, what: string, flag = '--request-json'): unknown {
  let text: string;
  try {
    if (path !== '-' && statSync(path).size > MAX_JSON_FILE_BYTES) {
      throw new ArpdError('E_TOO_LARGE', `${what} file '${path}' is over ${MAX_JSON_FILE_BYTES} bytes: that is not a request`, { field: flag, path });
    }
    text = path === '-' ? readFileSync(0, 'utf8') : readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof ArpdError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new ArpdError('E_VALIDATION', `cannot read ${what} file '${path}' (${code ?? (err as Error).message}): give the path of a JSON file`, { field: flag, path, usage: true });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ArpdError('E_VALIDATION', `${what} file '${path}' is not JSON: ${(err as Error).message}`, { field: flag, path, usage: true });
  }
}

/** Like readJson, for a file that must hold one JSON object. */
export function readJsonObject(path: string, what: string, flag = '--request-json'): Record<string, unknown> {
  const v = readJson(path, what, flag);
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new ArpdError('E_VALIDATION', `${what} file '${path}' must hold a JSON object, not ${Array.isArray(v) ? 'a list' : v === null ? 'null' : typeof v}`, { field: flag, path, usage: true });
  }
  return v as Record<string, unknown>;
}
