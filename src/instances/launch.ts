import { existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { launchNeedsPort, planLaunch, type LaunchPlan, type LaunchPlanInput } from './launch-plan.js';

/**
 * The I/O side of launching: what `{node}` and `{arpd_runtime}` stand for, a free port, the runtime's
 * listening line, and `resolveLaunch`, which gives `planLaunch` (pure) what it needs from this process.
 */

/** The bundled reference runtime's entry: dist/src/runtime/main.js (or main.ts when run from source). */
export function referenceRuntimeEntry(): string {
  const js = fileURLToPath(new URL('../runtime/main.js', import.meta.url));
  if (existsSync(js)) return js;
  return fileURLToPath(new URL('../runtime/main.ts', import.meta.url));
}

/** This node binary and its loader flags: what `{node}` stands for. */
export function nodeArgv(): string[] {
  // keep loader flags (e.g. a TypeScript loader in development), drop debugger and eval flags
  const flags = process.execArgv.filter((a) => !a.startsWith('--inspect') && !a.startsWith('--eval') && a !== '-e');
  return [process.execPath, ...flags];
}

/** A free port on the host, for runtimes that cannot report the port they bound themselves. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Finds the runtime's "listening" line in its stdout: a JSON line with a `url`, or text naming an http URL after "listening". */
export function findListeningUrl(stdout: string): string | undefined {
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (t.startsWith('{')) {
      try {
        const j = JSON.parse(t) as { url?: unknown; event?: unknown };
        if (typeof j.url === 'string' && /^https?:\/\//.test(j.url)) return j.url.replace(/\/+$/, '');
      } catch { /* not JSON */ }
      continue;
    }
    const m = /listening[^\n]*?(https?:\/\/[^\s"'<>]+)/i.exec(t);
    if (m?.[1] !== undefined) return m[1].replace(/\/+$/, '');
  }
  return undefined;
}

export type ResolveLaunchInput = Omit<LaunchPlanInput, 'port' | 'baseEnv' | 'daemonCwd' | 'programs'>;

/**
 * The exact argv, env, cwd (and endpoint) to spawn a prepared launch with: chooses a free port on the host when the
 * launch needs one, fills in this process's environment, working directory and node, and creates the runtimes' trace
 * folder (0700). Throws E_VALIDATION as `planLaunch` does (a trace dir inside the runs folder); nothing is created then.
 */
export async function resolveLaunch(input: ResolveLaunchInput): Promise<LaunchPlan> {
  const port = launchNeedsPort(input.launch, input.exec) ? await freePort(input.host) : undefined;
  const plan = planLaunch({
    ...input,
    port,
    baseEnv: process.env,
    daemonCwd: process.cwd(),
    programs: { node: nodeArgv(), arpdRuntime: referenceRuntimeEntry() },
  });
  mkdirSync(input.runtimeTraceDir, { recursive: true, mode: 0o700 });
  return plan;
}
