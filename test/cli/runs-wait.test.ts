/**
 * `arpd runs wait <id>` (as `docker wait`, `kubectl wait`): waits for a run submitted earlier to end, then prints its
 * result as `runs submit --wait` does, and fails with the run's own error when it did not succeed.
 */
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);
const dir = h.newDataDir();

t.before(async () => {
  await h.startDaemon(dir, ['--no-autostart-instances']);
  const started = await h.cli(dir, ['instances', 'start', '--profile', 'default', '--wait']);
  if (started.code !== 0) throw new Error(started.stderr);
});
t.teardown(() => h.cli(dir, ['daemon', 'stop']));

t.test('runs wait prints the result of a run once it ends and exits 0 when it succeeded', async (t) => {
  const sub = await h.cli(dir, ['runs', 'submit', '--goal', 'sleep:1000 What is 6*7?']);
  t.equal(sub.code, 0, sub.stderr);
  const id = sub.stdout.trim();
  const r = await h.cli(dir, ['runs', 'wait', id]);
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '6*7 = 42\n');
  const json = await h.cli(dir, ['runs', 'wait', id, '--json']);
  t.equal(json.code, 0, json.stderr);
  t.match(JSON.parse(json.stdout), { status: { run_id: id, state: 'succeeded' }, result: { ok: true } }, 'with --json: its status and result');
});

t.test('runs wait fails with the run\'s error when it did not succeed, and with E_NOT_FOUND for no such run', async (t) => {
  const sub = await h.cli(dir, ['runs', 'submit', '--goal', 'fail:no luck']);
  const r = await h.cli(dir, ['runs', 'wait', sub.stdout.trim()]);
  t.equal(r.code, 1);
  t.match(r.stderr, /no luck/);
  const none = await h.cli(dir, ['runs', 'wait', 'run_nope']);
  t.equal(none.code, 4);
  t.match(none.stderr, /\[E_NOT_FOUND\]/);
});
