/**
 * Every failure path of the CLI ends the same way: exactly one `arpd: error: <message> [CODE]` line on
 * stderr (no JSON log line, no second code, no stack) and the exit code the error table gives that code.
 * The table covers usage errors (no daemon needed), a data dir with no daemon, a daemon that refuses
 * to start, and a real daemon (socket and HTTP) that answers with errors.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import type { ErrorCode } from '../../src/errors/index.js';
import { daemonHarness, type CliResult } from '../helpers/daemon-harness.js';
import { oneErrorLine } from '../helpers/error-line.js';
import { mapLimit } from '../helpers/map-limit.js';
import { startHttpDaemon } from '../server/http-daemon.js';

const h = daemonHarness(t);
const files = mkdtempSync(join(tmpdir(), 'arpd-errors-'));
t.teardown(() => rmSync(files, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(files, name);
  writeFileSync(p, text);
  return p;
};

type Case = [what: string, args: string[], code: ErrorCode, message?: RegExp | undefined];

t.test('usage errors and a data dir with no daemon (--no-autostart)', async (t) => {
  const dir = h.newDataDir();
  const cases: Case[] = [
    ['unknown command', ['nope'], 'E_VALIDATION', /unknown command 'nope'/],
    ['unknown subcommand', ['runs', 'nope'], 'E_VALIDATION', /unknown command 'nope' for 'arpd runs': it has submit, list/],
    ['a mistyped command', ['damon', 'status'], 'E_VALIDATION', /unknown command 'damon' \(did you mean 'daemon'\?\)/],
    ['a mistyped subcommand', ['instances', 'lst'], 'E_VALIDATION', /unknown command 'lst' for 'arpd instances' \(did you mean 'list'\?\)/],
    ['a mistyped subcommand of a group with a default command', ['runs', 'lsit'], 'E_VALIDATION', /'lsit'.* \(did you mean 'list'\?\)/],
    ['no command', ['--json'], 'E_VALIDATION', /no command given/],
    ['a group without its command', ['daemon', '--timeout', '5'], 'E_VALIDATION', /'arpd daemon' needs a command: one of start, stop, status/],
    ['unknown flag', ['runs', 'list', '--bogus'], 'E_VALIDATION', /unknown option '--bogus' for 'arpd runs list': it takes --state/],
    ['a flag of another command', ['instances', 'list', '--goal', 'x'], 'E_VALIDATION', /unknown option '--goal' for 'arpd instances list': it takes --all/],
    ['a missing value', ['runs', 'list', '--state'], 'E_VALIDATION', /--state needs a value/],
    ['a missing argument', ['runs', 'status'], 'E_VALIDATION', /'arpd runs status' needs <id>/],
    ['an extra argument', ['runs', 'status', 'a', 'b'], 'E_VALIDATION', /takes no more arguments/],
    ['a bad page size', ['runs', 'list', '--page-size', '0'], 'E_VALIDATION', /--page-size takes a whole number from 1 to 1000/],
    ['a bad --timeout', ['runs', 'list', '--timeout', 'soon'], 'E_VALIDATION', /--timeout takes a number of seconds/],
    ['a bad -n', ['daemon', 'logs', '-n', '1.5'], 'E_VALIDATION', /-n takes a whole number/],
    ['-n that is no number', ['daemon', 'logs', '-n', 'many'], 'E_VALIDATION', /-n takes a number, not 'many'/],
    // named as typed: '--lines' was refused as '-n'
    ['--lines that is no number', ['daemon', 'logs', '--lines', ' '], 'E_VALIDATION', /^--lines takes a number, not ' '$/],
    ['--lines= that is no whole number', ['daemon', 'logs', '--lines=1.5'], 'E_VALIDATION', /^--lines takes a whole number of lines \(0 or more\), not '1\.5'$/],
    ['a bad --from', ['events', '--from', '0'], 'E_VALIDATION', /--from takes a seq number/],
    ['--from that is no number', ['events', '--from', 'x'], 'E_VALIDATION', /--from takes a number, not 'x'/],
    ['a page size that is no number', ['runs', 'list', '--page-size', 'abc'], 'E_VALIDATION', /--page-size takes a number, not 'abc'/],
    ['a --limit that is no number', ['runs', 'list', '--limit', '5x'], 'E_VALIDATION', /--limit takes a number, not '5x'/],
    ['a bad --until', ['log', 'replay', '--until', 'someday'], 'E_VALIDATION', /--until takes a seq number or an ISO-8601 time/],
    ['a bad --env', ['instances', 'start', '--profile', 'p', '--env', 'NOEQUALS'], 'E_VALIDATION', /--env takes KEY=VALUE/],
    ['a request file that is not there', ['runs', 'submit', '--request-json', join(files, 'none.json')], 'E_VALIDATION', /cannot read run request file/],
    ['a request file that is not JSON', ['runs', 'submit', '--request-json', file('bad.json', '{nope')], 'E_VALIDATION', /is not JSON/],
    ['a request file that is a list', ['runs', 'submit', '--request-json', file('list.json', '[]')], 'E_VALIDATION', /must hold a JSON object, not a list/],
    ['--goal with --request-json', ['runs', 'submit', '--goal', 'x', '--request-json', file('run.json', '{}')], 'E_VALIDATION', /--goal and --request-json cannot be used together/],
    ['--goal with --request-json (JARVIS run)', ['run', '--goal', 'x', '--request-json', file('run2.json', '{}')], 'E_VALIDATION', /cannot be used together in 'arpd run'/],
    ['--stdout with --stderr', ['instances', 'logs', 'x', '--stdout', '--stderr'], 'E_VALIDATION', /--stdout and --stderr cannot be used together/],
    ['--profile with --runtime-profile', ['instances', 'start', '--profile', 'a', '--runtime-profile', 'b'], 'E_VALIDATION', /--profile and --runtime-profile cannot be used together/],
    ['--limit with --page-size', ['runs', 'list', '--limit', '1', '--page-size', '2'], 'E_VALIDATION', /--limit and --page-size cannot be used together/],
    ['--daemon-url with --socket', ['--daemon-url', 'http://127.0.0.1:9', '--socket', '/tmp/x.sock', 'runs', 'list'], 'E_VALIDATION', /--daemon-url and --socket cannot be used together/],
    ['--no-http with --http-port', ['serve', '--no-http', '--http-port', '1'], 'E_VALIDATION', /--no-http and --http-port cannot be used together/],
    ['a URL that is not http', ['--daemon-url', 'ftp://x', 'runs', 'list'], 'E_VALIDATION', /must be an http:\/\/ or https:\/\/ URL/],
    ['purge without --force', ['daemon', 'purge'], 'E_VALIDATION', /nothing was deleted: run again with --force/],
    ['not running, auto-start off', ['runs', 'list'], 'E_DAEMON_NOT_RUNNING', /no arpd daemon is running for .* \(auto-start is off\): start it with 'arpd daemon start/],
    ['not running (JARVIS spelling)', ['status', 'run_x'], 'E_DAEMON_NOT_RUNNING'],
    ['not running (ui)', ['ui'], 'E_DAEMON_NOT_RUNNING'],
    ['no daemon at the URL', ['--daemon-url', 'http://127.0.0.1:9', 'runs', 'list'], 'E_DAEMON_NOT_RUNNING', /no arpd daemon answers at http:\/\/127\.0\.0\.1:9/],
    // a base64url token starts with '-' one time in 64: it is the value of --token, not an option
    ['a token that starts with -', ['--daemon-url', 'http://127.0.0.1:9', '--token', '-Xy_9z-Q', 'runs', 'list'], 'E_DAEMON_NOT_RUNNING', /no arpd daemon answers at http:\/\/127\.0\.0\.1:9/],
    ['-n with a negative number', ['daemon', 'logs', '-n', '-5'], 'E_VALIDATION', /-n takes a whole number of lines \(0 or more\), not '-5'/],
    ['a missing value before a known option', ['runs', 'list', '--state', '--json'], 'E_VALIDATION', /--state needs a value/],
    // a runtime argument that starts with '--' is given as --arg=--x: the error says so, with the words typed
    ['a runtime argument that starts with --', ['instances', 'start', '--profile', 'p', '--arg', '--verbose'], 'E_VALIDATION', /--arg needs a value, and '--verbose' after it is read as an option: .*use --arg=--verbose$/],
    ['a runtime argument that is a global option', ['start', '--arg', '--json'], 'E_VALIDATION', /--arg needs a value, and '--json' after it is read as an option: .*use --arg=--json$/],
    ['no instance logs', ['instances', 'logs', 'inst_nope'], 'E_NOT_FOUND', /no logs for instance 'inst_nope'/],
    ['no daemon log', ['daemon', 'logs'], 'E_NOT_FOUND', /no daemon log yet/],
    ['no JARVIS dir', ['import-jarvis', join(files, 'no-such-dir')], 'E_NOT_FOUND', /no JARVIS data dir at/],
  ];
  // independent CLI processes: run four at a time, then check each in the table's order
  const results = await mapLimit(cases, 4, ([, args]) => h.cli(dir, [...args, '--no-autostart']));
  cases.forEach(([what, , code, message], i) => {
    const m = oneErrorLine(t, results[i] as CliResult, code, what);
    if (message !== undefined) t.match(m, message, `${what}: the message`);
  });
});

t.test('daemon status is a query: exit 3 and "not running" on stdout, no error line', async (t) => {
  const dir = h.newDataDir();
  const r = await h.cli(dir, ['daemon', 'status']);
  t.equal(r.code, 3);
  t.match(r.stdout, /arpd is not running/);
  t.equal(r.stderr, '');
});

t.test('with --json the error is also on stdout as {"error": …}, and stderr keeps its one line', async (t) => {
  const dir = h.newDataDir();
  const r = await h.cli(dir, ['runs', 'list', '--json', '--no-autostart']);
  oneErrorLine(t, r, 'E_DAEMON_NOT_RUNNING', '--json');
  t.match(JSON.parse(r.stdout), { error: { code: 'E_DAEMON_NOT_RUNNING', data: { data_dir: dir } } });
});

t.test('a damaged log: log verify and a daemon that cannot start each give one line with one code', async (t) => {
  const dir = h.newDataDir();
  writeFileSync(join(dir, 'events.jsonl'), 'garbage\nmore garbage\n');
  const verify = await h.cli(dir, ['log', 'verify']);
  oneErrorLine(t, verify, 'E_LOG_CORRUPT', 'log verify');
  t.match(verify.stdout, /damaged/, 'the report is on stdout');
  const start = await h.cli(dir, ['daemon', 'start', '--no-http']);
  const m = oneErrorLine(t, start, 'E_LOG_CORRUPT', 'daemon start');
  t.match(m, /^the daemon could not start: the event log is damaged/);
  const auto = await h.cli(dir, ['runs', 'list']);
  oneErrorLine(t, auto, 'E_LOG_CORRUPT', 'a command that starts the daemon');
});

t.test('a real daemon: errors it answers over the socket and over HTTP', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances']);
  const dir = d.dataDir;
  const remote = ['--daemon-url', d.url, '--token', d.token];
  const okRun = await h.cli(dir, ['instances', 'start', '--profile', 'default', '--wait', '--no-autostart']);
  t.equal(okRun.code, 0, okRun.stderr);
  const badProfile = file('bad-profile.json', JSON.stringify({ extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/nonexistent/arpd-runtime', '--port', '{port}'] } } }));
  t.equal((await h.cli(dir, ['profiles', 'upsert', 'broken', '--request-json', badProfile, '--no-autostart'])).code, 0);
  const cases: Array<[...Case, string[]?]> = [
    ['not found', ['runs', 'status', 'run_nope'], 'E_NOT_FOUND', /no run 'run_nope'/],
    ['not found over HTTP', ['runs', 'status', 'run_nope'], 'E_NOT_FOUND', /no run 'run_nope'/, remote],
    ['not found (JARVIS spelling)', ['result', 'run_nope'], 'E_NOT_FOUND'],
    ['a profile in use', ['profiles', 'delete', 'default'], 'E_CONFLICT'],
    ['validation by the daemon', ['runs', 'submit', '--request-json', file('no-goal.json', '{"input":{}}')], 'E_VALIDATION'],
    ['validation by the daemon over HTTP', ['runs', 'submit', '--request-json', file('no-goal2.json', '{"input":{}}')], 'E_VALIDATION', undefined, remote],
    ['an unreachable register', ['instances', 'register', '--endpoint', 'http://127.0.0.1:9'], 'E_RUNTIME_LOST', /the runtime at http:\/\/127\.0\.0\.1:9 was registered as ext_\S+ but is error/],
    ['an unreachable register (JARVIS spelling)', ['register', '--runtime-api-endpoint', 'http://127.0.0.1:9'], 'E_RUNTIME_LOST'],
    // its command could not be started: no process, so no logs to point to, and the message says what to check
    ['a failed instances start --wait', ['instances', 'start', '--profile', 'broken', '--wait'], 'E_RUNTIME_LOST', /^instance inst_\S+ of profile broken is error, not ready: could not start '\/nonexistent\/arpd-runtime': ENOENT: check the profile's command$/],
    ['a failed JARVIS start', ['start', '--runtime-profile', 'broken'], 'E_RUNTIME_LOST'],
    ['a failed run, waited for', ['runs', 'submit', '--goal', 'fail:it broke', '--wait'], 'E_RUNTIME_ERROR', /run \S+ failed: it broke/],
    ['a wrong token', ['runs', 'list'], 'E_UNAUTHORIZED', undefined, ['--daemon-url', d.url, '--token', 'wrong']],
    ['shutdown over HTTP', ['daemon', 'exec', 'daemon.shutdown'], 'E_METHOD_NOT_FOUND', /no shutdown route/, remote],
    ['an unknown method', ['daemon', 'exec', 'no.such.method'], 'E_METHOD_NOT_FOUND'],
    ['params that are not JSON', ['daemon', 'exec', 'runs.list', '{nope'], 'E_VALIDATION', /params must be JSON/],
  ];
  const withSleeper: Array<[...Case, string[]?]> = [
    ['a conflict', ['runs', 'submit', '--goal', 'something else', '--run-id', 'sleeper'], 'E_CONFLICT'],
    ['a conflict over HTTP', ['runs', 'submit', '--goal', 'something else', '--run-id', 'sleeper'], 'E_CONFLICT', undefined, remote],
    ['a result not ready', ['runs', 'result', 'sleeper'], 'E_NOT_READY', /has not ended yet/],
  ];
  const check = async ([what, args, code, message, pre]: [...Case, string[]?]): Promise<void> => {
    const r = await h.cli(dir, [...(pre ?? []), ...args, '--no-autostart'], { withDataDir: pre === undefined });
    const m = oneErrorLine(t, r, code, what);
    if (message !== undefined) t.match(m, message, `${what}: the message`);
  };
  for (const c of cases) await check(c);
  // a run that stays running (after the failed run above, so that one had the instance to itself)
  const sleeper = await h.cli(dir, ['runs', 'submit', '--goal', 'sleep:600000 What is 1+1?', '--run-id', 'sleeper', '--no-autostart']);
  t.equal(sleeper.code, 0, sleeper.stderr);
  t.teardown(() => h.cli(dir, ['runs', 'cancel', 'sleeper', '--no-autostart']));
  for (const c of withSleeper) await check(c);
  const failed = await h.cli(dir, ['runs', 'list', '--state', 'failed', '--json', '--no-autostart']);
  const runId = (JSON.parse(failed.stdout) as { runs: Array<{ run_id: string }> }).runs[0]?.run_id ?? '';
  oneErrorLine(t, await h.cli(dir, ['runs', 'result', runId, '--no-autostart']), 'E_RUNTIME_ERROR', 'the result of a failed run');
  const jarvis = await h.cli(dir, ['result', runId, '--no-autostart']);
  t.equal(jarvis.code, 0, 'JARVIS\'s result prints a failed result and exits 0, as JARVIS does');
  t.equal((JSON.parse(jarvis.stdout) as { ok: boolean }).ok, false);
});

t.test('a mistyped command after a global switch is still named as a command, with a suggestion', async (t) => {
  const dir = h.newDataDir();
  // `--no-autostart` takes no value, so `lsit` is the command the user meant, not the switch's value
  const [a, b] = await Promise.all([h.cli(dir, ['--no-autostart', 'runs', 'lsit']), h.cli(dir, ['--no-autostart', 'instances', 'lst'])]);
  t.match(oneErrorLine(t, a as CliResult, 'E_VALIDATION', 'runs lsit'), /unknown command 'lsit' for 'arpd runs' \(did you mean 'list'\?\)/);
  t.match(oneErrorLine(t, b as CliResult, 'E_VALIDATION', 'instances lst'), /unknown command 'lst' for 'arpd instances' \(did you mean 'list'\?\)/);
});

// was a bug (QA): a daemon flag before the command word made its value the command ("unknown command 'debug'")
t.test('a daemon flag put before the command is named, with where it goes, not its value taken for the command', async (t) => {
  const dir = h.newDataDir();
  const cases: Array<[string[], RegExp]> = [
    [['--log-level', 'debug', 'daemon', 'start'], /^'--log-level' goes after the command: 'arpd daemon start --log-level debug'$/],
    [['--idle-timeout', '5', 'runs', 'list'], /^'--idle-timeout' is an option of 'arpd serve' and 'arpd daemon start\|restart', not of 'arpd runs list': e\.g\. 'arpd daemon start --idle-timeout 5'$/],
    [['--store', 'postgres://u:s3cretPW@db/arpd', 'serve'], /^'--store' goes after the command: 'arpd serve --store <url>'$/],
  ];
  for (const [args, message] of cases) {
    const r = await h.cli(dir, [...args, '--no-autostart']);
    const m = oneErrorLine(t, r, 'E_VALIDATION', args.join(' '));
    t.match(m, message, `${args.join(' ')}: the message`);
    t.notMatch(r.stderr, /s3cretPW/, 'no password repeated');
  }
});
