/**
 * Following a run: `runs.follow` over the socket streams the same lines as `runs/<id>/trace.jsonl`
 * (what was written before it was asked, then live) and ends when the run ends; `arpd runs trace
 * --follow` and `arpd runs submit --follow` print them.
 */
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../src/client/rpc-client.js';
import { runtimeHarness, type Json, type TraceFileLine } from '../helpers/runtime-harness.js';

interface Followed { lines: TraceFileLine[]; end: Json }

async function follow(socket: string, runId: string, fromSeq?: number): Promise<Followed> {
  const client = await connect(socket, { timeoutMs: 0 });
  const lines: TraceFileLine[] = [];
  const stop = client.onNotification('runs.trace', (p) => {
    const { run_id, line } = p as { run_id: string; line: TraceFileLine };
    if (run_id === runId) lines.push(line);
  });
  try {
    const end = await client.call<Json>('runs.follow', { run_id: runId, ...(fromSeq === undefined ? {} : { from_seq: fromSeq }) }, { timeoutMs: 120_000 });
    return { lines, end };
  } finally {
    stop();
    await client.close();
  }
}

t.test('streams the trace file\'s lines over runs.follow, live, and ends with the run', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.startInstances(dir, 'default', 1);
  const socket = join(dir, 'arpd.sock');
  const s = await r.submit(dir, { input: { goal: 'sleep:1500 What is (19*23)?' } });
  const runId = String(s['run_id']);
  // several followers: from the start (before the run starts), in the middle, and one after it ended
  const early = follow(socket, runId);
  await r.waitRun(dir, runId, 'to be running', (st) => st['state'] === 'running');
  const middle = follow(socket, runId);
  const fromThree = follow(socket, runId, 3);
  const [a, b, c] = await Promise.all([early, middle, fromThree]);
  const file = r.traceFile(dir, runId);
  t.equal(a.end['state'], 'succeeded', 'follow resolves with the final status');
  t.equal(file.at(-1)?.type, 'succeeded');
  t.same(a.lines, file, 'a follower from before the start gets exactly the file\'s lines');
  t.same(b.lines, file, 'a follower that joined while it ran gets them all too, none twice');
  t.same(c.lines, file.slice(2), 'from_seq 3 starts at the third line');
  const late = await follow(socket, runId);
  t.same(late.lines, file, 'following an ended run replays it and ends');
  const beyond = await follow(socket, runId, file.length + 5);
  t.same(beyond.lines, [], 'following from past the end of an ended run sends nothing and ends');
  t.equal(beyond.end['state'], 'succeeded');
});

t.test('prints the trace with `runs trace --follow` and `runs submit --follow`', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.startInstances(dir, 'default', 1);
  const s = await r.submit(dir, { input: { goal: 'sleep:1000 What is 6*7?' } });
  const runId = String(s['run_id']);
  const traced = await r.cli(dir, ['runs', 'trace', runId, '--follow', '--json']);
  t.equal(traced.code, 0, traced.stderr);
  const printed = traced.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as TraceFileLine);
  t.same(printed, r.traceFile(dir, runId), '`runs trace --follow --json` prints every line of the file and returns at the end');

  const human = await r.cli(dir, ['runs', 'trace', runId, '--follow']);
  t.equal(human.code, 0);
  const rows = human.stdout.split('\n').filter((l) => l !== '');
  t.equal(rows.length, printed.length, 'one printed row per line');
  t.match(rows.at(-1), /^\s*\d+ \S+ info\s+succeeded/, 'the last row is the end');

  const submitted = await r.cli(dir, ['runs', 'submit', '--goal', 'What is (19*23)?', '--follow']);
  t.equal(submitted.code, 0, submitted.stderr);
  const out = submitted.stdout.split('\n').filter((l) => l !== '');
  t.match(out.at(-1), /437/, 'prints the answer last');
  t.match(out[0], /^\s*1 \S+ info\s+accepted/, 'after the trace from its first line');
  t.ok(out.some((l) => /tool_call/.test(l)), 'including the runtime\'s events');
});
