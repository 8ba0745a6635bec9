import fc from 'fast-check';
import t from 'tap';
import { MAX_BATCH_LINES, TraceBatcher, type TraceLineInput } from '../../src/runs/trace-batcher.js';

const line = (n: number): TraceLineInput => ({ level: 'info', type: 'step', data: { n } });
const ns = (lines: TraceLineInput[]): number[] => lines.map((l) => l.data?.['n'] as number);

/** A recorder whose writes finish when the test says so. */
class Recorder {
  readonly calls: Array<{ runId: string; lines: number[]; done: () => void }> = [];
  readonly record = (runId: string, lines: TraceLineInput[]): Promise<void> =>
    new Promise((resolve) => { this.calls.push({ runId, lines: ns(lines), done: resolve }); });

  finish(i: number): void {
    this.calls[i]?.done();
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('the first line goes out at once and lines arriving during a write go out together in the next batch, in order', async (t) => {
  const rec = new Recorder();
  const b = new TraceBatcher(rec.record);
  b.push('r1', line(1));
  t.same(rec.calls.map((c) => c.lines), [[1]]);
  b.push('r1', line(2));
  b.push('r1', line(3));
  await turn();
  t.equal(rec.calls.length, 1, 'nothing more is written while the first batch is being written');
  rec.finish(0);
  await turn();
  t.same(rec.calls.map((c) => c.lines), [[1], [2, 3]]);
  b.push('r1', line(4));
  rec.finish(1);
  await turn();
  t.same(rec.calls.map((c) => c.lines), [[1], [2, 3], [4]]);
  rec.finish(2);
  await turn();
  t.equal(b.pending, 0, 'nothing is left once every batch is written');
});

t.test('a burst of lines goes out a slice of at most MAX_BATCH_LINES at a time, in order, none lost', async (t) => {
  const rec = new Recorder();
  const b = new TraceBatcher(rec.record);
  const n = MAX_BATCH_LINES * 2 + 7;
  for (let i = 1; i <= n; i++) b.push('r1', line(i));
  for (let i = 0; i < 4; i++) { rec.finish(i); await turn(); }
  t.same(rec.calls.map((c) => c.lines.length), [1, MAX_BATCH_LINES, MAX_BATCH_LINES, 6], 'the first line at once, then slices');
  t.same(rec.calls.flatMap((c) => c.lines), Array.from({ length: n }, (_, i) => i + 1), 'every line once, in order');
  t.equal(b.pending, 0);
});

t.test('flush resolves once everything pushed before it is recorded', async (t) => {
  const rec = new Recorder();
  const b = new TraceBatcher(rec.record);
  await b.flush('nothing'); // a run with no lines: at once
  b.push('r1', line(1));
  b.push('r1', line(2));
  let flushed = false;
  const f = b.flush('r1').then(() => { flushed = true; });
  await turn();
  t.notOk(flushed, 'not while the first batch is being written');
  rec.finish(0);
  await turn();
  t.notOk(flushed, 'not while the second is');
  b.push('r1', line(3));
  rec.finish(1);
  await turn();
  t.notOk(flushed, 'nor while a line pushed meanwhile is');
  rec.finish(2);
  await f;
  t.same(rec.calls.map((c) => c.lines), [[1], [2], [3]]);
});

t.test("runs are batched apart: one run's slow write does not hold another's", async (t) => {
  const rec = new Recorder();
  const b = new TraceBatcher(rec.record);
  b.push('slow', line(1));
  b.push('fast', line(10));
  b.push('slow', line(2));
  t.same(rec.calls.map((c) => [c.runId, c.lines]), [['slow', [1]], ['fast', [10]]]);
  t.equal(b.pending, 2);
  rec.finish(1);
  await b.flush('fast');
  t.equal(b.pending, 1, 'the slow run still has lines to write');
  rec.finish(0);
  await turn();
  rec.finish(2);
  await b.flush('slow');
  t.same(rec.calls.map((c) => [c.runId, c.lines]), [['slow', [1]], ['fast', [10]], ['slow', [2]]]);
});

t.test('whatever the timing of writes, every line is recorded once, in order, and a flush covers what was pushed before it', async () => {
  await fc.assert(fc.asyncProperty(fc.scheduler(), fc.array(fc.constantFrom('a', 'b'), { minLength: 1, maxLength: 30 }), async (s, pushes) => {
    const recorded = new Map<string, number[]>();
    const b = new TraceBatcher((runId, lines) => s.schedule(Promise.resolve()).then(() => {
      recorded.set(runId, [...(recorded.get(runId) ?? []), ...ns(lines)]);
    }));
    const pushedSoFar = new Map<string, number>();
    const flushes: Array<Promise<void>> = [];
    let n = 0;
    // pushes come in order, interleaved with the writes as the scheduler chooses
    s.scheduleSequence(pushes.map((runId) => ({
      label: `push ${runId}`,
      builder: async () => {
        b.push(runId, line(n++));
        pushedSoFar.set(runId, (pushedSoFar.get(runId) ?? 0) + 1);
        const want = pushedSoFar.get(runId) as number;
        flushes.push(b.flush(runId).then(() => {
          const got = recorded.get(runId)?.length ?? 0;
          if (got < want) throw new Error(`flush of ${runId} resolved with ${got} of ${want} lines recorded`);
        }));
      },
    })));
    await s.waitAll(); // every push has happened
    await s.waitFor(Promise.all(flushes)); // and the writes they started run until every flush resolved
    const expected = new Map<string, number[]>();
    pushes.forEach((runId, i) => expected.set(runId, [...(expected.get(runId) ?? []), i]));
    if (JSON.stringify([...recorded].sort()) !== JSON.stringify([...expected].sort())) throw new Error(`recorded ${JSON.stringify([...recorded])}`);
    if (b.pending !== 0) throw new Error('lines left');
  }), { numRuns: 300 });
});
