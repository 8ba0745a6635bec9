import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { ACTIVE_LOG, segmentName } from '../../src/events/log-files.js';
import { recoverLog, type RecoveryResult } from '../../src/events/log-recovery.js';
import { LogStore } from '../../src/events/log-store.js';
import { REUSE_LARGE_BUFFERS, runHelperJson } from '../fixtures-helpers/child.js';
import { readLogEvents, removeDir, sampleEvent, tempDir } from '../fixtures-helpers/events.js';

interface SweepResult { checked: number; refused: number; cut: number; failures: string[] }

const FIXED_CLOCK = (): Date => new Date('2024-05-01T12:00:00.000Z');

/** Writes `count` events over runs, instances and profiles through the real store; returns them. */
async function buildLog(root: string, count: number, segmentBytes?: number): Promise<StoredEvent[]> {
  const store = LogStore.open({ root, ...(segmentBytes === undefined ? {} : { segmentBytes }) });
  const out: StoredEvent[] = [];
  for (let i = 0; i < count;) {
    const size = 1 + (i % 3);
    const batch = Array.from({ length: Math.min(size, count - i) }, (_, j) => sampleEvent(i + j, (i + j) >> 2, i + j, 'x'.repeat((i * 7 + j) % 90)));
    out.push(...(await store.append(batch)));
    i += batch.length;
  }
  await store.close();
  return out;
}

/** Byte offset just past each line's newline. */
function lineEnds(buf: Buffer): number[] {
  const ends: number[] = [];
  for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) ends.push(i + 1);
  return ends;
}

function recoverOrError(root: string, opts: Parameters<typeof recoverLog>[1] = {}): { result?: RecoveryResult; error?: ArpdError; events: StoredEvent[] } {
  const events: StoredEvent[] = [];
  try {
    return { result: recoverLog(root, { clock: FIXED_CLOCK, ...opts, onEvent: (e) => events.push(e) }), events };
  } catch (err) {
    if (err instanceof ArpdError) return { error: err, events };
    throw err;
  }
}

t.test('cuts a damaged last line, warns with its offset and keeps a copy of the damaged file', async (t) => {
  const root = tempDir('flip-last');
  t.teardown(() => removeDir(root));
  const written = await buildLog(root, 30);
  const path = join(root, ACTIVE_LOG);
  const buf = readFileSync(path);
  const ends = lineEnds(buf);
  const lastStart = ends[ends.length - 2] as number;
  const damaged = Buffer.from(buf);
  damaged[lastStart + 20] = (damaged[lastStart + 20] as number) ^ 0x04;
  writeFileSync(path, damaged);

  const warnings: Array<{ message: string; details: Record<string, unknown> }> = [];
  const recovered: StoredEvent[] = [];
  const store = LogStore.open({ root, clock: FIXED_CLOCK, onEvent: (e) => recovered.push(e), onWarning: (message, details) => warnings.push({ message, details }) });
  t.same(recovered, written.slice(0, -1), 'every event before the damaged line is kept');
  const cut = warnings.find((w) => w.details['offset'] !== undefined);
  t.ok(cut, 'a warning reports the cut');
  t.equal(cut?.details['offset'], lastStart);
  t.match(cut?.message, new RegExp(`byte offset ${lastStart}`));
  t.match(cut?.details['reason'], /checksum mismatch/);
  const copy = cut?.details['copy'] as string;
  t.match(copy, /events\.jsonl\.broken-2024-05-01T12-00-00-000Z$/);
  t.ok(existsSync(copy), 'the copy exists');
  t.same(readFileSync(copy), damaged.subarray(lastStart), 'the copy holds exactly the cut bytes (a full disk needs no room for a copy of the whole log)');
  t.equal(statSync(path).size, lastStart, 'the file ends where the damaged line began');
  const next = await store.append(sampleEvent(4, 0, 1));
  t.equal(next[0]?.seq, written.length, 'the next append takes the cut line\'s seq');
  await store.close();
});

