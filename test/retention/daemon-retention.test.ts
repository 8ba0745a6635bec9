/**
 * Snapshots, retention, compaction and pruning on a real daemon process with real runtimes: the answers about
 * runs (status, result, trace, the list) are the same whether the runs are in memory, archived on disk, or read
 * back after a restart from a snapshot; a snapshot that cannot be used is passed over with a warning and changes
 * no answer; compaction keeps `log verify`, `log replay` and `events` whole; pruned runs are gone from the answers
 * but not from the log. Shares one data dir, in order.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, parseNdjson } from '../helpers/daemon-harness.js';
import { mapLimit } from '../helpers/map-limit.js';

const h = daemonHarness(t);
const dir = h.newDataDir();

async function ok(args: string[], flags: string[] = []): Promise<string> {
  const r = await h.cli(dir, [...args, ...flags]);
  if (r.code !== 0) throw new Error(`arpd ${args.join(' ')} exited ${String(r.code)}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}
const json = async (args: string[]): Promise<Record<string, unknown>> => JSON.parse(await ok([...args, '--json'])) as Record<string, unknown>;

/** Everything a client can ask about the runs, with what changes per boot taken out. */
async function answers(ids: string[]): Promise<unknown> {
  // reads only: separate CLI processes, four at a time, gathered in a fixed order
  const asks: Array<[string, () => Promise<unknown>]> = [];
  for (const id of ids) {
    asks.push([`${id} status`, () => json(['runs', 'status', id])]);
    asks.push([`${id} result`, async () => {
      const result = await h.cli(dir, ['runs', 'result', id, '--json']); // exit 1 for a run that did not succeed
      return { code: result.code, body: JSON.parse(result.stdout) as unknown };
    }]);
    asks.push([`${id} trace`, async () => parseNdjson(await ok(['runs', 'trace', id, '--json']))]);
  }
  asks.push(['list', () => json(['runs', 'list', '--page-size', '1000'])]);
  asks.push(['page 1', () => json(['runs', 'list', '--page-size', '2'])]);
  asks.push(['counts', async () => ((await json(['daemon', 'status']))['counts'] as Record<string, unknown>)['runs']]);
  const got = await mapLimit(asks, 4, ([, ask]) => ask());
  return Object.fromEntries(asks.map(([key], i) => [key, got[i]]));
}

async function restart(flags: string[]): Promise<void> {
  await ok(['daemon', 'stop']);
  await h.startDaemon(dir, flags);
}

const daemonLog = (): string => readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8');

const ids: string[] = [];
await h.startDaemon(dir, ['--segment-bytes', '8192']);
for (let i = 0; i < 6; i++) {
  const id = `run-keep-${i}`;
  await ok(['runs', 'submit', '--goal', i === 3 ? 'fail:boom' : `echo:hello ${i}`, '--run-id', id, '--wait'], ['--json']).catch(() => undefined);
  ids.push(id);
}
const inMemory = await answers(ids);

t.test('runs that left memory answer exactly as before, and again after a restart from the snapshot', async (t) => {
  await restart(['--retain-runs', '0', '--segment-bytes', '8192']);
  const st = await json(['daemon', 'status']);
  t.match(st['retention'], { retain_runs: 0, ended_runs_in_memory: 0, runs_archived: 6 }, 'every ended run left memory');
  t.match(daemonLog(), /"from_snapshot":\d+/, 'the boot started from the snapshot taken at the stop');
  t.same(await answers(ids), inMemory, 'the same answers from disk');
  await restart(['--retain-runs', '0', '--segment-bytes', '8192']);
  t.same(await answers(ids), inMemory, 'the same answers after a restart from a snapshot holding the archive index');
});

t.test('a snapshot that is corrupt or from a newer arpd is passed over with a warning, and changes no answer', async (t) => {
  await ok(['daemon', 'stop']);
  const snaps = readdirSync(join(dir, 'snapshots')).filter((n) => n.endsWith('.json')).sort();
  const newest = join(dir, 'snapshots', snaps.at(-1) as string);
  const bytes = readFileSync(newest);
  const nl = bytes.indexOf(0x0a);
  const header = JSON.parse(bytes.subarray(0, nl).toString()) as Record<string, unknown>;
  writeFileSync(newest, Buffer.concat([Buffer.from(JSON.stringify({ ...header, version: 99 })), bytes.subarray(nl)]));
  await h.startDaemon(dir, ['--retain-runs', '0']);
  t.match(daemonLog(), /is not used: it was written by a newer arpd .*upgrade arpd/, 'the newer one is refused, saying what to do');
  t.same(await answers(ids), inMemory, 'same answers');
  await ok(['daemon', 'stop']);
  for (const name of readdirSync(join(dir, 'snapshots'))) {
    const p = join(dir, 'snapshots', name);
    const b = readFileSync(p);
    b[b.length - 20] = (b[b.length - 20] as number) ^ 0xff;
    writeFileSync(p, b);
  }
  await h.startDaemon(dir, ['--retain-runs', '0']);
  t.match(daemonLog(), /fails its checksum|is not JSON/, 'a corrupt one is refused');
  t.match(daemonLog(), /"from_snapshot":null/, 'and the whole log is replayed');
  t.same(await answers(ids), inMemory, 'same answers');
});

