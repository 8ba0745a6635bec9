import t from 'tap';
import { CommandBus } from '../../src/bus/command-bus.js';
import type { Command } from '../../src/commands/command-types.js';
import { ArpdError } from '../../src/errors/index.js';
import type { AppendInput } from '../../src/events/event-store.js';
import type { JsonObject } from '../../src/events/event-types.js';
import { LogStore } from '../../src/events/log-store.js';
import { Projection } from '../../src/projections/projection.js';
import { readLogEvents } from '../fixtures-helpers/events.js';
import { realWrite } from '../fixtures-helpers/store-io.js';
import { command } from '../commands/given.js';
import { MemoryEventStore } from '../helpers/memory-event-store.js';

const exec = { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } };
const upsert = (name: string, description = 'v1'): Command => command('UpsertProfile', { name, request: { description, extensions: exec } as JsonObject });
const profileEvent = (name: string, description: string): AppendInput => ({
  type: 'profile.upserted',
  data: { runtime_profile: name, profile: { runtime_profile: name, description, extensions: exec } },
});

/** A store, a projection following it, and a bus over both (as the daemon wires them). */
function rig(retries?: number): { store: MemoryEventStore; projection: Projection; bus: CommandBus } {
  const store = new MemoryEventStore();
  const projection = new Projection();
  projection.follow(store.live$);
  return { store, projection, bus: new CommandBus(store, projection, retries) };
}

/** Appends held at the store's gate until the test lets each one through. */
class HeldAppends {
  readonly held: Array<{ streams: string[]; release: () => void }> = [];
  readonly gate = (inputs: readonly AppendInput[]): Promise<void> => new Promise((resolve) => {
    this.held.push({ streams: inputs.map((i) => `${i.type}:${JSON.stringify(i.data)}`), release: resolve });
  });

  /** Lets through the held append whose events mention `text`. */
  release(text: string): void {
    const i = this.held.findIndex((h) => h.streams.some((s) => s.includes(text)));
    if (i < 0) throw new Error(`no held append mentions ${text}`);
    const [h] = this.held.splice(i, 1);
    h?.release();
  }

  /** Opens the gate for good: every held append and every later one goes through. */
  open(store: MemoryEventStore): void {
    store.gate = undefined;
    for (const h of this.held.splice(0)) h.release();
  }
}

/** Lets every pending promise reaction and I/O callback run (one turn of the event loop; no timer). */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function rejection(p: Promise<unknown>): Promise<ArpdError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
  throw new Error('resolved; a rejection was expected');
}

t.test('runs commands on the same key one after another and commands on different keys concurrently', async (t) => {
  const { store, bus } = rig();
  const gate = new HeldAppends();
  store.gate = gate.gate;
  const first = bus.execute(upsert('p', 'first'));
  const second = bus.execute(upsert('p', 'second'));
  const other = bus.execute(upsert('q', 'other'));
  await turn();
  t.same(store.calls.map((c) => c.inputs.map((i) => [i.type, (i.data as { runtime_profile: string }).runtime_profile])), [
    [['profile.upserted', 'p']],
    [['profile.upserted', 'q']],
  ], 'the first command on p and the one on q reach the store together; the second on p waits');

  gate.release('"q"');
  t.equal((await other)[0]?.stream, 'profile:q', 'the command on q is answered while p is still held');
  await turn();
  t.equal(store.calls.length, 2, 'the second command on p still waits for the first');

  gate.release('first');
  t.equal((await first)[0]?.rev, 1);
  await turn();
  t.equal(store.calls.length, 3, 'the second command on p reaches the store once the first is answered');
  t.equal(store.calls[2]?.inputs[0]?.expectedRev, 1, 'and it was decided on the state after the first (p at revision 1)');
  gate.open(store);
  t.equal((await second)[0]?.rev, 2);
  t.same(store.events.map((e) => `${e.stream}@${e.rev}`), ['profile:q@1', 'profile:p@1', 'profile:p@2'], 'q overtook p; p kept its order');
});

t.test('a command on several keys waits for every one of them', async (t) => {
  const { store, bus } = rig();
  await bus.execute(upsert('p'));
  await bus.execute(command('CreateInstances', { profile: 'p', ids: ['i1'], allow_unsafe: false }));
  await bus.execute(command('MarkInstanceReady', { instance_id: 'i1', endpoint: 'http://127.0.0.1:9001' }));
  await bus.execute(command('SubmitRun', { run_id: 'r1', request: { input: { goal: 'x' }, runtime_selector: { instance_id: 'i1' } }, queue_timeout_ms: 30_000, policy: { autostart: true }, own_endpoints: [], default_run_timeout_ms: 60_000 }));
  const gate = new HeldAppends();
  store.gate = gate.gate;
  const onInstance = bus.execute(command('StopInstance', { id: 'i1', reason: 'test' }));
  const route = bus.execute(command('RouteRun', { run_id: 'r1', instance_id: 'i1', default_run_timeout_ms: 60_000 }));
  await turn();
  t.equal(store.calls.length - 4, 1, 'RouteRun (keys run:r1 and instance:i1) waits for the command on instance:i1');
  gate.open(store);
  await onInstance;
  const refused = await rejection(route);
  t.equal(refused.code, 'E_CONFLICT', 'and it is decided on the state after it: the instance is stopping, so the run is not routed');
  t.equal(store.calls.length - 4, 1, 'a refusal appends nothing');
});

