import { ArpdError } from '../errors/index.js';

/**
 * The check every command line passes before its handler runs: each option must be one the command
 * declares (under the name `--help` shows, kebab-case), each value-taking option gets its value, and
 * options that cannot both apply are refused. It reads the tokens the way cac's parser (mri) does, and
 * keeps every value as the exact text typed (mri turns `--run-id 007` into the number 7).
 */

/** One declared option, from its cac spelling (`-n, --lines <n>`, `--no-autostart`). */
export interface FlagSpec {
  /** As typed: `--lines`, `-n`, `--no-autostart`. */
  readonly spellings: readonly string[];
  /** The name help shows first (the long one). */
  readonly display: string;
  readonly takesValue: boolean;
  /** The keys cac stores its value under (camelCase names and aliases). */
  readonly keys: readonly string[];
}

export function flagSpec(rawName: string, keys: readonly string[]): FlagSpec {
  const takesValue = rawName.includes('<') || rawName.includes('[');
  const spellings = rawName.split(',').map((part) => (part.trim().split(/[\s<[]/)[0] ?? '').trim()).filter((s) => s !== '');
  const display = spellings.find((s) => s.startsWith('--')) ?? spellings[0] ?? rawName;
  return { spellings, display, takesValue, keys };
}

export interface ScannedArgv {
  /** Each option given, by its display name, with the texts of its values (empty for a switch). */
  readonly given: ReadonlyMap<string, readonly string[]>;
  /** The values to hand the command, under cac's keys, as typed (several: a list). */
  readonly values: Readonly<Record<string, string | string[]>>;
  /** Each option given, by its display name, with the spelling typed last (`-n` or `--lines`), to name it as typed. */
  readonly spelled: ReadonlyMap<string, string>;
}

function usage(message: string, data: Record<string, unknown> = {}): ArpdError {
  return new ArpdError('E_VALIDATION', message, { usage: true, ...data });
}

const squash = (s: string): string => s.replace(/^-+/, '').replace(/[-_]/g, '').toLowerCase();

function unknownOption(token: string, command: string, own: readonly FlagSpec[], globals: readonly FlagSpec[]): ArpdError {
  const all = [...own, ...globals];
  const near = all.find((f) => f.spellings.some((s) => s.startsWith('--') && squash(s) === squash(token)));
  const ownList = own.filter((f) => f.display !== '--help').map((f) => f.display);
  const globalList = globals.filter((f) => f.display !== '--help' && f.display !== '--version').map((f) => f.display);
  const takes = ownList.length === 0 ? 'it takes no options of its own' : `it takes ${ownList.join(', ')}`;
  const hint = near === undefined ? '' : ` (did you mean ${near.display}?)`;
  return usage(`unknown option '${token}' for '${command}'${hint}: ${takes}, and the global options ${globalList.join(', ')}`, { option: token, command });
}

/**
 * Whether the word after an option that takes a value is that value: any word but a known option (`--json`, `-n`) or a
 * long option (`--x`, `--x=1`: given by mistake more often than meant). So `-` (stdin), `-5` and a token that begins
 * with `-` (a base64url token does, one time in 64) are values; `--token=--abc` gives one that starts with `--`.
 */
export function takesAsValue(next: string | undefined, known: ReadonlyMap<string, unknown> | ReadonlySet<string>): boolean {
  if (next === undefined) return false;
  if (!next.startsWith('-') || next === '-') return true;
  return !next.startsWith('--') && !known.has(next);
}

/**
 * The error for an option given without its value. When the word after it starts with `-` (so it was read as an option:
 * `--arg --verbose`, `--token --abc`, `--arg --json`), it names the one spelling that gives that word as the value:
 * `use --arg=--verbose`. (Taking an unknown `--x` as the value instead would make a mistyped option a value, and give
 * one command line another meaning when arpd gains an option `--x`; JARVIS's argparse refuses `--arg --x` too.)
 */
function missingValue(f: FlagSpec, next: string | undefined, command: string): ArpdError {
  if (next !== undefined && next.startsWith('-') && next !== '-' && next !== '--' && f.display.startsWith('--')) {
    return usage(`option ${f.display} needs a value, and '${next}' after it is read as an option: to give '${next}' as its value, use ${f.display}=${next}`, { option: f.display, command });
  }
  return usage(`option ${f.display} needs a value: ${f.display} <value> (a value that starts with '--': ${f.display}=<value>)`, { option: f.display, command });
}

/**
 * Reads the options of `tokens` (the arguments after the command words) against the command's own
 * options and the global ones. Throws E_VALIDATION (exit 2) for an option the command does not take,
 * naming the ones it does, and for a missing value.
 */
export function scanArgv(tokens: readonly string[], command: string, own: readonly FlagSpec[], globals: readonly FlagSpec[]): ScannedArgv {
  const bySpelling = new Map<string, FlagSpec>();
  for (const f of [...globals, ...own]) for (const s of f.spellings) bySpelling.set(s, f);
  const given = new Map<string, string[]>();
  const values: Record<string, string | string[]> = {};
  const spelled = new Map<string, string>();
  const record = (f: FlagSpec, name: string, value: string | undefined): void => {
    spelled.set(f.display, name);
    const list = given.get(f.display) ?? [];
    if (value !== undefined) list.push(value);
    given.set(f.display, list);
    if (value === undefined) return;
    for (const k of f.keys) values[k] = list.length === 1 ? (list[0] as string) : [...list];
  };
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    if (token === '--') break;
    if (!token.startsWith('-') || token === '-') continue;
    const long = token.startsWith('--');
    const eq = long ? token.indexOf('=') : -1;
    const names = long ? [eq === -1 ? token : token.slice(0, eq)] : [...token.slice(1)].map((c) => `-${c}`);
    for (let n = 0; n < names.length; n++) {
      const name = names[n] as string;
      const f = bySpelling.get(name);
      if (f === undefined) throw unknownOption(long ? name : token, command, own, globals);
      const last = n === names.length - 1;
      if (!f.takesValue) {
        if (eq !== -1) throw usage(`option ${f.display} takes no value: give it as ${f.display} alone, not '${token}'`, { option: f.display, command });
        record(f, name, undefined);
        continue;
      }
      if (!last) throw usage(`option ${name} needs a value, so it cannot be grouped in '${token}': give it on its own`, { option: f.display, command });
      let value: string | undefined;
      if (eq !== -1) value = token.slice(eq + 1);
      else if (takesAsValue(tokens[i + 1], bySpelling)) value = tokens[++i];
      if (value === undefined || value === '') throw missingValue(f, eq === -1 ? tokens[i + 1] : undefined, command);
      record(f, name, value);
    }
  }
  return { given, values, spelled };
}

