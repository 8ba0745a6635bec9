/**
 * Runs refused or failed before they reach a runtime, against a real daemon, each with its stable code
 * (and exit status where the CLI is the caller): an unknown or not-ready instance, the queue timeout,
 * run_id reuse, a hostile run_id, and asking for a result too early or of nothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { RuntimeHarness, instancePid, oracleCheck, runDetails, runError, runtimeHarness, type Json } from '../helpers/runtime-harness.js';

t.test('refuses a run for an unknown instance with exit 4 and E_NOT_FOUND', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const res = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 1+1?', '--instance', 'nope', '--json']);
  t.equal(res.code, 4);
  const err = RuntimeHarness.errorOf(res);
  t.equal(err.code, 'E_NOT_FOUND');
  t.equal(err.data?.['arp_code'], 'instances.not_found');
  t.same((await r.call<{ runs: Json[] }>(dir, 'runs.list', {})).runs, [], 'no run was recorded');
});

t.test('fails a run naming a stopped or failed instance with E_NOT_READY (instances.not_ready) at the queue timeout', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const [stopped, broken] = await r.startInstances(dir, 'default', 2);
  await r.call(dir, 'instances.delete', { instance_id: String(stopped?.['instance_id']) });
  process.kill(instancePid(broken as Json), 'SIGKILL');
  await r.waitInstance(dir, String(broken?.['instance_id']), 'to be error', (i) => i['state'] === 'error');
  for (const inst of [stopped, broken] as Json[]) {
    const id = String(inst['instance_id']);
    const s = await r.submit(dir, { input: { goal: 'What is 1+1?' }, runtime_selector: { instance_id: id }, extensions: { 'arpd.queue_timeout_ms': 500 } });
    const end = await r.waitRunEnded(dir, String(s['run_id']));
    t.equal(end['state'], 'failed', `named ${id}: failed`);
    const err = runError(end);
    t.equal(err.code, 'E_NOT_READY', `named ${id}: E_NOT_READY`);
    t.equal(err.details?.['arp_code'], 'instances.not_ready', `named ${id}: details.arp_code is instances.not_ready`);
    t.match(String(err.message), new RegExp(`instance '${id}' did not become ready`));
    t.notOk(end['runtime_instance_id'], 'it never reached an instance');
  }
});

t.test('fails a queued run with E_NOT_READY (instances.no_ready) when no instance comes within --queue-timeout', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances', '--queue-timeout', '500']);
  const res = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 1+1?', '--wait', '--json']);
  t.equal(res.code, 1, 'submit --wait exits 1 for a failed run');
  const { status, result } = JSON.parse(res.stdout) as { status: Json; result: Json };
  t.equal(status['state'], 'failed');
  const err = runError(status);
  t.equal(err.code, 'E_NOT_READY');
  t.equal(err.details?.['arp_code'], 'instances.no_ready');
  t.match(String(err.message), /no instance matching any instance became ready/);
  oracleCheck(t, 'RunResult', result, 'the failed run\'s result');
  t.equal(result['ok'], false);
  t.equal((result['error'] as Json | undefined)?.['code'], 'E_NOT_READY');
  t.same((await r.call<{ instances: Json[] }>(dir, 'instances.list', { all: true })).instances, [], 'no instance was started for it');
});

t.test('answers a resent run_id with the same run, and refuses it for another request with exit 5', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances', '--queue-timeout', '600000']);
  const first = await r.cliJson(dir, ['runs', 'submit', '--goal', 'What is 2+2?', '--run-id', 'mine-1']);
  t.equal(first['run_id'], 'mine-1');
  const second = await r.cliJson(dir, ['runs', 'submit', '--goal', 'What is 2+2?', '--run-id', 'mine-1']);
  t.same(second, first, 'the same request again: the same status');
  const other = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 3+3?', '--run-id', 'mine-1', '--json']);
  t.equal(other.code, 5);
  const err = RuntimeHarness.errorOf(other);
  t.equal(err.code, 'E_CONFLICT');
  t.equal(err.data?.['arp_code'], 'runs.conflict');
  const accepted = await r.events(dir, ['run.accepted']);
  t.equal(accepted.length, 1, 'one run was accepted');
});

t.test('refuses a hostile run_id with exit 2 and E_VALIDATION', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances']);
  for (const id of ['../x', 'a/b', '.hidden', 'x'.repeat(129)]) {
    const res = await r.cli(dir, ['runs', 'submit', '--goal', 'hi', '--run-id', id, '--json']);
    t.equal(res.code, 2, `${id.slice(0, 20)}: exit 2`);
    const err = RuntimeHarness.errorOf(res);
    t.equal(err.code, 'E_VALIDATION');
    t.equal(err.data?.['field'], 'run_id');
  }
  const status = await r.cli(dir, ['runs', 'status', '../x', '--json']);
  t.equal(status.code, 2, 'a hostile id is refused by status too');
  t.same((await r.call<{ runs: Json[] }>(dir, 'runs.list', {})).runs, [], 'nothing was recorded');
  t.notOk(existsSync(join(dir, 'x')), 'no file was made outside runs/');
});

t.test('answers E_NOT_READY for the result of a running run, and exit 4 for an unknown one', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.startInstances(dir, 'default', 1);
  const s = await r.submit(dir, { input: { goal: 'sleep:10000 hi' } });
  const runId = String(s['run_id']);
  await r.waitRun(dir, runId, 'to be running', (st) => st['state'] === 'running');
  const res = await r.cli(dir, ['runs', 'result', runId, '--json']);
  t.equal(res.code, 1);
  const err = RuntimeHarness.errorOf(res);
  t.equal(err.code, 'E_NOT_READY');
  t.equal(err.data?.['arp_code'], 'runs.not_ready');
  const unknown = await r.cli(dir, ['runs', 'result', 'run_nope', '--json']);
  t.equal(unknown.code, 4);
  t.equal(RuntimeHarness.errorOf(unknown).code, 'E_NOT_FOUND');
  const unknownStatus = await r.cli(dir, ['runs', 'status', 'run_nope']);
  t.equal(unknownStatus.code, 4, '`runs status` of an unknown run exits 4');
  const unknownCancel = await r.cli(dir, ['runs', 'cancel', 'run_nope']);
  t.equal(unknownCancel.code, 4, '`runs cancel` of an unknown run exits 4');
  t.equal(runDetails(await r.getRun(dir, runId))['phase'], 'started');
});
