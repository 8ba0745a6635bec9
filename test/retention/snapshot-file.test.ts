import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { Registry } from '../../src/projections/registry.js';
import { listSnapshotSeqs, readSnapshot, snapshotName, usableSnapshots, writeSnapshot, type SnapshotBody } from '../../src/retention/snapshot-file.js';

// test/retention/snapshot-fold.test.ts covers a torn file, one flipped bit near the end, a foreign file and a
// newer format; this file covers the rest of the file format and the directory it keeps.

const body = (offsets = ''): SnapshotBody => ({ registry: new Registry().exportState(), archive: { size: offsets.length, offsets } });
const at = (seq: number) => ({ seq, fileFirstSeq: 1, offset: seq * 100 });
const NOW = new Date('2026-03-04T05:06:07.089Z');

t.test('a snapshot is named by its seq in twelve digits, so names sort as seqs do', async (t) => {
  t.equal(snapshotName(42), 'snapshot-000000000042.json');
  t.equal(snapshotName(999_999_999_999), 'snapshot-999999999999.json');
});

t.test('what is written reads back the same: position, body and the time it was taken', async (t) => {
  const dir = t.testdir();
  await fc.assert(fc.asyncProperty(
    fc.record({ seq: fc.nat(), fileFirstSeq: fc.nat(), offset: fc.nat() }),
    fc.string({ unit: fc.oneof(fc.integer({ min: 0, max: 0xd7ff }), fc.integer({ min: 0x10000, max: 0x10ffff })).map((n) => String.fromCodePoint(n)), maxLength: 200 }),
    async (position, offsets) => {
      const b = body(offsets);
      const { path, bytes } = await writeSnapshot(dir, position, b, NOW, 100);
      const back = readSnapshot(path);
      t.same(back.position, position);
      t.same(back.body, b);
      t.equal(back.takenAt, NOW.toISOString());
      t.equal(back.bytes, bytes);
      t.equal(back.path, path);
    },
  ), { numRuns: 10 });
});

t.test('a snapshot file is private and leaves no temporary file behind', async (t) => {
  const dir = join(t.testdir(), 'snapshots');
  const { path } = await writeSnapshot(dir, at(7), body(), NOW);
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(statSync(dir).mode & 0o777, 0o700, 'the directory it makes is private too');
  t.same(readdirSync(dir), [snapshotName(7)]);
});

t.test('one flipped bit anywhere in the body is refused by the checksum', async (t) => {
  const dir = t.testdir();
  const { path } = await writeSnapshot(dir, at(3), body('abcdefghij'), NOW);
  const good = readFileSync(path);
  const start = good.indexOf(0x0a) + 1;
  fc.assert(fc.property(fc.integer({ min: start, max: good.length - 1 }), fc.integer({ min: 0, max: 7 }), (i, bit) => {
    const bad = Buffer.from(good);
    bad[i] = (bad[i] as number) ^ (1 << bit);
    writeFileSync(path, bad);
    t.throws(() => readSnapshot(path), /fails its checksum/, `byte ${i} bit ${bit}`);
  }), { numRuns: 40 });
});

t.test('a header that does not add up is refused and says what is wrong', async (t) => {
  const dir = t.testdir();
  const { path } = await writeSnapshot(dir, at(3), body(), NOW);
  const good = readFileSync(path);
  const nl = good.indexOf(0x0a);
  const header = JSON.parse(good.toString('utf8', 0, nl)) as Record<string, unknown>;
  const rest = good.subarray(nl);
  const withHeader = (h: Record<string, unknown>) => { writeFileSync(path, Buffer.concat([Buffer.from(JSON.stringify(h)), rest])); };

  withHeader({ ...header, version: 0 });
  t.throws(() => readSnapshot(path), /older format \(0\//, 'an older format');
  withHeader({ ...header, state_version: 999 });
  t.throws(() => readSnapshot(path), /newer arpd .*upgrade arpd/, 'a newer registry state');
  withHeader({ ...header, format: 'something-else' });
  t.throws(() => readSnapshot(path), /not an arpd snapshot/);
  withHeader({ ...header, body_bytes: 1 });
  t.throws(() => readSnapshot(path), /the header says 1 \(torn\)/);
  for (const position of [undefined, { seq: -1, fileFirstSeq: 1, offset: 0 }, { seq: 1, fileFirstSeq: 1, offset: -5 }, { seq: 1.5, fileFirstSeq: 1, offset: 0 }, { seq: 1, offset: 0 }]) {
    withHeader({ ...header, position });
    t.throws(() => readSnapshot(path), /no valid log position/, JSON.stringify(position));
  }
  writeFileSync(path, Buffer.from(JSON.stringify(header)));
  t.throws(() => readSnapshot(path), /no header line \(torn\)/, 'cut inside the header');
});

t.test('a body that is JSON but not a snapshot body is refused', async (t) => {
  const dir = t.testdir();
  const { path } = await writeSnapshot(dir, at(3), { registry: 'nope', archive: {} } as unknown as SnapshotBody, NOW);
  t.throws(() => readSnapshot(path), /lacks the registry or the archive index/);
});

t.test('writing keeps the 2 newest snapshots by default, or as many as asked', async (t) => {
  const dir = t.testdir();
  for (const seq of [5, 10, 15, 20]) await writeSnapshot(dir, at(seq), body(), NOW);
  t.same(listSnapshotSeqs(dir), [20, 15]);
  t.same(readdirSync(dir).sort(), [snapshotName(15), snapshotName(20)]);
  await writeSnapshot(dir, at(25), body(), NOW, 3);
  t.same(listSnapshotSeqs(dir), [25, 20, 15]);
  await writeSnapshot(dir, at(30), body(), NOW, 1);
  t.same(listSnapshotSeqs(dir), [30]);
});

t.test('the listing is newest first and passes over files that are not snapshots', async (t) => {
  const dir = t.testdir({ 'snapshot-1.json': 'short name', 'notes.txt': 'x', [`${snapshotName(9)}.123.tmp`]: 'a temp file' });
  await writeSnapshot(dir, at(100), body(), NOW, 10);
  await writeSnapshot(dir, at(9), body(), NOW, 10);
  t.same(listSnapshotSeqs(dir), [100, 9]);
  t.same(listSnapshotSeqs(join(dir, 'missing')), [], 'no directory: no snapshots');
});

t.test('the usable snapshots come newest first, a damaged one passed over with a warning that names it', async (t) => {
  const dir = t.testdir();
  await writeSnapshot(dir, at(10), body(), NOW);
  const { path: newest } = await writeSnapshot(dir, at(20), body(), NOW);
  writeFileSync(newest, readFileSync(newest).subarray(0, 50));
  const warnings: string[] = [];
  const usable = [...usableSnapshots(dir, (m) => warnings.push(m))];
  t.same(usable.map((s) => s.position.seq), [10]);
  t.equal(warnings.length, 1);
  t.match(warnings[0], new RegExp(`snapshot ${newest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not used: .*torn.*replays the whole log`));
});

t.test('the usable snapshots are read lazily: the boot stops at the first that works', async (t) => {
  const dir = t.testdir();
  const { path: older } = await writeSnapshot(dir, at(10), body(), NOW);
  await writeSnapshot(dir, at(20), body(), NOW);
  writeFileSync(older, 'damaged');
  const warnings: string[] = [];
  const first = usableSnapshots(dir, (m) => warnings.push(m)).next();
  t.equal(first.done, false);
  t.equal(first.value?.position.seq, 20);
  t.same(warnings, [], 'the damaged older one was not even read');
});
