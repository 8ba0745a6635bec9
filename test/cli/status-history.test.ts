/**
 * `arpd daemon status` shows what keeps the history bounded, as `--json` does: the retention policy and where the
 * ended runs are, the snapshot policy and the last snapshot, and the log's disk budget when one is set.
 */
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);

async function status(dir: string): Promise<string> {
  const r = await h.cli(dir, ['daemon', 'status']);
  if (r.code !== 0) throw new Error(`arpd daemon status exited ${String(r.code)}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

t.test('daemon status names the retention and snapshot policies the daemon was started with, and the last snapshot once taken', async (t) => {
  const dir = h.newDataDir();
  await h.startDaemon(dir, ['--retain-runs', '25', '--retain-days', '3', '--snapshot-every', '5000', '--log-budget-bytes', '2097152']);
  const before = await status(dir);
  t.match(before, /^retention\s+ended runs leave memory past 25 runs or 3 days; 0 in memory, 0 archived on disk, 0 pruned$/m, 'the retention policy and where ended runs are');
  t.match(before, /^snapshots\s+every 5000 events or 600s; none taken yet, \d+ events since$/m, 'the snapshot policy, none taken yet');
  t.match(before, /^log budget\s+2097152 bytes /m, 'the disk budget');
  const snap = await h.cli(dir, ['log', 'snapshot', '--json']);
  t.equal(snap.code, 0, `arpd log snapshot: ${snap.stderr}`);
  const after = await status(dir);
  t.match(after, /^snapshots\s+every 5000 events or 600s; last at seq \d+ \(\d{4}-\d\d-\d\dT[^)]+\), 0 events since$/m, 'the last snapshot');
});

t.test('daemon status without a disk budget has no budget line, and shows the laptop defaults', async (t) => {
  const dir = h.newDataDir();
  await h.startDaemon(dir, []);
  const out = await status(dir);
  t.match(out, /^retention\s+ended runs leave memory past 10000 runs or 7 days;/m, 'the default retention');
  t.notMatch(out, /^log budget/m, 'no budget line');
});