/** Two options that cannot both apply, and why. */
export type Conflict = readonly [string, string, string];

/** Throws E_VALIDATION (exit 2) for the first pair of options given together that cannot both apply. */
export function checkConflicts(given: ReadonlyMap<string, unknown>, conflicts: readonly Conflict[], command: string): void {
  for (const [a, b, why] of conflicts) {
    if (given.has(a) && given.has(b)) throw usage(`${a} and ${b} cannot be used together in '${command}': ${why}`, { options: [a, b], command });
  }
}

/**
 * The number a number option's text gives, or NaN. `Number()` reads '' and blank text (' ', a tab) as 0, as cac's parser
 * (mri) does, so `--retain-runs ' '` would mean 0: here blank text is no number, and each caller refuses it naming its flag.
 */
export function numberOf(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}

/** A number option's value (undefined when not given); text that is no number is a usage error naming what was typed. */
export function numberOption(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = numberOf(text);
  if (!Number.isFinite(n)) throw new ArpdError('E_VALIDATION', `${flag} takes a number, not '${text}'`, { field: flag, usage: true });
  return n;
}

/** Edit distance (insert, delete, replace, swap of two neighbours), for suggesting a command. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const up = d[i - 1] as number[];
      row[j] = Math.min((up[j] as number) + 1, (row[j - 1] as number) + 1, (up[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** ` (did you mean 'X'?)` for the name nearest a mistyped command (at most 2 edits, and fewer than half its letters), or ''. */
export function didYouMean(word: string, names: readonly string[]): string {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const n of names) {
    const dist = editDistance(word.toLowerCase(), n.toLowerCase());
    if (dist < bestD) { best = n; bestD = dist; }
  }
  return best !== undefined && bestD <= 2 && bestD * 2 < word.length ? ` (did you mean '${best}'?)` : '';
}
