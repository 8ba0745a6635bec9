/**
 * The option check every command line passes (src/cli/argv-check.ts), as a unit: kebab names as help
 * shows them, values kept as typed, unknown options named with the real ones, conflicting pairs refused.
 */
import fc from 'fast-check';
import t from 'tap';
import { checkConflicts, didYouMean, flagSpec, scanArgv, takesAsValue } from '../../src/cli/argv-check.js';
import { ArpdError } from '../../src/errors/index.js';

const own = [
  flagSpec('--page-size <n>', ['pageSize']),
  flagSpec('--run-id <id>', ['runId']),
  flagSpec('-f, --follow', ['f', 'follow']),
  flagSpec('-n, --lines <n>', ['n', 'lines']),
  flagSpec('--env <KEY=VALUE>', ['env']),
];
const globals = [flagSpec('--data-dir <dir>', ['dataDir']), flagSpec('--no-autostart', ['autostart']), flagSpec('--json', ['json']), flagSpec('-h, --help', ['h', 'help'])];

function refusal(fn: () => unknown): ArpdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
  throw new Error('it was accepted');
}

t.test('reads a declaration the way help shows it', async (t) => {
  t.same(flagSpec('-n, --lines <n>', ['n', 'lines']), { spellings: ['-n', '--lines'], display: '--lines', takesValue: true, keys: ['n', 'lines'] });
  t.same(flagSpec('--no-autostart', ['autostart']).spellings, ['--no-autostart']);
  t.equal(flagSpec('--wait', ['wait']).takesValue, false);
});

t.test('accepts every declared spelling and keeps each value as typed, not as a number', async (t) => {
  const r = scanArgv(['list', '--page-size', '007', '--run-id=1e3', '-f', '-n', '05', '--env', 'A=1', '--env', 'B=2', '--no-autostart', '--json', '--data-dir', '/d'], 'arpd runs list', own, globals);
  t.same(r.values, { pageSize: '007', runId: '1e3', n: '05', lines: '05', env: ['A=1', 'B=2'], dataDir: '/d' });
  t.same([...r.given.keys()].sort(), ['--data-dir', '--env', '--follow', '--json', '--lines', '--no-autostart', '--page-size', '--run-id']);
  t.equal(r.spelled.get('--lines'), '-n', 'an option is spelled as typed: -n');
  t.equal(scanArgv(['--lines', '5'], 'x', own, globals).spelled.get('--lines'), '--lines', '--lines');
  t.equal(scanArgv(['--lines=5'], 'x', own, globals).spelled.get('--lines'), '--lines', '--lines=');
  t.equal(scanArgv(['-fn', '5'], 'x', own, globals).spelled.get('--lines'), '-n', 'grouped short options');
});

t.test('keeps any value text exactly, whatever it looks like', async (t) => {
  fc.assert(fc.property(fc.string({ minLength: 1 }).filter((s) => !s.startsWith('-')), (v) => {
    const r = scanArgv(['--run-id', v], 'x', own, globals);
    const inline = scanArgv([`--run-id=${v}`], 'x', own, globals);
    return r.values['runId'] === v && inline.values['runId'] === v;
  }), { numRuns: 500 });
  t.pass('holds for 500 strings');
});

t.test('refuses an unknown option, naming the command, its real options and a near one', async (t) => {
  const e = refusal(() => scanArgv(['--pageSize', '2'], 'arpd runs list', own, globals));
  t.equal(e.code, 'E_VALIDATION');
  t.equal(e.exitCode, 2);
  t.match(e.message, /^unknown option '--pageSize' for 'arpd runs list' \(did you mean --page-size\?\): it takes --page-size, --run-id, --follow, --lines, --env, and the global options --data-dir, --no-autostart, --json$/);
  t.match(refusal(() => scanArgv(['-x'], 'c', own, globals)).message, /unknown option '-x'/);
  t.match(refusal(() => scanArgv(['-fx'], 'c', own, globals)).message, /unknown option '-fx'/, 'a short group with an unknown letter');
  t.match(refusal(() => scanArgv(['--autostart'], 'c', own, globals)).message, /unknown option '--autostart'/, 'only the spelling help shows');
});

