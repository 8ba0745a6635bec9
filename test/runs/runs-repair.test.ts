/**
 * `--repair` never runs finished work again and loses the least (issue 11, point 1): a flipped byte in the middle
 * of the log, then `arpd log verify` says exactly what a repair would do, and `arpd daemon start --repair` sets only
 * the damaged line aside, restores what the run logs hold, keeps every ended run ended with its trace untouched,
 * and fails the run that was in flight with E_LOG_REPAIRED instead of sending it to a runtime again. The runtime's
 * own trace files count how often each run was executed.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isRunning, runError, runtimeHarness, waitFor, type Json } from '../helpers/runtime-harness.js';

/** How many times the runtime started this run: each execution writes its own trace from seq 1. */
function executions(dir: string, runId: string): number {
  try {
    return readFileSync(join(dir, 'runtime-traces', runId, 'trace.jsonl'), 'utf8').split('\n').filter((l) => l !== '' && (JSON.parse(l) as { seq?: number }).seq === 1).length;
  } catch {
    return 0;
  }
}

t.test('repairs a damaged middle line without running any run twice, and says what it will do first', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  const first = await r.startDaemon(dir, ['--no-autostart-instances']);
  await r.startInstances(dir, 'default', 1);
  const done = String((await r.submit(dir, { input: { goal: 'What is (19*23)?' } }))['run_id']);
  t.equal((await r.waitRunEnded(dir, done))['state'], 'succeeded');
  const flying = String((await r.submit(dir, { input: { goal: 'sleep:60000 What is 1+1?' } }))['run_id']);
  await r.waitRun(dir, flying, 'to be running', (s) => s['state'] === 'running');
  await waitFor('the runtime to have started it', () => executions(dir, flying) === 1);
  const doneTrace = readFileSync(join(dir, 'runs', done, 'trace.jsonl'), 'utf8');
  process.kill(first.pid, 'SIGKILL');
  await waitFor('the daemon to die', () => !isRunning(first.pid));

  // flip one byte in the line of the finished run's `run.started` (its run log keeps a copy)
  const log = join(dir, 'events.jsonl');
  const buf = readFileSync(log);
  const lines = buf.toString('utf8').split('\n');
  const idx = lines.findIndex((l) => l.includes('"type":"run.started"') && l.includes(done));
  t.ok(idx > 0 && idx < lines.length - 3, 'the damaged line is in the middle of the log');
  const at = lines.slice(0, idx).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0) + 30;
  buf[at] = (buf[at] as number) ^ 0x04;
  writeFileSync(log, buf);

  const refused = await r.cli(dir, ['daemon', 'start', '--no-autostart-instances']);
  t.not(refused.code, 0, 'a damaged log refuses a plain start');
  t.match(refused.stderr, /log verify/, 'and says to look with arpd log verify');
  const verify = await r.cli(dir, ['log', 'verify', '--json']);
  t.equal(verify.code, 1, 'verify reports the damage');
  const plan = (JSON.parse(verify.stdout) as { repair_plan?: { restored: Json[]; lost: Json[]; runsToFail: Json[] } }).repair_plan;
  t.same(plan?.restored.map((x) => x['stream']), [`run:${done}`], 'verify says which event the run logs give back');
  t.same(plan?.lost, [], 'and that nothing is lost');
  t.same(plan?.runsToFail.map((x) => x['run_id']), [flying], 'and that the run in flight will fail rather than run again');
  const human = await r.cli(dir, ['log', 'verify']);
  t.match(human.stdout, /restore 1 event\(s\) from run logs/);
  t.match(human.stdout, new RegExp(`${flying}: it was routed to a runtime`));
  t.equal(readFileSync(log).compare(buf), 0, 'verify changed nothing');

  await r.startDaemon(dir, ['--repair', '--no-autostart-instances']);
  const doneNow = await r.getRun(dir, done);
  t.equal(doneNow['state'], 'succeeded', 'the finished run is still succeeded');
  t.match(JSON.stringify((await r.call<Json>(dir, 'runs.result', { run_id: done }))['output']), /437/, 'with its result');
  t.equal(readFileSync(join(dir, 'runs', done, 'trace.jsonl'), 'utf8'), doneTrace, 'its trace.jsonl is untouched');
  const flyingNow = await r.getRun(dir, flying);
  t.equal(flyingNow['state'], 'failed', 'the run in flight failed');
  t.equal(runError(flyingNow).code, 'E_LOG_REPAIRED', 'with E_LOG_REPAIRED');
  t.equal(executions(dir, done), 1, 'the finished run was executed once');
  t.equal(executions(dir, flying), 1, 'the run in flight was not sent again');
  const repaired = await r.events(dir, ['log.repaired']);
  t.match(repaired[0]?.data, { restored: 1, lost: 0, runs_failed: [flying] }, 'the repair is recorded in the log');
  t.ok(readdirSync(dir).some((n) => n.startsWith('events.jsonl.broken-')), 'the damaged bytes are kept aside');
  t.equal((await r.cli(dir, ['log', 'verify'])).code, 0, 'the repaired log verifies');
});
