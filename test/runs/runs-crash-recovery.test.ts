/**
 * A daemon killed with -9 while runs are queued and running: the next daemon re-queues the queued
 * ones, re-attaches the running ones to their (adopted) runtimes, fails the ones whose runtime died
 * meanwhile, and every accepted run ends exactly once; the log verifies.
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { REFERENCE_COMMAND, groupGone, instancePid, isRunning, runError, runtimeHarness, waitFor, type Json } from '../helpers/runtime-harness.js';

const TERMINAL_EVENTS = ['run.succeeded', 'run.failed', 'run.canceled'];

t.test('ends every accepted run exactly once after the daemon is killed with runs queued and running', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  const flags = ['--no-autostart-instances', '--queue-timeout', '600000'];
  const first = await r.startDaemon(dir, flags);
  const profile = (cap: number): Json => ({ extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: REFERENCE_COMMAND }, 'arpd.runtime': { max_concurrent_runs: cap } } });
  await r.upsertProfile(dir, 'pair', profile(2));
  await r.upsertProfile(dir, 'doomed', profile(1));
  // 'later' has an instance that never gets ready (a run is queued only when something can take it once up)
  await r.upsertProfile(dir, 'later', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/sleep', '3600'] }, 'arpd.runtime': { max_concurrent_runs: 4, health_timeout_ms: 600_000 } } });
  await r.call(dir, 'instances.create', { request: { runtime_profile: 'later' } });
  const [pair] = await r.startInstances(dir, 'pair', 1);
  const [doomed] = await r.startInstances(dir, 'doomed', 1);

  const submit = async (goal: string, selector: Json): Promise<string> => String((await r.submit(dir, { input: { goal }, runtime_selector: selector }))['run_id']);
  const running = [
    await submit('sleep:6000 What is 1+1?', { runtime_profile: 'pair' }),
    await submit('sleep:6000 What is 2+2?', { runtime_profile: 'pair' }),
  ];
  const lost = await submit('sleep:6000 What is 3+3?', { runtime_profile: 'doomed' });
  // no instance of 'later' is ready: these wait in the queue
  const queued = [await submit('What is 4+4?', { runtime_profile: 'later' }), await submit('What is 5+5?', { runtime_profile: 'later' })];
  // and one more for 'pair', behind the two running ones
  const behind = await submit('What is 6+6?', { runtime_profile: 'pair' });
  for (const id of [...running, lost]) await r.waitRun(dir, id, 'to be running', (s) => s['state'] === 'running');
  for (const id of [...queued, behind]) t.equal((await r.getRun(dir, id))['state'], 'queued', `${id} is queued`);

  process.kill(first.pid, 'SIGKILL');
  await waitFor('the daemon to die', () => !isRunning(first.pid));
  // the runtime of one running run dies while no daemon watches
  const doomedPid = instancePid(doomed as Json);
  process.kill(doomedPid, 'SIGKILL');
  await waitFor('the doomed runtime to die', () => !isRunning(doomedPid));
  t.ok(isRunning(instancePid(pair as Json)), 'the other runtime is still alive');

  await r.startDaemon(dir, flags);
  await r.upsertProfile(dir, 'later', profile(4));
  await r.startInstances(dir, 'later', 1);
  const all = [...running, lost, ...queued, behind];
  const ends = new Map<string, Json>();
  for (const id of all) ends.set(id, await r.waitRunEnded(dir, id));

  for (const id of [...running, ...queued, behind]) t.equal(ends.get(id)?.['state'], 'succeeded', `${id} succeeded`);
  t.equal(ends.get(lost)?.['state'], 'failed', 'the run whose runtime died failed');
  t.equal(runError(ends.get(lost) ?? {}).code, 'E_RUNTIME_LOST', 'with E_RUNTIME_LOST');
  for (const id of running) t.equal(ends.get(id)?.['runtime_instance_id'], pair?.['instance_id'], `${id} finished on its adopted instance`);
  const result = await r.call<Json>(dir, 'runs.result', { run_id: running[0] as string });
  t.match(JSON.stringify(result['output']), /= 2/, 'with its answer');

  const events = await r.events(dir);
  const accepted = events.filter((e) => e.type === 'run.accepted').map((e) => String(e.data['run_id']));
  t.same(new Set(accepted), new Set(all), 'the accepted runs are the submitted ones');
  for (const id of accepted) {
    const terminal = events.filter((e) => e.stream === `run:${id}` && TERMINAL_EVENTS.includes(e.type));
    t.equal(terminal.length, 1, `${id}: exactly one of run.succeeded/failed/canceled (${terminal.map((e) => e.type).join(', ')})`);
    const lines = r.traceFile(dir, id);
    t.same(lines.map((l) => l.seq), lines.map((_, i) => i + 1), `${id}: its trace has no seq gap`);
    const runtimeSeqs = lines.filter((l) => typeof l.data['seq'] === 'number' && l.extensions['arpd.event'].type === 'run.trace').map((l) => l.data['seq']);
    t.equal(new Set(runtimeSeqs).size, runtimeSeqs.length, `${id}: no runtime event recorded twice across the restart`);
  }
  const verify = await r.cli(dir, ['log', 'verify']);
  t.equal(verify.code, 0, `arpd log verify exits 0: ${verify.stdout}${verify.stderr}`);
});

/** A process's state letter from /proc (R running, S sleeping, T stopped, ...). */
function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
}