t.test('refuses to start on a damaged line before the last, naming file, line and offset, and changes nothing', async (t) => {
  const root = tempDir('flip-mid');
  t.teardown(() => removeDir(root));
  await buildLog(root, 30);
  const path = join(root, ACTIVE_LOG);
  const buf = readFileSync(path);
  const ends = lineEnds(buf);
  const line = 12; // 1-based
  const start = ends[line - 2] as number;
  const damaged = Buffer.from(buf);
  damaged[start + 30] = (damaged[start + 30] as number) ^ 0x01;
  writeFileSync(path, damaged);

  let err: unknown;
  try { LogStore.open({ root }); } catch (e) { err = e; }
  t.ok(err instanceof ArpdError);
  t.match(err, { code: 'E_LOG_CORRUPT', data: { file: path, line, offset: start } });
  t.match((err as Error).message, new RegExp(`line ${line} \\(byte offset ${start}\\)`));
  t.match((err as Error).message, /--repair/);
  t.same(readFileSync(path), damaged, 'the log is left as it was');
  t.same(readdirSync(root).filter((n) => n.includes('broken')), [], 'no copy was made');
});

t.test('with repair, sets a damaged middle line aside and keeps every other line', async (t) => {
  const root = tempDir('repair');
  t.teardown(() => removeDir(root));
  const written = await buildLog(root, 30);
  const path = join(root, ACTIVE_LOG);
  const buf = readFileSync(path);
  const ends = lineEnds(buf);
  // line 12 holds an instance event (no run log keeps a copy): it is recorded as lost, keeping its seq
  const line = written.findIndex((e, i) => i >= 10 && !e.stream.startsWith('run:')) + 1;
  const start = ends[line - 2] as number;
  const damaged = Buffer.from(buf);
  damaged[start + 30] = (damaged[start + 30] as number) ^ 0x80;
  writeFileSync(path, damaged);

  const warnings: Array<Record<string, unknown>> = [];
  const recovered: StoredEvent[] = [];
  const store = LogStore.open({ root, repair: true, clock: FIXED_CLOCK, onEvent: (e) => recovered.push(e), onWarning: (_m, d) => warnings.push(d) });
  t.same(recovered.slice(0, line - 1), written.slice(0, line - 1), 'the events before the damaged line');
  t.same(recovered.slice(line), written.slice(line), 'and every event after it, as they were');
  t.match(recovered[line - 1], { seq: line, type: 'log.line_lost', stream: 'log', data: { seq: line, offset: start } }, 'the lost line keeps its seq');
  t.equal(store.seq, written.length);
  t.equal(store.repaired?.plan.lost.length, 1);
  const copy = (warnings[0]?.['copies'] as string[])[0] as string;
  t.same(readFileSync(copy), damaged.subarray(start, ends[line - 1]), 'only the damaged bytes are kept aside');
  t.equal((await store.append(sampleEvent(11, 0, 0)))[0]?.seq, written.length + 1);
  await store.close();
});

t.test('with repair, restores a damaged run event from its run log', async (t) => {
  const root = tempDir('repair-run');
  t.teardown(() => removeDir(root));
  const written = await buildLog(root, 30);
  const path = join(root, ACTIVE_LOG);
  const buf = readFileSync(path);
  const ends = lineEnds(buf);
  const line = written.findIndex((e, i) => i >= 10 && e.type === 'run.accepted') + 1;
  const start = ends[line - 2] as number;
  const damaged = Buffer.from(buf);
  damaged[start + 40] = (damaged[start + 40] as number) ^ 0x02;
  writeFileSync(path, damaged);
  const recovered: StoredEvent[] = [];
  const store = LogStore.open({ root, repair: true, clock: FIXED_CLOCK, onEvent: (e) => recovered.push(e) });
  const original = written[line - 1] as StoredEvent;
  t.match(recovered[line - 1], { seq: original.seq, id: original.id, ts: original.ts, stream: original.stream, rev: original.rev, type: original.type, data: original.data, meta: { actor: 'repair' } }, 'the event is back as it was (its meta says it was restored)');
  t.same(store.repaired?.plan.restored.map((r) => r.seq), [line]);
  t.same(store.repaired?.plan.lost, []);
  await store.close();
});

