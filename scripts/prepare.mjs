#!/usr/bin/env node
/**
 * Builds dist/ (tsc, then the dashboard with scripts/build-ui.mjs) unless it is already built from the sources as they
 * are. npm runs `prepare` after `npm ci`, and again when `npx arpd` first links this folder into its cache (npm treats
 * `arpd` as this package and prepares it): that second build had nothing to do but cost ~10 s of the README's first
 * command. After a build a stamp, dist/.prepared, is written; while it is newer than every input (the sources, the
 * dashboard, tsconfig.json, package.json, package-lock.json, the UI build script), there is nothing to build.
 * `npm run build` removes dist/ first, so it always builds.
 * Usage: node scripts/prepare.mjs [--quiet]
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const STAMP = join('dist', '.prepared');
const INPUT_DIRS = ['src', 'bin', 'bench', 'ui'];
const INPUT_FILES = ['tsconfig.json', 'package.json', 'package-lock.json', join('scripts', 'build-ui.mjs')];

/** The newest modification time under `path` (a file, or a folder walked whole), and which file has it. */
function newest(path, best) {
  let st;
  try {
    st = statSync(path);
  } catch {
    return best; // an input that is not there (no package-lock.json) is not newer than anything
  }
  if (!st.isDirectory()) return st.mtimeMs > best.ms ? { ms: st.mtimeMs, path } : best;
  let out = best;
  for (const name of readdirSync(path)) {
    if (name === 'node_modules') continue;
    out = newest(join(path, name), out);
  }
  return out;
}

/**
 * Why `root`'s dist/ must be built: 'no stamp' when it was never built (or was removed), else the first input newer
 * than the stamp; undefined when dist/ is current.
 */
export function staleReason(root) {
  let stampMs;
  try {
    stampMs = statSync(join(root, STAMP)).mtimeMs;
  } catch {
    return 'no stamp';
  }
  let best = { ms: -1, path: '' };
  for (const d of INPUT_DIRS) best = newest(join(root, d), best);
  for (const f of INPUT_FILES) best = newest(join(root, f), best);
  return best.ms > stampMs ? `${best.path} changed` : undefined;
}

function run(root, args) {
  // no shell: node runs the tool's own script
  const r = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function main() {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const quiet = process.argv.includes('--quiet');
  const why = staleReason(root);
  if (why === undefined) {
    if (!quiet) console.log('dist/ is up to date (dist/.prepared is newer than every source)');
    return;
  }
  // the stamp says when the build began: a source saved while it ran is newer, and is built next time
  const began = new Date();
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  run(root, [tsc, '-p', 'tsconfig.json']);
  run(root, [join('scripts', 'build-ui.mjs'), ...(quiet ? ['--quiet'] : [])]);
  writeFileSync(join(root, STAMP), `${began.toISOString()}\n`, { mode: 0o644 });
  utimesSync(join(root, STAMP), began, began);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) main();
