/**
 * The JARVIS "typical flow", end to end over HTTP on a REAL daemon process: upsert a profile that runs the bundled
 * reference runtime through the `command` driver, create an instance, submit a run, poll it, read its result and
 * trace, then delete the instance and the profile. Every answer is checked against the spec's schemas.
 */
import t from 'tap';
import { clientOf, eventually, expectAnswer, startHttpDaemon } from './http-daemon.js';

type Json = Record<string, unknown>;

t.test('runs the typical flow over HTTP: profile, instance, run, result, trace, cleanup', async (t) => {
  const daemon = await startHttpDaemon(t);
  const api = clientOf(daemon);
  const admin = clientOf(daemon, { admin: true });
  const body = (a: { body: unknown }): Json => (a.body ?? {}) as Json;

  const profile = await admin('PUT', '/v1/admin/runtime-profiles/jarvis-ref', {
    json: {
      runtime_name: 'arpd-reference-runtime',
      description: 'the reference runtime, as JARVIS would declare it',
      extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0'] } },
    },
  });
  expectAnswer(t, profile, 200, 'RuntimeProfile', 'upsert the profile');

  const created = await api('POST', '/v1/instances', { json: { runtime_profile: 'jarvis-ref' } });
  expectAnswer(t, created, 200, 'InstanceCreateResponse', 'create an instance');
  const instanceId = String(((body(created)['instances'] as Json[])[0] as Json)['instance_id']);
  const ready = await eventually('the instance is ready', async () => {
    const i = (body(await api('GET', '/v1/instances'))['instances'] as Json[]).find((x) => x['instance_id'] === instanceId);
    if (i?.['state'] === 'error') throw new Error(`the instance failed: ${JSON.stringify(i)}`);
    return i?.['state'] === 'ready' ? i : undefined;
  });
  t.match(ready, { runtime_profile: 'jarvis-ref', managed: true, runtime_api_endpoint: /^http:\/\/127\.0\.0\.1:\d+$/ });

  const submitted = await api('POST', '/v1/runs', { json: { input: { goal: 'What is (19*23)?' }, runtime_selector: { runtime_profile: 'jarvis-ref' } } });
  expectAnswer(t, submitted, 202, 'RunStatus', 'submit the run');
  const runId = String(body(submitted)['run_id']);

  const status = await eventually('the run ends', async () => {
    const s = await api('GET', `/v1/runs/${runId}`);
    expectAnswer(t, s, 200, 'RunStatus', 'poll the status');
    return ['succeeded', 'failed', 'canceled'].includes(String(body(s)['state'])) ? body(s) : undefined;
  });
  t.match(status, { run_id: runId, state: 'succeeded', runtime_instance_id: instanceId });

  const result = await api('GET', `/v1/runs/${runId}/result`);
  expectAnswer(t, result, 200, 'RunResult', 'read the result');
  t.match(body(result), { run_id: runId, ok: true });
  t.match(JSON.stringify(body(result)['output']), /437/, 'the answer is 437');

  const trace = await api('GET', `/v1/runs/${runId}/trace`);
  expectAnswer(t, trace, 200, 'TraceResponse', 'read the trace');
  const types = (body(trace)['events'] as Json[]).map((e) => e['type']);
  t.ok(types.includes('routed') && types.includes('succeeded'), `the trace tells the story (${types.join(', ')})`);

  const delInstance = await api('DELETE', `/v1/instances/${instanceId}`);
  t.equal(delInstance.status, 204, 'delete the instance');
  const delProfile = await admin('DELETE', '/v1/admin/runtime-profiles/jarvis-ref');
  t.equal(delProfile.status, 204, 'delete the profile');

  const left = (body(await api('GET', '/v1/instances?all=true'))['instances'] as Json[]).find((x) => x['instance_id'] === instanceId);
  t.equal(left?.['state'], 'stopped', 'the instance is stopped');
  t.notOk((body(await api('GET', '/v1/admin/runtime-profiles'))['profiles'] as Json[]).some((p) => p['runtime_profile'] === 'jarvis-ref'), 'the profile is gone');

  const exit = await daemon.stop();
  t.equal(exit.code, 0, 'the daemon stops cleanly on SIGTERM');
});