t.test('on a single flipped bit anywhere, keeps every line before it and either cuts the damaged last record or refuses unchanged', async (t) => {
  const source = tempDir('flip-src');
  t.teardown(() => removeDir(source));
  await buildLog(source, 5);
  const log = join(source, ACTIVE_LOG);
  const size = statSync(log).size;
  const halves = [[0, size >> 1], [size >> 1, size]] as const;
  const works = halves.map(() => tempDir('flip'));
  t.teardown(() => { for (const w of works) removeDir(w); });
  const results = await Promise.all(halves.map(([from, to], i) =>
    runHelperJson<SweepResult>('recovery-sweep.ts', ['flip', log, works[i] as string, String(from), String(to)], REUSE_LARGE_BUFFERS)));
  const checked = results.reduce((n, r) => n + r.checked, 0);
  t.same(results.flatMap((r) => r.failures), [], `${checked} flips: ${results.reduce((n, r) => n + r.refused, 0)} refused, ${results.reduce((n, r) => n + r.cut, 0)} cut`);
  t.equal(checked, size * 8, 'every bit of every byte was flipped once');
  t.ok(results.some((r) => r.refused > 0) && results.some((r) => r.cut > 0), 'both outcomes occur');
});

t.test('refuses a seq gap even in the last line, and a repeated line', async (t) => {
  const root = tempDir('gap');
  t.teardown(() => removeDir(root));
  await buildLog(root, 10);
  const path = join(root, ACTIVE_LOG);
  const buf = readFileSync(path);
  const ends = lineEnds(buf);
  const lines = ends.map((e, i) => buf.subarray(i === 0 ? 0 : (ends[i - 1] as number), e));
  const cases: Array<[string, Buffer[], number, RegExp]> = [
    ['a missing middle line', [...lines.slice(0, 4), ...lines.slice(5)], 5, /seq 6 where 5 was expected/],
    ['a missing line before the last', [...lines.slice(0, 8), ...lines.slice(9)], 9, /seq 10 where 9 was expected/],
    ['a repeated line', [...lines.slice(0, 5), lines[4] as Buffer, ...lines.slice(5)], 6, /seq 5 where 6 was expected/],
  ];
  for (const [name, parts, line, reason] of cases) {
    const content = Buffer.concat(parts);
    writeFileSync(path, content);
    const r = recoverOrError(root);
    t.equal(r.error?.code, 'E_LOG_CORRUPT', name);
    t.equal(r.error?.data?.['line'], line, `${name}: line`);
    t.match(r.error?.data?.['reason'], reason);
    t.same(readFileSync(path), content, `${name}: file unchanged`);
    const store = LogStore.open({ root, repair: true, clock: FIXED_CLOCK });
    t.equal(store.seq, 10, `${name}: repair keeps every line after the damage`);
    t.same(readLogEvents(root).map((e) => e.seq), Array.from({ length: 10 }, (_, i) => i + 1), `${name}: the repaired log is one gap-free sequence`);
    await store.close();
    writeFileSync(path, buf);
  }
});

t.test('reports damage of any kind without changing anything when mutate is false', async (t) => {
  const root = tempDir('verify');
  t.teardown(() => removeDir(root));
  await buildLog(root, 5);
  const path = join(root, ACTIVE_LOG);
  const torn = Buffer.concat([readFileSync(path), Buffer.from('{"seq":6,"id')]);
  writeFileSync(path, torn);
  const r = recoverOrError(root, { mutate: false });
  t.match(r.error, { code: 'E_LOG_CORRUPT', data: { torn_tail: true, line: 6 } });
  t.same(readFileSync(path), torn);
  const repaired = recoverOrError(root);
  t.equal(repaired.result?.lastSeq, 5);
  t.equal(statSync(path).size, torn.length - 12);
});

t.test('reads across segments and refuses a gap between them', async (t) => {
  const root = tempDir('segments');
  t.teardown(() => removeDir(root));
  const written = await buildLog(root, 200, 2048);
  const segments = readdirSync(root).filter((n) => /^events-\d{12}\.jsonl$/.test(n)).sort();
  t.ok(segments.length >= 4, `${segments.length} segments`);
  const all = recoverOrError(root);
  t.same(all.events, written, 'every event across the segments, in order');
  const activeLines = lineEnds(readFileSync(join(root, ACTIVE_LOG))).length;
  t.equal(all.result?.activeFirstSeq, written.length - activeLines + 1, 'the active file starts after the last segment');

  const missing = segments[2] as string;
  renameSync(join(root, missing), join(root, `${missing}.moved`));
  const r = recoverOrError(root);
  t.equal(r.error?.code, 'E_LOG_CORRUPT');
  t.match(r.error?.message, /gap/);
  t.equal(r.error?.data?.['file'], join(root, segments[3] as string), 'names the segment after the gap');
  renameSync(join(root, `${missing}.moved`), join(root, missing));

  const wrongName = segmentName(Number(/events-(\d+)/.exec(segments[1] as string)?.[1]) + 1);
  renameSync(join(root, segments[1] as string), join(root, wrongName));
  t.equal(recoverOrError(root).error?.code, 'E_LOG_CORRUPT', 'a segment whose name is not its first seq is refused');
  renameSync(join(root, wrongName), join(root, segments[1] as string));
  t.same(recoverOrError(root).events, written, 'the restored log reads whole again');
});

