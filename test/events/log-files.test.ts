import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ACTIVE_LOG, listLogFiles, segmentName } from '../../src/events/log-files.js';

t.test('names segments by their first seq, zero-padded to 12 digits', async (t) => {
  t.equal(segmentName(1), 'events-000000000001.jsonl');
  t.equal(segmentName(123456789012), 'events-123456789012.jsonl');
});

t.test('lists segments in seq order, then the active file, and ignores everything else', async (t) => {
  const root = t.testdir();
  for (const seq of [1000, 1, 20, 300]) writeFileSync(join(root, segmentName(seq)), '');
  for (const other of ['events-000000000020.jsonl.broken-2024', 'events.jsonl.broken-2024', 'events-x.jsonl', 'arpd.lock', 'events-1.json']) writeFileSync(join(root, other), '');
  mkdirSync(join(root, 'runs'));
  const files = listLogFiles(root);
  t.same(files.map((f) => [f.name, f.firstSeq, f.active]), [
    [segmentName(1), 1, false], [segmentName(20), 20, false], [segmentName(300), 300, false], [segmentName(1000), 1000, false],
    [ACTIVE_LOG, undefined, true],
  ], 'numeric order, not string order; the active file last even before it exists');
  t.equal(files[0]?.path, join(root, segmentName(1)));
  t.same(listLogFiles(join(root, 'missing')).map((f) => f.name), [ACTIVE_LOG], 'a missing dir has only the (future) active file');
});
