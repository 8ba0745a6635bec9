import { EXIT, toArpdError } from '../errors/index.js';

/** Results go to stdout, diagnostics to stderr. Colour only on a TTY and never with NO_COLOR. */
export function useColour(stream: NodeJS.WriteStream = process.stderr): boolean {
  return stream.isTTY === true && (process.env['NO_COLOR'] === undefined || process.env['NO_COLOR'] === '') && process.env['TERM'] !== 'dumb';
}

function paint(code: string, text: string, stream: NodeJS.WriteStream): string {
  return useColour(stream) ? `\u001b[${code}m${text}\u001b[0m` : text;
}

export const style = {
  bold: (t: string, s: NodeJS.WriteStream = process.stdout) => paint('1', t, s),
  dim: (t: string, s: NodeJS.WriteStream = process.stdout) => paint('2', t, s),
  red: (t: string, s: NodeJS.WriteStream = process.stderr) => paint('31', t, s),
  green: (t: string, s: NodeJS.WriteStream = process.stdout) => paint('32', t, s),
  yellow: (t: string, s: NodeJS.WriteStream = process.stderr) => paint('33', t, s),
};

let stdoutUsed = false;

/** Everything a command prints as its result goes through here (so an error knows whether a result began). */
export function writeStdout(data: string | Uint8Array): void {
  stdoutUsed = true;
  process.stdout.write(data);
}

/**
 * Resolves once everything written to stdout has left the process (or stdout failed: a reader that went away). A
 * command calls it before `process.exit`: on a pipe stdout is asynchronous, and an exit with writes still queued cuts
 * the output short at about the pipe's size (`arpd runs trace <id> --json | jq` got the first 64 KiB, exit 0).
 */
export function flushStdout(): Promise<void> {
  if (process.stdout.writableLength === 0 || process.stdout.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    process.stdout.once('error', () => resolve());
    process.stdout.write('', () => resolve());
  });
}

export function out(line: string): void {
  writeStdout(`${line}\n`);
}

export function info(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function printJson(value: unknown): void {
  writeStdout(`${JSON.stringify(value, null, 2)}\n`);
}

/** A table of rows (already strings) with a header, columns padded. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  out(style.bold(fmt(header)));
  for (const r of rows) out(fmt(r));
}

/**
 * Prints an error the way every command does, as exactly one line on stderr,
 * `arpd: error: <message> [CODE]`, and returns the exit code its code maps to. A message that
 * spans lines is folded onto one. The stack of an unexpected error is printed only with ARPD_DEBUG.
 * With `json` (--json), stdout also gets the error as `{"error": {code, message, data}}` when the
 * command printed no result there, so stdout holds one JSON document: the result or the error.
 */
export function reportError(err: unknown, json = false): number {
  const e = toArpdError(err);
  if (json && !stdoutUsed) printJson({ error: e.toWire() });
  const message = e.message.split(/\s*\n\s*/).filter((l) => l !== '').join('; ');
  process.stderr.write(`${style.red('arpd: error:')} ${message} ${style.dim(`[${e.code}]`, process.stderr)}\n`);
  const debug = process.env['ARPD_DEBUG'];
  if (debug !== undefined && debug !== '' && debug !== '0') {
    const cause = e.code === 'E_INTERNAL' && e.cause !== undefined ? e.cause : e;
    process.stderr.write(`${String((cause as Error).stack ?? cause)}\n`);
  }
  return e.exitCode;
}

/** JSON the way JARVIS's CLI prints it (`json.dumps(..., indent=2, sort_keys=True)`): keys sorted at every level. */
export function printSortedJson(value: unknown): void {
  const sort = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sort);
    if (v !== null && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sort((v as Record<string, unknown>)[k])]));
    }
    return v;
  };
  printJson(sort(value));
}

export { EXIT };