t.test('with repair, fills a missing segment with what the run logs hold and keeps every later segment', async (t) => {
  const root = tempDir('segments-repair');
  t.teardown(() => removeDir(root));
  const written = await buildLog(root, 200, 2048);
  const segments = readdirSync(root).filter((n) => /^events-\d{12}\.jsonl$/.test(n)).sort();
  const gapAt = Number(/events-(\d+)/.exec(segments[2] as string)?.[1]);
  const nextAt = Number(/events-(\d+)/.exec(segments[3] as string)?.[1]);
  unlinkSync(join(root, segments[2] as string));
  const refused = recoverOrError(root);
  t.match(refused.error?.message, /--repair/, 'the message advises --repair');
  const store = LogStore.open({ root, repair: true, clock: FIXED_CLOCK });
  const events = readLogEvents(root);
  t.same(events.map((e) => e.seq), written.map((e) => e.seq), 'one gap-free sequence, as long as before');
  t.same(events.slice(0, gapAt - 1), written.slice(0, gapAt - 1), 'the events before the gap');
  t.same(events.slice(nextAt - 1), written.slice(nextAt - 1), 'and after it');
  for (let i = gapAt - 1; i < nextAt - 1; i++) {
    const e = events[i] as StoredEvent;
    const w = written[i] as StoredEvent;
    if (w.stream.startsWith('run:')) t.match(e, { seq: w.seq, stream: w.stream, rev: w.rev, type: w.type }, `seq ${w.seq}: a run event is restored`);
    else t.match(e, { seq: w.seq, type: 'log.line_lost' }, `seq ${w.seq}: another event is recorded lost`);
  }
  await store.close();
});

t.test('refuses a torn tail in a sealed segment, and with repair keeps every later segment', async (t) => {
  const root = tempDir('segment-torn');
  t.teardown(() => removeDir(root));
  const written = await buildLog(root, 120, 2048);
  const segments = readdirSync(root).filter((n) => /^events-\d{12}\.jsonl$/.test(n)).sort();
  const victim = join(root, segments[1] as string);
  const buf = readFileSync(victim);
  const ends = lineEnds(buf);
  writeFileSync(victim, buf.subarray(0, (ends[ends.length - 1] as number) - 7));
  const r = recoverOrError(root);
  t.match(r.error, { code: 'E_LOG_CORRUPT', data: { file: victim } });
  const store = LogStore.open({ root, repair: true, clock: FIXED_CLOCK });
  t.equal(store.seq, written.length, 'nothing after the torn line is lost');
  t.ok(existsSync(join(root, ACTIVE_LOG)), 'the active file stays');
  await store.append(sampleEvent(11, 0, 1));
  await store.close();
  t.same(readLogEvents(root).map((e) => e.seq), Array.from({ length: written.length + 1 }, (_, i) => i + 1));
});

t.test('starts on an empty data dir and on an empty active file', async (t) => {
  const root = tempDir('empty');
  t.teardown(() => removeDir(root));
  const none = recoverOrError(root);
  t.match(none.result, { lastSeq: 0, activeFirstSeq: 1, activeBytes: 0, warnings: [] });
  writeFileSync(join(root, ACTIVE_LOG), '');
  t.match(recoverOrError(root).result, { lastSeq: 0, activeFirstSeq: 1, activeBytes: 0 });
  rmSync(join(root, ACTIVE_LOG));
  mkdirSync(join(root, 'runs'));
  t.match(recoverOrError(root).result, { lastSeq: 0 });
});
