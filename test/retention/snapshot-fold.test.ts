/**
 * Snapshots: folding a snapshot taken at any seq k and then the log after it gives the very state of folding the
 * whole log, through the real store (positions in real files, segments rolled on the way) and the real snapshot
 * file; a snapshot that cannot be used (torn, corrupt, of another version, at a place the log no longer has) is
 * refused with a reason and the whole log gives the same state.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import { LogStore, type LogPosition } from '../../src/events/log-store.js';
import { Projection } from '../../src/projections/projection.js';
import { Registry, REGISTRY_STATE_VERSION } from '../../src/projections/registry.js';
import { readSnapshot, usableSnapshots, writeSnapshot } from '../../src/retention/snapshot-file.js';
import { stamp, storedLog } from '../fixtures-helpers/arbitraries.js';
import { removeDir, tempDir } from '../fixtures-helpers/events.js';
import { runHistory } from '../fixtures-helpers/histories.js';

const RUNS = Number(process.env['ARPD_PROPERTY_RUNS'] ?? 40);

function foldAll(events: readonly StoredEvent[]): Registry {
  const r = new Registry();
  for (const e of events) r.apply(e);
  return r;
}

/** Writes the history through a real store (small segments: several rolls), recording the position after each commit. */
async function writeHistory(root: string, history: Parameters<LogStore['append']>[0][]): Promise<{ events: StoredEvent[]; positions: Map<number, LogPosition> }> {
  const store = LogStore.open({ root, segmentBytes: 2048 });
  const events: StoredEvent[] = [];
  const positions = new Map<number, LogPosition>([[0, store.position()]]);
  for (const input of history) {
    events.push(...(await store.append(input)));
    const p = store.position();
    positions.set(p.seq, p);
  }
  await store.close();
  return { events, positions };
}

t.test('fold(snapshot at k) + the log after k equals fold(all), for any k, through real files', async (t) => {
  await fc.assert(fc.asyncProperty(runHistory({ prune: true }), fc.nat(), async (history, kPick) => {
    const root = tempDir('snapfold');
    try {
      const { events, positions } = await writeHistory(root, history.map((e) => [e]));
      const k = kPick % (events.length + 1);
      const at = positions.get(k) as LogPosition;
      // the snapshot: the state after k events, through the real file format
      const before = foldAll(events.slice(0, k));
      await writeSnapshot(join(root, 'snapshots'), at, { registry: before.exportState(), archive: { size: 0, offsets: '' } }, new Date());
      const [snap] = [...usableSnapshots(join(root, 'snapshots'), (m) => { throw new Error(m); })];
      if (snap === undefined) throw new Error('the snapshot just written is not usable');
      const projection = new Projection(Registry.importState(snap.body.registry));
      const tail: number[] = [];
      const store = LogStore.open({ root, from: snap.position, revOf: (s) => projection.registry.streamRev(s), onEvent: (e) => { tail.push(e.seq); projection.push(e); } });
      const all = foldAll(events);
      t.same(tail, events.slice(k).map((e) => e.seq), 'only the events after k are read');
      t.same(projection.registry.exportState(), all.exportState(), 'the whole state is equal');
      t.same(projection.registry.snapshot(), all.snapshot(), 'every view is equal');
      // and the store goes on from there with the right revisions
      const streams = [...new Set(events.map((e) => e.stream))];
      for (const s of streams) if (store.streamRev(s) !== all.streamRev(s)) throw new Error(`revision of ${s}: ${store.streamRev(s)} vs ${all.streamRev(s)}`);
      const next = await store.append([{ type: 'daemon.started', data: { pid: 3, version: '1', boot_id: 'b', host: 'h' } }]);
      t.equal(next[0]?.seq, events.length + 1, 'the next append continues the seq');
      await store.close();
    } finally {
      removeDir(root);
    }
  }), { numRuns: RUNS });
});

t.test('a snapshot whose place is not in the log any more is refused as stale, never misread', async (t) => {
  const root = tempDir('snapstale');
  try {
    const history = fc.sample(runHistory({ maxRuns: 6 }), { numRuns: 1, seed: 7 })[0] ?? [];
    const { events, positions } = await writeHistory(root, history.map((e) => [e]));
    const k = Math.floor(events.length / 2);
    const at = positions.get(k) as LogPosition;
    t.throws(() => LogStore.open({ root, from: { ...at, offset: at.offset + 3 } }), { name: 'StaleStartError' }, 'an offset inside a line');
    t.throws(() => LogStore.open({ root, from: { ...at, seq: at.seq + 1 } }), { name: 'StaleStartError' }, 'a seq the line there does not have');
    t.throws(() => LogStore.open({ root, from: { ...at, fileFirstSeq: 999_999 } }), { name: 'StaleStartError' }, 'a file that is not there');
    t.throws(() => LogStore.open({ root, from: { ...at, offset: 10_000_000 } }), { name: 'StaleStartError' }, 'past the end of the file');
  } finally {
    removeDir(root);
  }
});