t.test('log snapshot and log compact: segments a snapshot holds are compressed, and every reader still reads them', async (t) => {
  const before = await ok(['log', 'replay', '--json']);
  const snap = await json(['log', 'snapshot']);
  t.ok(typeof snap['seq'] === 'number' && existsSync(snap['path'] as string), 'a snapshot was written');
  const c = await json(['log', 'compact']);
  t.ok((c['compressed'] as number) > 0, `${String(c['compressed'])} segments compressed`);
  t.ok(readdirSync(dir).some((n) => n.endsWith('.jsonl.gz')), 'there are .gz segments');
  t.equal(c['removed'], 0, 'nothing removed without a budget');
  t.equal((await h.cli(dir, ['log', 'verify'])).code, 0, 'log verify passes');
  t.same(await ok(['log', 'replay', '--json']), before, 'log replay gives the same state');
  const events = parseNdjson(await ok(['events', '--json'])) as Array<{ seq: number }>;
  t.same(events.map((e) => e.seq), Array.from({ length: events.length }, (_, i) => i + 1), 'events reads every seq once, in order');
  t.same(await answers(ids), inMemory, 'same answers');
  await restart(['--retain-runs', '0', '--segment-bytes', '8192']);
  t.same(await answers(ids), inMemory, 'same answers after a restart');
});

t.test('a disk budget removes only segments the oldest snapshot holds, and the log then starts at a horizon', async (t) => {
  await json(['log', 'snapshot']);
  await ok(['runs', 'submit', '--goal', 'echo:later', '--run-id', 'run-later', '--wait'], ['--json']);
  await json(['log', 'snapshot']);
  const c = await json(['log', 'compact', '--budget-bytes', String(1024 * 1024 + 1)]);
  t.match(c, { over_budget: false }, 'a budget above the size: nothing removed');
  const small = await h.cli(dir, ['log', 'compact', '--budget-bytes', '12', '--json']);
  t.equal(small.code, 2, 'a budget under 1 MiB is a usage error');
  t.match(small.stderr, /--budget-bytes takes a whole number of bytes, at least 1048576/, 'named as the flag given, not as the request field');
  t.equal((await h.cli(dir, ['log', 'verify'])).code, 0, 'log verify passes');
});

t.test('runs prune: run directories go as events, the runs are no longer answered, the log keeps their facts', async (t) => {
  const future = await h.cli(dir, ['runs', 'prune', '--before', '2999-01-01', '--json']);
  t.equal(future.code, 2, 'a date in the future is refused');
  const missing = await h.cli(dir, ['runs', 'prune']);
  t.equal(missing.code, 2, '--before is required');
  t.match(missing.stderr, /--before is required/);
  const dry = await json(['runs', 'prune', '--before', new Date().toISOString(), '--dry-run']);
  t.equal(dry['runs'], 7, 'a dry run counts them');
  t.ok(existsSync(join(dir, 'runs', 'run-keep-0')), 'and changes nothing');
  const done = await json(['runs', 'prune', '--before', new Date().toISOString()]);
  t.equal(done['runs'], 7);
  t.notOk(existsSync(join(dir, 'runs', 'run-keep-0')), 'the run directory is gone');
  const gone = await h.cli(dir, ['runs', 'status', 'run-keep-0', '--json']);
  t.not(gone.code, 0, 'a pruned run is not found');
  t.match(gone.stdout + gone.stderr, /E_NOT_FOUND|not found/i);
  const pruned = (await h.events(dir, ['runs.pruned'])).length;
  t.ok(pruned >= 1, 'the prune is an event');
  const replay = JSON.parse(await ok(['log', 'replay', '--json'])) as { pruned?: number };
  t.equal(replay.pruned, 7, 'log replay shows them pruned');
  t.equal((await h.cli(dir, ['log', 'verify'])).code, 0, 'log verify passes');
  await restart(['--retain-runs', '0']);
  t.not((await h.cli(dir, ['runs', 'status', 'run-keep-1'])).code, 0, 'still not found after a restart');
  t.match((await json(['daemon', 'status']))['retention'], { runs_pruned: 7 });
});

t.test('retention flags out of range are usage errors', async (t) => {
  for (const flags of [['--retain-runs', '-1'], ['--retain-days', 'x'], ['--snapshot-every', '0'], ['--log-budget-bytes', '10']]) {
    const r = await h.cli(h.newDataDir(), ['serve', '--no-http', ...flags]);
    t.equal(r.code, 2, `${flags.join(' ')}: exit 2`);
    t.match(r.stderr, new RegExp(flags[0] as string), 'names the flag');
  }
});
