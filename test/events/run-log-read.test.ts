import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { readTraceLineAt, readTraceLines } from '../../src/events/run-log-read.js';
import type { TraceLine } from '../../src/events/trace-line.js';

/** The n-th line of a run log, as the daemon writes them (seq = the run stream's revision, from 1). */
const line = (seq: number, pad = ''): TraceLine => ({
  run_id: 'r1', seq, time: '2026-01-01T00:00:00.000Z', level: 'info', type: 'progress', data: { n: seq, pad },
  extensions: { 'arpd.event': { seq: seq + 100, id: `id-${seq}`, type: 'run.trace' } },
});
const text = (lines: TraceLine[]) => lines.map((l) => `${JSON.stringify(l)}\n`).join('');

t.test('reads every line of a run log in order', async (t) => {
  const path = join(t.testdir(), 'trace.jsonl');
  const lines = [1, 2, 3].map((n) => line(n));
  writeFileSync(path, text(lines));
  t.same(readTraceLines(path), lines);
});

t.test('a run log that does not exist reads as empty', async (t) => {
  const dir = t.testdir();
  t.same(readTraceLines(join(dir, 'nope.jsonl')), []);
  t.equal(readTraceLineAt(join(dir, 'nope.jsonl'), 1), undefined);
});

t.test('reads from a seq and at most a limit', async (t) => {
  const path = join(t.testdir(), 'trace.jsonl');
  writeFileSync(path, text([1, 2, 3, 4, 5].map((n) => line(n))));
  t.same(readTraceLines(path, { fromSeq: 3 }).map((l) => l.seq), [3, 4, 5]);
  t.same(readTraceLines(path, { fromSeq: 2, limit: 2 }).map((l) => l.seq), [2, 3]);
  t.same(readTraceLines(path, { fromSeq: 9 }), []);
  t.same(readTraceLines(path, { limit: 0 }), []);
});

t.test('a line still being written is not read, a damaged line is passed over', async (t) => {
  const path = join(t.testdir(), 'trace.jsonl');
  writeFileSync(path, `${JSON.stringify(line(1))}\n{"run_id":"r1","se\n${JSON.stringify(line(3))}\n${JSON.stringify(line(4)).slice(0, 20)}`);
  t.same(readTraceLines(path).map((l) => l.seq), [1, 3]);
  t.same(readTraceLines(path, { fromSeq: 3 }).map((l) => l.seq), [3], 'the damaged line still counts as line 2');
  t.equal(readTraceLineAt(path, 4), undefined, 'the unfinished line is not found');
  t.equal(readTraceLineAt(path, 3)?.seq, 3);
});

t.test('finds the line of a seq from the end, in a log larger than one read window', async (t) => {
  const path = join(t.testdir(), 'trace.jsonl');
  const pad = 'x'.repeat(1000); // ~1.2 KB a line: 300 lines span several 64 KiB windows
  const lines = Array.from({ length: 300 }, (_, i) => line(i + 1, pad));
  writeFileSync(path, text(lines));
  for (const seq of [300, 299, 250, 100, 2, 1]) t.same(readTraceLineAt(path, seq), lines[seq - 1], `seq ${seq}`);
  t.equal(readTraceLineAt(path, 301), undefined, 'past the end');
  t.equal(readTraceLineAt(path, 0), undefined, 'before the start');
});

t.test('property: the line found at a seq is the line read in order at that seq', async (t) => {
  const dir = t.testdir();
  let k = 0;
  fc.assert(fc.property(fc.array(fc.nat({ max: 3000 }), { minLength: 1, maxLength: 80 }), fc.nat(), (pads, pick) => {
    const path = join(dir, `trace-${k++}.jsonl`);
    writeFileSync(path, '');
    pads.forEach((p, i) => appendFileSync(path, `${JSON.stringify(line(i + 1, 'é'.repeat(p)))}\n`));
    const all = readTraceLines(path);
    const seq = (pick % pads.length) + 1;
    return all.length === pads.length && JSON.stringify(readTraceLineAt(path, seq)) === JSON.stringify(all[seq - 1]);
  }), { numRuns: 40 });
  t.pass('held');
});