t.test('refuses a missing value, a value on a switch, and a value-taking short option inside a group', async (t) => {
  t.match(refusal(() => scanArgv(['--page-size'], 'c', own, globals)).message, /--page-size needs a value/);
  t.match(refusal(() => scanArgv(['--page-size', '--json'], 'c', own, globals)).message, /--page-size needs a value/);
  t.match(refusal(() => scanArgv(['--json=yes'], 'c', own, globals)).message, /--json takes no value/);
  t.match(refusal(() => scanArgv(['-nf', '3'], 'c', own, globals)).message, /-n needs a value, so it cannot be grouped/);
  t.same(scanArgv(['-fn', '3'], 'c', own, globals).values, { n: '3', lines: '3' }, 'last in a group, it takes the next word');
});

t.test('ignores what follows -- and plain words', async (t) => {
  const r = scanArgv(['upsert', 'name', '--', '--not-an-option', '-x'], 'c', own, globals);
  t.same(r.values, {});
  t.equal(r.given.size, 0);
});

t.test('refuses a pair of options that cannot both apply, saying why', async (t) => {
  const given = scanArgv(['--page-size', '1', '--run-id', 'r'], 'c', own, globals).given;
  const e = refusal(() => checkConflicts(given, [['--follow', '--lines', 'x'], ['--page-size', '--run-id', 'they clash']], 'arpd c'));
  t.equal(e.exitCode, 2);
  t.equal(e.message, "--page-size and --run-id cannot be used together in 'arpd c': they clash");
  t.doesNotThrow(() => checkConflicts(given, [['--follow', '--lines', 'x']], 'arpd c'));
});

t.test('a mistyped command gets the nearest name within two edits, and a far one gets none', async (t) => {
  const names = ['daemon', 'runs', 'instances', 'profiles', 'events', 'log'];
  t.equal(didYouMean('damon', names), " (did you mean 'daemon'?)", 'a letter left out');
  t.equal(didYouMean('rnus', names), " (did you mean 'runs'?)", 'two letters swapped');
  t.equal(didYouMean('Instancse', names), " (did you mean 'instances'?)", 'case and a swap');
  t.equal(didYouMean('nope', names), '', 'nothing near');
  t.equal(didYouMean('x', names), '', 'one letter is too short to guess from');
});

t.test('the word after an option that takes a value is its value unless it is a known option or a long one', async (t) => {
  const known = new Set(['--json', '-n', '--state']);
  for (const v of ['x', '-', '-5', '-Xy_9z-Q', '-json']) t.ok(takesAsValue(v, known), `'${v}' is a value`);
  for (const v of [undefined, '--json', '-n', '--bogus', '--x=1']) t.notOk(takesAsValue(v, known), `'${String(v)}' is not`);
});

t.test('a value that was read as an option gets the one spelling that gives it as the value', async (t) => {
  const withArg = [...own, flagSpec('--arg <arg>', ['arg'])];
  t.match(refusal(() => scanArgv(['--arg', '--verbose'], 'c', withArg, globals)).message, /'--verbose' after it is read as an option: to give '--verbose' as its value, use --arg=--verbose$/, 'an unknown long option');
  t.match(refusal(() => scanArgv(['--arg', '--json'], 'c', withArg, globals)).message, /use --arg=--json$/, 'a global option');
  t.match(refusal(() => scanArgv(['-n', '-f'], 'c', withArg, globals)).message, /use --lines=-f$/, 'a known short option, with the long name (a short one takes no =)');
  t.match(refusal(() => scanArgv(['--arg'], 'c', withArg, globals)).message, /--arg needs a value: --arg <value>/, 'nothing after it: the general form');
  t.same(scanArgv(['--arg=--verbose', '--arg', '-v', '--json'], 'c', withArg, globals).values, { arg: ['--verbose', '-v'] }, 'and as it says, --arg=--verbose is the value');
});
