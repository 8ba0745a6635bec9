/**
 * `arpd events`, `arpd log replay` and `arpd log verify` on a real data dir, and what a damaged log
 * does to `arpd serve` (refuses; `--repair` cuts it after copying it aside). The steps share one data
 * dir, in order: healthy with a daemon, healthy without, damaged, repaired.
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, parseNdjson, waitGone, type EventLine } from '../helpers/daemon-harness.js';

const PROFILE = '{"extensions":{"arp.jarvis.exec":{"driver":"command","command_template":["/bin/true"]}}}';

const h = daemonHarness(t);
const dir = h.newDataDir();
const log = join(dir, 'events.jsonl');
writeFileSync(join(dir, 'p.json'), PROFILE);
const { pid } = await h.startDaemon(dir);

async function upsert(name: string): Promise<void> {
  const r = await h.cli(dir, ['profiles', 'upsert', name, '--request-json', join(dir, 'p.json')]);
  if (r.code !== 0) throw new Error(`profiles upsert ${name} failed: ${r.stderr}`);
}

await upsert('first');
await upsert('second');

t.test('events --type profile.upserted --json prints NDJSON lines that each parse', async (t) => {
  const r = await h.cli(dir, ['events', '--type', 'profile.upserted', '--json']);
  t.equal(r.code, 0, r.stderr);
  t.ok(r.stdout.endsWith('\n'));
  const events = parseNdjson<EventLine>(r.stdout);
  t.same(events.map((e) => e.data['runtime_profile']), ['default', 'first', 'second']);
  t.ok(events.every((e) => e.type === 'profile.upserted'), 'only that type');
  const seqs = events.map((e) => e.seq);
  t.same(seqs, [...seqs].sort((a, b) => a - b), 'in seq order');
});

t.test('events --follow prints new events as the daemon appends them', async (t) => {
  const follow = h.spawnCli(dir, ['events', '--follow', '--json', '--type', 'profile.upserted']);
  t.teardown(() => follow.kill('SIGKILL'));
  await follow.waitForOutput('the existing events', (out) => parseNdjson<EventLine>(out).length >= 3);
  await upsert('followed');
  await follow.waitForOutput('the new event', (out) => parseNdjson<EventLine>(out).some((e) => e.data['runtime_profile'] === 'followed'));
  follow.kill('SIGTERM');
  await follow.exited;
  const events = parseNdjson<EventLine>(follow.stdout());
  t.same(events.map((e) => e.data['runtime_profile']), ['default', 'first', 'second', 'followed'], 'each event once, in order');
});

t.test('log verify exits 0 on a healthy data dir, with or without a daemon', async (t) => {
  const live = await h.cli(dir, ['log', 'verify']);
  t.equal(live.code, 0, live.stdout);
  t.match(live.stdout, /^ok: /);
  const stop = await h.cli(dir, ['daemon', 'stop']);
  t.equal(stop.code, 0, stop.stderr);
  await waitGone(pid);
  const stopped = await h.cli(dir, ['log', 'verify', '--json']);
  t.equal(stopped.code, 0, stopped.stdout);
  const summary = JSON.parse(stopped.stdout) as { ok: boolean; events: number };
  t.equal(summary.ok, true);
  t.equal(summary.events, (await h.events(dir)).length);
});

t.test('log replay --json prints profiles, instances and runs', async (t) => {
  const r = await h.cli(dir, ['log', 'replay', '--json']);
  t.equal(r.code, 0, r.stderr);
  const state = JSON.parse(r.stdout) as { last_seq: number; profiles: { runtime_profile: string }[]; instances: unknown[]; runs: unknown[] };
  const events = await h.events(dir);
  t.equal(state.last_seq, events.at(-1)?.seq);
  t.same(state.profiles.map((p) => p.runtime_profile).sort(), ['default', 'first', 'followed', 'second']);
  t.same(state.instances, []);
  t.same(state.runs, []);
});

t.test('log replay --until <seq> gives the state as it was at that seq', async (t) => {
  const events = await h.events(dir);
  const first = events.find((e) => e.type === 'profile.upserted' && e.data['runtime_profile'] === 'first');
  t.ok(first);
  const seq = first?.seq ?? 0;
  const r = await h.cli(dir, ['log', 'replay', '--json', '--until', String(seq)]);
  t.equal(r.code, 0, r.stderr);
  const state = JSON.parse(r.stdout) as { last_seq: number; profiles: { runtime_profile: string }[] };
  t.equal(state.last_seq, seq);
  t.same(state.profiles.map((p) => p.runtime_profile).sort(), ['default', 'first']);
  const before = await h.cli(dir, ['log', 'replay', '--json', '--until', String(seq - 1)]);
  t.same((JSON.parse(before.stdout) as { profiles: { runtime_profile: string }[] }).profiles.map((p) => p.runtime_profile), ['default'], 'one seq earlier, without it');
});

t.test('a flipped byte in an earlier line: verify exits 1 naming line and offset, serve refuses, serve --repair starts', async (t) => {
  const bytes = readFileSync(log);
  const lines = bytes.toString('utf8').split('\n').filter((l) => l !== '');
  t.ok(lines.length >= 5, `${lines.length} lines`);
  const lineNo = 2;
  const offset = Buffer.byteLength(`${lines[0] as string}\n`);
  const at = offset + (lines[1] as string).indexOf('"stream":"') + '"stream":"'.length;
  bytes[at] = (bytes[at] as number) === 0x71 ? 0x72 : 0x71; // another ASCII letter: still JSON, checksum wrong
  writeFileSync(log, bytes);

  const verify = await h.cli(dir, ['log', 'verify']);
  t.equal(verify.code, 1, verify.stdout);
  t.match(verify.stdout, new RegExp(`line ${lineNo} \\(byte offset ${offset}\\)`), 'names the line and its byte offset');
  // the plan and the last line name the same command and say the same (the last line once said another command "cuts the log")
  t.match(verify.stdout, /what 'arpd daemon start --repair' would do/);
  t.match(verify.stderr, /'arpd daemon start --repair' does what the plan above says/);
  const verifyJson = await h.cli(dir, ['log', 'verify', '--json']);
  t.equal(verifyJson.code, 1);
  const damage = (JSON.parse(verifyJson.stdout) as { damage: { line: number; offset: number } }).damage;
  t.equal(damage.line, lineNo);
  t.equal(damage.offset, offset);

  // a boot from the snapshot taken at the last stop reads only the log after it: the damage is before it
  const fromSnapshot = h.spawnCli(dir, ['serve', '--no-http']);
  await fromSnapshot.waitForOutput('arpd ready', (_o, err) => /arpd ready: pid \d+/.test(err));
  fromSnapshot.kill('SIGTERM');
  t.equal((await fromSnapshot.exited).code, 0, 'it started and stopped cleanly');
  t.same(readFileSync(log).subarray(0, at + 1), bytes.subarray(0, at + 1), 'a boot from a snapshot leaves the damaged line alone');
  // without the snapshot the whole log is read, and the damage refuses the start
  rmSync(join(dir, 'snapshots'), { recursive: true, force: true });
  const damagedBytes = readFileSync(log);
  const serve = await h.cli(dir, ['serve', '--no-http']);
  t.not(serve.code, 0, 'serve refuses to start');
  t.notOk(serve.timedOut);
  t.match(serve.stderr, /arpd log verify/);
  t.match(serve.stderr, /--repair/);
  t.same(readFileSync(log), damagedBytes, 'the refused start changed nothing');

  const repaired = h.spawnCli(dir, ['serve', '--no-http', '--repair']);
  await repaired.waitForOutput('arpd ready', (_o, err) => /arpd ready: pid \d+/.test(err));
  t.ok(readdirSync(dir).some((n) => n.startsWith('events.jsonl.broken-')), 'a .broken- copy of the log exists');
  const copy = readdirSync(dir).find((n) => n.startsWith('events.jsonl.broken-')) as string;
  const copied = readFileSync(join(dir, copy)).toString('utf8');
  const damagedLine = damagedBytes.toString('utf8').split('\n')[lineNo - 1] as string;
  t.equal(copied.replace(/\n$/, ''), damagedLine, 'the copy holds the damaged line as it was, and only it');
  const kept = await h.events(dir);
  t.equal(kept[0]?.id, JSON.parse(lines[0] as string).id, 'the line before the damage is kept');
  t.equal((await h.status(dir))?.['pid'], repaired.pid, 'the repaired daemon serves');
  repaired.kill('SIGTERM');
  const r = await repaired.exited;
  t.equal(r.code, 0);
  const after = await h.cli(dir, ['log', 'verify']);
  t.equal(after.code, 0, `the repaired log verifies: ${after.stdout}`);
});
