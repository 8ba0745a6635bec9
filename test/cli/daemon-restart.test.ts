/**
 * `arpd daemon restart` keeps the daemon's configuration, as `pg_ctl restart` does: with no daemon flags it starts the
 * new daemon with the flags the old one was started with; flags given to the restart replace them.
 */
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);
const dir = h.newDataDir();

const retainRuns = (s: Record<string, unknown> | undefined): unknown => (s?.['retention'] as { retain_runs?: unknown } | undefined)?.retain_runs;

t.test('daemon restart with no flags starts the daemon again with the flags it was started with', async (t) => {
  const { pid } = await h.startDaemon(dir, ['--retain-runs', '123']); // the harness adds --no-http
  const before = await h.status(dir);
  t.equal(retainRuns(before), 123);
  t.equal(before?.['http_url'], undefined, 'no HTTP API');
  const r = await h.cli(dir, ['daemon', 'restart', '--json']);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /restarting with the flags it was started with: .*--retain-runs/, 'says which flags it keeps');
  const after = await h.status(dir);
  t.not(after?.['pid'], pid, 'a new daemon');
  t.equal(retainRuns(after), 123, '--retain-runs is kept');
  t.equal(after?.['http_url'], undefined, '--no-http is kept: the restart does not open an HTTP API');
});

t.test('daemon restart with flags starts the daemon with those instead', async (t) => {
  const r = await h.cli(dir, ['daemon', 'restart', '--no-http', '--retain-runs', '77', '--json']);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /restarting with the flags/);
  t.equal(retainRuns(await h.status(dir)), 77);
  const again = await h.cli(dir, ['daemon', 'restart', '--json']);
  t.equal(again.code, 0, again.stderr);
  t.equal(retainRuns(await h.status(dir)), 77, 'and the next restart keeps those');
  t.equal((await h.cli(dir, ['daemon', 'stop'])).code, 0);
});

t.test('daemon start on a running daemon with other flags says they were not applied; with the same flags it says nothing', async (t) => {
  const dir2 = h.newDataDir();
  await h.startDaemon(dir2, ['--retain-runs', '123']); // the harness adds --no-http
  const other = await h.cli(dir2, ['daemon', 'start', '--no-http', '--retain-runs', '5']);
  t.equal(other.code, 0, other.stderr);
  t.match(other.stdout, /already running/);
  t.match(other.stderr, /started with other flags \(.*--retain-runs.*\); those given were not applied: .*arpd daemon restart/);
  t.equal(retainRuns(await h.status(dir2)), 123, 'the running daemon is unchanged');
  const same = await h.cli(dir2, ['daemon', 'start', '--retain-runs', '123', '--no-http']);
  t.equal(same.code, 0, same.stderr);
  t.notMatch(same.stderr, /not applied/, 'the same flags in another order: nothing to say');
  t.equal((await h.cli(dir2, ['daemon', 'stop'])).code, 0);
});
