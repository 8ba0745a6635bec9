import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { LogStore } from '../../src/events/log-store.js';
import { Projection } from '../../src/projections/projection.js';
import { foldEvents } from '../../src/projections/registry.js';
import { stamp } from '../fixtures-helpers/arbitraries.js';
import { readLogEvents, removeDir, sampleEvent, tempDir } from '../fixtures-helpers/events.js';

/** Opens the store with a projection fed by the boot fold and then by live appends, as the daemon wires it. */
function openWithProjection(root: string): { store: LogStore; projection: Projection } {
  const projection = new Projection();
  const store = LogStore.open({ root, onEvent: (e) => projection.push(e) });
  projection.follow(store.live$);
  return { store, projection };
}

const events: DomainEvent[] = [
  { type: 'daemon.started', data: { pid: 1, version: 'v', boot_id: 'b', host: 'h' } },
  { type: 'profile.upserted', data: { runtime_profile: 'p1', profile: { image: 'x' } } },
  { type: 'instance.requested', data: { instance_id: 'i1', runtime_profile: 'p1' } },
  { type: 'instance.ready', data: { instance_id: 'i1', runtime_api_endpoint: 'http://e/' } },
  { type: 'run.accepted', data: { run_id: 'r1', request: { q: 1 }, request_hash: 'h' } },
  { type: 'run.accepted', data: { run_id: 'r2', request: { q: 2 }, request_hash: 'h' } },
  { type: 'run.started', data: { run_id: 'r1', instance_id: 'i1' } },
  { type: 'instance.busy', data: { instance_id: 'i1', active_runs: 1 } },
  { type: 'run.trace', data: { run_id: 'r1', level: 'info', type: 'step' } },
  { type: 'run.succeeded', data: { run_id: 'r1', result: { a: 1 } } },
  { type: 'run.canceled', data: { run_id: 'r2', reason: 'x' } },
  { type: 'profile.deleted', data: { runtime_profile: 'p1' } },
];

t.test('replaying the log twice gives the same snapshot as following the appends live', async (t) => {
  const root = tempDir('replay');
  t.teardown(() => removeDir(root));
  const live = openWithProjection(root);
  for (const [i, e] of events.entries()) await live.store.append(i % 3 === 0 ? [e, sampleEvent(i, i, i)] : e);
  await Promise.all(Array.from({ length: 20 }, (_, i) => live.store.append(sampleEvent(i, i, i))));
  const liveSnapshot = live.projection.registry.snapshot();
  await live.store.close();

  const first = openWithProjection(root);
  await first.store.close();
  const second = openWithProjection(root);
  await second.store.close();
  t.same(first.projection.registry.snapshot(), liveSnapshot, 'the first replay equals the live fold');
  t.same(second.projection.registry.snapshot(), liveSnapshot, 'the second replay equals it too');
  t.same(foldEvents(readLogEvents(root)).snapshot(), liveSnapshot, 'and so does folding the file');
  t.equal(liveSnapshot.last_seq, events.length + 4 + 20);
});

t.test('reflects an append in the projection by the time the append resolves', async (t) => {
  const root = tempDir('ryw');
  t.teardown(() => removeDir(root));
  const { store, projection } = openWithProjection(root);
  const lagging: number[] = [];
  await Promise.all(events.map((e) => store.append(e).then((stored) => {
    for (const s of stored) if (projection.lastSeq < s.seq) lagging.push(s.seq);
  })));
  t.same(lagging, [], 'no append resolved before the projection applied it');
  t.equal(projection.registry.runs.get('r1')?.state, 'succeeded');
  await store.close();
});

t.test('waitFor resolves once the registry reflects a seq, at once for one already applied', async (t) => {
  const projection = new Projection();
  const seen: number[] = [];
  projection.events$.subscribe((e) => seen.push(e.seq));
  let resolved = false;
  const waiting = projection.waitFor(2).then(() => { resolved = true; });
  const [a, b] = stamp(events.slice(0, 2));
  projection.push(a as StoredEvent);
  await new Promise((resolve) => setImmediate(resolve));
  t.notOk(resolved, 'not yet at seq 2');
  projection.push(b as StoredEvent);
  await waiting;
  t.ok(resolved);
  t.equal(projection.registry.lastSeq, 2, 'the registry applied seq 2 before waitFor resolved');
  await projection.waitFor(1);
  t.same(seen, [1, 2], 'events$ emits each applied event');
});

t.test('applied$ gives a new subscriber the last applied seq, then each seq applied after it; events$ only what follows its subscription', async (t) => {
  const [a, b, c] = stamp(events.slice(0, 3));
  const projection = new Projection(foldEvents([a as StoredEvent]));
  t.equal(projection.lastSeq, 1, 'a projection from a folded registry starts at its seq');
  projection.push(b as StoredEvent); // nothing subscribes yet
  const applied: number[] = [];
  const published: number[] = [];
  const subs = [projection.applied$.subscribe((s) => applied.push(s)), projection.events$.subscribe((e) => published.push(e.seq))];
  projection.push(c as StoredEvent);
  for (const s of subs) s.unsubscribe();
  t.same(applied, [2, 3], 'the seq applied before the subscription, then the new one');
  t.same(published, [3]);
  t.equal(projection.lastSeq, 3);
});
