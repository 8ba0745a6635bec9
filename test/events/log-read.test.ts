import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { listLogFiles } from '../../src/events/log-files.js';
import { forEachEvent, matchesFilter, readEvents } from '../../src/events/log-read.js';
import { LogStore } from '../../src/events/log-store.js';

const accepted = (id: string): DomainEvent => ({ type: 'run.accepted', data: { run_id: id, request: { input: { goal: 'g' }, run_id: id }, request_hash: `h-${id}` } });
const requested = (id: string): DomainEvent => ({ type: 'instance.requested', data: { instance_id: id, runtime_profile: 'p' } });

/** A real log of `n` events (runs and instances alternating) in small segments, so it spans several files. */
async function logOf(root: string, n: number, segmentBytes = 1024): Promise<StoredEvent[]> {
  const store = LogStore.open({ root, segmentBytes });
  const out: StoredEvent[] = [];
  for (let i = 1; i <= n; i++) out.push(...(await store.append([i % 2 === 0 ? requested(`i${i}`) : accepted(`r${i}`)])));
  await store.close();
  return out;
}

const seqsOf = (root: string, opts: Parameters<typeof forEachEvent>[2] = {}): number[] => {
  const seen: number[] = [];
  forEachEvent(root, (e) => { seen.push(e.seq); }, opts);
  return seen;
};

t.test('reads every event of a log that spans several segment files, in order', async (t) => {
  const root = t.testdir();
  const written = await logOf(root, 40);
  t.ok(listLogFiles(root).length > 2, 'several files');
  const read: StoredEvent[] = [];
  t.equal(forEachEvent(root, (e) => { read.push(e); }), 40, 'returns the last seq read');
  t.same(read, written);
});

t.test('reads from a seq up to a seq, skipping whole segments before the start', async (t) => {
  const root = t.testdir();
  await logOf(root, 40);
  t.same(seqsOf(root, { fromSeq: 17, toSeq: 23 }), [17, 18, 19, 20, 21, 22, 23]);
  t.same(seqsOf(root, { fromSeq: 40 }), [40]);
  t.same(seqsOf(root, { fromSeq: 41 }), []);
  t.same(seqsOf(root, { toSeq: 0 }), []);
});

t.test('a filter passes only matching events but the last seq read still moves', async (t) => {
  const root = t.testdir();
  await logOf(root, 10);
  const seen: StoredEvent[] = [];
  t.equal(forEachEvent(root, (e) => { seen.push(e); }, { filter: { types: ['instance.'] } }), 10);
  t.same(seen.map((e) => e.seq), [2, 4, 6, 8, 10]);
  t.same(seqsOf(root, { filter: { stream: 'run:r3' } }), [3]);
  t.same(seqsOf(root, { filter: { stream: 'run:' } }), [1, 3, 5, 7, 9]);
  t.same(seqsOf(root, { filter: { types: ['run.accepted', 'instance.requested'], stream: 'instance:' } }), [2, 4, 6, 8, 10]);
});

t.test('the reader stops when the callback says so', async (t) => {
  const root = t.testdir();
  await logOf(root, 10);
  const seen: number[] = [];
  t.equal(forEachEvent(root, (e) => { seen.push(e.seq); return e.seq < 4; }), 4);
  t.same(seen, [1, 2, 3, 4]);
});

t.test('the reader stops at a damaged line and never reads past it; a line still being written is not read', async (t) => {
  const root = t.testdir();
  await logOf(root, 6, 1024 * 1024);
  t.equal(listLogFiles(root).length, 1, 'one file');
  const active = listLogFiles(root).at(-1)?.path as string;
  appendFileSync(active, '{"seq":7,"id":"x"');
  t.same(seqsOf(root), [1, 2, 3, 4, 5, 6], 'no newline yet: not read');
  const lines = readFileSync(active, 'utf8').split('\n');
  const i = lines.findIndex((l) => l.startsWith('{"seq":4,'));
  if (i >= 0) {
    lines[i] = (lines[i] as string).replace('"data":{', '"data":{"x":1,');
    writeFileSync(active, lines.join('\n'));
    t.same(seqsOf(root), [1, 2, 3], 'a checksum failure ends the read');
  } else {
    t.fail('seq 4 is in the active file');
  }
});

t.test('reading in pages gives every event once, and nextSeq says where the next page starts', async (t) => {
  const root = t.testdir();
  const written = await logOf(root, 25);
  const first = readEvents(root, { limit: 10 });
  t.same(first.events.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.equal(first.nextSeq, 11);
  const last = readEvents(root, { fromSeq: 21, limit: 10 });
  t.same(last.events.map((e) => e.seq), [21, 22, 23, 24, 25]);
  t.equal(last.nextSeq, 26, 'the end: the next page starts after the head');
  const filtered = readEvents(root, { fromSeq: 1, limit: 100, filter: { types: ['instance.'] } });
  t.equal(filtered.nextSeq, 26, 'a filtered read still moves past the events it passed over');
  fc.assert(fc.property(fc.integer({ min: 1, max: 30 }), fc.option(fc.constantFrom('instance.', 'run.'), { nil: undefined }), (limit, type) => {
    const filter = type === undefined ? undefined : { types: [type] };
    const got: number[] = [];
    let from = 1;
    for (let pages = 0; pages < 100; pages++) {
      const page = readEvents(root, { fromSeq: from, limit, ...(filter === undefined ? {} : { filter }) });
      got.push(...page.events.map((e) => e.seq));
      if (page.events.length === 0) break;
      from = page.nextSeq;
    }
    const want = written.filter((e) => matchesFilter(e, filter)).map((e) => e.seq);
    return JSON.stringify(got) === JSON.stringify(want);
  }), { numRuns: 40 });
});

t.test('an empty or missing data dir reads as no events', async (t) => {
  const root = t.testdir();
  t.equal(forEachEvent(root, () => undefined), 0);
  t.same(readEvents(join(root, 'missing'), {}), { events: [], nextSeq: 1 });
});
