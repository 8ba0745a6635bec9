/**
 * Which ended runs leave memory (pure). Ended runs are looked at oldest end first: one leaves while more than
 * `retainRuns` ended runs would stay in memory, or when it ended more than `retainDays` ago. Runs that have not
 * ended never leave (they are live state). Defaults suit a laptop: the last 10,000 runs or 7 days, whichever is less.
 */
export interface RetentionPolicy {
  /** Ended runs kept in memory at most (0: none; every run leaves memory when it ends). */
  retainRuns: number;
  /** Ended runs older than this many days leave memory (0: at once). */
  retainDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { retainRuns: 10_000, retainDays: 7 };

/**
 * The ended runs to archive now, from `ended` (ids with their end time, oldest end first, as the registry keeps
 * them), at most `max` of them (a sweep is done in slices so a large backlog never blocks the daemon).
 */
export function runsLeavingMemory(
  ended: Iterable<string>,
  endedCount: number,
  endedAtMs: (id: string) => number,
  policy: RetentionPolicy,
  nowMs: number,
  max = Number.MAX_SAFE_INTEGER,
): string[] {
  const out: string[] = [];
  const cutoff = nowMs - policy.retainDays * 86_400_000;
  let left = endedCount;
  for (const id of ended) {
    if (out.length >= max) break;
    const tooMany = left > policy.retainRuns;
    const tooOld = endedAtMs(id) <= cutoff;
    if (!tooMany && !tooOld) break; // runs are in end order: the ones after ended later
    out.push(id);
    left--;
  }
  return out;
}
