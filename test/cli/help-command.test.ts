/**
 * `arpd help …` as in git, docker, npm and pm2, and what a command's `--help` says. No daemon: help never needs one.
 */
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);
const dir = h.newDataDir();
const cli = (args: string[]) => h.cli(dir, ['--no-autostart', ...args]);

t.test('arpd help prints what arpd --help prints and exits 0', async (t) => {
  const help = await cli(['help']);
  const flag = await cli(['--help']);
  t.equal(help.code, 0, help.stderr);
  t.equal(help.stdout, flag.stdout);
  t.match(help.stdout, /arpd help <command>/, 'the usage line names it');
});

t.test('arpd help <command…> and arpd <group> help <command> print that command\'s --help', async (t) => {
  const want = await cli(['runs', 'submit', '--help']);
  t.equal(want.code, 0, want.stderr);
  for (const args of [['help', 'runs', 'submit'], ['runs', 'help', 'submit']]) {
    const r = await cli(args);
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    t.equal(r.stdout, want.stdout, args.join(' '));
  }
  const group = await cli(['daemon', 'help']);
  t.equal(group.code, 0, group.stderr);
  t.equal(group.stdout, (await cli(['daemon', '--help'])).stdout, 'arpd daemon help is arpd daemon --help');
  const top = await cli(['help', 'status']);
  t.equal(top.stdout, (await cli(['status', '--help'])).stdout, 'a top-level command too');
});

t.test('arpd help of an unknown command is the usage error of that command', async (t) => {
  const r = await cli(['help', 'bogus']);
  t.equal(r.code, 2);
  t.match(r.stderr, /unknown command 'bogus'.*\[E_VALIDATION\]/);
});

t.test('help stays a value where a value is expected: an id or a goal named help', async (t) => {
  const r = await cli(['runs', 'status', 'help']);
  t.equal(r.code, 3, 'asks the daemon for the run called help (there is none running here)');
  t.match(r.stderr, /E_DAEMON_NOT_RUNNING/);
});

t.test('a command\'s --help says what the command does, under its usage line', async (t) => {
  for (const [args, what] of [
    [['runs', 'result', '--help'], 'Print the result of an ended run (exit 1 unless it succeeded)'],
    [['daemon', 'status', '--help'], 'Show the daemon state (exit 0 running, 3 not running)'],
    [['status', '--help'], 'Print a run status as JSON (JARVIS)'],
  ] as const) {
    const r = await cli([...args]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, new RegExp(`Usage:\\n {2}\\$ .*\\n\\n {2}${what.replace(/[()]/g, '\\$&')}\\n`), args.join(' '));
  }
});

t.test('arpd --version prints arpd/<version>, and with --json a {"version"} object', async (t) => {
  const { VERSION } = await import('../../src/version.js');
  const plain = await cli(['--version']);
  t.equal(plain.code, 0, plain.stderr);
  t.equal(plain.stdout, `arpd/${VERSION}\n`);
  for (const args of [['--version', '--json'], ['--json', '-v']]) {
    const json = await cli(args);
    t.equal(json.code, 0, json.stderr);
    t.same(JSON.parse(json.stdout), { version: VERSION }, args.join(' '));
  }
});
