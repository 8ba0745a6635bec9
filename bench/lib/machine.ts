import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { arch, availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';

/** Where the figures were measured: printed with every report, since ratios only hold per machine. */
export interface Machine {
  date: string;
  nproc: number;
  cpu: string;
  memory_gib: number;
  node: string;
  os: string;
  /** `df -h` of the project dir and, when different, of the scratch dir. */
  disk: string[];
  /** 1-minute load average when the run started and ended: other work on the machine disturbs every figure. */
  load_start: number;
  load_end?: number;
  /** How many measured trials started while less than 80% of the CPUs were idle. */
  busy_trials?: string;
}

function df(path: string): string {
  try {
    const out = execFileSync('df', ['-h', path], { encoding: 'utf8' }).trim().split('\n');
    return out[out.length - 1] ?? '';
  } catch {
    return `df -h ${path}: unavailable`;
  }
}

export function describeMachine(scratch: string): Machine {
  const disk = [df(process.cwd())];
  const s = df(scratch);
  if (s !== disk[0]) disk.push(s);
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    os: `${process.platform} ${release()} ${arch()}`,
    disk,
    load_start: loadavg()[0] ?? 0,
  };
}

/** Records the load at the end of the run. */
export function finishMachine(m: Machine): void {
  m.load_end = loadavg()[0] ?? 0;
}

export function formatMachine(m: Machine): string[] {
  return [
    `date: ${m.date}`,
    `nproc: ${m.nproc} (${m.cpu}), memory: ${m.memory_gib} GiB`,
    `node: ${m.node} on ${m.os}`,
    ...m.disk.map((d) => `disk: ${d}`),
    `load average (1 min): ${m.load_start.toFixed(2)} at start, ${m.load_end === undefined ? '?' : m.load_end.toFixed(2)} at end; trials started on a busy machine (CPUs < 80% idle): ${m.busy_trials ?? '?'}`,
  ];
}

function cpuTimes(): { idle: number; total: number } | undefined {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
    const f = first.trim().split(/\s+/).slice(1).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0); // idle + iowait
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return undefined;
  }
}

/** Share of all CPUs that was idle over the next `ms` (1 when unknown). */
export async function idleShare(ms = 1000): Promise<number> {
  const a = cpuTimes();
  await new Promise((r) => setTimeout(r, ms));
  const b = cpuTimes();
  if (a === undefined || b === undefined || b.total === a.total) return 1;
  return (b.idle - a.idle) / (b.total - a.total);
}

/**
 * Waits until the machine is mostly idle (at least `minIdle` of all CPUs idle over one second) or
 * `maxWaitMs` passed; returns the last idle share seen. A measurement on a busy machine compares
 * arpd with a baseline that had a different machine; waiting is the cheapest remedy.
 */
export async function waitForIdle(maxWaitMs: number, minIdle = 0.8): Promise<number> {
  const until = Date.now() + maxWaitMs;
  let idle = await idleShare();
  while (idle < minIdle && Date.now() < until) idle = await idleShare();
  return idle;
}
