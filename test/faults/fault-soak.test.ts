/**
 * The fault soak (issue 11): a workload of runs on a real daemon whose data dir is a small real disk, while faults
 * hit it one per round, in an order drawn from a seed:
 *
 * - `daemon-kill`: SIGKILL of the daemon, then a start;
 * - `runtime-kill`: SIGKILL of a runtime process with runs on it;
 * - `runtime-garbage`: a runtime turns into one that answers 200 with non-ARP JSON to everything;
 * - `disk-full`: the disk fills up (ENOSPC) under the daemon; it is stopped, space is freed, it starts again;
 * - `disk-read-only`: the disk turns read-only under the daemon's open files (an ext4 error), then is repaired and
 *   mounted read-write again (every process holding a file there dies with it), and the daemon starts again;
 * - `corrupt-line`: the daemon is killed, one byte of a run event in the middle of the log is flipped, a plain start
 *   refuses, `arpd log verify` reports it, and `arpd daemon start --repair` starts it.
 *
 * The runtime is the counting runtime (fixtures/runtimes/counting-runtime): it appends every run it takes to a
 * count file outside the data dir, fdatasynced before it answers. After each round, once every run the daemon
 * acknowledged has ended, the invariants are checked: every acknowledged run is there (nothing acknowledged lost)
 * with exactly one terminal event in the log, no run was executed twice, and `arpd log verify` is clean.
 *
 * The disk is an ext4 image on a loop device (test/helpers/scratch-fs.ts), because a tmpfs cannot be made read-only
 * under open files (`mount -o remount,ro` answers EBUSY); it fills up the same way.
 *
 * `npm test` runs 1 round, one fault drawn from the seed (ARPD_FAULT_ROUNDS=6 runs each fault once); `npm run soak` runs 36 rounds or 20 minutes, whichever ends first
 * (ARPD_FAULT_SOAK_SECONDS). ARPD_FAULT_SEED replays an order. The closing comment says rounds, faults and checks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { countingCommand, executions } from '../helpers/counting-runtime.js';
import { instancePid, isRunning, runtimeHarness, waitFor, type Json, type RuntimeHarness } from '../helpers/runtime-harness.js';
import { ext4Disk } from '../helpers/scratch-fs.js';
import { SOAK, soakCount } from '../helpers/soak.js';

const FAULTS = ['daemon-kill', 'runtime-kill', 'runtime-garbage', 'disk-full', 'disk-read-only', 'corrupt-line'] as const;
type Fault = (typeof FAULTS)[number];

const ROUNDS = soakCount('ARPD_FAULT_ROUNDS', { ci: 1, soak: 36 });
const SECONDS = soakCount('ARPD_FAULT_SOAK_SECONDS', { ci: 600, soak: 1200 });
const SEED = process.env['ARPD_FAULT_SEED'] !== undefined && process.env['ARPD_FAULT_SEED'] !== '' ? Number(process.env['ARPD_FAULT_SEED']) : Math.floor(Math.random() * 2 ** 31);
const RUNS_PER_ROUND = SOAK ? 5 : 3;
const TERMINAL = ['run.succeeded', 'run.failed', 'run.canceled'];

/** mulberry32: a small seeded generator, so a failing order can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** The faults in rounds: each block of six holds every fault once, in an order drawn from the seed. */
function plan(rounds: number, random: () => number): Fault[] {
  const out: Fault[] = [];
  while (out.length < rounds) {
    const block = [...FAULTS];
    for (let i = block.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [block[i], block[j]] = [block[j] as Fault, block[i] as Fault];
    }
    out.push(...block);
  }
  return out.slice(0, rounds);
}

const DAEMON_FLAGS = ['--default-profile', 'counting', '--run-timeout', '30000', '--queue-timeout', '30000', '--progress-timeout', '15000'];

