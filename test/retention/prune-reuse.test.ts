/**
 * A run id used again after its run was pruned (`arpd runs prune`), on a real daemon: the new run is a run of its own.
 * Its result and trace are its own, in the process that pruned the old one and after a restart, its run log is on
 * disk, and `log verify` finds nothing wrong.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, parseNdjson } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);

t.test('a run id used again after a prune answers the new run\'s result and trace, not the pruned one\'s', async (t) => {
  const dir = h.newDataDir();
  const ok = async (args: string[]): Promise<string> => {
    const r = await h.cli(dir, args);
    if (r.code !== 0) throw new Error(`arpd ${args.join(' ')} exited ${String(r.code)}: ${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  const goals = async (): Promise<string[]> => (parseNdjson(await ok(['runs', 'trace', 'again', '--json'])) as Array<{ type: string; data: { request?: { input?: { goal?: string } } } }>)
    .filter((l) => l.type === 'accepted').map((l) => l.data.request?.input?.goal ?? '');
  await h.startDaemon(dir);
  await ok(['runs', 'submit', '--goal', 'echo:first', '--run-id', 'again', '--wait', '--json']);
  const pruned = JSON.parse(await ok(['runs', 'prune', '--before', new Date(Date.now() + 1).toISOString(), '--json'])) as { runs: number };
  t.equal(pruned.runs, 1, 'the first run is pruned');
  // a new instance for the second (the reference runtime remembers the run ids it ran and would not run it again);
  // the daemon that pruned the first run (and still knew its run log) takes the second
  const instances = JSON.parse(await ok(['instances', 'list', '--json'])) as { instances: Array<{ instance_id: string }> };
  for (const i of instances.instances) await ok(['instances', 'delete', i.instance_id, '--json']);
  await ok(['runs', 'submit', '--goal', 'echo:second', '--run-id', 'again', '--wait', '--json']);
  const log = join(dir, 'runs', 'again', 'trace.jsonl');
  t.ok(existsSync(log), 'the new run has a run log');
  t.match(readFileSync(log, 'utf8'), /echo:second/, 'holding the new run');
  t.notMatch(readFileSync(log, 'utf8'), /echo:first/, 'and nothing of the pruned one');
  t.match(JSON.parse(await ok(['runs', 'result', 'again', '--json'])), { ok: true, output: { text: 'echo:second' } }, 'the result is the new run\'s');
  t.same(await goals(), ['echo:second'], 'the trace is the new run\'s alone');
  t.equal((await h.cli(dir, ['log', 'verify'])).code, 0, 'log verify finds nothing wrong');
  await ok(['daemon', 'stop']);
  await h.startDaemon(dir);
  t.match(JSON.parse(await ok(['runs', 'result', 'again', '--json'])), { ok: true, output: { text: 'echo:second' } }, 'and after a restart');
  t.same(await goals(), ['echo:second']);
});

t.test('a prune or replay date that names no real day, or has more after it, is refused rather than read as another day', async (t) => {
  const dir = h.newDataDir();
  await h.startDaemon(dir);
  const run = await h.cli(dir, ['runs', 'submit', '--goal', 'echo:kept', '--run-id', 'kept', '--wait', '--json']);
  t.equal(run.code, 0);
  // Date.parse reads these as 2026-03-02 and 2026-06-01
  for (const before of ['2026-02-30', '2026-01-01 junk', '2026-01-01T12:00:00']) {
    const r = await h.cli(dir, ['runs', 'prune', '--before', before, '--json']);
    t.equal(r.code, 2, `--before '${before}': a usage error`);
    t.match(r.stderr, /before takes an ISO-8601 date or a time with its zone .*\[E_VALIDATION\]/);
  }
  t.equal((await h.cli(dir, ['runs', 'status', 'kept'])).code, 0, 'nothing was pruned');
  const replay = await h.cli(dir, ['log', 'replay', '--until', '2026-01-01 junk']);
  t.equal(replay.code, 2, 'log replay --until refuses it too');
  t.match(replay.stderr, /--until takes a seq number or an ISO-8601 time/);
});