t.test('passes the expected revision of every stream it writes to the store', async (t) => {
  const { store, bus } = rig();
  const revs = (): Array<[string, number | undefined]> => (store.calls.at(-1)?.inputs ?? []).map((i) => [i.type, i.expectedRev]);
  await bus.execute(upsert('p'));
  t.same(revs(), [['profile.upserted', 0]], 'a new stream is expected at revision 0');
  await bus.execute(upsert('p', 'changed'));
  t.same(revs(), [['profile.upserted', 1]]);
  await bus.execute(command('CreateInstances', { profile: 'p', ids: ['i1', 'i2'], allow_unsafe: false }));
  t.same(revs(), [['instance.requested', 0], ['instance.requested', 0]], 'each stream written gets its own revision (profile:p is a key it only reads)');
  await bus.execute(command('SubmitRun', { run_id: 'r1', request: { input: { goal: 'x' }, runtime_selector: { runtime_api_endpoint: 'http://10.0.0.1:7000' } }, queue_timeout_ms: 30_000, policy: { autostart: true }, own_endpoints: [], default_run_timeout_ms: 60_000 }));
  t.same(revs(), [['run.accepted', 0], ['run.queued', 1], ['run.routed', 2]], 'several events on one stream count up from its revision');
  await bus.execute(command('DeleteProfile', { name: 'p', force: true }));
  t.same(revs(), [['profile.deleted', 2]]);
  await bus.execute(upsert('p', 'again'));
  t.same(revs(), [['profile.upserted', 3]], 'a deleted stream goes on from where it was');
  t.same(store.events.filter((e) => e.stream === 'profile:p').map((e) => e.rev), [1, 2, 3, 4]);
});

t.test('decides again on fresh state when the store answers E_CONFLICT', async (t) => {
  const { store, bus } = rig();
  let otherWrites = 0;
  store.gate = () => {
    // another daemon sharing the store upserts p between our decision and our commit, once
    if (otherWrites++ === 0) store.commit([profileEvent('p', 'theirs')]);
  };
  const out = await bus.execute(upsert('p', 'ours'));
  t.same(store.calls.map((c) => c.inputs.map((i) => i.expectedRev)), [[0], [1]], 'the retry is decided on the state that includes the other write');
  t.equal(out[0]?.rev, 2);
  t.same(store.events.map((e) => (e.data as unknown as { profile: { description: string } }).profile.description), ['theirs', 'ours']);
});

t.test('a retry that finds its change already made appends nothing', async (t) => {
  const { store, bus } = rig();
  let otherWrites = 0;
  store.gate = () => {
    if (otherWrites++ === 0) store.commit([profileEvent('p', 'same')]);
  };
  t.same(await bus.execute(upsert('p', 'same')), [], 'the decider sees the profile as it wants it and decides nothing');
  t.equal(store.calls.length, 1, 'so the bus makes no second append');
  t.equal(store.events.length, 1);
});

t.test('gives up with E_CONFLICT after its retries', async (t) => {
  const { store, bus } = rig(2);
  let n = 0;
  store.gate = () => { store.commit([profileEvent('p', `theirs-${n++}`)]); };
  const err = await rejection(bus.execute(upsert('p', 'ours')));
  t.equal(err.code, 'E_CONFLICT');
  t.equal(store.calls.length, 3, 'one attempt and two retries');
  t.notOk(store.events.some((e) => (e.data as unknown as { profile: { description: string } }).profile.description === 'ours'), 'nothing of ours was written');
  store.gate = undefined;
  t.equal((await bus.execute(upsert('p', 'ours')))[0]?.rev, 4, 'the key is free again afterwards');
});

t.test('throws a refusal of the decider without appending, and frees the key', async (t) => {
  const { store, bus } = rig();
  t.equal((await rejection(bus.execute(upsert('../x')))).code, 'E_VALIDATION');
  t.equal((await rejection(bus.execute(command('RouteRun', { run_id: 'nope', instance_id: 'i', default_run_timeout_ms: 1 })))).code, 'E_NOT_FOUND');
  t.equal(store.calls.length, 0, 'no append was made');
  t.equal((await bus.execute(command('DeleteProfile', { name: 'p', force: false })).catch((e: ArpdError) => e.code)), 'E_NOT_FOUND');
  t.equal((await bus.execute(upsert('p'))).length, 1, 'a later command on the same key goes through');
});

t.test('an error of the store other than E_CONFLICT is thrown at once', async (t) => {
  const { store, bus } = rig();
  store.fail(new ArpdError('E_STORAGE', 'disk gone'));
  t.equal((await rejection(bus.execute(upsert('p')))).code, 'E_STORAGE');
});

