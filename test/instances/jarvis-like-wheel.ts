/**
 * The JARVIS-like runtime (fixtures/runtimes/jarvis-like-runtime) as a wheel built in the test, offline, with the
 * fixture's own stdlib-only script: `buildJarvisWheel(outDir)` returns the wheel's absolute path. The same inputs give
 * the same bytes; `serviceVersion` changes the content (what the runtime reports) but not the file name.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const JARVIS_LIKE_DIR = fileURLToPath(new URL('../../fixtures/runtimes/jarvis-like-runtime/', import.meta.url));
export const JARVIS_LIKE_ENTRYPOINT = 'jarvis-like-runtime';
export const JARVIS_LIKE_NAME = 'jarvis-like-runtime';

/** python3 with venv and ensurepip, which the pip driver needs. */
export const hasVenv = spawnSync('python3', ['-c', 'import venv, ensurepip'], { stdio: 'ignore' }).status === 0;

export function buildJarvisWheel(outDir: string, serviceVersion?: string): string {
  const args = [`${JARVIS_LIKE_DIR}make_wheel.py`, outDir, ...(serviceVersion === undefined ? [] : ['--service-version', serviceVersion])];
  const r = spawnSync('python3', args, { encoding: 'utf8', shell: false, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  if (r.status !== 0) throw new Error(`make_wheel.py failed (${String(r.status)}): ${r.stderr}`);
  return r.stdout.trim();
}
