/**
 * Every flag `--help` shows works under the name it shows. The table is read from the help output
 * itself: `arpd --help` lists the commands and the groups, `arpd <group> --help` the subcommands, and
 * each command's `--help` its options; so a new command or flag is covered without touching this file.
 * Each command then runs with its flags (each with a value that fits its placeholder), against a data
 * dir with no daemon and `--no-autostart`: a flag is accepted when the command does not stop with an
 * unknown-option or missing-value usage error (it goes on to fail with exit 3, or to do its work).
 * Commands run with all their own flags at once, then with all the global ones: the check reads every
 * option before anything else, so the first one it refuses is named.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, type CliResult } from '../helpers/daemon-harness.js';
import { mapLimit } from '../helpers/map-limit.js';

const h = daemonHarness(t);
const dir = h.newDataDir();
const files = mkdtempSync(join(tmpdir(), 'arpd-help-'));
t.teardown(() => rmSync(files, { recursive: true, force: true }));
const jsonFile = join(files, 'request.json');
writeFileSync(jsonFile, '{}');
/** A data dir that can never exist (its parent is a device, before and after the teardown), so a daemon started on it fails at once. */
const blocked = '/dev/null/arpd-data';

interface Flag { spellings: string[]; placeholder: string | undefined }
interface Cmd { words: string[]; args: string[]; flags: Flag[]; globals: Flag[]; help: string }

/** The rows of one section of cac's help (`Commands:`, `Options:`): [left column, description]. */
function section(help: string, title: string): Array<[string, string]> {
  const at = help.indexOf(`\n${title}:\n`);
  if (at === -1) return [];
  const rows: Array<[string, string]> = [];
  for (const line of help.slice(at + title.length + 3).split('\n')) {
    if (!line.startsWith('  ')) break;
    const m = /^ {2}(.*?)(?: {2,}(.*))?$/.exec(line);
    if (m !== null) rows.push([(m[1] ?? '').trim(), (m[2] ?? '').trim()]);
  }
  return rows;
}

function flagOf(left: string): Flag {
  const placeholder = /<([^>]+)>|\[([^\]]+)\]/.exec(left);
  return { spellings: left.replace(/[<[].*$/, '').split(',').map((s) => s.trim()).filter((s) => s !== ''), placeholder: placeholder?.[1] ?? placeholder?.[2] };
}

/** A value that fits the placeholder (wrong values are refused later and more plainly than unknown options). */
function valueFor(f: Flag): string {
  const p = f.placeholder ?? '';
  if (f.spellings.includes('--data-dir')) return dir;
  if (f.spellings.includes('--socket')) return join(dir, 'arpd.sock');
  if (/^(n|ms|seconds|seq|seqOrTime)$/.test(p)) return '1';
  if (p === 'port') return '0';
  if (p === 'url') return 'http://127.0.0.1:9';
  if (p === 'file') return jsonFile;
  if (p === 'dir') return files;
  if (p === 'host') return '127.0.0.1';
  if (p === 'KEY=VALUE') return 'A=1';
  if (p === 'state') return 'queued';
  if (p === 'mode') return 'token';
  return 'x1';
}

function argsOf(f: Flag): string[] {
  const name = f.spellings.find((s) => s.startsWith('--')) ?? f.spellings[0] ?? '';
  return f.placeholder === undefined ? [name] : [name, valueFor(f)];
}

async function help(words: string[]): Promise<string> {
  const r = await h.cli(dir, [...words, '--help'], { withDataDir: false });
  if (r.code !== 0 || !r.stdout.includes('Usage:')) throw new Error(`arpd ${words.join(' ')} --help exited ${String(r.code)}: ${r.stderr}`);
  return r.stdout;
}

async function commands(): Promise<Cmd[]> {
  const add = async (words: string[], usage: string): Promise<Cmd> => {
    const text = await help(words);
    const flags = section(text, 'Options').map(([left]) => flagOf(left)).filter((f) => !f.spellings.includes('--help'));
    const args = [...usage.matchAll(/<([^>]+)>/g)].map(() => 'x1');
    return { words, args, flags: flags.filter((f) => !GLOBAL_NAMES.has(f.spellings.at(-1) ?? '')), globals: flags.filter((f) => GLOBAL_NAMES.has(f.spellings.at(-1) ?? '')), help: text };
  };
  const top = await help([]);
  for (const [f] of section(top, 'Options')) GLOBAL_NAMES.add(flagOf(f).spellings.at(-1) ?? '');
  GLOBAL_NAMES.delete('--help');
  // every help is its own CLI process: four at a time, the table kept in the help's order
  const groups = await mapLimit(section(top, 'Commands'), 4, async ([left]): Promise<Array<[string[], string]>> => {
    const [name = '', ...rest] = left.split(' ');
    if (rest.join(' ') !== '<command>') return [[[name], rest.join(' ')]];
    return section(await help([name]), 'Commands').map(([sub]): [string[], string] => {
      const [subName = '', ...subRest] = sub.split(' ');
      return [subName === '' ? [name] : [name, subName], subRest.join(' ')];
    });
  });
  return mapLimit(groups.flat(), 4, ([words, usage]) => add(words, usage));
}

const GLOBAL_NAMES = new Set<string>();

/** Commands that would start a daemon: they get a data dir where none can start. */
const STARTS_A_DAEMON = /^(serve|daemon start|daemon restart)$/;

