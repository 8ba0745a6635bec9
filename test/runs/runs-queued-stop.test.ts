/**
 * A daemon stopped with many runs waiting in the queue: their run logs are created when they leave the queue, so the
 * stop neither creates nor fsyncs a file per queued run (it takes no snapshot), and the next daemon still has every
 * run queued with its whole trace.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { connect } from '../../src/client/rpc-client.js';
import { QUEUED_LOGS_AT_STOP } from '../../src/events/log-store.js';
import { runtimeHarness, type Json } from '../helpers/runtime-harness.js';

const QUEUED = QUEUED_LOGS_AT_STOP + 20;

t.test('a stop with more runs queued than it writes logs for leaves them queued, without a directory, each with its whole trace after the restart', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  const flags = ['--no-autostart-instances', '--queue-timeout', '600000'];
  await r.startDaemon(dir, flags);
  await r.startNeverReadyInstance(dir);
  const client = await connect(r.socketOf(dir));
  const ids: string[] = [];
  try {
    for (let i = 0; i < QUEUED; i += 100) {
      const batch = Array.from({ length: Math.min(100, QUEUED - i) }, (_, k) => client.call<Json>('runs.submit', { request: { run_id: `q-${i + k}`, input: { goal: 'What is 1+1?' }, runtime_selector: { runtime_profile: 'never-ready' } } }));
      for (const s of await Promise.all(batch)) ids.push(String(s['run_id']));
    }
  } finally {
    await client.close();
  }
  t.equal(ids.length, QUEUED, `${QUEUED} runs accepted`);
  t.equal(ids.filter((id) => existsSync(join(dir, 'runs', id))).length, 0, 'no queued run has a directory');

  const stop = await r.cli(dir, ['daemon', 'stop']);
  t.equal(stop.code, 0, `arpd daemon stop: ${stop.stderr}`);
  t.match(stop.stdout, /arpd stopped \(pid \d+\)\s*$/, 'stopped on request, not by a signal');
  t.equal(ids.filter((id) => existsSync(join(dir, 'runs', id))).length, 0, 'the stop created no directory for them');

  await r.startDaemon(dir, flags);
  const status = await r.call<{ counts: { runs: { queued: number } } }>(dir, 'daemon.status', {});
  t.equal(status.counts.runs.queued, QUEUED, 'every run is still queued');
  const last = ids[ids.length - 1] as string;
  t.equal(existsSync(join(dir, 'runs', last)), false, 'nor did the boot create one');
  const trace = await r.call<{ events: Json[] }>(dir, 'runs.trace', { run_id: last });
  t.same(trace.events.map((e) => (e['extensions'] as { 'arpd.event': { type: string } })['arpd.event'].type), ['run.accepted', 'run.queued'], 'its trace holds its acceptance');
  t.ok(existsSync(join(dir, 'runs', last, 'trace.jsonl')), 'the read created its run log');
  const canceled = await r.cliJson<Json>(dir, ['runs', 'cancel', ids[0] as string]);
  t.ok(JSON.stringify(canceled).includes('cancel'), 'a queued run is canceled');
  await r.waitRunEnded(dir, ids[0] as string);
  t.same(r.traceFile(dir, ids[0] as string).map((l) => l.seq), [1, 2, 3], 'leaving the queue wrote its log: accepted, queued, canceled');
});
