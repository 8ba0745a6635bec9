import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
// the script npm runs as `prepare` and `build` (plain JavaScript: it runs before anything is compiled)
import { staleReason } from '../../scripts/prepare.mjs';

const ROOT = join(import.meta.dirname, '..', '..');

/** A tree with the inputs the script looks at, every file dated `at` (seconds since the epoch). */
function tree(at: number): string {
  const root = mkdtempSync(join(tmpdir(), 'arpd-prepare-'));
  for (const d of ['src/events', 'bin', 'bench', 'ui/src', 'ui/node_modules/x', 'scripts', 'dist']) mkdirSync(join(root, d), { recursive: true });
  const files = ['src/events/a.ts', 'bin/arpd.ts', 'bench/b.ts', 'ui/src/main.tsx', 'ui/node_modules/x/index.js', 'tsconfig.json', 'package.json', 'scripts/build-ui.mjs'];
  for (const f of files) {
    writeFileSync(join(root, f), 'x');
    utimesSync(join(root, f), at, at);
  }
  return root;
}

const stamp = (root: string, at: number): void => {
  writeFileSync(join(root, 'dist', '.prepared'), 'x');
  utimesSync(join(root, 'dist', '.prepared'), at, at);
};

t.test('a tree never built (no stamp) is built', async (t) => {
  const root = tree(1_000_000);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  t.equal(staleReason(root), 'no stamp');
});

t.test('a stamp newer than every input means there is nothing to build', async (t) => {
  const root = tree(1_000_000);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  stamp(root, 1_000_100);
  t.equal(staleReason(root), undefined);
});

t.test('a source changed after the stamp, however deep, is named as the reason to build', async (t) => {
  const root = tree(1_000_000);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  stamp(root, 1_000_100);
  for (const f of ['src/events/a.ts', 'ui/src/main.tsx', 'tsconfig.json', 'package.json', 'scripts/build-ui.mjs']) {
    utimesSync(join(root, f), 1_000_200, 1_000_200);
    t.equal(staleReason(root), `${join(root, f)} changed`, f);
    utimesSync(join(root, f), 1_000_000, 1_000_000);
  }
  // a new file counts too; a package installed under ui/node_modules does not
  writeFileSync(join(root, 'src', 'new.ts'), 'x');
  t.match(staleReason(root), /src\/new\.ts changed$/);
  rmSync(join(root, 'src', 'new.ts'));
  utimesSync(join(root, 'ui/node_modules/x/index.js'), 1_000_200, 1_000_200);
  t.equal(staleReason(root), undefined);
});

t.test('a missing optional input (no package-lock.json) is not a reason to build', async (t) => {
  const root = tree(1_000_000);
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  stamp(root, 1_000_100);
  rmSync(join(root, 'package.json'));
  t.equal(staleReason(root), undefined);
});

t.test('on the built repository the script finds dist/ current and builds nothing', async (t) => {
  // `npm test` builds first (npm run build writes the stamp); a second prepare, as `npx arpd` runs it, returns at once
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'prepare.mjs')], { cwd: ROOT, encoding: 'utf8' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /dist\/ is up to date/);
});

t.test('a source that does not compile fails the build with tsc\'s error and keeps the old stamp, so the next run builds again', async (t) => {
  // a project built once (dist/ and its stamp, from long ago) whose one source was then broken, with this repository's
  // script and its node_modules (for tsc)
  const root = mkdtempSync(join(tmpdir(), 'arpd-prepare-fail-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  for (const d of ['scripts', 'src', 'dist']) mkdirSync(join(root, d));
  writeFileSync(join(root, 'scripts', 'prepare.mjs'), readFileSync(join(ROOT, 'scripts', 'prepare.mjs')));
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'));
  writeFileSync(join(root, 'tsconfig.json'), JSON.stringify({ compilerOptions: { outDir: 'dist', strict: true, noEmitOnError: true }, include: ['src'] }));
  writeFileSync(join(root, 'src', 'broken.ts'), 'export const n: number = "not a number";\n');
  stamp(root, 1_000_000);
  t.match(staleReason(root), /broken\.ts changed$/);
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'prepare.mjs'), '--quiet'], { cwd: root, encoding: 'utf8' });
  t.not(r.status, 0, 'the script fails');
  t.match(`${r.stdout}${r.stderr}`, /broken\.ts.*TS2322/s, 'tsc names the file and the error');
  t.equal(statSync(join(root, 'dist', '.prepared')).mtimeMs, 1_000_000_000, 'the stamp is the old one');
  t.match(staleReason(root), /broken\.ts changed$/, 'so the next prepare builds again');
});
