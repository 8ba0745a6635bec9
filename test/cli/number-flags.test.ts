/**
 * Number flags given an empty or blank value (`--retain-runs ''`, `' '`, a tab): `Number()` and cac's parser read such
 * text as 0, so `arpd daemon start --retain-runs ' '` dropped every ended run from memory at once. Each is a usage error
 * (E_VALIDATION, exit 2) naming the flag: every number flag of the daemon (`serve`, `daemon start`, JARVIS's server
 * mode) and of the commands, through the real CLI binary, and every daemon flag that takes a number as a unit.
 */
import t from 'tap';
import { DAEMON_FLAGS, daemonOptionsOf } from '../../src/cli/serve-options.js';
import { ArpdError } from '../../src/errors/index.js';
import { daemonHarness } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);
const BLANKS = ['', ' ', '\t'];
const base = { dataDir: '/tmp/arpd-unit', socketPath: '/tmp/arpd-unit/arpd.sock', foreground: true };

function refusal(fn: () => unknown): ArpdError | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
  return undefined;
}

t.test('every daemon flag that takes a number refuses an empty or blank value as a usage error naming the flag', async (t) => {
  // the number flags are the value flags that refuse a word as "takes a number"; there are many, so none is left out
  const numeric = DAEMON_FLAGS.filter((f) => f.kind === 'value' && /takes a (whole )?number/.test(refusal(() => daemonOptionsOf({ [f.key]: 'x' }, base, {}))?.message ?? ''));
  t.ok(numeric.length >= 20, `found ${numeric.length} number flags`);
  for (const f of numeric) {
    const name = f.flag.split(' ')[0] as string;
    // JARVIS's --port is --http-port's other spelling, and its range is named as the flag it checks
    const named = name === '--port' ? '--http-port' : name;
    for (const blank of BLANKS) {
      const e = refusal(() => daemonOptionsOf({ [f.key]: blank }, base, {}));
      t.equal(e?.code, 'E_VALIDATION', `${name} ${JSON.stringify(blank)}: refused`);
      t.equal(e?.exitCode, 2, 'a usage error');
      t.match(e?.message, named, 'naming the flag');
    }
  }
});

t.test('the CLI refuses an empty or blank number for the daemon and for every command, naming the flag, and starts nothing', async (t) => {
  const lines: Array<[string, string[]]> = [
    ['--retain-runs', ['daemon', 'start', '--no-http', '--retain-runs']],
    ['--retain-runs', ['serve', '--no-http', '--retain-runs']],
    ['--scale-down-grace', ['serve', '--no-http', '--scale-down-grace']],
    ['--queue-timeout', ['daemon', 'restart', '--no-http', '--queue-timeout']],
    ['--http-port', ['serve', '--http-port']],
    ['--retain-days', ['--retain-days']], // JARVIS's server mode: a daemon flag and no command
    ['--timeout', ['--no-autostart', 'daemon', 'status', '--timeout']],
    ['--page-size', ['--no-autostart', 'runs', 'list', '--page-size']],
    ['--limit', ['--no-autostart', 'runs', 'list', '--limit']],
    ['--page-size', ['--no-autostart', 'runs', '--page-size']],
    ['--timeout-ms', ['--no-autostart', 'runs', 'submit', '--goal', 'echo:x', '--timeout-ms']],
    ['--count', ['--no-autostart', 'instances', 'start', '--count']],
    ['--count', ['--no-autostart', 'start', '--count']],
    ['(-n|--lines)', ['daemon', 'logs', '-n']],
    ['--budget-bytes', ['--no-autostart', 'log', 'compact', '--budget-bytes']],
    ['--from', ['events', '--from']],
    ['--port', ['runtime', 'serve', '--port']],
    ['--step-delay-ms', ['runtime', 'serve', '--step-delay-ms']],
  ];
  for (const [flag, argv] of lines) {
    for (const blank of ['', ' ']) {
      const dir = h.newDataDir();
      // with the defect a daemon or runtime starts and keeps running: the time limit ends it, and the test fails
      const r = await h.cli(dir, [...argv, blank], { timeoutMs: 20_000 });
      const shown = `arpd ${[...argv, JSON.stringify(blank)].join(' ')}`;
      t.equal(r.code, 2, `${shown}: exit 2`);
      t.match(r.stderr, new RegExp(`${flag} `), `${shown}: names ${flag}`);
      t.notOk(r.timedOut, `${shown}: started nothing`);
    }
  }
});
