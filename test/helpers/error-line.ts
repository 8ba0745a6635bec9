/**
 * The one-line rule of the CLI, as a check: a failing command prints exactly one `arpd: error: <message> [CODE]` line
 * on stderr, last (progress lines may come before it), no JSON log line and no second code, and exits with the exit
 * code the error table gives that code (docs/errors.md).
 */
import type { Test } from 'tap';
import { ERROR_CODES, type ErrorCode } from '../../src/errors/index.js';
import type { CliResult } from './daemon-harness.js';

/** Checks the line and the exit code; returns the message. */
export function oneErrorLine(t: Pick<Test, 'equal' | 'ok'>, r: CliResult, code: ErrorCode, what: string): string {
  const lines = r.stderr.split('\n').filter((l) => l !== '');
  t.equal(r.code, ERROR_CODES[code].exit, `${what}: exit ${ERROR_CODES[code].exit} (${code}); stderr: ${r.stderr}`);
  t.equal(lines.filter((l) => l.startsWith('arpd: error:')).length, 1, `${what}: one error line: ${r.stderr}`);
  t.equal(lines.filter((l) => /^\s*[{[]/.test(l)).length, 0, `${what}: no JSON (log) line on stderr: ${r.stderr}`);
  t.equal(r.stderr.match(/\[E_[A-Z_]+\]/g)?.length, 1, `${what}: one code in all of stderr: ${r.stderr}`);
  const m = /^arpd: error: (.+) \[(E_[A-Z_]+)\]$/.exec(lines.at(-1) ?? '');
  t.ok(m, `${what}: the last line is 'arpd: error: <message> [CODE]': ${lines.at(-1) ?? ''}`);
  t.equal(m?.[2], code, `${what}: the code`);
  return m?.[1] ?? '';
}
