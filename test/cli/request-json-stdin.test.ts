/**
 * `--request-json -` reads the request from stdin, as every `--help` that has the option says (`- for stdin`):
 * `cat run.json | arpd run --request-json -`, JARVIS's commands and arpd's own.
 */
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';

// the daemon harness, not the runtime harness: a managed runtime goes with its daemon when `daemon stop` ends the test
const r = daemonHarness(t);
const dir = r.newDataDir();

t.before(async () => {
  await r.startDaemon(dir, ['--no-autostart-instances']);
  const started = await r.cli(dir, ['instances', 'start', '--profile', 'default', '--wait']);
  if (started.code !== 0) throw new Error(started.stderr);
});
t.teardown(() => r.cli(dir, ['daemon', 'stop']));

t.test('run --request-json - and runs submit --request-json - submit the run read from stdin', async (t) => {
  for (const [args, goal, answer] of [
    [['run', '--request-json', '-', '--wait'], 'What is (19*23)?', '437'],
    [['runs', 'submit', '--request-json', '-', '--wait'], 'What is 6*7?', '42'],
  ] as const) {
    const res = await r.cli(dir, [...args], { input: JSON.stringify({ input: { goal } }) });
    t.equal(res.code, 0, `${args.join(' ')}: ${res.stderr}`);
    t.match(res.stdout, answer, `${args.join(' ')} ran the goal from stdin`);
  }
});

t.test('runtime-profiles upsert NAME --request-json - saves the profile read from stdin', async (t) => {
  const profile = { runtime_name: 'from-stdin', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true', '{port}'] } } };
  const res = await r.cli(dir, ['runtime-profiles', 'upsert', 'piped', '--request-json', '-'], { input: JSON.stringify(profile) });
  t.equal(res.code, 0, res.stderr);
  const got = await r.cli(dir, ['profiles', 'get', 'piped']);
  t.equal((JSON.parse(got.stdout) as Record<string, unknown>)['runtime_name'], 'from-stdin');
});

t.test('a lone - stays a value for any option that takes one (a goal of "-")', async (t) => {
  const res = await r.cli(dir, ['runs', 'submit', '--goal', '-', '--wait']);
  t.equal(res.code, 0, res.stderr);
  t.equal(res.stdout.trim(), '-', 'the reference runtime echoes the goal');
});
