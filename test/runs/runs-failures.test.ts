/**
 * Runs that fail or are canceled once they are under way, against a real daemon and real reference
 * runtimes, each with its stable code and exit status: a runtime failure, a runtime crash, a run
 * timeout, cancel while queued and while running.
 */
import t from 'tap';
import { instanceDetails, oracleCheck, runError, runtimeHarness, waitFor, type Json } from '../helpers/runtime-harness.js';

const TERMINAL = ['succeeded', 'failed', 'canceled'];

t.test('fails a run with the runtime\'s own error for a fail: goal', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const res = await r.cli(dir, ['runs', 'submit', '--goal', 'fail:the tool registry is down', '--wait', '--json']);
  t.equal(res.code, 1);
  const { status, result } = JSON.parse(res.stdout) as { status: Json; result: Json };
  t.equal(status['state'], 'failed');
  t.equal(runError(status).code, 'runtime.failed', 'the runtime\'s error code');
  t.equal(runError(status).message, 'the tool registry is down', 'and its message');
  oracleCheck(t, 'RunResult', result, 'the result');
  t.same(result['error'], { ...(result['error'] as Json), code: 'runtime.failed', message: 'the tool registry is down' }, 'the result is the runtime\'s');
  const human = await r.cli(dir, ['runs', 'result', String(status['run_id'])]);
  t.equal(human.code, 1, '`runs result` of a failed run exits 1');
  const lines = r.traceFile(dir, String(status['run_id']));
  t.equal(lines.at(-1)?.type, 'failed');
  t.equal(lines.at(-1)?.level, 'error');
});

t.test('fails a run with E_RUNTIME_LOST when its runtime crashes', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const id = String(inst?.['instance_id']);
  const res = await r.cli(dir, ['runs', 'submit', '--goal', 'crash', '--instance', id, '--wait', '--json']);
  t.equal(res.code, 1);
  const { status } = JSON.parse(res.stdout) as { status: Json };
  t.equal(status['state'], 'failed');
  t.equal(runError(status).code, 'E_RUNTIME_LOST', `E_RUNTIME_LOST: ${String(runError(status).message)}`);
  const after = await r.getInstance(dir, id);
  t.equal(after['state'], 'error', 'the instance is in error');
  t.match(String(instanceDetails(after)['reason']), /exited with code 70/, 'because its process exited with code 70');
  const ends = (await r.events(dir, ['run.'])).filter((e) => ['run.succeeded', 'run.failed', 'run.canceled'].includes(e.type));
  t.equal(ends.length, 1, 'exactly one end is recorded');
});

t.test('fails a run that runs past --timeout-ms with E_TIMEOUT', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const res = await r.cli(dir, ['runs', 'submit', '--goal', 'sleep:5000 What is 1+1?', '--timeout-ms', '300', '--wait', '--json']);
  t.equal(res.code, 1);
  const { status } = JSON.parse(res.stdout) as { status: Json };
  t.equal(status['state'], 'failed');
  t.equal(runError(status).code, 'E_TIMEOUT');
  t.match(String(runError(status).message), /limits\.timeout_ms \(300 ms\)/);
  // arpd canceled it at the runtime
  const runtimeSide = await waitFor('the runtime to end the run', async () => {
    const res2 = await fetch(`${String(inst?.['runtime_api_endpoint'])}/v1/runs/${String(status['run_id'])}`);
    const body = (await res2.json()) as Json;
    return TERMINAL.includes(String(body['state'])) ? body : undefined;
  }, 10_000);
  t.equal(runtimeSide['state'], 'canceled', 'the runtime canceled it too');
});

t.test('cancels a queued run', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances', '--queue-timeout', '600000']);
  await r.startNeverReadyInstance(dir);
  const submitted = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 1+1?']);
  t.equal(submitted.code, 0, submitted.stderr);
  const runId = submitted.stdout.trim();
  t.match(runId, /^run_/, 'submit prints the run id at once');
  t.equal((await r.getRun(dir, runId))['state'], 'queued');
  const res = await r.cli(dir, ['runs', 'cancel', runId, '--json']);
  t.equal(res.code, 0, res.stderr);
  const status = JSON.parse(res.stdout) as Json;
  t.equal(status['state'], 'canceled');
  t.equal(runError(status).code, 'E_CANCELED');
  const again = await r.cliJson(dir, ['runs', 'cancel', runId]);
  t.equal(again['state'], 'canceled', 'canceling again is harmless');
  const result = await r.cli(dir, ['runs', 'result', runId, '--json']);
  t.equal(result.code, 1);
  const body = JSON.parse(result.stdout) as Json;
  oracleCheck(t, 'RunResult', body, 'the canceled run\'s result');
  t.equal((body['error'] as Json | undefined)?.['code'], 'E_CANCELED');
  t.same(r.traceFile(dir, runId).map((l) => l.type), ['accepted', 'queued', 'canceled']);
});

t.test('cancels a running run at the runtime', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const s = await r.submit(dir, { input: { goal: 'sleep:600000 What is 1+1?' } });
  const runId = String(s['run_id']);
  await r.waitRun(dir, runId, 'to be running', (st) => st['state'] === 'running');
  const res = await r.cli(dir, ['runs', 'cancel', runId, '--json']);
  t.equal(res.code, 0, res.stderr);
  const status = JSON.parse(res.stdout) as Json;
  t.equal(status['state'], 'canceled');
  const at = await fetch(`${String(inst?.['runtime_api_endpoint'])}/v1/runs/${runId}`);
  t.equal(((await at.json()) as Json)['state'], 'canceled', 'the runtime canceled it');
  const lines = r.traceFile(dir, runId);
  t.equal(lines.at(-1)?.type, 'canceled', 'the trace ends with canceled');
  t.same(lines.map((l) => l.seq), lines.map((_, i) => i + 1));
  const after = await r.getInstance(dir, String(inst?.['instance_id']));
  t.equal(after['state'], 'ready', 'the instance is free again');
});
