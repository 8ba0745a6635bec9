import { closeSync, constants, existsSync, fstatSync, fsync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import fse from 'fs-extra';
import { join } from 'node:path';
import { ARCHIVE_INDEX_FILE, readArchiveIndex, writeArchiveIndex, type ArchiveIndexRef } from './archive-index-file.js';
import { eventFromTraceLine, type TraceLine } from '../events/trace-line.js';
import { isValidId } from '../ids/id-rules.js';
import { evolveRun, evolveRunProgress } from '../projections/evolve.js';
import type { RunArchiveReader } from '../projections/registry.js';
import type { RunProgress, RunView } from '../projections/registry-types.js';

/**
 * Where ended runs go when they leave memory (retention). Two things on disk, both derived data:
 * - `runs/<id>/summary.json`: the run's views as they were in memory (status, result and trace are then answered
 *   exactly as before, from this file and the run's own log);
 * - `runs/archive.jsonl`: one line per archived run (`{"o": order, "id": run_id}`), and in memory an index from each
 *   place in submission order to its line (8 bytes a run), so listing pages through archived runs in order. Lines
 *   are appended in batches (`flush`: after each retention sweep, and before anything reads or syncs the file).
 * A summary that is missing (a crash between the two writes), or is not this run's, is rebuilt from the run log.
 * A snapshot does not hold the index: `captureIndex` + `writeIndex` write it to `runs/archive-index.bin`
 * (archive-index-file.ts) and give the snapshot a reference to it; `importIndex` reads it back, or rebuilds it from
 * `archive.jsonl` when the file is not the one the snapshot was taken with.
 *
 * Length: over 300 lines because the summaries, the batched archive.jsonl appends and the index are one store whose
 * writes must stay in step (a summary before its line, the line before the index covers it); split, each part would
 * need the others' internals.
 */

/** The archive part of a snapshot body: how many runs were archived, how much of archive.jsonl the index covers, and the index file's reference. */
export interface ArchiveSnapshotRef {
  size: number;
  jsonl_bytes: number;
  index: ArchiveIndexRef;
}

/** The archive part of a snapshot written before the index had its own file (base64 of the offsets in the JSON). */
export interface LegacyArchiveIndex {
  size: number;
  offsets: string;
}

/** The index as it stood in one tick (a copy: `add` goes on changing the live one while the snapshot is written). */
export interface ArchiveIndexCapture {
  size: number;
  jsonlBytes: number;
  offsets: Float64Array;
}

/** Appended lines are written once this many bytes are waiting. */
const FLUSH_BYTES = 256 * 1024;

/** Room for an eighth more places than used (a boot that then archives more grows it by halves). */
function roomFor(n: number): number {
  return Math.max(1024, n + (n >> 3));
}
/** The global seq of a run log's first line (undefined when there is no readable first line). */
function firstGlobalSeq(path: string): number | undefined {
  let fd: number;
  try { fd = openSync(path, 'r'); } catch { return undefined; }
  try {
    const buf = Buffer.allocUnsafe(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const nl = buf.subarray(0, n).indexOf(0x0a);
    if (nl === -1) return undefined;
    const seq = (JSON.parse(buf.toString('utf8', 0, nl)) as TraceLine).extensions?.['arpd.event']?.seq;
    return typeof seq === 'number' ? seq : undefined;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export class RunArchive implements RunArchiveReader {
  private offsets: Float64Array = new Float64Array(1024);
  private fd: number | undefined;
  /** Bytes of archive.jsonl, counting the lines not flushed yet. */
  private size = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private readonly cache = new Map<string, { view: RunView; progress: RunProgress } | null>();
  private readonly path: string;
  archived = 0;

  /**
   * `requireRunLog: false` (a shared store, whose runs' traces are read from the store and have a local run log only
   * on the node that dispatched them): a run is archived with its summary alone.
   */
  constructor(private readonly runsDir: string, private readonly cacheSize = 512, private readonly requireRunLog = true) {
    this.path = join(runsDir, 'archive.jsonl');
  }

  private open(): number {
    if (this.fd === undefined) {
      mkdirSync(this.runsDir, { recursive: true, mode: 0o700 });
      // positioned writes (not O_APPEND): a failed batch is written again at the same place
      this.fd = openSync(this.path, constants.O_RDWR | constants.O_CREAT, 0o600);
      this.size = fstatSync(this.fd).size;
    }
    return this.fd;
  }

  /**
   * Writes an ended run out; true when the registry may forget it. False when its run log is not there: a run pruned
   * later in the log being replayed (its directory is gone; the prune event will take it out of memory), or a run
   * log that could not be written (the daemon completes it at its next start): such a run stays in memory.
   */
  add(view: RunView, progress: RunProgress): boolean {
    if (!isValidId(view.run_id)) return false;
    const dir = join(this.runsDir, view.run_id);
    if (this.requireRunLog && !existsSync(join(dir, 'trace.jsonl'))) return false;
    if (!this.requireRunLog) mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = join(dir, 'summary.json.tmp');
    // the summary replaces an older one atomically (temp file, then a rename over it); the directory is there
    writeFileSync(tmp, `${JSON.stringify({ view, progress })}\n`, { mode: 0o600 });
    renameSync(tmp, join(dir, 'summary.json'));
    this.open();
    const line = `${JSON.stringify({ o: view.order, id: view.run_id })}\n`;
    const at = this.size;
    const bytes = Buffer.byteLength(line);
    this.pending.push(line);
    this.pendingBytes += bytes;
    this.size += bytes;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
    this.setOffset(view.order, at);
    this.archived++;
    this.cache.delete(view.run_id);
    return true;
  }

  /**
   * Writes the appended lines that are waiting, in one write at the end of what is written. A write that fails
   * (a full disk) keeps them waiting for the next flush, which writes over whatever part of them got written.
   */
  flush(): void {
    if (this.pending.length === 0) return;
    const fd = this.open();
    const buf = Buffer.from(this.pending.length === 1 ? this.pending[0] as string : this.pending.join(''), 'utf8');
    const start = this.size - this.pendingBytes;
    let done = 0;
    while (done < buf.length) done += writeSync(fd, buf, done, buf.length - done, start + done);
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Starts the archive over (a boot that replays the whole log archives again as it folds). */
  reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.close();
    mkdirSync(this.runsDir, { recursive: true, mode: 0o700 });
    writeFileSync(this.path, '', { mode: 0o600 });
    rmSync(join(this.runsDir, ARCHIVE_INDEX_FILE), { force: true });
    this.offsets = new Float64Array(1024);
    this.size = 0;
    this.archived = 0;
    this.cache.clear();
  }

  /** Makes archive.jsonl durable (before a snapshot that refers to it is written). */
  async sync(): Promise<void> {
    this.flush();
    if (this.fd === undefined) return;
    const fd = this.fd;
    await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  }

  /** The index as it stands now, for a snapshot taken in this tick (trimmed to the last used place). */
  captureIndex(): ArchiveIndexCapture {
    let last = this.offsets.length - 1;
    while (last >= 0 && this.offsets[last] === 0) last--;
    return { size: this.archived, jsonlBytes: this.size, offsets: this.offsets.slice(0, last + 1) };
  }

  /**
   * Makes a captured index durable: archive.jsonl fsynced, then the index file written (temp + fsync + rename);
   * resolves to what the snapshot records. Call it before writing the snapshot that refers to it.
   */
  async writeIndex(capture: ArchiveIndexCapture): Promise<ArchiveSnapshotRef> {
    await this.sync();
    mkdirSync(this.runsDir, { recursive: true, mode: 0o700 });
    const index = await writeArchiveIndex(join(this.runsDir, ARCHIVE_INDEX_FILE), capture.offsets);
    return { size: capture.size, jsonl_bytes: capture.jsonlBytes, index };
  }

  private setOffset(order: number, at: number): void {
    if (order < 0) return;
    if (order >= this.offsets.length) {
      let n = this.offsets.length;
      while (n <= order) n = Math.ceil(n * 1.5);
      const bigger = new Float64Array(n);
      bigger.set(this.offsets);
      this.offsets = bigger;
    }
    this.offsets[order] = at + 1;
  }

  viewAt(order: number): RunView | undefined {
    const at = order >= 0 && order < this.offsets.length ? (this.offsets[order] as number) - 1 : -1;
    if (at < 0) return undefined;
    try { this.flush(); } catch { /* not written yet (a full disk): not found, as before it was archived */ }
    const fd = this.open();
    const buf = Buffer.allocUnsafe(16 * 1024);
    let text = '';
    for (let pos = at; ; pos += buf.length) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return undefined;
      const chunk = buf.toString('utf8', 0, n);
      const nl = chunk.indexOf('\n');
      if (nl !== -1) { text += chunk.slice(0, nl); break; }
      text += chunk;
    }
    let id: unknown;
    try {
      id = (JSON.parse(text) as { id?: unknown }).id;
    } catch {
      return undefined;
    }
    return typeof id === 'string' ? this.load(id)?.view : undefined;
  }

  load(runId: string): { view: RunView; progress: RunProgress } | undefined {
    // nothing archived (every boot sets the count: a snapshot's index or a replay that archives again): a new run id,
    // asked on every submit, is answered without touching the disk
    if (!isValidId(runId) || this.archived === 0) return undefined;
    const hit = this.cache.get(runId);
    if (hit !== undefined) return hit ?? undefined;
    const found = this.read(runId);
    this.cache.set(runId, found ?? null);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    return found;
  }

  /** Forgets what was cached about a run (a run that was not archived yet, asked for before it ended). */
  uncache(runId: string): void {
    this.cache.delete(runId);
  }

  /**
   * A pruned run: its directory is deleted and nothing about it is answered any more. Called as the prune event is
   * folded (live, and again by a boot that replays it: deleting then is a no-op). A directory whose run log starts
   * after the prune event belongs to a later run that reused the id: it is kept.
   */
  forget(runId: string, prunedAtSeq: number): void {
    this.cache.set(runId, null);
    if (this.cache.size > this.cacheSize) this.cache.delete(this.cache.keys().next().value as string);
    if (!isValidId(runId)) return;
    const dir = join(this.runsDir, runId);
    const first = firstGlobalSeq(join(dir, 'trace.jsonl'));
    if (first !== undefined && first > prunedAtSeq) return;
    fse.removeSync(dir);
  }

  private read(runId: string): { view: RunView; progress: RunProgress } | undefined {
    const dir = join(this.runsDir, runId);
    // a new run id (every submit asks) costs one stat, not a thrown ENOENT
    if (!existsSync(dir)) return undefined;
    try {
      const s = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { view?: Partial<RunView>; progress?: unknown } | null;
      // JSON that is not this run's summary (damaged, or another run's copied here) is no answer: rebuilt as if missing
      if (s?.view?.run_id === runId && s.view.phase === 'ended' && typeof s.view.state === 'string' && typeof s.progress === 'object' && s.progress !== null) {
        return s as { view: RunView; progress: RunProgress };
      }
    } catch { /* no summary: rebuild from the run log */ }
    const log = join(dir, 'trace.jsonl');
    if (!existsSync(log)) return undefined;
    let view: RunView | undefined;
    let progress: RunProgress | undefined;
    for (const text of readFileSync(log, 'utf8').split('\n')) {
      if (text === '') continue;
      let line: TraceLine;
      try { line = JSON.parse(text) as TraceLine; } catch { continue; }
      const e = eventFromTraceLine(line, 'archive');
      if (e === undefined) continue;
      progress = evolveRunProgress(progress, e);
      view = evolveRun(view, e, -1);
    }
    // only an ended run is ever archived: a run log of a run still going is no archive
    return view !== undefined && progress !== undefined && view.phase === 'ended' ? { view, progress } : undefined;
  }

  /**
   * Takes the index a snapshot refers to. The index file is read straight into a right-sized array; when it is not
   * the one the snapshot was taken with (torn, damaged, another version, overwritten by a newer snapshot), the index
   * is rebuilt from the first `jsonl_bytes` of archive.jsonl, with a warning. A snapshot of the older form (base64
   * offsets in its JSON) is read as it is. Throws when archive.jsonl is shorter than the snapshot says: such a
   * snapshot is not used (the boot falls back to an older one or to the whole log).
   */
  importIndex(ref: ArchiveSnapshotRef | LegacyArchiveIndex, warn: (message: string) => void = () => undefined): void {
    this.flush();
    this.cache.clear();
    if ('offsets' in ref && typeof ref.offsets === 'string') {
      const bytes = Buffer.from(ref.offsets, 'base64');
      const n = Math.floor(bytes.length / 8);
      const copy = new Float64Array(roomFor(n));
      new Uint8Array(copy.buffer, 0, n * 8).set(bytes.subarray(0, n * 8));
      this.offsets = copy;
      this.archived = ref.size;
      return;
    }
    const r = ref as Partial<ArchiveSnapshotRef>;
    if (!Number.isSafeInteger(r.size) || !Number.isSafeInteger(r.jsonl_bytes) || typeof r.index !== 'object' || r.index === null || !Number.isSafeInteger(r.index.entries) || typeof r.index.crc32 !== 'string') {
      throw new Error('its archive reference is not valid');
    }
    const { size, jsonl_bytes: jsonlBytes, index } = ref as ArchiveSnapshotRef;
    const fd = this.open();
    const have = fstatSync(fd).size;
    if (have < jsonlBytes) throw new Error(`${this.path} has ${have} bytes, fewer than the ${jsonlBytes} its archive index covers`);
    try {
      this.offsets = readArchiveIndex(join(this.runsDir, ARCHIVE_INDEX_FILE), index, roomFor);
    } catch (err) {
      warn(`${(err as Error).message}: the archive index is rebuilt from ${this.path}`);
      this.offsets = this.rebuildIndex(jsonlBytes);
    }
    this.archived = size;
  }

  /** The index from the first `bytes` of archive.jsonl (a later line for a place wins, as `add` does). */
  private rebuildIndex(bytes: number): Float64Array {
    this.offsets = new Float64Array(1024);
    const fd = this.open();
    const chunk = Buffer.allocUnsafe(1024 * 1024);
    let carry = Buffer.alloc(0);
    let base = 0; // file offset of carry[0]
    for (let pos = 0; pos < bytes;) {
      const n = readSync(fd, chunk, 0, Math.min(chunk.length, bytes - pos), pos);
      if (n === 0) break;
      pos += n;
      const buf = carry.length === 0 ? chunk.subarray(0, n) : Buffer.concat([carry, chunk.subarray(0, n)]);
      let start = 0;
      for (let nl = buf.indexOf(0x0a); nl !== -1; nl = buf.indexOf(0x0a, start)) {
        const order = orderOfLine(buf.toString('utf8', start, nl));
        if (order !== undefined) this.setOffset(order, base + start);
        start = nl + 1;
      }
      carry = Buffer.from(buf.subarray(start));
      base += start;
    }
    return this.offsets;
  }

  close(): void {
    try { this.flush(); } catch { /* a full disk: a boot archives these runs again */ }
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function orderOfLine(text: string): number | undefined {
  try {
    const o = (JSON.parse(text) as { o?: unknown }).o;
    return typeof o === 'number' && Number.isSafeInteger(o) ? o : undefined;
  } catch {
    return undefined;
  }
}
