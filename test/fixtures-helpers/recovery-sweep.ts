/**
 * Child process for the exhaustive recovery sweeps of test/events/log-recovery*.test.ts:
 *   recovery-sweep.ts truncate <log file> <work dir> <from offset> <to offset>
 *   recovery-sweep.ts flip     <log file> <work dir> <from byte>   <to byte>
 * For each offset (or each bit of each byte) it writes the damaged log as `<work dir>/events.jsonl`,
 * runs `recoverLog`, and checks the outcome. Prints `{ checked, refused, cut, failures }` as JSON.
 *
 * It runs in its own process because each recovery allocates an 8 MiB read buffer: tens of thousands
 * of them inside the tap process (with its large heap) spend most of their time in the collector.
 * The expected outcome is computed from the raw bytes and JSON.parse, not with the code under test.
 */
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ArpdError } from '../../src/errors/index.js';
import { recoverLog } from '../../src/events/log-recovery.js';

const [mode, logFile, workDir, fromArg, toArg] = process.argv.slice(2);
if (logFile === undefined || workDir === undefined || fromArg === undefined || toArg === undefined) {
  throw new Error('usage: recovery-sweep.ts truncate|flip <log file> <work dir> <from> <to>');
}
const from = Number(fromArg);
const to = Number(toArg);
const src = readFileSync(logFile);
const path = join(workDir, 'events.jsonl');
const clock = (): Date => new Date('2024-05-01T12:00:00.000Z');

/** Offset just past each newline, and each line's id. */
const ends: number[] = [];
for (let i = src.indexOf(0x0a); i !== -1; i = src.indexOf(0x0a, i + 1)) ends.push(i + 1);
const ids = ends.map((end, i) => (JSON.parse(src.toString('utf8', i === 0 ? 0 : ends[i - 1], end - 1)) as { id: string }).id);

const failures: string[] = [];
let checked = 0;
let refused = 0;
let cut = 0;

function recover(): { ids: string[]; lastSeq: number; activeBytes: number; cutAt: unknown; error: ArpdError | undefined } {
  const seen: string[] = [];
  try {
    const r = recoverLog(workDir as string, { clock, onEvent: (e) => seen.push(e.id) });
    const w = r.warnings.find((x) => typeof x.details['offset'] === 'number');
    return { ids: seen, lastSeq: r.lastSeq, activeBytes: r.activeBytes, cutAt: w?.details['offset'], error: undefined };
  } catch (err) {
    if (!(err instanceof ArpdError)) throw err;
    return { ids: seen, lastSeq: -1, activeBytes: -1, cutAt: undefined, error: err };
  }
}

if (mode === 'truncate') {
  let k = 0;
  while (k < ends.length && (ends[k] as number) <= from) k++;
  for (let off = from; off < to && failures.length < 20; off++) {
    while (k < ends.length && (ends[k] as number) <= off) k++;
    const boundary = k === 0 ? 0 : (ends[k - 1] as number);
    writeFileSync(path, src.subarray(0, off));
    const r = recover();
    checked++;
    if (r.error !== undefined) {
      failures.push(`offset ${off}: refused with ${r.error.code}: ${r.error.message}`);
      continue;
    }
    if (off !== boundary) cut++;
    const size = statSync(path).size;
    if (r.ids.length !== k || r.ids.join() !== ids.slice(0, k).join() || r.lastSeq !== k || r.activeBytes !== boundary || size !== boundary
      || (off === boundary ? r.cutAt !== undefined : r.cutAt !== boundary)) {
      failures.push(`offset ${off}: kept ${r.ids.length} of the ${k} whole lines, lastSeq ${r.lastSeq}, file ${size} bytes (want ${boundary}), cut at ${String(r.cutAt)}`);
    }
  }
} else if (mode === 'flip') {
  const n = ends.length;
  for (let at = from; at < to && failures.length < 20; at++) {
    const line = ends.findIndex((e) => at < e) + 1; // a newline belongs to the line it ends
    const start = line === 1 ? 0 : (ends[line - 2] as number);
    const newlineOfLine = at === (ends[line - 1] as number) - 1;
    for (let bit = 0; bit < 8; bit++) {
      const damaged = Buffer.from(src);
      damaged[at] = (damaged[at] as number) ^ (1 << bit);
      writeFileSync(path, damaged);
      const r = recover();
      checked++;
      const where = `bit ${bit} of byte ${at} (line ${line} of ${n})`;
      // Only a damaged last record may be cut: the last line (unless the flip splits it in two with
      // a new newline), or the newline ending the line before it (which merges both into one).
      const mayCut = (line === n && damaged[at] !== 0x0a) || (line === n - 1 && newlineOfLine);
      if (r.error !== undefined) {
        refused++;
        if (r.error.code !== 'E_LOG_CORRUPT' || r.error.data?.['line'] !== line || r.error.data['offset'] !== start) failures.push(`${where}: ${r.error.code} ${JSON.stringify(r.error.data)}`);
        if (!readFileSync(path).equals(damaged)) failures.push(`${where}: refused, yet the file was changed`);
        if (!r.error.message.includes(`line ${line} (byte offset ${start})`)) failures.push(`${where}: the message does not name line and offset: ${r.error.message}`);
        if (mayCut) failures.push(`${where}: a damaged last record was refused instead of cut`);
      } else {
        cut++;
        if (r.ids.join() !== ids.slice(0, line - 1).join()) failures.push(`${where}: kept ${r.ids.length} events, want the ${line - 1} before the damage`);
        if (r.cutAt !== start) failures.push(`${where}: cut at ${String(r.cutAt)}, want ${start}`);
        if (!mayCut) failures.push(`${where}: damage before the last record was cut instead of refused`);
      }
    }
  }
} else {
  throw new Error(`unknown mode ${String(mode)}`);
}

process.stdout.write(`${JSON.stringify({ checked, refused, cut, failures })}\n`);