t.test('a torn, corrupt, foreign or newer snapshot is not used and says why', async (t) => {
  const dir = tempDir('snapbad');
  try {
    const reg = new Registry();
    const pos = { seq: 0, fileFirstSeq: 1, offset: 0 };
    const { path } = await writeSnapshot(dir, pos, { registry: reg.exportState(), archive: { size: 0, offsets: '' } }, new Date());
    const good = readFileSync(path);
    t.same(readSnapshot(path).body.registry, reg.exportState(), 'a good one reads back');

    writeFileSync(path, good.subarray(0, good.length - 5));
    t.throws(() => readSnapshot(path), /torn/, 'torn');
    const flipped = Buffer.from(good);
    const i = flipped.length - 10;
    flipped[i] = (flipped[i] as number) ^ 0x01;
    writeFileSync(path, flipped);
    t.throws(() => readSnapshot(path), /checksum|not JSON/, 'one bit flipped');
    writeFileSync(path, 'hello\nworld\n');
    t.throws(() => readSnapshot(path), /header is not JSON/, 'not a snapshot');
    const [header, body] = [good.subarray(0, good.indexOf(0x0a)), good.subarray(good.indexOf(0x0a))];
    const newer = JSON.parse(header.toString()) as Record<string, unknown>;
    newer['version'] = 99;
    writeFileSync(path, Buffer.concat([Buffer.from(JSON.stringify(newer)), body]));
    t.throws(() => readSnapshot(path), /written by a newer arpd .*upgrade arpd to use it/, 'a newer format is refused, naming the fix');
    const warnings: string[] = [];
    t.same([...usableSnapshots(dir, (m) => warnings.push(m))], [], 'none is usable');
    t.match(warnings[0], /is not used: it was written by a newer arpd/);
  } finally {
    removeDir(dir);
  }
});

t.test('a registry state of another version is refused (the boot replays the log instead)', async (t) => {
  const st = new Registry().exportState();
  const newer = REGISTRY_STATE_VERSION + 1;
  t.throws(() => Registry.importState({ ...st, v: newer }), new RegExp(`registry state version ${newer}`), 'a newer one');
  t.throws(() => Registry.importState({ ...st, v: REGISTRY_STATE_VERSION - 1 }), new RegExp(`registry state version ${REGISTRY_STATE_VERSION - 1}`), 'an older one');
});

// superseded_by (instance.superseded), node and an instance's error are written in no history above: checked here
t.test('an instance\'s superseded_by, node and error come back from a snapshot file as they were folded', async (t) => {
  const dir = tempDir('snapinst');
  try {
    const reg = foldAll(stamp([
      { type: 'instance.registered', data: { instance_id: 'ext-1', runtime_api_endpoint: 'http://127.0.0.1:8400', node: 'a' } },
      { type: 'instance.ready', data: { instance_id: 'ext-1', runtime_api_endpoint: 'http://127.0.0.1:8400' } },
      { type: 'instance.requested', data: { instance_id: 'm-1', runtime_profile: 'default', node: 'a' } },
      { type: 'instance.superseded', data: { instance_id: 'ext-1', by_instance_id: 'm-1', runtime_api_endpoint: 'http://127.0.0.1:8400', reason: 'its port went to m-1' } },
      { type: 'instance.registered', data: { instance_id: 'ext-2', runtime_api_endpoint: 'http://localhost:8500', node: 'b' } },
      { type: 'instance.failed', data: { instance_id: 'ext-2', code: 'E_NODE_LEFT', reason: 'node b left' } },
    ]));
    t.equal(reg.instances.get('ext-1')?.superseded_by, 'm-1', 'the fold records it');
    await writeSnapshot(dir, { seq: 6, fileFirstSeq: 1, offset: 0 }, { registry: reg.exportState(), archive: { size: 0, offsets: '' } }, new Date());
    const [snap] = [...usableSnapshots(dir, (m) => { throw new Error(m); })];
    const back = Registry.importState((snap as NonNullable<typeof snap>).body.registry);
    t.match(back.instances.get('ext-1'), { state: 'stopped', superseded_by: 'm-1', node: 'a' }, 'superseded_by survives the snapshot');
    t.match(back.instances.get('ext-2'), { state: 'error', node: 'b', error: { code: 'E_NODE_LEFT' } });
    t.same(back.exportState(), reg.exportState(), 'the whole state is equal');
  } finally {
    removeDir(dir);
  }
});

t.test('importState(exportState()) through JSON equals the fold, for any order of any events', async (t) => {
  fc.assert(fc.property(storedLog(), (log) => {
    const reg = foldAll(log);
    const back = Registry.importState(JSON.parse(JSON.stringify(reg.exportState())) as ReturnType<Registry['exportState']>);
    return isDeepStrictEqual(back.exportState(), reg.exportState()) && isDeepStrictEqual(back.snapshot(), reg.snapshot());
  }), { numRuns: RUNS });
  t.pass('every log gave equal states');
});
