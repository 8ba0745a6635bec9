/**
 * Child process for test/retention/compaction.test.ts: compacts a log the test wrote, over and over, until the test
 * kills it with SIGKILL at a random moment. Between rounds it puts the log back as it was (each plain segment
 * written to a temp file and renamed, then the horizon and the .gz files removed: every step leaves a whole log), so
 * the kill lands in a compaction that has work to do.
 *   compact-child.ts <data dir> <active first seq> <newest snapshot seq> <oldest snapshot seq> <budget bytes>
 */
import { readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compactLog } from '../../src/events/log-compact.js';

const [dir, active, newest, oldest, budget] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: compact-child.ts <dir> <active first seq> <newest> <oldest> <budget>');
const plain = new Map(readdirSync(dir).filter((n) => /^events-\d+\.jsonl$/.test(n)).map((n) => [n, readFileSync(join(dir, n))]));
process.stdout.write('ready\n');
for (;;) {
  await compactLog(dir, Number(active), { newestSnapshotSeq: Number(newest), oldestSnapshotSeq: Number(oldest), budgetBytes: Number(budget) });
  for (const [name, bytes] of plain) {
    writeFileSync(join(dir, `${name}.restore`), bytes);
    renameSync(join(dir, `${name}.restore`), join(dir, name));
  }
  rmSync(join(dir, 'log-horizon.json'), { force: true });
  for (const name of plain.keys()) rmSync(join(dir, `${name}.gz`), { force: true });
}
