import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import { runTraceFromStream, STREAM_PAGE } from '../../src/events/event-store.js';

/** A store that, like the PostgreSQL one, refuses to read more than STREAM_PAGE events at a time. */
function storeOf(lines: number): { readStream: (stream: string, fromRev: number, limit: number) => Promise<StoredEvent[]>; calls: number } {
  const s = {
    calls: 0,
    readStream(stream: string, fromRev: number, limit: number): Promise<StoredEvent[]> {
      s.calls++;
      if (limit > STREAM_PAGE) return Promise.reject(new Error(`limit must be a whole number from 1 to ${STREAM_PAGE} (got ${limit})`));
      const out: StoredEvent[] = [];
      for (let rev = Math.max(1, fromRev); rev <= lines && out.length < limit; rev++) {
        out.push({ seq: 1000 + rev, id: `e${rev}`, ts: '2026-11-30T00:00:00.000Z', stream, rev, type: 'run.trace', v: 1, data: { run_id: 'r1', level: 'info', type: 'step', data: { n: rev } }, meta: {} } as unknown as StoredEvent);
      }
      return Promise.resolve(out);
    },
  };
  return s;
}

t.test('a trace longer than one store read is read a page at a time, whole and in order', async (t) => {
  const store = storeOf(2 * STREAM_PAGE + 5);
  const lines = await runTraceFromStream(store, 'r1', 1, 100_000);
  t.equal(lines.length, 2 * STREAM_PAGE + 5, 'every line');
  t.same(lines.map((l) => l.seq).filter((s, i) => s !== i + 1), [], 'seq 1, 2, 3, … with no gap or repeat');
  t.equal(store.calls, 3, 'three reads of at most one page each');
});

t.test('a trace read stops at the limit asked for and starts at the seq asked for', async (t) => {
  const store = storeOf(30_000);
  const lines = await runTraceFromStream(store, 'r1', 9_999, 12_345);
  t.equal(lines.length, 12_345);
  t.equal(lines[0]?.seq, 9_999);
  t.equal(lines.at(-1)?.seq, 9_999 + 12_345 - 1);
});

t.test('a short trace is one read', async (t) => {
  const store = storeOf(3);
  t.same((await runTraceFromStream(store, 'r1', 1, 100_000)).map((l) => l.seq), [1, 2, 3]);
  t.equal(store.calls, 1);
});
