import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { basename } from 'node:path';

/** Reading V8 CPU profiles (`--cpu-prof` files or in-process ones): where the self time went. */

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export interface HotFunction {
  /** `name (file:line)`, the line 1-based. */
  fn: string;
  selfMs: number;
  /** Share of the non-idle sampled time. */
  pct: number;
}

export function topSelfTime(profile: CpuProfile, count = 12): HotFunction[] {
  const byNode = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byNode.set(n.id, n);
  const selfUs = new Map<string, number>();
  let total = 0;
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    const node = byNode.get(samples[i] as number);
    // a sample's time is the delta to the next sample
    const dt = deltas[i + 1] ?? 0;
    if (node === undefined || node.callFrame.functionName === '(idle)') continue;
    const f = node.callFrame;
    const where = f.url === '' ? '' : ` (${basename(f.url)}:${f.lineNumber + 1})`;
    const key = `${f.functionName === '' ? '(anonymous)' : f.functionName}${where}`;
    selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
    total += dt;
  }
  return [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([fn, us]) => ({ fn, selfMs: us / 1000, pct: total === 0 ? 0 : (100 * us) / total }));
}

export function readCpuProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

/** Profiles `fn` in this process through the inspector; writes the profile to `path` when given. */
export async function profileInProcess<T>(fn: () => Promise<T>, path?: string): Promise<{ value: T; profile: CpuProfile }> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    let value: T;
    let profile: CpuProfile;
    try {
      value = await fn();
    } finally {
      // stop even when fn throws, so the session is not left profiling
      profile = (await session.post('Profiler.stop')).profile as unknown as CpuProfile;
    }
    if (path !== undefined) writeFileSync(path, JSON.stringify(profile));
    return { value, profile };
  } finally {
    session.disconnect();
  }
}

export function formatHot(hot: HotFunction[]): string[] {
  return hot.map((h) => `${h.pct.toFixed(1).padStart(5)}%  ${h.selfMs.toFixed(0).padStart(6)} ms  ${h.fn}`);
}