t.test(`every accepted run ends exactly once, none runs twice and nothing acknowledged is lost while faults hit (seed ${SEED})`, async (t) => {
  const r = runtimeHarness(t);
  const counts = mkdtempSync(join(tmpdir(), 'arpd-counts-'));
  t.teardown(() => rmSync(counts, { recursive: true, force: true }));
  const countFile = join(counts, 'executions.jsonl');
  writeFileSync(countFile, '');
  const disk = ext4Disk(t, r.newDataDir(), 64 * 1024 * 1024);
  const dir = join(disk.mountPoint, 'data');
  await r.startDaemon(dir, DAEMON_FLAGS);
  await r.upsertProfile(dir, 'counting', {
    extensions: {
      'arp.jarvis.exec': { driver: 'command', command_template: countingCommand(countFile, ['--step-delay-ms', '50']) },
      'arpd.runtime': { max_concurrent_runs: 4, max_instances: 2, health_interval_ms: 500 },
    },
  });
  const acked: string[] = [];
  const tally = { rounds: 0, checks: 0, faults: new Map<Fault, number>(), refusedSubmits: 0 };
  const order = plan(ROUNDS, rng(SEED));
  const until = Date.now() + SECONDS * 1000;
  for (const [round, fault] of order.entries()) {
    if (Date.now() > until) break;
    await t.test(`round ${round + 1}: ${fault}`, async (t) => {
      const submit = async (id: string, goal: string): Promise<boolean> => {
        const res = await r.cli(dir, ['runs', 'submit', '--goal', goal, '--run-id', id, '--no-autostart']);
        if (res.code === 0) { acked.push(id); return true; }
        tally.refusedSubmits++;
        return false;
      };
      for (let i = 0; i < RUNS_PER_ROUND; i++) await submit(`r${round}-${i}`, `sleep:${1000 + 400 * i} What is ${round}+${i}?`);
      await inject(t, r, dir, fault, { countFile, disk, submit: (id) => submit(id, 'What is 2*3?'), round });
      tally.faults.set(fault, (tally.faults.get(fault) ?? 0) + 1);
      tally.checks += await invariants(t, r, dir, acked, countFile);
      tally.rounds++;
    });
  }
  t.comment(`fault soak (seed ${SEED}): ${tally.rounds} rounds, faults ${[...tally.faults].map(([f, n]) => `${f}×${n}`).join(', ')}, ${acked.length} runs acknowledged, ${tally.refusedSubmits} submits refused, ${tally.checks} invariant checks`);
  t.ok(tally.rounds >= 1, 'at least one round ran');
  t.ok(executions(countFile).size > 0, 'the counting runtime executed runs (so "none executed twice" counted something)');
});

interface FaultRig {
  countFile: string;
  disk: ReturnType<typeof ext4Disk>;
  submit: (id: string) => Promise<boolean>;
  round: number;
}

async function daemonPid(r: RuntimeHarness, dir: string): Promise<number | undefined> {
  const st = await r.h.status(dir);
  const pid = st?.['pid'];
  return typeof pid === 'number' ? pid : undefined;
}

/** A live instance of the counting profile with a run on it, if one comes within a few seconds. */
async function busyRuntimePid(r: RuntimeHarness, dir: string): Promise<number | undefined> {
  try {
    return await waitFor('a runtime with runs', async () => {
      const list = await r.call<{ instances: Json[] }>(dir, 'instances.list', {});
      const inst = list.instances.find((i) => i['state'] === 'busy' || i['state'] === 'ready');
      return inst === undefined ? undefined : instancePid(inst);
    }, 15_000);
  } catch {
    return undefined;
  }
}

