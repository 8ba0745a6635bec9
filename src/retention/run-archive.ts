import { closeSync, existsSync, fstatSync, fsync, mkdirSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import fse from 'fs-extra';
import { join } from 'node:path';
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
 *   place in submission order to its line (8 bytes a run), so listing pages through archived runs in order.
 * A summary that is missing (a crash between the two writes) is rebuilt from the run log.
 */
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
  private offsets = new Float64Array(1024);
  private fd: number | undefined;
  private size = 0;
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
      this.fd = openSync(this.path, 'a+', 0o600);
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
    // fs-extra: the summary replaces an older one atomically (temp file, then a rename over it)
    fse.outputFileSync(tmp, `${JSON.stringify({ view, progress })}\n`, { mode: 0o600 });
    fse.moveSync(tmp, join(dir, 'summary.json'), { overwrite: true });
    const fd = this.open();
    const line = `${JSON.stringify({ o: view.order, id: view.run_id })}\n`;
    const at = this.size;
    writeSync(fd, line);
    this.size += Buffer.byteLength(line);
    this.setOffset(view.order, at);
    this.archived++;
    this.cache.delete(view.run_id);
    return true;
  }

  /** Starts the archive over (a boot that replays the whole log archives again as it folds). */
  reset(): void {
    this.close();
    mkdirSync(this.runsDir, { recursive: true, mode: 0o700 });
    writeFileSync(this.path, '', { mode: 0o600 });
    this.offsets = new Float64Array(1024);
    this.size = 0;
    this.archived = 0;
    this.cache.clear();
  }

  /** Makes the archive's index durable (before a snapshot that refers to it is written). */
  async sync(): Promise<void> {
    if (this.fd === undefined) return;
    const fd = this.fd;
    await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  }

  private setOffset(order: number, at: number): void {
    if (order < 0) return;
    if (order >= this.offsets.length) {
      let n = this.offsets.length;
      while (n <= order) n *= 2;
      const bigger = new Float64Array(n);
      bigger.set(this.offsets);
      this.offsets = bigger;
    }
    this.offsets[order] = at + 1;
  }

  viewAt(order: number): RunView | undefined {
    const at = order >= 0 && order < this.offsets.length ? (this.offsets[order] as number) - 1 : -1;
    if (at < 0) return undefined;
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
      return JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { view: RunView; progress: RunProgress };
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

  /** The order index, for a snapshot (base64 of the offsets, trimmed to the last used place). */
  exportIndex(): { size: number; offsets: string } {
    let last = this.offsets.length - 1;
    while (last >= 0 && this.offsets[last] === 0) last--;
    const used = this.offsets.subarray(0, last + 1);
    return { size: this.archived, offsets: Buffer.from(used.buffer, used.byteOffset, used.byteLength).toString('base64') };
  }

  importIndex(index: { size: number; offsets: string }): void {
    const bytes = Buffer.from(index.offsets, 'base64');
    const n = Math.floor(bytes.length / 8);
    // room for an eighth more (add() grows it further); the bytes copied straight in, with no second copy
    const copy = new Float64Array(Math.max(1024, n + (n >> 3)));
    Buffer.from(copy.buffer, 0, n * 8).set(bytes.subarray(0, n * 8));
    this.offsets = copy;
    this.archived = index.size;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
