import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The global log on disk: sealed segments `events-<firstSeq>.jsonl` (first seq zero-padded to 12
 * digits so `ls` sorts them) followed by the active file `events.jsonl`.
 */
export const ACTIVE_LOG = 'events.jsonl';
const SEGMENT_RE = /^events-(\d+)\.jsonl$/;

export interface LogFile {
  path: string;
  name: string;
  /** First seq the name promises (segments), or undefined for the active file. */
  firstSeq: number | undefined;
  active: boolean;
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
  const segments: LogFile[] = [];
  for (const name of names) {
    const m = SEGMENT_RE.exec(name);
    if (m !== null) segments.push({ path: join(root, name), name, firstSeq: Number(m[1]), active: false });
  }
  segments.sort((a, b) => (a.firstSeq as number) - (b.firstSeq as number));
  segments.push({ path: join(root, ACTIVE_LOG), name: ACTIVE_LOG, firstSeq: undefined, active: true });
  return segments;
}
