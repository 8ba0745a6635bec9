/** Runs the test helper scripts in this folder as child processes. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { buildSync } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

export function helperScript(name: string): string {
  return join(here, name);
}

const bundles = new Map<string, string>();

/**
 * A helper script bundled once (with the src modules it imports) into one plain .mjs file, so that a
 * test starting it hundreds of times pays node's start-up only, not a TypeScript loader's each time.
 */
function bundled(name: string): string {
  let out = bundles.get(name);
  if (out === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'arpd-helper-'));
    out = join(dir, `${name.replace(/\.ts$/, '')}.mjs`);
    buildSync({ entryPoints: [helperScript(name)], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: out, logLevel: 'error' });
    bundles.set(name, out);
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return out;
}

/** Starts the helper script (bundled, see above) with piped stdio. */
export function spawnHelper(name: string, args: readonly string[], env?: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [bundled(name), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
  });
}

/**
 * For children that run recovery thousands of times: `scanFile` allocates a fresh 8 MiB buffer per
 * file and, on a file with a torn tail, searches all of it (see the report on log-scan.ts). Keeping
 * freed 8 MiB blocks in glibc's heap instead of unmapping them saves the page faults, about half the
 * cost. Ignored where glibc is not the C library.
 */
export const REUSE_LARGE_BUFFERS: NodeJS.ProcessEnv = {
  GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824',
};

export interface Finished { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Collects a child's output until it exits. */
export function finished(child: ChildProcess): Promise<Finished> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** Runs a helper script to the end and parses the JSON it prints last. */
export async function runHelperJson<T>(name: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<T> {
  const child = spawnHelper(name, args, env);
  child.stdin?.end();
  const r = await finished(child);
  if (r.code !== 0) throw new Error(`${name} ${args.join(' ')} exited with ${String(r.code ?? r.signal)}: ${r.stderr}`);
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1] as string) as T;
}
