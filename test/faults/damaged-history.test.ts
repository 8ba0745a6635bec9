/**
 * A log damaged before the snapshot a daemon booted from: the boot reads only the log after the snapshot, so the
 * daemon starts (by design, test/daemon/log-commands.test.ts). Before: a follower that asked for the history from
 * before the damage (`arpd events --follow --from 1`, the dashboard's event log, SSE /v1/events) made the daemon read
 * empty pages at the damaged line forever, in microtasks: it ran at 100% CPU, stopped answering everyone (even
 * `arpd daemon status`), kept spinning after the follower left, and only SIGKILL stopped it; the socket client
 * ignored the daemon's events.error, so `arpd events --follow` hung; and `arpd events` and `arpd log replay --until N`
 * stopped at the damaged line silently, exit 0.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';
import { connect, type ArpdError } from '../../src/client/index.js';
import { oneErrorLine } from '../helpers/error-line.js';
import { runtimeHarness } from '../helpers/runtime-harness.js';

const PROFILE = '{"extensions":{"arp.jarvis.exec":{"driver":"command","command_template":["/bin/true"]}}}';

t.test('a follower that reads over a damaged line before the snapshot is told E_LOG_CORRUPT and the daemon keeps answering', async (t) => {
  const h = daemonHarness(t);
  const dir = h.newDataDir();
  writeFileSync(join(dir, 'p.json'), PROFILE);
  await h.startDaemon(dir);
  for (const name of ['one', 'two', 'three', 'four']) {
    const r = await h.cli(dir, ['profiles', 'upsert', name, '--request-json', join(dir, 'p.json')]);
    t.equal(r.code, 0, r.stderr);
  }
  t.equal((await h.cli(dir, ['daemon', 'stop'])).code, 0, 'a clean stop takes a snapshot');

  // flip one letter of the third line: still JSON, but its checksum is wrong
  const log = join(dir, 'events.jsonl');
  const bytes = readFileSync(log);
  const lines = bytes.toString('utf8').split('\n');
  const at = Buffer.byteLength(`${lines[0] as string}\n${lines[1] as string}\n`) + (lines[2] as string).indexOf('"stream":"') + '"stream":"'.length;
  bytes[at] = (bytes[at] as number) === 0x71 ? 0x72 : 0x71;
  writeFileSync(log, bytes);

  await h.startDaemon(dir);
  // through the daemon (the path of the dashboard, SSE /v1/events and arpd events --follow)
  const arpd = await connect({ dataDir: dir });
  const got: number[] = [];
  const ended = await (async () => {
    try {
      for await (const e of arpd.events.subscribe({ fromSeq: 1 })) got.push(e.seq);
      return undefined;
    } catch (err) {
      return err as ArpdError;
    } finally {
      await arpd.close();
    }
  })();
  t.equal(ended?.code, 'E_LOG_CORRUPT', `the subscriber is told the log is damaged: ${String(ended?.message)}`);
  t.match(ended?.message, /damaged at seq 3.*arpd log verify/, 'where, and what to run');
  t.same(got, [1, 2], 'after the two events before the damage');

  // the tools that read the files say so too, rather than stopping short with exit 0
  const events = await h.cli(dir, ['events', '--json']);
  t.match(oneErrorLine(t, events, 'E_LOG_CORRUPT', 'events'), /damaged after seq 2 .*line 3/);
  t.equal(events.stdout.trim().split('\n').length, 2, 'the two events before the damage were printed');
  const replay = await h.cli(dir, ['log', 'replay', '--until', '6']);
  t.match(oneErrorLine(t, replay, 'E_LOG_CORRUPT', 'log replay --until past the damage'), /damaged after seq 2/);
  t.equal((await h.cli(dir, ['log', 'replay', '--until', '2'])).code, 0, 'a replay until before the damage still works');

  const status = await h.cli(dir, ['daemon', 'status', '--json'], { timeoutMs: 20_000 });
  t.equal(status.code, 0, `the daemon still answers: ${status.stderr}`);
  t.equal((await h.cli(dir, ['daemon', 'stop'], { timeoutMs: 20_000 })).code, 0, 'the daemon stops when asked');
});

t.test('a run whose trace.jsonl was deleted or damaged in the middle still answers its result and whole trace, from the event log', async (t) => {
  // Before: `runs result` and `runs trace` failed with E_UNAVAILABLE for good ("run 'arpd log verify'"), whose advice,
  // that the next start completes the run log, did not hold: a boot from a snapshot checks only the run logs of the
  // log after it, and only their last line. The event log held every line all along.
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances']);
  await r.startInstances(dir, 'default', 1);
  for (const id of ['gone', 'torn']) {
    await r.submit(dir, { run_id: id, input: { goal: 'What is (19*23)?' } });
    t.equal((await r.waitRunEnded(dir, id))['state'], 'succeeded');
  }
  const whole = r.traceFile(dir, 'torn').length;
  t.ok(whole >= 4, `the trace has ${whole} lines`);
  t.equal((await r.cli(dir, ['daemon', 'stop'])).code, 0);

  rmSync(join(dir, 'runs', 'gone', 'trace.jsonl'));
  // a line cut short and the next one written after it, as a short write on a full disk leaves it
  const tornPath = join(dir, 'runs', 'torn', 'trace.jsonl');
  const lines = readFileSync(tornPath, 'utf8').split('\n');
  lines.splice(1, 2, `${(lines[1] as string).slice(0, 40)}${lines[2] as string}`);
  writeFileSync(tornPath, lines.join('\n'));

  await r.startDaemon(dir, ['--no-autostart-instances']);
  for (const id of ['gone', 'torn']) {
    const result = await r.cli(dir, ['runs', 'result', id]);
    t.equal(result.code, 0, `runs result ${id} answers: ${result.stderr}`);
    t.match(result.stdout, /437/, `with the answer (${id})`);
    const trace = await r.cli(dir, ['runs', 'trace', id, '--json']);
    t.equal(trace.code, 0, `runs trace ${id} answers: ${trace.stderr}`);
    t.equal(trace.stdout.trim().split('\n').length, whole, `with every line (${id})`);
  }
});
