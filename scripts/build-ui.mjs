#!/usr/bin/env node
/**
 * Bundles the dashboard (ui/) with esbuild into dist/ui/: assets/app-<hash>.js and .css (minified, content-
 * hashed, served with a year of cache), index.html (no-cache) naming them, a .gz beside each file, and
 * manifest.json listing the files with their sizes. Fails when the gzipped total is over the 200 KB budget.
 * Usage: node scripts/build-ui.mjs [--quiet]
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import process from 'node:process';
import { build } from 'esbuild';

const BUDGET_GZIP_BYTES = 200 * 1024;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');
const quiet = process.argv.includes('--quiet');

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });

const result = await build({
  entryPoints: { app: join(root, 'ui', 'src', 'main.tsx') },
  bundle: true,
  format: 'esm',
  splitting: false,
  minify: true,
  target: ['chrome109', 'firefox115', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  outdir: join(out, 'assets'),
  entryNames: '[name]-[hash]',
  assetNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
  tsconfig: join(root, 'ui', 'tsconfig.json'),
});

const outputs = Object.keys(result.metafile.outputs).map((p) => join(root, p));
const js = outputs.find((p) => p.endsWith('.js'));
const css = outputs.find((p) => p.endsWith('.css'));
if (js === undefined || css === undefined) throw new Error(`esbuild made no app .js or .css: ${outputs.join(', ')}`);

const html = readFileSync(join(root, 'ui', 'index.html'), 'utf8').replace('%JS%', basename(js)).replace('%CSS%', basename(css));
writeFileSync(join(out, 'index.html'), html);

const files = [];
for (const abs of [join(out, 'index.html'), ...outputs]) {
  const body = readFileSync(abs);
  const gz = gzipSync(body, { level: 9 });
  writeFileSync(`${abs}.gz`, gz);
  const name = relative(out, abs).split('\\').join('/');
  files.push({ name, bytes: body.length, gzip_bytes: gz.length, hashed: name.startsWith('assets/') });
}
const total = files.reduce((n, f) => n + f.gzip_bytes, 0);
writeFileSync(join(out, 'manifest.json'), `${JSON.stringify({ files, total_gzip_bytes: total, budget_gzip_bytes: BUDGET_GZIP_BYTES }, null, 2)}\n`);

if (!quiet) {
  for (const f of files) process.stdout.write(`dist/ui/${f.name}  ${(f.bytes / 1024).toFixed(1)} KB  (${(f.gzip_bytes / 1024).toFixed(1)} KB gzipped)\n`);
  process.stdout.write(`dashboard: ${(total / 1024).toFixed(1)} KB gzipped in total (budget ${BUDGET_GZIP_BYTES / 1024} KB)\n`);
}
if (total > BUDGET_GZIP_BYTES) {
  process.stderr.write(`the dashboard is ${(total / 1024).toFixed(1)} KB gzipped, over its budget of ${BUDGET_GZIP_BYTES / 1024} KB: make it smaller\n`);
  process.exit(1);
}
