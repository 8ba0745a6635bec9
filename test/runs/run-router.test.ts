import fc from 'fast-check';
import t, { type Test } from 'tap';
import type { Command } from '../../src/commands/command-types.js';
import type { DaemonOptions } from '../../src/config/daemon-options.js';
import type { JsonObject } from '../../src/events/event-types.js';
import type { InstanceView } from '../../src/projections/registry-types.js';
import { capacityOf } from '../../src/policy/runtime-options.js';
import { matchesSelector, selectorOf } from '../../src/policy/selector.js';
import { RunRouter } from '../../src/runs/run-router.js';
import { removeDir, tempDir } from '../fixtures-helpers/events.js';
import { ReactorRig } from '../helpers/reactor-rig.js';

const exec = { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } };
let port = 9100;

interface World {
  rig: ReactorRig;
  profile(name: string, runtime?: JsonObject, extra?: JsonObject): Promise<void>;
  /** A managed instance of the profile, made ready (ready: false leaves it starting). */
  instance(id: string, profile: string, ready?: boolean): Promise<void>;
  ready(id: string): Promise<void>;
  submit(runId: string, selector?: JsonObject): Promise<void>;
  end(runId: string): Promise<void>;
  /** [run, instance] of every RouteRun the router sent. */
  routes(): Array<[string, string]>;
  waiting(): string[];
}

async function world(t: Test, options: Partial<DaemonOptions> = {}): Promise<World> {
  const root = tempDir('router');
  const rig = ReactorRig.open(root, { options });
  const router = new RunRouter(rig.ctx);
  router.start();
  t.teardown(async () => {
    router.stop();
    await rig.close();
    removeDir(root);
  });
  const settle = async <T>(p: Promise<T>): Promise<void> => { await p; await rig.idle(); };
  return {
    rig,
    profile: (name, runtime = {}, extra = {}) => settle(rig.exec('UpsertProfile', { name, request: { ...extra, extensions: { ...exec, 'arpd.runtime': runtime } } })),
    instance: async (id, profile, ready = true) => {
      await settle(rig.exec('CreateInstances', { profile, ids: [id], allow_unsafe: false }));
      if (ready) await settle(rig.exec('MarkInstanceReady', { instance_id: id, endpoint: `http://127.0.0.1:${port++}` }));
    },
    ready: (id) => settle(rig.exec('MarkInstanceReady', { instance_id: id, endpoint: `http://127.0.0.1:${port++}` })),
    submit: (runId, selector) => settle(rig.exec('SubmitRun', {
      run_id: runId, request: { input: { goal: 'x' }, ...(selector === undefined ? {} : { runtime_selector: selector }) },
      queue_timeout_ms: 30_000, policy: { autostart: options.runs?.autostartInstances ?? true, ...(options.defaultProfile === undefined ? {} : { defaultProfile: options.defaultProfile }) },
      own_endpoints: [], default_run_timeout_ms: 3_600_000,
    })),
    end: (runId) => settle(rig.exec('EndRun', { run_id: runId, outcome: 'succeeded' })),
    routes: () => rig.sentOf('RouteRun').map((c) => [c.data.run_id, c.data.instance_id]),
    waiting: () => [...rig.ctx.state.queued()],
  };
}

t.test('a new waiting run goes to the least loaded ready instance that matches', async (t) => {
  const w = await world(t);
  await w.profile('p', { max_concurrent_runs: 2 });
  await w.profile('q', { max_concurrent_runs: 2 });
  await w.instance('i1', 'p');
  await w.instance('i2', 'p');
  await w.instance('q1', 'q');
  await w.submit('r0', { instance_id: 'i1' });
  await w.submit('r1', { runtime_profile: 'p' });
  t.same(w.routes(), [['r0', 'i1'], ['r1', 'i2']], 'i2 was idle, i1 had a run; q1 does not match');
  await w.submit('r2', { runtime_profile: 'p' });
  t.same(w.routes().at(-1), ['r2', 'i1'], 'equal load: the oldest');
  t.same(w.rig.refused, [], 'every route the router asked for was recorded');
});

t.test('capacity that frees up takes the oldest run waiting for that instance', async (t) => {
  const w = await world(t);
  await w.profile('p', { max_concurrent_runs: 1 });
  await w.instance('i1', 'p');
  await w.instance('i2', 'p');
  await w.submit('a', { runtime_profile: 'p' });
  await w.submit('b', { runtime_profile: 'p' });
  await w.submit('c', { instance_id: 'i1' });
  await w.submit('d', { runtime_profile: 'p' });
  await w.submit('e');
  t.same(w.routes(), [['a', 'i1'], ['b', 'i2']]);
  t.same(w.waiting(), ['c', 'd', 'e']);
  await w.end('b');
  t.same(w.routes().at(-1), ['d', 'i2'], 'i2 takes d: c, though older, waits for i1 only');
  await w.end('a');
  t.same(w.routes().at(-1), ['c', 'i1'], 'i1 takes c, older than e');
  await w.end('d');
  t.same(w.routes().at(-1), ['e', 'i2']);
  t.same(w.waiting(), []);
});

