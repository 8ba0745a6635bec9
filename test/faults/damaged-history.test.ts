/**
 * A log damaged before the snapshot a daemon booted from: the boot reads only the log after the snapshot, so the
 * daemon starts (by design, test/daemon/log-commands.test.ts). Before: a follower that asked for the history from
 * before the damage (`arpd events --follow --from 1`, the dashboard's event log, SSE /v1/events) made the daemon read
 * empty pages at the damaged line forever, in microtasks: it ran at 100% CPU, stopped answering everyone (even
 * `arpd daemon status`), kept spinning after the follower left, and only SIGKILL stopped it.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';
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
  const follow = await h.cli(dir, ['events', '--follow', '--from', '1', '--json'], { timeoutMs: 20_000 });
  t.notOk(follow.timedOut, 'the follower does not hang');
  const said = oneErrorLine(t, follow, 'E_LOG_CORRUPT', 'events --follow over the damaged line');
  t.match(said, /seq 3/, `the message names where the log is damaged: ${said}`);
  t.match(said, /arpd log verify/, 'and what to run');
  t.equal(follow.stdout.trim().split('\n').length, 2, 'the two events before the damage were printed');

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
