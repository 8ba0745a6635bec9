/**
 * How hard the heavy tests push. `npm test` (and CI) runs the small count, a few seconds per file;
 * `npm run soak` sets ARPD_SOAK=1 and runs the big one (minutes). A variable named by the test
 * (e.g. ARPD_CRASH_KILLS=500) overrides both, for one run by hand.
 *
 *   const KILLS = soakCount('ARPD_CRASH_KILLS', { ci: 4, soak: 50 });
 */
export const SOAK = process.env['ARPD_SOAK'] === '1';

export function soakCount(override: string, counts: { ci: number; soak: number }): number {
  const raw = process.env[override];
  if (raw !== undefined && raw !== '') {
    const n = Number(raw);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${override}=${raw}: give a whole number of at least 1`);
    return n;
  }
  return SOAK ? counts.soak : counts.ci;
}
