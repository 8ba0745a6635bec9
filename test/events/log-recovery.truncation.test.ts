/**
 * Truncation at every byte offset of a log: recovery keeps exactly the events whose line, newline
 * included, is whole before the offset. The sweep runs in two child processes (see
 * test/fixtures-helpers/recovery-sweep.ts for why), each over half of the offsets. `npm test` sweeps
 * a 4 KiB log (every kind of stream, a few thousand offsets), `npm run soak` (ARPD_SOAK=1) a 64 KiB
 * one; ARPD_TRUNCATION_KIB sets the size by hand.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ACTIVE_LOG } from '../../src/events/log-files.js';
import { LogStore } from '../../src/events/log-store.js';
import { REUSE_LARGE_BUFFERS, runHelperJson } from '../fixtures-helpers/child.js';
import { readLogEvents, removeDir, sampleEvent, tempDir } from '../fixtures-helpers/events.js';
import { soakCount } from '../helpers/soak.js';

const LOG_BYTES = soakCount('ARPD_TRUNCATION_KIB', { ci: 4, soak: 64 }) * 1024;

interface SweepResult { checked: number; refused: number; cut: number; failures: string[] }

t.test(`keeps exactly the whole lines before any truncation offset of a ${LOG_BYTES / 1024} KiB log, at every offset`, async (t) => {
  const source = tempDir('trunc-src');
  t.teardown(() => removeDir(source));
  const store = LogStore.open({ root: source });
  let n = 0;
  while (statSync(join(source, ACTIVE_LOG)).size < LOG_BYTES) {
    const batch = Array.from({ length: 1 + (n % 3) }, (_, j) => sampleEvent(n + j, (n + j) >> 2, n + j, 'x'.repeat((n * 7 + j) % 40)));
    await store.append(batch);
    n += batch.length;
  }
  await store.close();
  const log = join(source, ACTIVE_LOG);
  const size = statSync(log).size;
  const events = readLogEvents(source);
  t.ok(size >= LOG_BYTES, `the log is ${size} bytes, ${events.length} events`);
  const streams = new Set(events.map((e) => e.stream.split(':')[0]));
  t.same([...streams].sort(), ['instance', 'profile', 'run'], 'runs, instances and profiles');
  t.equal(readFileSync(log).filter((b) => b === 0x0a).length, events.length);

  const cutPoint = (size + 1) >> 1;
  const ranges = [[0, cutPoint], [cutPoint, size + 1]] as const;
  const works = ranges.map(() => tempDir('trunc'));
  t.teardown(() => { for (const w of works) removeDir(w); });
  const results = await Promise.all(ranges.map(([from, to], i) =>
    runHelperJson<SweepResult>('recovery-sweep.ts', ['truncate', log, works[i] as string, String(from), String(to)], REUSE_LARGE_BUFFERS)));
  const checked = results.reduce((sum, r) => sum + r.checked, 0);
  t.same(results.flatMap((r) => r.failures), [], `${checked} offsets checked`);
  t.equal(checked, size + 1, 'every offset from 0 to the size, both included');
  t.equal(results.reduce((sum, r) => sum + r.cut, 0), size + 1 - (events.length + 1), 'a torn tail was cut at every offset inside a line');
});
