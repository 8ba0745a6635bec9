/**
 * Issue 11, point 7: the disk fills up. Before: after the first E_STORAGE the daemon shut itself down (reads stopped
 * too, `/v1/health` never said `down`), a `--follow` client saw only "connection lost", and the next start on the
 * still-full disk failed while copying the whole log aside, printing E_INTERNAL inside E_UNAVAILABLE and a raw JSON
 * stack. After freeing space nothing acknowledged was lost, and that must stay so.
 *
 * The data dir is on a real tmpfs of a few MiB filled with a ballast file (test/helpers/scratch-fs.ts).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { oneErrorLine } from '../helpers/error-line.js';
import { runtimeHarness, waitFor, type CliResult, type Json } from '../helpers/runtime-harness.js';
import { tmpfsDisk } from '../helpers/scratch-fs.js';

t.test('a full disk leaves the daemon degraded but answering, tells followers why, and after freeing space nothing acknowledged is lost', async (t) => {
  const r = runtimeHarness(t);
  const disk = tmpfsDisk(t, r.newDataDir(), 16 * 1024 * 1024);
  const dir = join(disk.mountPoint, 'data');
  const started = await r.h.cli(dir, ['daemon', 'start', '--json', '--http-port', '0', '--no-autostart-instances']);
  t.equal(started.code, 0, started.stderr);
  r.h.trackPid(Number((JSON.parse(started.stdout) as Json)['pid']));
  const url = readFileSync(join(dir, 'http.url'), 'utf8').trim();
  const token = readFileSync(join(dir, 'http.token'), 'utf8').trim();
  await r.startInstances(dir, 'default', 1);
  const acked: string[] = [];
  for (let i = 0; i < 5; i++) {
    const id = `acked-${i}`;
    await r.submit(dir, { run_id: id, input: { goal: `What is ${i}+${i}?` } });
    acked.push(id);
  }
  for (const id of acked) t.equal((await r.waitRunEnded(dir, id))['state'], 'succeeded', `${id} succeeded before the disk filled`);

  const follower = r.h.spawnCli(dir, ['runs', 'submit', '--goal', 'sleep:3000 What is 6*7?', '--run-id', 'followed', '--follow']);
  await follower.waitForOutput('the follower to print the trace', (out) => out.length > 0);
  acked.push('followed');

  disk.fill();
  // a write soon fails (the first ones may still fit in the log file's last page): every submit answered before
  // that is acknowledged and must survive
  let refused: CliResult | undefined;
  for (let i = 0; i < 500 && refused === undefined; i++) {
    const id = `late-${i}`;
    const sub = await r.cli(dir, ['runs', 'submit', '--goal', 'What is 1+1?', '--run-id', id]);
    if (sub.code === 0) acked.push(id);
    else refused = sub;
  }
  if (refused === undefined) throw new Error('500 submits fit on the full disk');
  const why = oneErrorLine(t, refused, 'E_STORAGE', 'a submit on the full disk');
  t.ok(why.includes(`the disk is full at ${dir}: free space on it, then 'arpd daemon restart --keep-instances'`), `the refusal says the disk is full, where, and what to do: ${why}`);
  const followed = await follower.exited;
  const said = oneErrorLine(t, followed, 'E_STORAGE', 'the --follow client');
  t.match(said, /ENOSPC/, 'the follower is told the disk is full');
  t.notMatch(followed.stderr, /connection .* lost/, 'not "connection lost"');

  const status = await r.h.status(dir);
  t.equal(status?.['state'], 'degraded', 'the daemon is up, degraded');
  t.match(status?.['degraded'], { code: 'E_STORAGE', reason: /ENOSPC/ });
  const health = await fetch(`${url}/v1/health`);
  const body = await health.json() as { status?: string; checks?: Array<{ name: string; status: string; message?: string }> };
  t.equal(body.status, 'down', '/v1/health says down');
  t.match(body.checks?.find((c) => c.name === 'event_log'), { status: 'down', message: /ENOSPC/ }, 'and why');
  for (const id of acked.slice(0, 5)) {
    const get = await fetch(`${url}/v1/runs/${id}`, { headers: { authorization: `Bearer ${token}` } });
    t.equal(get.status, 200, `GET /v1/runs/${id} still answers`);
    t.equal((await r.getRun(dir, id))['state'], 'succeeded', `runs.get ${id} over the socket still answers`);
    const trace = await r.cli(dir, ['runs', 'trace', id, '--json']);
    t.equal(trace.code, 0, `runs trace ${id} still answers`);
  }

  t.equal((await r.cli(dir, ['daemon', 'stop'])).code, 0, 'a degraded daemon stops when asked');
  const before = readdirSync(dir);

  // the next start on the still-full disk: one clear error, and nothing copied aside
  const again = await r.cli(dir, ['daemon', 'start', '--no-http']);
  t.equal(again.code, 1, 'a start on the full disk fails');
  t.equal(again.stderr.split('\n').filter((l) => l.startsWith('arpd: error:')).length, 1, `one error line: ${again.stderr}`);
  t.notMatch(again.stderr, /"level"|\{"/, 'no JSON log line or stack');
  const aside = readdirSync(dir).filter((n) => !before.includes(n) && n.startsWith('events.jsonl.')).map((n) => [n, statSync(join(dir, n)).size]);
  t.ok(aside.every(([, size]) => Number(size) < 64 * 1024), `at most a torn last line was copied aside, not the log: ${JSON.stringify(aside)}`);

  disk.free();
  await r.startDaemon(dir, ['--no-autostart-instances']);
  for (const id of acked) t.ok(await r.getRun(dir, id).catch(() => undefined), `acknowledged run ${id} is there after freeing space`);
  for (const id of acked.slice(0, 5)) t.equal((await r.getRun(dir, id))['state'], 'succeeded', `${id} is still succeeded`);
  await waitFor('the followed run to end', async () => ['succeeded', 'failed', 'canceled'].includes(String((await r.getRun(dir, 'followed'))['state'])), 60_000);
  const ends = (await r.events(dir, ['run.succeeded', 'run.failed', 'run.canceled'])).filter((e) => e.data['run_id'] === 'followed');
  t.equal(ends.length, 1, 'the followed run has exactly one end');
  const verify = await r.cli(dir, ['log', 'verify']);
  t.equal(verify.code, 0, `the log verifies: ${verify.stdout}${verify.stderr}`);
});

t.test('a start on a full data dir gives one E_STORAGE line that says so', async (t) => {
  const r = runtimeHarness(t);
  const disk = tmpfsDisk(t, r.newDataDir(), 4 * 1024 * 1024);
  const dir = join(disk.mountPoint, 'data');
  await r.startDaemon(dir);
  t.equal((await r.cli(dir, ['daemon', 'stop'])).code, 0);
  disk.fill();
  const start = await r.cli(dir, ['daemon', 'start', '--no-http']);
  const said = oneErrorLine(t, start, 'E_STORAGE', 'daemon start on a full data dir');
  t.match(said, /ENOSPC|full/, 'the message says the disk is full');
  t.notMatch(said, /see the daemon log/, 'and does not send the user to a log it could not write');
});
