/**
 * The history `npm run bench boot-history` boots (bench/lib/history.ts) is one a real daemon accepts as its own:
 * written through the real LogStore, it passes `arpd log verify`, boots into exactly the ended runs it holds, and
 * answers a run's status and trace from it. A benchmark of a history the daemon reads differently would measure
 * nothing. A few hundred runs: this is the smoke of the generator, the sizes are the bench's.
 */
import t from 'tap';
import { traceData } from '../../bench/lib/event-mix.js';
import { writeHistory } from '../../bench/lib/history.js';
import { daemonHarness, parseNdjson } from '../helpers/daemon-harness.js';

const RUNS = 300;
const h = daemonHarness(t);
const dir = h.newDataDir();
const history = await writeHistory(dir, RUNS);

async function json(args: string[]): Promise<Record<string, unknown>> {
  const r = await h.cli(dir, [...args, '--json']);
  if (r.code !== 0) throw new Error(`arpd ${args.join(' ')} exited ${String(r.code)}: ${r.stdout}\n${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

t.test('a written history passes log verify', async (t) => {
  const r = await h.cli(dir, ['log', 'verify']);
  t.equal(r.code, 0, `log verify: ${r.stdout}${r.stderr}`);
  t.ok(history.events > RUNS * 6, `${history.events} events for ${RUNS} runs`);
});

t.test('a daemon boots it into every run ended, one in ten failed', async (t) => {
  await h.startDaemon(dir, ['--no-autostart-instances', '--no-http']);
  const status = await json(['daemon', 'status']);
  const runs = (status['counts'] as { runs: Record<string, number> }).runs;
  t.equal(runs['succeeded'], RUNS - RUNS / 10, 'succeeded');
  t.equal(runs['failed'], RUNS / 10, 'failed');
  t.equal(runs['queued'] ?? 0, 0, 'none waiting');
  t.equal(runs['running'] ?? 0, 0, 'none running');
});

t.test("a run's status and trace are answered from the history", async (t) => {
  // run 7 fails (i % 10 === 7) with 4 trace events (1 + 7 % 4)
  const st = await json(['runs', 'status', 'run-0000007']);
  t.equal(st['state'], 'failed');
  const r = await h.cli(dir, ['runs', 'trace', 'run-0000007', '--json']);
  t.equal(r.code, 0, r.stderr);
  const types = parseNdjson<{ type: string }>(r.stdout).map((e) => e.type);
  const traces = [0, 1, 2, 3].map((s) => traceData('run-0000007', s).type);
  t.same(types, ['accepted', 'queued', 'routed', 'started', ...traces, 'failed']);
});
