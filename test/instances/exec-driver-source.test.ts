// Local install sources: where a spec points (resolved against the daemon's working directory) and the identity that
// goes into the install cache key. Real files in a temp dir; no installer runs here.
import { mkdir, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { resolveNpmSource, resolvePipSource, sourceIdentity } from '../../src/instances/exec-driver-source.js';

t.test('resolves each local pip form to an absolute path, and leaves index and remote specs alone', async (t) => {
  const dir = t.testdir({ dist: { 'x-1.0-py3-none-any.whl': 'wheel bytes' }, proj: { 'pyproject.toml': '[project]\n' } });
  const whl = join(dir, 'dist', 'x-1.0-py3-none-any.whl');
  const rows: Array<[string, string, string]> = [
    [whl, whl, whl],
    ['./dist/x-1.0-py3-none-any.whl', whl, whl],
    [`../${relative(join(dir, '..'), whl)}`, whl, whl],
    ['./proj[extra]', join(dir, 'proj'), `${join(dir, 'proj')}[extra]`],
    [pathToFileURL(whl).href, whl, pathToFileURL(whl).href],
    [`x @ ${pathToFileURL(whl).href}`, whl, `x @ ${pathToFileURL(whl).href}`],
  ];
  for (const [spec, path, installSpec] of rows) {
    const source = await resolvePipSource(spec, dir);
    t.equal(source?.path, path, `${spec}: the path`);
    t.equal(source?.installSpec, installSpec, `${spec}: what pip gets`);
  }
  t.equal(await resolvePipSource('x==1.0', dir), undefined);
  t.equal(await resolvePipSource(`x @ https://example.com/x.whl#sha256=${'a'.repeat(64)}`, dir), undefined);
  t.equal(await resolveNpmSource('left-pad@1.3.0', dir), undefined);
  t.equal((await resolveNpmSource('./proj', dir))?.path, join(dir, 'proj'));
});

t.test('a path that does not exist is E_INSTALL_FAILED naming the resolved path and the working directory', async (t) => {
  const dir = t.testdir({});
  await t.rejects(resolvePipSource('./nope.whl', dir, 'pip_spec'), {
    code: 'E_INSTALL_FAILED',
    message: `pip_spec ./nope.whl names ${join(dir, 'nope.whl')} (./nope.whl resolved against the daemon's working directory ${dir}), which does not exist: fix the path in the profile, or build the package first`,
  });
  await t.rejects(resolvePipSource('/no/such/x.whl', dir), { code: 'E_INSTALL_FAILED', message: /\/no\/such\/x\.whl names \/no\/such\/x\.whl, which does not exist/ });
  await t.rejects(resolvePipSource('x @ file:///no/such/dir', dir), { code: 'E_INSTALL_FAILED' });
  await t.rejects(resolveNpmSource('../nope', dir), { code: 'E_INSTALL_FAILED' });
});

t.test("a file's identity is its content: a rebuild with other bytes is another identity, the same bytes the same", async (t) => {
  const dir = t.testdir({ 'a.whl': 'one', 'b.whl': 'one' });
  const a = await sourceIdentity(join(dir, 'a.whl'), 'pip');
  t.same(a, { kind: 'file', size: 3, sha256: '7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed' });
  t.same(await sourceIdentity(join(dir, 'b.whl'), 'pip'), a, 'same bytes elsewhere: same identity');
  await utimes(join(dir, 'a.whl'), new Date(0), new Date(0));
  t.same(await sourceIdentity(join(dir, 'a.whl'), 'pip'), a, 'a touched file with the same bytes: same identity');
  await writeFile(join(dir, 'a.whl'), 'two');
  t.not((await sourceIdentity(join(dir, 'a.whl'), 'pip') as { sha256: string }).sha256, (a as { sha256: string }).sha256, 'rebuilt with the same size, other bytes: another identity');
});

t.test("a folder's identity changes with its files, but not with what a build writes into it", async (t) => {
  const dir = t.testdir({ proj: { 'pyproject.toml': 'x', pkg: { '__init__.py': 'a' } } });
  const proj = join(dir, 'proj');
  const base = await sourceIdentity(proj, 'pip');
  t.match(base, { kind: 'dir', files: 2 });
  t.same(await sourceIdentity(proj, 'pip'), base, 'stable');

  for (const noise of ['build/lib/pkg/__init__.py', 'pkg.egg-info/PKG-INFO', 'pkg/__pycache__/x.pyc', '.git/HEAD', 'node_modules/x/index.js']) {
    await mkdir(join(proj, noise, '..'), { recursive: true });
    await writeFile(join(proj, noise), 'noise');
  }
  t.same(await sourceIdentity(proj, 'pip'), base, 'build output, caches and VCS folders are not part of it');
  const npmBase = await sourceIdentity(proj, 'npm');
  t.equal((npmBase as { files: number }).files, 4, 'for npm, build/ and *.egg-info are content (a package may ship build/)');

  await writeFile(join(proj, 'pkg', '__init__.py'), 'ab');
  t.not((await sourceIdentity(proj, 'pip') as { digest: string }).digest, (base as { digest: string }).digest, 'a changed file changes it');
  const changed = await sourceIdentity(proj, 'pip');
  await writeFile(join(proj, 'pkg', 'new.py'), '');
  t.not((await sourceIdentity(proj, 'pip') as { digest: string }).digest, (changed as { digest: string }).digest, 'a new file changes it');
});