t.test('re-attaches a running run after `daemon stop --keep-instances`, and it succeeds', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const pid = instancePid(inst as Json);
  const endpoint = String(inst?.['runtime_api_endpoint']);
  const s = await r.submit(dir, { input: { goal: 'sleep:4000 What is 20+22?' } });
  const runId = String(s['run_id']);
  await r.waitRun(dir, runId, 'to be running', (st) => st['state'] === 'running');
  // The runtime is frozen (SIGSTOP) while it still runs the run, so it cannot end it while the daemon
  // stops: whatever the machine's speed, the next daemon finds the run in flight and has to re-attach.
  const atRuntime = await fetch(`${endpoint.replace(/\/$/, '')}/v1/runs/${runId}`).then(async (res) => (await res.json()) as Json);
  t.equal(atRuntime['state'], 'running', 'the runtime is running the run');
  process.kill(pid, 'SIGSTOP');
  t.teardown(() => { try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ } });
  await waitFor('the runtime to be stopped', () => procState(pid) === 'T');
  const stop = await r.cli(dir, ['daemon', 'stop', '--keep-instances']);
  t.equal(stop.code, 0, stop.stderr);
  const endedAtStop = (await r.events(dir, ['run.'])).filter((e) => e.stream === `run:${runId}` && TERMINAL_EVENTS.includes(e.type)).map((e) => e.type);
  t.same(endedAtStop, [], 'the stop neither ended, canceled nor failed it: it is in flight with no daemon watching');
  t.equal(procState(pid), 'T', 'the runtime, frozen, still holds it');
  process.kill(pid, 'SIGCONT');

  await r.startDaemon(dir);
  const end = await r.waitRunEnded(dir, runId);
  t.equal(end['state'], 'succeeded', 'it finishes on the adopted instance');
  t.equal(end['runtime_instance_id'], inst?.['instance_id']);
  const result = await r.call<Json>(dir, 'runs.result', { run_id: runId });
  t.match(JSON.stringify(result['output']), /42/, 'with its answer');

  const events = await r.events(dir);
  const starts = events.filter((e) => e.type === 'daemon.started').map((e) => e.seq);
  t.equal(starts.length, 2, 'two daemons ran');
  const runtimeEvents = events.filter((e) => e.stream === `run:${runId}` && e.type === 'run.trace' && typeof (e.data['data'] as Json | undefined)?.['seq'] === 'number');
  const second = starts[1] as number;
  const recordedAfter = runtimeEvents.filter((e) => e.seq > second).map((e) => e.data['type']);
  t.ok(recordedAfter.length > 0 && recordedAfter.at(-1) === 'final', `the second daemon recorded the runtime's events from where the first stopped to the final one (${recordedAfter.join(', ')}): the run was re-attached`);
  t.ok(events.some((e) => e.stream === `run:${runId}` && e.type === 'run.succeeded' && e.seq > second), 'and recorded its end');
  const lines = r.traceFile(dir, runId);
  t.same(lines.map((l) => l.seq), lines.map((_, i) => i + 1), 'its trace has no gap');
  const runtimeSeqs = lines.filter((l) => l.extensions['arpd.event'].type === 'run.trace').map((l) => l.data['seq']);
  t.ok(runtimeSeqs.length > 0, 'the trace holds the runtime\'s events');
  t.same(runtimeSeqs, runtimeSeqs.map((_, i) => i + 1), 'and every runtime event once, in order');
});

t.test('cancels runs in flight at a plain `daemon stop`, and keeps queued ones for the next start', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  // no autostart: the second run waits for the one busy instance instead of getting an instance of its own
  await r.startDaemon(dir, ['--queue-timeout', '600000', '--no-autostart-instances']);
  const [inst] = await r.startInstances(dir, 'default', 1);
  const running = String((await r.submit(dir, { input: { goal: 'sleep:600000 What is 1+1?' } }))['run_id']);
  await r.waitRun(dir, running, 'to be running', (st) => st['state'] === 'running');
  const queued = String((await r.submit(dir, { input: { goal: 'What is 2+2?' } }))['run_id']);
  t.equal((await r.getRun(dir, queued))['state'], 'queued', 'the second waits for the busy instance');
  const stop = await r.cli(dir, ['daemon', 'stop']);
  t.equal(stop.code, 0, stop.stderr);
  const events = await r.events(dir, ['run.']);
  const ended = events.filter((e) => TERMINAL_EVENTS.includes(e.type));
  t.same(ended.map((e) => [e.stream, e.type]), [[`run:${running}`, 'run.canceled']], 'the running run is canceled, the queued one is not ended');
  t.match(String(ended[0]?.data['reason']), /arpd shut down/);
  t.ok(groupGone(instancePid(inst as Json)), 'the instance was stopped');
  // the next daemon starts an instance for the queued run and runs it
  await r.startDaemon(dir, ['--queue-timeout', '600000']);
  const end = await r.waitRunEnded(dir, queued);
  t.equal(end['state'], 'succeeded');
});
