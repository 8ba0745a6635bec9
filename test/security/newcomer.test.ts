/**
 * Issue 11, point 13 (newcomer traps), the parts that are files, not behaviour: the README's commands run this
 * package's CLI as typed on Debian (where a bare `arpd` is iproute2's /usr/sbin/arpd), and every installed
 * dependency runs on the Node versions the README promises (`npm ci` warned that two needed Node ≥ 22).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import t from 'tap';

const root = join(import.meta.dirname, '..', '..');
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines?: { node?: string } };
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[]; dev?: boolean; optional?: boolean }> };

t.test('the README starts with the two commands, and they run this package\'s CLI (npx arpd), never a bare arpd', async (t) => {
  const first = /^```sh\n([^\n]*)\n([^\n]*)\n```/m.exec(readme);
  t.ok(first, 'a sh block with two lines comes first');
  const [main, tests] = [first?.[1] ?? '', first?.[2] ?? ''];
  t.match(main, /^npm ci && npx arpd /, 'the main job installs, then runs the CLI through npx');
  t.match(tests, /^npm ci && npm test\b/, 'the tests');
  t.match(readme, /\/usr\/sbin\/arpd/, 'the README says why');
});

t.test('the README promises the Node version package.json declares', async (t) => {
  const promised = /Node\.js ≥ (\d+\.\d+)/.exec(readme)?.[1];
  t.ok(promised, 'the README names a minimum Node version');
  t.ok(pkg.engines?.node !== undefined && semver.satisfies(`${promised ?? '0.0'}.0`, pkg.engines.node), `package.json engines.node (${pkg.engines?.node ?? 'none'}) accepts Node ${promised ?? '?'}`);
  t.ok(semver.satisfies(process.versions.node, pkg.engines?.node ?? '*'), `this Node (${process.versions.node}) is one of them`);
});

t.test('every package the lock file installs runs on the oldest Node the README promises', async (t) => {
  const oldest = `${/Node\.js ≥ (\d+\.\d+)/.exec(readme)?.[1] ?? '20.19'}.0`;
  const refusing: string[] = [];
  for (const [path, p] of Object.entries(lock.packages)) {
    if (path === '' || p.engines === undefined || Array.isArray(p.engines) || p.engines.node === undefined) continue;
    if (!semver.satisfies(oldest, p.engines.node)) refusing.push(`${path.replace(/^.*node_modules\//, '')} (node ${p.engines.node})`);
  }
  t.same(refusing, [], `no installed package refuses Node ${oldest}`);
});
