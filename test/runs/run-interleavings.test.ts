/**
 * A property over interleavings: whatever order submits, cancels, instance stops, runtime crashes and
 * revivals, and daemon restarts happen in (fast-check's scheduler picks the order they are let go in;
 * they then overlap for real), once the daemon is quiet every accepted run has ended exactly once,
 * every run log is contiguous and ends with that end, no runtime keeps running a run arpd has ended,
 * a deleted instance stays stopped, no instance is left busy, and the in-memory registry equals a
 * fresh replay of the log.
 *
 * To keep 200 cases affordable the daemon runs in this process (`Daemon.start` with the real
 * features, no HTTP) and the runtimes are in-process reference runtimes registered as EXTERNAL
 * instances: a "crash" closes a runtime's server and every connection abruptly (the `crash` goal does
 * the same from inside), a "revive" serves a new runtime on the crashed one's port, a "stop" is
 * `instances.delete`, a "restart" is a graceful stop that leaves the runtimes alone, then a new daemon
 * on the same data dir. Each case gets its own data dir, shut down at its end.
 *
 * Reproduce a failure: ARPD_INTERLEAVINGS_SEED=<seed> ARPD_INTERLEAVINGS_PATH=<path> (from the report;
 * the timing is real, so a replay may need a few tries); ARPD_INTERLEAVINGS_SHRINK=1 shrinks;
 * ARPD_INTERLEAVINGS_RUNS=<n> runs more or fewer cases.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { daemonOptionsOf } from '../../src/cli/serve-options.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { ArpdError } from '../../src/errors/index.js';
import { forEachEvent } from '../../src/events/log-read.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { InstanceOps } from '../../src/features/instance-ops.js';
import type { ProfileOps } from '../../src/features/profile-ops.js';
import type { RunOps } from '../../src/features/run-ops.js';
import { Projection } from '../../src/projections/projection.js';
import { startReferenceRuntime, type RunningReferenceRuntime } from '../../src/runtime/reference-runtime.js';
import { VERSION } from '../../src/version.js';
import { REFERENCE_COMMAND, waitFor } from '../helpers/runtime-harness.js';

const NUM_RUNS = Number(process.env['ARPD_INTERLEAVINGS_RUNS'] ?? 200);
const TERMINAL_TYPES = new Set(['run.succeeded', 'run.failed', 'run.canceled']);
const TERMINAL_STATES = new Set(['succeeded', 'failed', 'canceled']);

type Goal = { kind: 'quick' } | { kind: 'sleep'; ms: number } | { kind: 'fail' } | { kind: 'crash' };
type Op =
  | { type: 'submit'; goal: Goal; target: number | undefined; timeoutMs: number | undefined }
  | { type: 'cancel'; pick: number }
  | { type: 'stop'; runtime: number }
  | { type: 'crash'; runtime: number }
  | { type: 'revive'; runtime: number }
  | { type: 'restart' };
interface Scenario { caps: Array<1 | 2>; ops: Op[] }

const goalArb: fc.Arbitrary<Goal> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Goal>({ kind: 'quick' }) },
  { weight: 4, arbitrary: fc.constantFrom(20, 80, 200).map<Goal>((ms) => ({ kind: 'sleep', ms })) },
  { weight: 1, arbitrary: fc.constant<Goal>({ kind: 'sleep', ms: 1500 }) },
  { weight: 1, arbitrary: fc.constant<Goal>({ kind: 'fail' }) },
  { weight: 1, arbitrary: fc.constant<Goal>({ kind: 'crash' }) },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc.integer({ min: 1, max: 2 }).chain((n) => {
  const runtime = fc.integer({ min: 0, max: n - 1 });
  const op: fc.Arbitrary<Op> = fc.oneof(
    { weight: 6, arbitrary: fc.record({ type: fc.constant('submit' as const), goal: goalArb, target: fc.option(runtime, { nil: undefined }), timeoutMs: fc.option(fc.constantFrom(50, 150), { nil: undefined, freq: 4 }) }) },
    { weight: 3, arbitrary: fc.record({ type: fc.constant('cancel' as const), pick: fc.nat() }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('stop' as const), runtime }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('crash' as const), runtime }) },
    { weight: 1, arbitrary: fc.record({ type: fc.constant('revive' as const), runtime }) },
    { weight: 1, arbitrary: fc.constant<Op>({ type: 'restart' }) },
  );
  return fc.record({ caps: fc.array(fc.constantFrom<1 | 2>(1, 2), { minLength: n, maxLength: n }), ops: fc.array(op, { minLength: 1, maxLength: 8 }) });
});

function goalText(g: Goal): string {
  switch (g.kind) {
    case 'quick': return 'What is (19*23)?';
    case 'sleep': return `sleep:${g.ms} What is 2+2?`;
    case 'fail': return 'fail:as asked';
    case 'crash': return 'crash';
    default: {
      const never: never = g;
      return never;
    }
  }
}


interface RuntimeSlot {
  rt: RunningReferenceRuntime;
  /** Every runtime that served this slot's endpoint (a revived one replaces a crashed one on the same port). */
  all: RunningReferenceRuntime[];
  instanceId: string;
  crashed: boolean;
  /** instances.delete answered for it. */
  stopped: boolean;
}