t.test('refuses a decider that writes a stream its command is not keyed on with E_INTERNAL', async (t) => {
  const real = await import('../../src/commands/decide.js');
  const { CommandBus: MockedBus } = await t.mockImport<typeof import('../../src/bus/command-bus.js')>('../../src/bus/command-bus.js', {
    '../../src/commands/decide.ts': {
      ...real,
      // a broken decider: UpsertProfile of 'rogue' also writes another profile's stream
      decide: (state: Parameters<typeof real.decide>[0], cmd: Command) => {
        const d = real.decide(state, cmd);
        if (cmd.type === 'UpsertProfile' && cmd.data.name === 'rogue' && Array.isArray(d)) return [...d, profileEvent('victim', 'x')];
        return d;
      },
    },
  });
  const store = new MemoryEventStore();
  const projection = new Projection();
  projection.follow(store.live$);
  const bus = new MockedBus(store, projection);
  // the mocked module tree has its own copy of the ArpdError class: compare the code and name, not the class
  const err = await bus.execute(upsert('rogue')).then(() => undefined, (e: unknown) => e as ArpdError);
  t.equal(err?.name, 'ArpdError');
  t.equal(err?.code, 'E_INTERNAL');
  t.match(err?.message, /profile:victim/);
  t.equal(store.calls.length, 0, 'nothing is appended');
  t.equal((await bus.execute(upsert('victim'))).length, 1, 'the keys are free again');
});

t.test('answers once the events are folded into the projection (read-your-writes)', async (t) => {
  const stores = { memory: new MemoryEventStore(), jsonl: LogStore.open({ root: t.testdir() }) };
  for (const [kind, store] of Object.entries(stores)) {
    const projection = new Projection();
    projection.follow(store.live$);
    const bus = new CommandBus(store, projection);
    const seen: Array<number | undefined> = [];
    // read in the very first reaction to the answer, before anything else can run
    await bus.execute(upsert('p')).then((out) => { seen.push(bus.state.profiles.get('p')?.rev, bus.state.lastSeq - (out[0]?.seq ?? -1)); });
    await bus.execute(command('CreateInstances', { profile: 'p', ids: ['a', 'b'], allow_unsafe: false })).then((out) => {
      seen.push(bus.state.instances.size, bus.state.lastSeq - (out.at(-1)?.seq ?? -1));
    });
    t.same(seen, [1, 0, 2, 0], `${kind}: the answer's events are in the projection`);
    await store.close();
  }
});

t.test('close(last) appends the last command alone, after every pending append', async (t) => {
  const { store, bus } = rig();
  await bus.execute(command('StartDaemon', { pid: 1, version: 'v', boot_id: 'b', host: 'h' }));
  const gate = new HeldAppends();
  store.gate = gate.gate;
  const pending = [bus.execute(upsert('a')), bus.execute(upsert('b')), bus.execute(upsert('c'))];
  await turn();
  let headWhenBuilt = -1;
  const closed = bus.close(() => {
    headWhenBuilt = store.head;
    return command('StopDaemon', { pid: 1, reason: 'test', run_logs_complete: true });
  });
  await turn();
  t.equal(headWhenBuilt, -1, 'the last command is not built while appends are pending');
  for (const name of ['"b"', '"a"', '"c"']) gate.release(name);
  await Promise.all(pending);
  await closed;
  t.equal(headWhenBuilt, 4, 'it is built after every pending append is stored');
  t.same(store.commits.at(-1)?.map((e) => [e.type, e.rev]), [['daemon.stopped', 2]], 'it is stored alone, last, at the next revision of its stream');
  t.equal((await rejection(bus.execute(upsert('d')))).code, 'E_UNAVAILABLE', 'nothing is accepted after it');
});

t.test('close(last) on the JSONL store writes the last event after every pending one', async (t) => {
  const root = t.testdir();
  const writes: { held?: Promise<void> } = {};
  let letGo!: () => void;
  const store = LogStore.open({ root, io: { write: async (fd, buf, off, len) => { await writes.held; return realWrite(fd, buf, off, len); } } });
  const projection = new Projection();
  projection.follow(store.live$);
  const bus = new CommandBus(store, projection);
  await bus.execute(command('StartDaemon', { pid: 1, version: 'v', boot_id: 'b', host: 'h' }));
  writes.held = new Promise((resolve) => { letGo = resolve; });
  const pending = Array.from({ length: 20 }, (_, i) => bus.execute(upsert(`p${i}`)));
  await turn();
  const closed = bus.close(() => command('StopDaemon', { pid: 1, reason: 'test', run_logs_complete: store.runLogsComplete }));
  letGo();
  await Promise.all(pending);
  await closed;
  const onDisk = readLogEvents(root);
  t.equal(onDisk.length, 22, 'every pending append was written');
  t.same([onDisk.at(-1)?.type, onDisk.at(-1)?.rev], ['daemon.stopped', 2], 'and the last event after them');
});
