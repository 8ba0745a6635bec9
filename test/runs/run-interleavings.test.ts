/**
 * A property over interleavings: whatever order submits, cancels, instance stops, runtime crashes and
 * revivals, and daemon restarts happen in, each either answered before the next starts or overlapping
 * the ones after it (both chosen by fast-check, so a case is a reproducible schedule of operations;
 * the daemon's own work runs on real time around them), once the daemon is quiet every accepted run has ended exactly once,
 * every run log is contiguous and ends with that end, no runtime keeps running a run arpd has ended,
 * a deleted instance stays stopped, no instance is left busy, and the in-memory registry equals a
 * fresh replay of the log. Each operation's own answer is checked too: a refusal or an unfinished
 * cancel is accepted only when something the test did explains it (a restart overlapping the call,
 * the targeted instance deleted, every instance deleted), never as "any stable code"; a run for an
 * instance whose delete has answered is refused.
 *
 * To keep the cases affordable the daemon runs in this process (`Daemon.start` with the real
 * features, no HTTP) and the runtimes are in-process reference runtimes registered as EXTERNAL
 * instances behind a TCP front of their own: a "crash" drops every connection and refuses new ones
 * (the `crash` goal does the same from inside), a "revive" puts a new runtime behind the same front (so
 * reviving cannot fail for want of the old port), a "stop" is `instances.delete`, a "restart" is a
 * graceful stop that leaves the runtimes alone, then a new daemon on the same data dir. Each case gets
 * its own data dir, shut down at its end.
 *
 * What is waited for is a state, never a pause: the runs' ends (runs.wait), the daemon being idle, the
 * runtimes having been told of the ends arpd decided (the bounds only catch a hang).
 *
 * `npm test` runs 40 cases, `npm run soak` (ARPD_SOAK=1) 300; ARPD_INTERLEAVINGS_RUNS sets the count.
 * Reproduce a failure: ARPD_INTERLEAVINGS_SEED=<seed> ARPD_INTERLEAVINGS_PATH=<path> (from the report;
 * the daemon's timing is real, so a replay may need a few tries); ARPD_INTERLEAVINGS_SHRINK=1 shrinks.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
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
import { soakCount } from '../helpers/soak.js';

const NUM_RUNS = soakCount('ARPD_INTERLEAVINGS_RUNS', { ci: 40, soak: 300 });
const TERMINAL_TYPES = new Set(['run.succeeded', 'run.failed', 'run.canceled']);
const TERMINAL_STATES = new Set(['succeeded', 'failed', 'canceled']);

/**
 * `hang` never ends by itself (ten minutes) and is sent without limits.timeout_ms, which the runtime
 * would enforce too: only arpd's own run deadline (--run-timeout 1000), a cancel, a delete or a crash
 * ends it, and arpd must then tell the runtime.
 */
type Goal = { kind: 'quick' } | { kind: 'sleep'; ms: number } | { kind: 'hang' } | { kind: 'fail' } | { kind: 'crash' };
type Op =
  | { type: 'submit'; goal: Goal; target: number | undefined; timeoutMs: number | undefined }
  | { type: 'cancel'; pick: number }
  | { type: 'stop'; runtime: number }
  | { type: 'crash'; runtime: number }
  | { type: 'revive'; runtime: number }
  | { type: 'restart' };
/** An operation, and whether the next one starts at once (overlapping it) or once it has answered. */
interface Step { op: Op; overlap: boolean }
interface Scenario { caps: Array<1 | 2>; steps: Step[] }

const goalArb: fc.Arbitrary<Goal> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Goal>({ kind: 'quick' }) },
  { weight: 4, arbitrary: fc.constantFrom(20, 80, 200).map<Goal>((ms) => ({ kind: 'sleep', ms })) },
  { weight: 1, arbitrary: fc.constant<Goal>({ kind: 'sleep', ms: 700 }) },
  { weight: 2, arbitrary: fc.constant<Goal>({ kind: 'hang' }) },
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
  return fc.record({
    caps: fc.array(fc.constantFrom<1 | 2>(1, 2), { minLength: n, maxLength: n }),
    steps: fc.array(fc.record({ op, overlap: fc.boolean() }), { minLength: 1, maxLength: 8 }),
  });
});

function goalText(g: Goal): string {
  switch (g.kind) {
    case 'quick': return 'What is (19*23)?';
    case 'sleep': return `sleep:${g.ms} What is 2+2?`;
    case 'hang': return 'sleep:600000 What is 3+3?';
    case 'fail': return 'fail:as asked';
    case 'crash': return 'crash';
    default: {
      const never: never = g;
      return never;
    }
  }
}