t.test('nothing is routed past max_concurrent_runs', async (t) => {
  const w = await world(t, { runs: { autostartInstances: false } });
  await w.profile('p', { max_concurrent_runs: 2 });
  await w.instance('i1', 'p');
  for (const r of ['r1', 'r2', 'r3', 'r4', 'r5']) await w.submit(r, { runtime_profile: 'p' });
  t.same(w.routes(), [['r1', 'i1'], ['r2', 'i1']], 'the router does not even ask for a third');
  t.equal(w.rig.ctx.state.activeRuns('i1').size, 2);
  await w.end('r2');
  t.same(w.routes().slice(2), [['r3', 'i1']], 'one ends, one more goes');
  t.same(w.waiting(), ['r4', 'r5']);
});

// was a short window (closed): between a managed instance becoming ready at an external registration's endpoint and
// the registration being retired, the router sent waiting runs to the registration (the managed runtime, under a
// second id); with the decider refusing that, the router would ask again and again.
t.test('a waiting run is not sent to an external instance whose endpoint a serving managed instance answers at', async (t) => {
  const w = await world(t, { runs: { autostartInstances: false } });
  await w.profile('p', { max_concurrent_runs: 1 });
  const endpoint = `http://127.0.0.1:${port++}`;
  await w.rig.exec('RegisterInstance', { id: 'ext', endpoint, profile: 'p', own_endpoints: [] });
  await w.rig.exec('MarkInstanceReady', { instance_id: 'ext', endpoint });
  await w.rig.exec('CreateInstances', { profile: 'p', ids: ['m'], allow_unsafe: false });
  await w.rig.exec('MarkInstanceReady', { instance_id: 'm', endpoint: endpoint.replace('127.0.0.1', 'localhost') });
  await w.rig.idle();
  await w.submit('r1', { runtime_profile: 'p' });
  await w.submit('r2', { runtime_profile: 'p' });
  t.same(w.routes(), [['r1', 'm']], 'r1 goes to the managed instance; r2 waits for it rather than go to the stale registration');
  t.same(w.rig.refused, [], 'the router never asked for the registration');
  t.same(w.waiting(), ['r2']);
  await w.end('r1');
  t.same(w.routes().slice(1), [['r2', 'm']], 'room on the managed instance takes it');
});

t.test('a run with no selector starts the default profile when it is the only one, then goes to it once ready', async (t) => {
  const w = await world(t);
  await w.profile('default');
  await w.submit('r1');
  const creates = w.rig.sentOf('CreateInstances');
  t.equal(creates.length, 1);
  t.match(creates[0]?.data, { profile: 'default', reason: 'autostart', limit_live: 1, allow_unsafe: false });
  const id = creates[0]?.data.ids[0] as string;
  await w.submit('r2');
  t.equal(w.rig.sentOf('CreateInstances').length, 1, 'a second run waits for the one starting (max_instances 1)');
  await w.ready(id);
  t.same(w.routes(), [['r1', id]]);
});

t.test('with --default-profile, a run with no selector starts that profile', async (t) => {
  const w = await world(t, { defaultProfile: 'mine' });
  await w.profile('default');
  await w.profile('mine');
  await w.submit('r1');
  t.same(w.rig.sentOf('CreateInstances').map((c) => c.data.profile), ['mine']);
});

t.test('with --no-autostart-instances, nothing is started', async (t) => {
  const w = await world(t, { runs: { autostartInstances: false } });
  await w.profile('p');
  await w.instance('s1', 'p', false);
  await w.submit('r1', { runtime_profile: 'p' });
  t.same(w.rig.sentOf('CreateInstances'), []);
  t.same(w.waiting(), ['r1'], 'the run waits for the starting instance');
  await w.ready('s1');
  t.same(w.routes(), [['r1', 's1']]);
});

t.test('when every instance is full and runs wait, one more is started, up to max_instances', async (t) => {
  const w = await world(t);
  await w.profile('p', { max_concurrent_runs: 1, max_instances: 2 }, { runtime_name: 'rt' });
  await w.instance('i1', 'p');
  await w.submit('a', { runtime_profile: 'p' });
  t.same(w.rig.sentOf('CreateInstances'), [], 'no run waits');
  await w.submit('b', { runtime_name: 'rt' });
  t.same(w.rig.sentOf('CreateInstances').map((c) => [c.data.profile, c.data.limit_live]), [['p', 2]]);
  await w.submit('c', { runtime_profile: 'p' });
  t.equal(w.rig.sentOf('CreateInstances').length, 1, 'never past max_instances');
  const id = w.rig.sentOf('CreateInstances')[0]?.data.ids[0] as string;
  await w.ready(id);
  t.same(w.routes().at(-1), ['b', id], 'the new instance takes the oldest waiting run');
});

