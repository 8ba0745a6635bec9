/**
 * The archive's index file: what is written is read back exactly (into an array with the room asked for), and a
 * file that is torn, damaged, of another version or not the one a snapshot refers to is refused with a message
 * saying which.
 */
import fc from 'fast-check';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { RunProgress, RunView } from '../../src/projections/registry-types.js';
import { ARCHIVE_INDEX_FILE, readArchiveIndex, writeArchiveIndex } from '../../src/retention/archive-index-file.js';
import { RunArchive } from '../../src/retention/run-archive.js';
import { removeDir, tempDir } from '../fixtures-helpers/events.js';

const RUNS = Number(process.env['ARPD_PROPERTY_RUNS'] ?? 60);

t.test('reads back any index it wrote, place by place, with the room asked for', async (t) => {
  const root = tempDir('archive-index');
  try {
    const path = join(root, ARCHIVE_INDEX_FILE);
    await fc.assert(fc.asyncProperty(
      fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), { maxLength: 3000 }),
      fc.nat({ max: 100 }),
      async (places, extra) => {
        const offsets = Float64Array.from(places);
        const ref = await writeArchiveIndex(path, offsets);
        if (ref.entries !== places.length) throw new Error(`${ref.entries} entries for ${places.length}`);
        if ((statSync(path).mode & 0o777) !== 0o600) throw new Error('the index file is not 0600');
        const back = readArchiveIndex(path, ref, (n) => n + extra);
        if (back.length !== places.length + extra) throw new Error(`room for ${back.length}, asked ${places.length + extra}`);
        for (let i = 0; i < back.length; i++) {
          if (back[i] !== (places[i] ?? 0)) throw new Error(`place ${i}: ${back[i]} vs ${places[i] ?? 0}`);
        }
      },
    ), { numRuns: RUNS });
  } finally {
    removeDir(root);
  }
  t.pass('held');
});

t.test('refuses an index file that is torn, damaged, of a newer version or not the snapshot\'s, and says which', async (t) => {
  const root = tempDir('archive-index-bad');
  try {
    const path = join(root, ARCHIVE_INDEX_FILE);
    const ref = await writeArchiveIndex(path, Float64Array.from([1, 0, 57, 120]));
    const good = readFileSync(path);
    const cases: Array<[string, (b: Buffer) => Buffer, RegExp]> = [
      ['a torn payload', (b) => b.subarray(0, b.length - 5), /torn/],
      ['a torn header', (b) => b.subarray(0, 10), /torn \(no whole header\)/],
      ['a flipped payload byte', (b) => { const c = Buffer.from(b); c.writeUInt8(c.readUInt8(30) ^ 1, 30); return c; }, /fails its checksum/],
      ['another file', () => Buffer.from('{"not":"an index"}\n'.repeat(3)), /is not an arpd archive index/],
      ['a newer version', (b) => { const c = Buffer.from(b); c.writeUInt32LE(2, 8); return c; }, /written by a newer arpd \(index format 2; this arpd reads 1\); upgrade arpd/],
      ['an older version', (b) => { const c = Buffer.from(b); c.writeUInt32LE(0, 8); return c; }, /older format/],
    ];
    for (const [what, damage, message] of cases) {
      writeFileSync(path, damage(good));
      t.throws(() => readArchiveIndex(path, ref), message, what);
    }
    writeFileSync(path, good);
    t.throws(() => readArchiveIndex(path, { entries: 4, crc32: '00000000' }), /not the one the snapshot was taken with/, 'another snapshot\'s index');
    t.throws(() => readArchiveIndex(path, { entries: 3, crc32: ref.crc32 }), /not the one the snapshot was taken with/, 'another length');
    t.throws(() => readArchiveIndex(join(root, 'nope.bin'), ref), /cannot be read \(ENOENT\)/, 'a missing file');
    t.same([...readArchiveIndex(path, ref)], [1, 0, 57, 120], 'the whole file is read');
  } finally {
    removeDir(root);
  }
});

t.test('rebuilds an index of an archive larger than one read from archive.jsonl, place by place', async (t) => {
  const root = tempDir('archive-index-big');
  try {
    const runs = join(root, 'runs');
    const archive = new RunArchive(runs, 16, false);
    archive.reset();
    const n = 20_000; // archive.jsonl past 1 MiB: lines cross the rebuild's reads
    const id = (i: number): string => `run-${i}-${'x'.repeat(48)}`;
    for (let i = 0; i < n; i++) {
      // the views only need an id and a place here; the answers are read back from the summaries
      const view = { run_id: id(i), order: (i * 7) % n, phase: 'ended', state: 'succeeded' } as unknown as RunView;
      if (!archive.add(view, { trace_events: 0 } as unknown as RunProgress)) throw new Error(`${id(i)} was not archived`);
    }
    const ref = await archive.writeIndex(archive.captureIndex());
    archive.close();
    t.ok(statSync(join(runs, 'archive.jsonl')).size > 1024 * 1024, 'archive.jsonl is over 1 MiB');
    rmSync(join(runs, ARCHIVE_INDEX_FILE));
    const again = new RunArchive(runs, 16, false);
    const warnings: string[] = [];
    again.importIndex(ref, (m) => warnings.push(m));
    t.match(warnings, [/cannot be read \(ENOENT\): the archive index is rebuilt from/], 'says it rebuilds');
    const wrong: number[] = [];
    for (let i = 0; i < n; i++) if (again.viewAt((i * 7) % n)?.run_id !== id(i)) wrong.push(i);
    t.same(wrong.slice(0, 5), [], 'every place answers its run');
    again.close();
  } finally {
    removeDir(root);
  }
});