/** Closes a runtime's listener and drops every connection at once (what a killed process looks like from outside). */
function crashNow(slot: RuntimeSlot): void {
  if (slot.crashed) return;
  slot.crashed = true;
  slot.rt.app.server.close();
  slot.rt.app.server.closeAllConnections();
}

interface Outcome { failures: string[] }

/** One daemon in this process and the operations of its features. */
interface Live {
  daemon: Daemon;
  profiles: ProfileOps;
  instances: InstanceOps;
  runs: RunOps;
}

async function boot(dir: string): Promise<Live> {
  const options = daemonOptionsOf({ http: false, queueTimeout: '250', autostartInstances: false, healthInterval: '50' }, { dataDir: dir, socketPath: join(dir, 'arpd.sock'), foreground: false });
  const daemon = await Daemon.start(options, VERSION);
  return { daemon, profiles: daemon.ops.profiles, instances: daemon.ops.instances, runs: daemon.ops.runs };
}

async function runScenario(s: fc.Scheduler, scenario: Scenario): Promise<Outcome> {
  const failures: string[] = [];
  const dir = mkdtempSync('/tmp/arpd-');
  const slots: RuntimeSlot[] = [];
  let live: Live | undefined;
  const daemons: Daemon[] = [];
  try {
    live = await boot(dir);
    daemons.push(live.daemon);
    await live.profiles.upsert('pair', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [...REFERENCE_COMMAND] }, 'arpd.runtime': { max_concurrent_runs: 2 } } });

    // the crash goal makes the runtime crash itself, as the standalone one exits
    const serve = (port: number, holder: { slot?: RuntimeSlot }): Promise<RunningReferenceRuntime> =>
      startReferenceRuntime({ host: '127.0.0.1', port, stepDelayMs: 1, crashDelayMs: 5, onCrash: () => { if (holder.slot !== undefined) crashNow(holder.slot); } });
    const holders: Array<{ slot?: RuntimeSlot }> = [];
    for (const cap of scenario.caps) {
      const holder: { slot?: RuntimeSlot } = {};
      const rt = await serve(0, holder);
      const reg = await live.instances.register({ runtime_api_endpoint: rt.url, ...(cap === 2 ? { runtime_profile: 'pair' } : {}) });
      const slot: RuntimeSlot = { rt, all: [rt], instanceId: reg.instance.instance_id, crashed: false, stopped: false };
      holder.slot = slot;
      holders.push(holder);
      slots.push(slot);
      if (reg.instance.state !== 'ready') failures.push(`runtime ${slots.length - 1} registered as ${reg.instance.state}`);
    }

    const submitted: string[] = [];
    const unexpected = (what: string) => (err: unknown): void => {
      const code = (err as ArpdError).code;
      // refusals with a stable code are answers; anything else is a defect
      if (code === undefined || code === 'E_INTERNAL') failures.push(`${what} threw ${String(code)}: ${(err as Error).message}`);
    };
    // a restart stops the daemon (leaving the runtimes alone, as --keep-instances does) and starts a new one on the same data dir;
    // operations let go meanwhile meet the stopping daemon (E_UNAVAILABLE) or the new one
    let restarting: Promise<void> = Promise.resolve();
    const current = (): Live => live as Live;
    const exec = async (op: Op): Promise<void> => {
      const { runs, instances } = current();
      switch (op.type) {
        case 'submit': {
          const slot = op.target === undefined ? undefined : slots[op.target];
          const request = {
            input: { goal: goalText(op.goal) },
            ...(slot === undefined ? {} : { runtime_selector: { instance_id: slot.instanceId } }),
            ...(op.timeoutMs === undefined ? {} : { limits: { timeout_ms: op.timeoutMs } }),
          };
          await runs.submit(request).then((st) => { submitted.push(st.run_id); }, unexpected('submit'));
          return;
        }
        case 'cancel': {
          if (submitted.length === 0) return;
          const id = submitted[op.pick % submitted.length] as string;
          await runs.cancel(id).then((st) => {
            if (!TERMINAL_STATES.has(st.state)) failures.push(`cancel of ${id} answered state ${st.state}`);
          }, unexpected('cancel'));
          return;
        }
        case 'stop': {
          const slot = slots[op.runtime] as RuntimeSlot;
          await instances.delete(slot.instanceId).then(() => { slot.stopped = true; }, unexpected('instances.delete'));
          return;
        }
        case 'restart': {
          restarting = restarting.then(async () => {
            const old = current();
            await old.daemon.shutdown('restart in the test', { keepInstances: true });
            await old.daemon.done;
            live = await boot(dir);
            daemons.push(live.daemon);
          });
          await restarting;
          return;
        }
        case 'revive': {
          // a new runtime on the crashed one's port: the daemon finds it by its health check
          const slot = slots[op.runtime] as RuntimeSlot;
          if (!slot.crashed) return;
          const rt = await serve(slot.rt.port, holders[op.runtime] as { slot?: RuntimeSlot }).catch(() => undefined);
          if (rt === undefined) return; // the port was taken meanwhile
          slot.all.push(rt);
          slot.rt = rt;
          slot.crashed = false;
          return;
        }
        case 'crash':
          crashNow(slots[op.runtime] as RuntimeSlot);
          return;
        default: {
          const never: never = op;
          throw new Error(`unknown op ${JSON.stringify(never)}`);
        }
      }
    };
    // the scheduler decides the order in which the operations are let go; they then overlap for real
    const done = scenario.ops.map((op, i) => s.schedule(Promise.resolve(i), `${op.type} #${i}`).then(() => exec(op)));
    await s.waitAll();
    await Promise.all(done);
    await restarting;

    // quiescence: every accepted run ends, the router holds nothing
    const { runs, daemon } = current();
    const reg = daemon.projection.registry;
    for (const id of [...reg.runOrder]) {
      const st = await runs.wait(id, 20_000);
      if (!TERMINAL_STATES.has(st.state)) failures.push(`run ${id} is still ${st.state} after 20 s (phase ${String(reg.runs.get(id)?.phase)})`);
    }
    await waitFor('the daemon to be idle', () => !daemon.busy(), 20_000).catch(() => failures.push(`the daemon is still busy: ${JSON.stringify(daemon.partsStatus())}`));

    // no live runtime keeps running a run that arpd has ended (arpd cancels at the runtime before it records an end
    // of its own making, so only a moment's grace: the long goals sleep 1500 ms)
    for (const slot of slots) {
      if (slot.crashed) continue;
      const ids = [...reg.runs.values()].filter((v) => v.instance_id === slot.instanceId).map((v) => v.run_id);
      const orphans = await waitFor('runtimes to end the runs arpd ended', async () => {
        const left: string[] = [];
        for (const id of ids) {
          const res = await slot.rt.app.inject({ method: 'GET', url: `/v1/runs/${id}` });
          if (res.statusCode === 200 && !TERMINAL_STATES.has(String((res.json() as { state?: unknown }).state))) left.push(id);
        }
        return left.length === 0 ? [] : undefined;
      }, 500, 50).catch(() => ['(see below)']);
      if (orphans.length > 0) {
        for (const id of ids) {
          const res = await slot.rt.app.inject({ method: 'GET', url: `/v1/runs/${id}` });
          if (res.statusCode === 200 && !TERMINAL_STATES.has(String((res.json() as { state?: unknown }).state))) {
            failures.push(`runtime ${slot.instanceId} still runs ${id} (${String((res.json() as { state?: unknown }).state)}) though arpd recorded it ${reg.runs.get(id)?.state ?? '?'}`);
          }
        }
      }
    }
    // a deleted instance stays stopped
    for (const slot of slots) {
      const state = reg.instances.get(slot.instanceId)?.state;
      if (slot.stopped && state !== 'stopped') failures.push(`instance ${slot.instanceId} was deleted but is ${String(state)}`);
    }
    // at rest no instance is busy (the router records ready/busy after the fact: give it a moment)
    const busy = (): string[] => [...reg.instances.values()].filter((i) => reg.activeRuns(i.instance_id).size > 0).map((i) => `${i.instance_id} (runs in flight: ${[...reg.activeRuns(i.instance_id)].join(', ')})`);
    await waitFor('no instance to be busy', () => busy().length === 0, 3000).catch(() => failures.push(`instances busy with nothing in flight: ${busy().join(', ')}`));

    await daemon.shutdown('end of case');
    await daemon.done;

    // the log: every accepted run ended exactly once
    const events: StoredEvent[] = [];
    forEachEvent(dir, (e) => { events.push(e); });
    const byRun = new Map<string, StoredEvent[]>();
    for (const e of events) {
      if (!e.stream.startsWith('run:')) continue;
      const list = byRun.get(e.stream.slice(4)) ?? [];
      list.push(e);
      byRun.set(e.stream.slice(4), list);
    }
    for (const [id, list] of byRun) {
      if (list[0]?.type !== 'run.accepted') failures.push(`run ${id} starts with ${String(list[0]?.type)}`);
      const ends = list.filter((e) => TERMINAL_TYPES.has(e.type));
      if (ends.length !== 1) failures.push(`run ${id} has ${ends.length} terminal events (${ends.map((e) => e.type).join(', ')})`);
      if (!TERMINAL_TYPES.has(list.at(-1)?.type ?? '')) failures.push(`run ${id}: its last event is ${String(list.at(-1)?.type)}, not its end`);
      // the runtime's events, each once and in order (across reconnects and daemon restarts)
      const runtimeSeqs = list.filter((e) => e.type === 'run.trace').map((e) => (e.data as { data?: { seq?: unknown } }).data?.seq).filter((q): q is number => typeof q === 'number');
      if (!runtimeSeqs.every((q, i) => i === 0 || q > (runtimeSeqs[i - 1] as number))) failures.push(`run ${id}: runtime event seqs ${runtimeSeqs.join(',')} repeat or go back`);
      // its run log: contiguous seq from 1, one line per event of the stream, ending with the end
      let lines: Array<{ seq: number; type: string }> = [];
      try {
        lines = readFileSync(join(dir, 'runs', id, 'trace.jsonl'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { seq: number; type: string });
      } catch (err) {
        failures.push(`run ${id}: no readable trace.jsonl (${(err as Error).message})`);
      }
      if (!lines.every((l, i) => l.seq === i + 1)) failures.push(`run ${id}: trace seq ${lines.map((l) => l.seq).join(',')} has a gap`);
      if (lines.length !== list.length) failures.push(`run ${id}: trace.jsonl has ${lines.length} lines, the log ${list.length} events`);
    }
    const accepted = [...byRun.keys()];
    if (accepted.length !== submitted.length || !submitted.every((id) => byRun.has(id))) failures.push(`accepted ${accepted.length} runs, submits answered ${submitted.length}`);

    // the registry equals a fresh replay of the log
    const replay = new Projection();
    forEachEvent(dir, (e) => { replay.push(e); });
    const inMemory = JSON.stringify(daemon.projection.registry.snapshot());
    const fresh = JSON.stringify(replay.registry.snapshot());
    if (inMemory !== fresh) failures.push(`the registry differs from a replay of the log:\nlive:   ${inMemory.slice(0, 2000)}\nreplay: ${fresh.slice(0, 2000)}`);
  } finally {
    for (const d of daemons) {
      if (!d.isStopping) await d.shutdown('cleanup').catch(() => undefined);
      await d.done.catch(() => undefined);
    }
    for (const rt of slots.flatMap((sl) => sl.all)) {
      rt.app.server.closeAllConnections();
      await rt.close().catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  }
  return { failures };
}

t.test('every accepted run ends exactly once, traces stay contiguous and the registry equals a replay, under any interleaving of submits, cancels, stops, crashes and restarts', async (t) => {
  let cases = 0;
  const started = Date.now();
  await fc.assert(
    fc.asyncProperty(fc.scheduler(), scenarioArb, async (s, scenario) => {
      cases++;
      const { failures } = await runScenario(s, scenario);
      if (failures.length > 0) throw new Error(`${failures.join('\n')}\nscheduler: ${s.report().map((r) => r.label).join(' -> ')}`);
    }),
    {
      numRuns: NUM_RUNS,
      endOnFailure: process.env['ARPD_INTERLEAVINGS_SHRINK'] === undefined,
      ...(process.env['ARPD_INTERLEAVINGS_SEED'] === undefined ? {} : { seed: Number(process.env['ARPD_INTERLEAVINGS_SEED']) }),
      ...(process.env['ARPD_INTERLEAVINGS_PATH'] === undefined ? {} : { path: process.env['ARPD_INTERLEAVINGS_PATH'] }),
    },
  );
  t.pass(`${NUM_RUNS} interleavings hold (${cases} cases run in ${Math.round((Date.now() - started) / 1000)} s)`);
});