async function inject(t: Test, r: RuntimeHarness, dir: string, fault: Fault, rig: FaultRig): Promise<void> {
  switch (fault) {
    case 'daemon-kill': {
      const pid = await daemonPid(r, dir);
      if (pid === undefined) throw new Error('no daemon to kill');
      process.kill(pid, 'SIGKILL');
      await waitFor('the daemon to die', () => !isRunning(pid));
      await r.startDaemon(dir, DAEMON_FLAGS);
      return;
    }
    case 'runtime-kill':
    case 'runtime-garbage': {
      const pid = await busyRuntimePid(r, dir);
      if (pid === undefined) { t.comment('no runtime was up to hit'); return; }
      process.kill(pid, fault === 'runtime-kill' ? 'SIGKILL' : 'SIGUSR2');
      // runs still come after it: they go to another instance
      await rig.submit(`r${rig.round}-after`);
      return;
    }
    case 'disk-full': {
      rig.disk.fill();
      for (let i = 0; i < 3; i++) await rig.submit(`r${rig.round}-full-${i}`);
      const stop = await r.cli(dir, ['daemon', 'stop']);
      t.equal(stop.code, 0, `the daemon on a full disk stops when asked: ${stop.stderr}`);
      rig.disk.free();
      await r.startDaemon(dir, DAEMON_FLAGS);
      return;
    }
    case 'disk-read-only': {
      rig.disk.makeReadOnly();
      for (let i = 0; i < 2; i++) await rig.submit(`r${rig.round}-ro-${i}`);
      const status = await r.h.status(dir);
      t.equal(status?.['state'], 'degraded', 'the daemon on a read-only disk is up and degraded');
      rig.disk.restore();
      await r.startDaemon(dir, DAEMON_FLAGS);
      return;
    }
    case 'corrupt-line': {
      const pid = await daemonPid(r, dir);
      if (pid === undefined) throw new Error('no daemon to kill');
      process.kill(pid, 'SIGKILL');
      await waitFor('the daemon to die', () => !isRunning(pid));
      const log = join(dir, 'events.jsonl');
      const buf = readFileSync(log);
      const lines = buf.toString('utf8').split('\n');
      const middle = lines.map((l, i) => [l, i] as const).filter(([l, i]) => i > 0 && i < lines.length - 4 && l.includes('"stream":"run:'));
      if (middle.length === 0) { t.comment('no run event in the middle of the active log segment'); await r.startDaemon(dir, DAEMON_FLAGS); return; }
      const [line, idx] = middle[Math.floor(middle.length / 2)] as readonly [string, number];
      const at = lines.slice(0, idx).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0) + Math.min(40, Buffer.byteLength(line) - 2);
      buf[at] = (buf[at] as number) ^ 0x04;
      writeFileSync(log, buf);
      const plain = await r.cli(dir, ['daemon', 'start', ...DAEMON_FLAGS]);
      t.not(plain.code, 0, 'a plain start refuses the damaged log');
      t.equal((await r.cli(dir, ['log', 'verify'])).code, 1, 'log verify reports the damage');
      await r.startDaemon(dir, ['--repair', ...DAEMON_FLAGS]);
      return;
    }
  }
}

/** Waits for every acknowledged run to end, then checks the invariants; returns how many checks it made. */
async function invariants(t: Test, r: RuntimeHarness, dir: string, acked: readonly string[], countFile: string): Promise<number> {
  let checks = 0;
  for (const id of acked) {
    const st = await r.waitRunEnded(dir, id, 120_000).catch((err: unknown) => { t.fail(`acknowledged run ${id} is there and ends: ${String(err)}`); return undefined; });
    checks++;
    if (st !== undefined) t.ok(['succeeded', 'failed', 'canceled'].includes(String(st['state'])), `${id} ended (${String(st['state'])})`);
  }
  const ends = new Map<string, number>();
  for (const e of await r.events(dir, TERMINAL)) {
    const id = String(e.data['run_id']);
    ends.set(id, (ends.get(id) ?? 0) + 1);
  }
  const notOnce = acked.filter((id) => ends.get(id) !== 1).map((id) => `${id}:${ends.get(id) ?? 0}`);
  t.same(notOnce, [], 'every acknowledged run has exactly one terminal event');
  const twice = [...executions(countFile)].filter(([, n]) => n > 1).map(([id, n]) => `${id}×${n}`);
  t.same(twice, [], 'no run was executed twice');
  const verify = await r.cli(dir, ['log', 'verify']);
  t.equal(verify.code, 0, `arpd log verify is clean: ${verify.stdout.slice(0, 500)}${verify.stderr}`);
  checks += acked.length + 2;
  try { execFileSync('sync'); } catch { /* best effort */ }
  return checks;
}