interface RuntimeSlot {
  /** The front arpd knows the runtime by: it listens for the whole case and passes connections to `rt`. */
  front: net.Server;
  url: string;
  /** The runtime behind the front now. */
  rt: RunningReferenceRuntime;
  /** Every runtime that was behind the front (a revived one replaces a crashed one). */
  all: RunningReferenceRuntime[];
  /** Open connections through the front, both ends. */
  links: Set<net.Socket>;
  instanceId: string;
  crashed: boolean;
  /** A stop (instances.delete) was asked for. */
  stopRequested: boolean;
  /** instances.delete answered for it. */
  stopped: boolean;
}

/** A TCP front for a slot: while the slot is up it pipes each connection to the slot's runtime, while crashed it resets them. */
async function openFront(slot: Pick<RuntimeSlot, 'crashed' | 'links'> & { rt?: RunningReferenceRuntime }): Promise<net.Server> {
  const front = net.createServer((client) => {
    if (slot.crashed || slot.rt === undefined) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(slot.rt.port, '127.0.0.1');
    slot.links.add(client);
    slot.links.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      slot.links.delete(client);
      slot.links.delete(upstream);
    };
    for (const sock of [client, upstream]) {
      sock.on('error', drop);
      sock.on('close', drop);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
  return front;
}

/** Drops every connection and closes the runtime: from outside, what a killed process looks like. */
function crashNow(slot: RuntimeSlot): void {
  if (slot.crashed) return;
  slot.crashed = true;
  for (const sock of slot.links) sock.resetAndDestroy();
  slot.links.clear();
  slot.rt.app.server.close();
  slot.rt.app.server.closeAllConnections();
}

interface Outcome { failures: string[] }

/** What the cases exercised, for the report line (how many answers of each kind were checked). */
const seen = new Map<string, number>();
const count = (what: string): void => { seen.set(what, (seen.get(what) ?? 0) + 1); };

/** One daemon in this process and the operations of its features. */
interface Live {
  daemon: Daemon;
  profiles: ProfileOps;
  instances: InstanceOps;
  runs: RunOps;
}

async function boot(dir: string): Promise<Live> {
  const options = daemonOptionsOf({ http: false, queueTimeout: '250', runTimeout: '1000', autostartInstances: false, healthInterval: '50' }, { dataDir: dir, socketPath: join(dir, 'arpd.sock'), foreground: false });
  const daemon = await Daemon.start(options, VERSION);
  return { daemon, profiles: daemon.ops.profiles, instances: daemon.ops.instances, runs: daemon.ops.runs };
}

async function runScenario(scenario: Scenario): Promise<Outcome> {
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
    const serve = (holder: { slot?: RuntimeSlot }): Promise<RunningReferenceRuntime> =>
      startReferenceRuntime({ host: '127.0.0.1', port: 0, stepDelayMs: 1, crashDelayMs: 5, onCrash: () => { if (holder.slot !== undefined) crashNow(holder.slot); } });
    const holders: Array<{ slot?: RuntimeSlot }> = [];
    for (const cap of scenario.caps) {
      const holder: { slot?: RuntimeSlot } = {};
      const rt = await serve(holder);
      const partial = { rt, crashed: false, links: new Set<net.Socket>() };
      const front = await openFront(partial);
      const url = `http://127.0.0.1:${(front.address() as net.AddressInfo).port}`;
      const slot: RuntimeSlot = Object.assign(partial, { front, url, all: [rt], instanceId: '', stopRequested: false, stopped: false });
      slots.push(slot);
      const reg = await live.instances.register({ runtime_api_endpoint: url, ...(cap === 2 ? { runtime_profile: 'pair' } : {}) });
      slot.instanceId = reg.instance.instance_id;
      holder.slot = slot;
      holders.push(holder);
      if (reg.instance.state !== 'ready') failures.push(`runtime ${slots.length - 1} registered as ${reg.instance.state}`);
    }

    const submitted: string[] = [];
    // restarts begun and done: a call that overlapped one may meet the stopping daemon
    const restarts = { begun: 0, done: 0 };
    type Window = { begun: number; inProgress: boolean };
    const windowNow = (): Window => ({ begun: restarts.begun, inProgress: restarts.begun > restarts.done });
    const restartOverlapped = (w: Window): boolean => w.inProgress || restarts.begun > w.begun;
    /** A refusal is an answer only when `allowed` says what the test did explains it; anything else is a defect. */
    const refused = (what: string, allowed: (code: string) => boolean) => (err: unknown): void => {
      const code = (err as ArpdError).code;
      count(`${what.split(' ')[0] ?? what} refused ${String(code)}`);
      if (code === undefined || !allowed(code)) failures.push(`${what} was refused with ${String(code)}, which nothing the test did explains: ${(err as Error).message}`);
    };
    // a restart stops the daemon (leaving the runtimes alone, as --keep-instances does) and starts a new one on the same data dir;
    // operations let go meanwhile meet the stopping daemon (E_UNAVAILABLE) or the new one
    let restarting: Promise<void> = Promise.resolve();
    const current = (): Live => live as Live;
    /**
     * Waits until the daemon (the current one, across restarts) has recorded the slot's instance in one
     * of `states`, or until a later step changed what it should record (`moot`: revived, crashed again).
     */
    const recorded = (slot: RuntimeSlot, states: readonly string[], what: string, moot: () => boolean): Promise<void> =>
      waitFor(`arpd to record that instance ${slot.instanceId} ${what}`, () => moot() || states.includes(String(current().daemon.projection.registry.instances.get(slot.instanceId)?.state)), 10_000)
        .then(() => undefined, () => { failures.push(`arpd never recorded that instance ${slot.instanceId} ${what} (it is ${String(current().daemon.projection.registry.instances.get(slot.instanceId)?.state)})`); });
    const exec = async (op: Op): Promise<void> => {
      const w = windowNow();
      const { runs, instances } = current();
      switch (op.type) {
        case 'submit': {
          const slot = op.target === undefined ? undefined : slots[op.target];
          const timeoutMs = op.goal.kind === 'hang' ? undefined : op.timeoutMs;
          const request = {
            input: { goal: goalText(op.goal) },
            ...(slot === undefined ? {} : { runtime_selector: { instance_id: slot.instanceId } }),
            ...(timeoutMs === undefined ? {} : { limits: { timeout_ms: timeoutMs } }),
          };
          const deletedBefore = slot?.stopped === true;
          await runs.submit(request).then((st) => {
            submitted.push(st.run_id);
            count('submit accepted');
            if (deletedBefore) failures.push(`submit for instance ${slot?.instanceId ?? '?'} was accepted (${st.run_id}) after its delete had answered`);
          }, refused(`submit ${JSON.stringify(request)}`, (code) =>
            (code === 'E_UNAVAILABLE' && restartOverlapped(w))
            // the instance it names was deleted
            || (code === 'E_NOT_FOUND' && slot?.stopRequested === true)
            // nothing is left to take a run without a selector
            || (code === 'E_NOT_READY' && slot === undefined && slots.every((sl) => sl.stopRequested))));
          return;
        }
        case 'cancel': {
          if (submitted.length === 0) return;
          const id = submitted[op.pick % submitted.length] as string;
          await runs.cancel(id).then((st) => {
            // a daemon stopped by a restart leaves the cancel to the next one (it re-attaches and cancels)
            count(`cancel answered ${st.state}`);
            if (!TERMINAL_STATES.has(st.state) && !restartOverlapped(w)) failures.push(`cancel of ${id} answered state ${st.state}`);
          }, refused(`cancel of ${id}`, (code) => code === 'E_UNAVAILABLE' && restartOverlapped(w)));
          return;
        }
        case 'stop': {
          const slot = slots[op.runtime] as RuntimeSlot;
          slot.stopRequested = true;
          await instances.delete(slot.instanceId).then(() => { slot.stopped = true; }, refused(`instances.delete ${slot.instanceId}`, (code) => code === 'E_UNAVAILABLE' && restartOverlapped(w)));
          return;
        }
        case 'restart': {
          restarting = restarting.then(async () => {
            restarts.begun++;
            const old = current();
            await old.daemon.shutdown('restart in the test', { keepInstances: true });
            await old.daemon.done;
            live = await boot(dir);
            daemons.push(live.daemon);
            restarts.done++;
          });
          await restarting;
          return;
        }
        case 'revive': {
          // a new runtime behind the crashed one's front: the daemon finds it by its health check
          const slot = slots[op.runtime] as RuntimeSlot;
          if (!slot.crashed) return;
          const rt = await serve(holders[op.runtime] as { slot?: RuntimeSlot });
          slot.all.push(rt);
          slot.rt = rt;
          slot.crashed = false;
          // the next step starts once arpd has seen it answer again (or the instance was deleted meanwhile)
          await recorded(slot, ['ready', 'stopped'], 'is ready again', () => slot.rt !== rt);
          return;
        }
        case 'crash': {
          const slot = slots[op.runtime] as RuntimeSlot;
          crashNow(slot);
          const crashed = slot.rt;
          // the next step starts once arpd has noticed (its health checks fail it), unless it was deleted
          await recorded(slot, ['error', 'stopped'], 'failed', () => slot.rt !== crashed);
          return;
        }
        default: {
          const never: never = op;
          throw new Error(`unknown op ${JSON.stringify(never)}`);
        }
      }
    };
    // the steps go in order: one that overlaps lets the next start at once, any other is answered first
    // (so a cancel finds the runs submitted before it, a submit the instance deleted before it)
    const overlapping: Array<Promise<void>> = [];
    for (const { op, overlap } of scenario.steps) {
      const answered = exec(op);
      if (overlap) overlapping.push(answered);
      else await answered;
    }
    await Promise.all(overlapping);
    await restarting;

    // quiescence: every accepted run ends, the router holds nothing
    const { runs, daemon } = current();
    const reg = daemon.projection.registry;
    for (const id of [...reg.runOrder]) {
      const st = await runs.wait(id, 20_000);
      if (!TERMINAL_STATES.has(st.state)) failures.push(`run ${id} is still ${st.state} after 20 s (phase ${String(reg.runs.get(id)?.phase)})`);
    }
    await waitFor('the daemon to be idle', () => !daemon.busy(), 20_000).catch(() => failures.push(`the daemon is still busy: ${JSON.stringify(daemon.partsStatus())}`));

    // no live runtime keeps running a run that arpd has ended: arpd tells the runtime of every end it
    // decides (a cancel, a timeout, a deleted instance), sometimes just after recording it, so this
    // waits until each such runtime has the run ended (the bound only catches one that never does)
    const stillRunning = async (): Promise<string[]> => {
      const left: string[] = [];
      for (const slot of slots) {
        if (slot.crashed) continue;
        for (const v of reg.runs.values()) {
          if (v.instance_id !== slot.instanceId) continue;
          const res = await slot.rt.app.inject({ method: 'GET', url: `/v1/runs/${v.run_id}` });
          const state = String((res.json() as { state?: unknown }).state);
          if (res.statusCode === 200 && !TERMINAL_STATES.has(state)) left.push(`runtime ${slot.instanceId} still runs ${v.run_id} (${state}) though arpd recorded it ${v.state}`);
        }
      }
      return left;
    };
    await waitFor('the runtimes to end the runs arpd ended', async () => (await stillRunning()).length === 0, 10_000)
      .catch(async () => { failures.push(...await stillRunning()); });
    // a deleted instance stays stopped
    for (const slot of slots) {
      const state = reg.instances.get(slot.instanceId)?.state;
      if (slot.stopped && state !== 'stopped') failures.push(`instance ${slot.instanceId} was deleted but is ${String(state)}`);
    }
    // at rest no instance is busy: load is derived from the runs in flight, and every run has ended
    const busy = [...reg.instances.values()].filter((i) => reg.activeRuns(i.instance_id).size > 0).map((i) => `${i.instance_id} (runs in flight: ${[...reg.activeRuns(i.instance_id)].join(', ')})`);
    if (busy.length > 0) failures.push(`instances busy with every run ended: ${busy.join(', ')}`);

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
      count(`run ${String(list.at(-1)?.type)}`);
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
    for (const slot of slots) {
      for (const sock of slot.links) sock.destroy();
      slot.front.close();
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
    fc.asyncProperty(scenarioArb, async (scenario) => {
      cases++;
      const { failures } = await runScenario(scenario);
      if (failures.length > 0) throw new Error(`${failures.join('\n')}\nsteps: ${scenario.steps.map(({ op, overlap }) => `${JSON.stringify(op)}${overlap ? ' (overlapping)' : ''}`).join(' -> ')}`);
    }),
    {
      numRuns: NUM_RUNS,
      endOnFailure: process.env['ARPD_INTERLEAVINGS_SHRINK'] === undefined,
      ...(process.env['ARPD_INTERLEAVINGS_SEED'] === undefined ? {} : { seed: Number(process.env['ARPD_INTERLEAVINGS_SEED']) }),
      ...(process.env['ARPD_INTERLEAVINGS_PATH'] === undefined ? {} : { path: process.env['ARPD_INTERLEAVINGS_PATH'] }),
    },
  );
  t.pass(`${NUM_RUNS} interleavings hold (${cases} cases run in ${Math.round((Date.now() - started) / 1000)} s)`);
  t.comment(`answers checked: ${[...seen].sort().map(([k, n]) => `${k} ${n}`).join(', ')}`);
});