function refused(r: CliResult): string | undefined {
  const m = /(unknown option '[^']+'|option \S+ needs a value|option \S+ takes no value|Unknown option \S+)/.exec(r.stderr);
  return r.code === 2 && m !== null ? m[1] : undefined;
}

async function runWith(c: Cmd, flags: string[]): Promise<CliResult> {
  const startsDaemon = STARTS_A_DAEMON.test(c.words.join(' '));
  const given = startsDaemon ? flags.map((a) => (a === dir ? blocked : a)) : flags;
  const dataDir = given.includes('--data-dir') ? [] : ['--data-dir', startsDaemon ? blocked : dir];
  const auto = given.includes('--no-autostart') ? [] : ['--no-autostart'];
  return h.cli(dir, [...c.words, ...c.args, ...given, ...dataDir, ...auto], { withDataDir: false, timeoutMs: 8000 });
}

const table = await commands();

// everything awaited at the top level is awaited before the first subtest is defined: tap ends the file's root test
// once its queue of subtests is empty, so a subtest defined after a later await would never run
const isRemote = (f: Flag): boolean => ['--daemon-url', '--token'].includes(f.spellings.at(-1) ?? '');
// each command run three ways (its own options, the local globals, --daemon-url/--token): independent CLI
// processes, four at a time; each command's subtest then checks its three results
const runs = await mapLimit(table, 4, async (c) => ({
  own: c.flags.length > 0 ? await runWith(c, c.flags.flatMap(argsOf)) : undefined,
  local: await runWith(c, c.globals.filter((f) => !isRemote(f)).flatMap(argsOf)),
  remote: await runWith(c, c.globals.filter(isRemote).flatMap(argsOf)),
}));


t.test('the help output lists the commands and their options', async (t) => {
  const names = table.map((c) => c.words.join(' '));
  for (const expected of ['serve', 'runs', 'runs list', 'runs submit', 'instances register', 'daemon status', 'import-jarvis', 'ui', 'events', 'runtime-profiles']) {
    if (expected === 'runtime-profiles') continue; // an alias: `arpd runtime-profiles --help` is tested below
    t.ok(names.includes(expected), `${expected} is in the table`);
  }
  t.ok(table.length >= 35, `${table.length} commands`);
  t.same([...GLOBAL_NAMES].sort(), ['--daemon-url', '--data-dir', '--json', '--no-autostart', '--socket', '--timeout', '--token']);
  t.match(await help(['runtime-profiles']), /upsert <name>/, 'the JARVIS spelling of the profiles group has its help');
});

t.test('no help says "(default: true)" for a --no- switch', async (t) => {
  for (const c of table) {
    const text = c.help;
    for (const line of text.split('\n').filter((l) => /^\s+--no-/.test(l))) t.notMatch(line, /\(default: true\)/, `${c.words.join(' ')}: ${line.trim()}`);
  }
});

table.forEach((c, i) => {
  const name = `arpd ${c.words.join(' ')}`;
  const { own, local: r, remote: rr } = runs[i] as (typeof runs)[number];
  t.test(`${name}: accepts every option its help shows`, async (t) => {
    if (own !== undefined) {
      t.equal(refused(own), undefined, `its own options ${c.flags.map((f) => f.spellings.join('/')).join(' ')}: ${own.stderr}`);
      t.ok(own.timedOut || (own.stdout + own.stderr).trim() !== '', `it did something or said why not: exit ${String(own.code)}`);
    }
    const local = c.globals.filter((f) => !isRemote(f));
    t.equal(refused(r), undefined, `the global options ${local.map((f) => f.spellings.join('/')).join(' ')}: ${r.stderr}`);
    t.equal(refused(rr), undefined, `--daemon-url and --token: ${rr.stderr}`);
    t.ok(rr.timedOut || rr.code !== 2 || !/daemon-url|token/.test(rr.stderr), rr.stderr);
  });
});

t.test('refuses an option a command does not take, naming the ones it does (exit 2)', async (t) => {
  const r = await h.cli(dir, ['runs', 'list', '--goal', 'x', '--no-autostart']);
  t.equal(r.code, 2);
  t.match(r.stderr, /^arpd: error: unknown option '--goal' for 'arpd runs list': it takes --state, --page-size, --limit, --page-token, --profile, --instance, --prefix, --order, and the global options .* \[E_VALIDATION\]\n$/);
  const camel = await h.cli(dir, ['runs', 'list', '--pageSize', '2', '--no-autostart']);
  t.equal(camel.code, 2);
  t.match(camel.stderr, /did you mean --page-size\?/);
  const misspelt = await h.cli(dir, ['runs', '--page-sze', '2', '--no-autostart']);
  t.equal(misspelt.code, 2, 'a misspelt flag of bare `arpd runs` with a value: exit 2');
  t.match(misspelt.stderr, /^arpd: error: unknown option '--page-sze' for 'arpd runs': it takes --page-size, --page-token, --state, and the global options/, 'naming the flag and the real ones, not the value as a command');
  const noDefault = await h.cli(dir, ['instances', '--bogus', '2', '--no-autostart']);
  t.equal(noDefault.code, 2, 'a group without a command of its own: exit 2');
  t.match(noDefault.stderr, /^arpd: error: unknown option '--bogus' for 'arpd instances': put a command first, one of /, 'naming the flag, not its value as a command');
  const bare = await h.cli(dir, ['runs', '--page-size', '2', '--no-autostart']);
  t.equal(bare.code, 3, 'arpd runs --page-size 2 lists runs (here: no daemon, so exit 3)');
  t.match(bare.stderr, /no arpd daemon is running/);
});
