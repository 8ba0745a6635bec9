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

t.test('refuses at submit a run naming a deleted instance (E_NOT_FOUND) or a failed one that will not come back (E_NOT_READY)', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const [stopped, broken] = await r.startInstances(dir, 'default', 2);
  await r.call(dir, 'instances.delete', { instance_id: String(stopped?.['instance_id']) });
  process.kill(instancePid(broken as Json), 'SIGKILL');
  await r.waitInstance(dir, String(broken?.['instance_id']), 'to be error', (i) => i['state'] === 'error');
  const deleted = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 1+1?', '--instance', String(stopped?.['instance_id']), '--json']);
  t.equal(deleted.code, 4, 'a deleted instance: exit 4');
  t.equal(RuntimeHarness.errorOf(deleted).code, 'E_NOT_FOUND');
  t.equal(RuntimeHarness.errorOf(deleted).data?.['arp_code'], 'instances.not_found');
  const failed = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 1+1?', '--instance', String(broken?.['instance_id']), '--json']);
  t.equal(failed.code, 1, 'a failed instance that will not be restarted: exit 1');
  t.equal(RuntimeHarness.errorOf(failed).code, 'E_NOT_READY');
  t.equal(RuntimeHarness.errorOf(failed).data?.['arp_code'], 'instances.not_ready');
  t.match(RuntimeHarness.errorOf(failed).message, /has failed .* will not be restarted/);
  t.same((await r.call<{ runs: Json[] }>(dir, 'runs.list', {})).runs, [], 'no run was recorded');
});

t.test('refuses at submit a run whose selector nothing can ever match', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances']);
  await r.upsertProfile(dir, 'mine', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } } });
  const cases: Array<[Json, string, number]> = [
    [{ runtime_profile: 'not-on-the-list' }, 'E_NOT_FOUND', 4],
    [{ runtime_name: 'nobody-has-this' }, 'E_NOT_FOUND', 4],
    [{ instance_id: 'inst_nope' }, 'E_NOT_FOUND', 4],
    [{ runtime_api_endpoint: 'http://127.0.0.1:9', runtime_profile: 'mine' }, 'E_VALIDATION', 2],
    [{}, 'E_NOT_READY', 1],
  ];
  for (const [selector, code, exit] of cases) {
    const file = r.writeJson(dir, 'req.json', { input: { goal: 'x' }, runtime_selector: selector });
    const res = await r.cli(dir, ['runs', 'submit', '--request-json', file, '--json']);
    t.equal(res.code, exit, `${JSON.stringify(selector)}: exit ${exit}`);
    t.equal(RuntimeHarness.errorOf(res).code, code, `${JSON.stringify(selector)}: ${code}`);
  }
  const none = await r.cli(dir, ['runs', 'submit', '--goal', 'x', '--json']);
  t.match(RuntimeHarness.errorOf(none).message, /default, mine/, 'a run with no selector names the profiles to choose from');
  t.same((await r.call<{ runs: Json[] }>(dir, 'runs.list', {})).runs, [], 'no run was recorded');
});

t.test('fails a queued run with E_NOT_READY when its queue time runs out, saying what it waited for', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances', '--queue-timeout', '500']);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const id = String(inst?.['instance_id']);
  const long = await r.submit(dir, { input: { goal: 'sleep:20000 hi' }, extensions: { 'arpd.queue_timeout_ms': 60_000 } });
  await r.waitRun(dir, String(long['run_id']), 'to be running', (st) => st['state'] === 'running');
  const res = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 1+1?', '--wait', '--json']);
  t.equal(res.code, 1, 'submit --wait exits 1 for a failed run');
  const { status, result } = JSON.parse(res.stdout) as { status: Json; result: Json };
  t.equal(status['state'], 'failed');
  const err = runError(status);
  t.equal(err.code, 'E_NOT_READY');
  t.equal(err.details?.['arp_code'], 'instances.no_ready');
  t.match(String(err.message), new RegExp(`waited 0.5s for any instance and none took it \\(${id} was busy with 1 of 1 run\\(s\\)\\)`));
  t.notMatch(String(err.message), /matching any instance/, 'no garbled wording');
  oracleCheck(t, 'RunResult', result, 'the failed run\'s result');
  t.equal(result['ok'], false);
  t.equal((result['error'] as Json | undefined)?.['code'], 'E_NOT_READY');
  t.equal((await r.call<{ instances: Json[] }>(dir, 'instances.list', { all: true })).instances.length, 1, 'no instance was started for it');
});

t.test('answers a resent run_id with the same run, and refuses it for another request with exit 5', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances', '--queue-timeout', '600000']);
  await r.startNeverReadyInstance(dir);
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
  const s = await r.submit(dir, { input: { goal: 'sleep:600000 hi' } });
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
