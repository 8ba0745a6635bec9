import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { RunProgress, RunView } from '../../src/projections/registry-types.js';
import { RunArchive } from '../../src/retention/run-archive.js';

const ended = (runId: string, order: number): { view: RunView; progress: RunProgress } => ({
  view: { run_id: runId, order, phase: 'ended', state: 'succeeded' } as unknown as RunView,
  progress: { run_id: runId } as unknown as RunProgress,
});

t.test('answers a run id as not archived from memory while nothing is archived, and from disk once runs are', async (t) => {
  const runsDir = t.testdir();
  // a summary left on disk without an entry in the archive (no boot ever indexed it) is not an archived run
  mkdirSync(join(runsDir, 'stray'), { recursive: true });
  const stray = ended('stray', 0);
  writeFileSync(join(runsDir, 'stray', 'summary.json'), `${JSON.stringify(stray)}\n`);
  const archive = new RunArchive(runsDir, 512, false);
  t.equal(archive.load('stray'), undefined, 'nothing archived: not looked up on disk');
  t.equal(archive.load('new-run'), undefined);
  const kept = ended('kept', 1);
  t.ok(archive.add(kept.view, kept.progress), 'archived');
  t.same(archive.load('kept')?.view, kept.view, 'an archived run is read from disk');
  t.equal(archive.load('new-run-2'), undefined, 'a new id is still not archived');
  archive.close();
});

t.test('a summary that is JSON but not the run\'s own is no answer, never a run without a state or another run', async (t) => {
  const runsDir = t.testdir();
  const archive = new RunArchive(runsDir, 0, false);
  const other = ended('other', 1);
  for (const [i, id] of ['nulled', 'partial', 'copied'].entries()) {
    const r = ended(id, i + 2);
    t.ok(archive.add(r.view, r.progress));
  }
  writeFileSync(join(runsDir, 'nulled', 'summary.json'), 'null\n');
  writeFileSync(join(runsDir, 'partial', 'summary.json'), `${JSON.stringify({ view: { run_id: 'partial' } })}\n`);
  writeFileSync(join(runsDir, 'copied', 'summary.json'), `${JSON.stringify(other)}\n`);
  // no run log to rebuild them from here: not found, as a missing summary is
  for (const id of ['nulled', 'partial', 'copied']) t.equal(archive.load(id), undefined, id);
  archive.close();
});
