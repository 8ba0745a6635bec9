/**
 * Which live processes are arpd processes a test run started, for the harness's sweep of stray daemons: an arpd
 * command line however it was started (`node dist/bin/arpd.js`, `node --import tsx bin/arpd.ts`, `bin/arpd`, an npm
 * `.bin/arpd` shim, tsx's cli running `bin/arpd.ts`, the bench lib's `arpd.js serve`), and one of this run's: it names
 * one of the run's dirs (as an argument, `--data-dir=DIR`, or in `ARPD_HOME`), or its environment carries the run's
 * marker (`ARPD_TEST_HARNESS`, which the harness gives every process it spawns and a detached daemon inherits).
 * Another engineer's daemon, or a process that only mentions a dir (`rm -rf DIR`), is never matched.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

/** The variable that marks every process a harness spawned (and the daemons they started): the harness's id. */
export const HARNESS_MARK = 'ARPD_TEST_HARNESS';

/** Node options (and tsx's) whose value is the next argument. */
const OPTIONS_WITH_VALUE = new Set(['-r', '--require', '--import', '--loader', '--experimental-loader', '-C', '--conditions', '--title', '--env-file', '--input-type', '--tsconfig']);
const INTERPRETERS = /^(node|nodejs|node\d+(\.\d+)*|tsx)$/;
const ARPD_ENTRY = /^arpd(\.(js|mjs|cjs|ts|mts))?$/;

/** The first argument from `from` on that is neither an option nor an option's value, and its index. */
function firstOperand(argv: readonly string[], from: number): number {
  for (let i = from; i < argv.length; i++) {
    const a = argv[i] as string;
    if (!a.startsWith('-')) return i;
    if (OPTIONS_WITH_VALUE.has(a)) i++;
  }
  return -1;
}

/** tsx run through node (`node …/tsx/dist/cli.mjs bin/arpd.ts`): its script is the next operand. */
const isTsxCli = (path: string): boolean => basename(path) === 'tsx' || /[/\\]tsx[/\\].*cli\.m?js$/.test(path);

/** True when the command line runs arpd's CLI (any command: a daemon, a follower, the loser of a start race). */
export function isArpdCommand(argv: readonly string[]): boolean {
  const first = argv[0];
  if (first === undefined) return false;
  if (ARPD_ENTRY.test(basename(first))) return true; // an executable arpd (a shebang is shown as its interpreter, so rarely)
  if (!INTERPRETERS.test(basename(first)) && first !== process.execPath) return false;
  let script = firstOperand(argv, 1);
  if (script !== -1 && isTsxCli(argv[script] as string)) script = firstOperand(argv, script + 1);
  return script !== -1 && ARPD_ENTRY.test(basename(argv[script] as string));
}

const within = (path: string, dir: string): boolean => path === dir || path.startsWith(`${dir}/`);

/** True when an arpd command line belongs to the run of `dirs` and `mark` (see the file's comment). */
export function isRunProcess(argv: readonly string[], env: Readonly<Record<string, string>> | undefined, dirs: readonly string[], mark: string | undefined): boolean {
  if (!isArpdCommand(argv)) return false;
  if (mark !== undefined && env?.[HARNESS_MARK] === mark) return true;
  const paths = argv.map((a) => (a.startsWith('--') && a.includes('=') ? a.slice(a.indexOf('=') + 1) : a));
  const home = env?.['ARPD_HOME'];
  if (home !== undefined && home !== '') paths.push(home);
  return dirs.some((d) => paths.some((p) => within(p, d)));
}

export function cmdlineOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((s) => s !== '');
  } catch {
    return undefined;
  }
}

/** A process's environment (undefined when it cannot be read: gone, or another user's). */
export function environOf(pid: number): Record<string, string> | undefined {
  try {
    const env: Record<string, string> = {};
    for (const entry of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
      const eq = entry.indexOf('=');
      if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
    return env;
  } catch {
    return undefined;
  }
}

/** The pids (other than this process) whose command line and environment `isRunProcess` matches. */
export function runProcesses(dirs: readonly string[], mark: string | undefined): number[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    const argv = cmdlineOf(pid);
    if (argv !== undefined && isArpdCommand(argv) && isRunProcess(argv, environOf(pid), dirs, mark)) pids.push(pid);
  }
  return pids;
}
