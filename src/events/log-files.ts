import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { ArpdError } from '../errors/index.js';
import { join } from 'node:path';

/**
 * The global log on disk: sealed segments `events-<firstSeq>.jsonl` (first seq zero-padded to 12
 * digits so `ls` sorts them) followed by the active file `events.jsonl`.
 */
export const ACTIVE_LOG = 'events.jsonl';
const SEGMENT_RE = /^events-(\d+)\.jsonl(\.gz)?$/;

export interface LogFile {
  path: string;
  name: string;
  /** First seq the name promises (segments), or undefined for the active file. */
  firstSeq: number | undefined;
  active: boolean;
  /** A sealed segment compressed by `arpd log compact` (`.jsonl.gz`): read whole, never appended to or cut. */
  compressed: boolean;
}

export function segmentName(firstSeq: number): string {
  return `events-${String(firstSeq).padStart(12, '0')}.jsonl`;
}

/** Segments in seq order, then the active file (listed even if it does not exist yet). */
export function listLogFiles(root: string): LogFile[] {
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const bySeq = new Map<number, LogFile>();
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (m === null) continue;
    const file: LogFile = { path: join(root, name), name, firstSeq: Number(m[1]), active: false, compressed: m[2] !== undefined };
    const other = bySeq.get(file.firstSeq as number);
    // a compaction that stopped between writing the .gz and removing the plain file: both are whole; read the plain one
    if (other === undefined || other.compressed) bySeq.set(file.firstSeq as number, file);
  }
  const segments = [...bySeq.values()].sort((a, b) => (a.firstSeq as number) - (b.firstSeq as number));
  segments.push({ path: join(root, ACTIVE_LOG), name: ACTIVE_LOG, firstSeq: undefined, active: true, compressed: false });
  return segments;
}

/** Where the log starts once old segments were removed by the disk budget (written by log-compact.ts). */
export const HORIZON_FILE = 'log-horizon.json';

export interface LogHorizon {
  /** The first seq the log still holds: everything before it was removed by the disk budget. */
  first_seq: number;
  /** The snapshot seq that covered the removed events when they were removed. */
  covered_by_snapshot: number;
  removed_at: string;
}

export function readHorizon(root: string): LogHorizon | undefined {
  const path = join(root, HORIZON_FILE);
  if (!existsSync(path)) return undefined;
  let h: Partial<LogHorizon>;
  try {
    h = JSON.parse(readFileSync(path, 'utf8')) as Partial<LogHorizon>;
  } catch (err) {
    throw new ArpdError('E_LOG_CORRUPT', `${path} cannot be read (${(err as Error).message}): it names where the log starts after old segments were removed; restore it (first_seq = the first seq of the oldest events-*.jsonl[.gz])`, { file: path });
  }
  if (!Number.isSafeInteger(h.first_seq) || (h.first_seq as number) < 1) {
    throw new ArpdError('E_LOG_CORRUPT', `${path} has no valid first_seq: restore it (first_seq = the first seq of the oldest events-*.jsonl[.gz])`, { file: path });
  }
  return { first_seq: h.first_seq as number, covered_by_snapshot: h.covered_by_snapshot ?? 0, removed_at: h.removed_at ?? '' };
}