t.test('whatever the interleaving of submits, run ends, instance readiness and two routers, no instance is over capacity, no run is routed twice, and no run is left waiting (two routers and a naive one)', async () => {
  await fc.assert(fc.asyncProperty(
    fc.scheduler(),
    fc.record({
      maxConcurrent: fc.integer({ min: 1, max: 3 }),
      maxInstances: fc.integer({ min: 1, max: 3 }),
      runs: fc.array(fc.constantFrom<JsonObject | undefined>(undefined, { runtime_profile: 'p' }, { instance_id: 'i0' }), { minLength: 1, maxLength: 8 }),
    }),
    async (s, c) => {
      const root = tempDir('router-prop');
      const pending = new Set<Promise<unknown>>();
      const track = (p: Promise<unknown>): void => {
        const q = p.catch(() => undefined).finally(() => pending.delete(q));
        pending.add(q);
      };
      // every reactor command waits for the scheduler before it reaches the bus: a router's choice may be stale by then
      const rig = ReactorRig.open(root, { memory: true, options: { defaultProfile: 'p' }, gate: (cmd: Command) => s.schedule(Promise.resolve(), `${cmd.type} ${JSON.stringify(cmd.data).slice(0, 60)}`) });
      const violations: string[] = [];
      const routed = new Set<string>();
      const state = rig.ctx.state;
      rig.projection.events$.subscribe((e) => {
        if (e.type === 'run.routed') {
          if (routed.has(e.data.run_id)) violations.push(`${e.data.run_id} routed twice`);
          routed.add(e.data.run_id);
          const id = e.data.instance_id as string;
          const inst = state.instances.get(id);
          if (inst === undefined) violations.push(`routed to unknown ${id}`);
          else if (state.activeRuns(id).size > capacityOf(state, inst)) violations.push(`${id} has ${state.activeRuns(id).size} runs, capacity ${capacityOf(state, inst)}`);
        }
        // a fake supervisor and a fake dispatcher: instances asked for become ready, routed runs end, when the scheduler says
        if (e.type === 'instance.requested') {
          const id = e.data.instance_id;
          track(s.schedule(Promise.resolve(), `ready ${id}`).then(() => rig.exec('MarkInstanceReady', { instance_id: id, endpoint: `http://127.0.0.1:${port++}` })));
        }
        if (e.type === 'run.routed') {
          const runId = e.data.run_id;
          track(s.schedule(Promise.resolve(), `end ${runId}`).then(() => rig.exec('EndRun', { run_id: runId, outcome: 'succeeded' })));
        }
        // a naive router of another daemon: routes a new run to the first ready instance that matches, room or not
        if (e.type === 'run.queued') {
          const runId = e.data.run_id;
          track(s.schedule(Promise.resolve(), `foreign route ${runId}`).then(async () => {
            const run = state.runs.get(runId);
            const target = [...state.instanceIdsInState('ready')].find((id) => matchesSelector(state.instances.get(id) as InstanceView, selectorOf(run?.request)));
            if (target !== undefined) await rig.exec('RouteRun', { run_id: runId, instance_id: target, default_run_timeout_ms: 3_600_000 });
          }));
        }
      });
      await rig.exec('UpsertProfile', { name: 'p', request: { extensions: { ...exec, 'arpd.runtime': { max_concurrent_runs: c.maxConcurrent, max_instances: c.maxInstances } } } });
      // i0 exists from the start (runs may name it); it becomes ready when the scheduler says
      await rig.exec('CreateInstances', { profile: 'p', ids: ['i0'], allow_unsafe: false });
      const routers = [new RunRouter(rig.ctx), new RunRouter(rig.ctx)];
      for (const r of routers) r.start();
      s.scheduleSequence(c.runs.map((selector, i) => ({
        label: `submit r${i}`,
        builder: () => rig.exec('SubmitRun', {
          run_id: `r${i}`, request: { input: { goal: 'x' }, ...(selector === undefined ? {} : { runtime_selector: selector }) },
          queue_timeout_ms: 30_000, policy: { autostart: true, defaultProfile: 'p' }, own_endpoints: [], default_run_timeout_ms: 3_600_000,
        }),
      })));
      try {
        let quiet = 0;
        for (let i = 0; i < 2000 && quiet < 3; i++) {
          if (s.count() > 0) {
            quiet = 0;
            await s.waitAll();
          } else if (pending.size > 0) {
            quiet = 0;
            await Promise.race(pending);
          }
          await new Promise((resolve) => setImmediate(resolve));
          if (s.count() === 0 && pending.size === 0) quiet++;
        }
        if (violations.length > 0) throw new Error(violations.join('; '));
        const left = [...state.queued()];
        if (left.length > 0) throw new Error(`runs left waiting: ${left.join(', ')} (instances: ${[...state.instances.values()].map((i) => `${i.instance_id} ${i.state} ${state.activeRuns(i.instance_id).size}`).join(', ')})`);
        const notEnded = c.runs.map((_, i) => `r${i}`).filter((id) => state.runs.get(id)?.phase !== 'ended');
        if (notEnded.length > 0) throw new Error(`runs not ended: ${notEnded.join(', ')}`);
      } finally {
        for (const r of routers) r.stop();
        await rig.close();
        removeDir(root);
      }
    },
  ), { numRuns: 150 });
});
