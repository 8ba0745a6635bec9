// The pip driver, for real, with each local spec form JARVIS accepts: the JARVIS-like runtime's wheel (built here,
// offline) installed by `pip install --no-index` from an absolute path, a ./ path, a ../ path (both relative to the
// daemon's working directory), a file:// URL and `name @ file:///…`; then a wheel rebuilt at the same path.
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';
import { parseExecConfig, type PipExecConfig } from '../../src/instances/exec-config.js';
import { MARKER_FILE, type InstallMarker } from '../../src/instances/exec-driver-cache.js';
import { prepareLaunch, type DriverContext, type LaunchSpec } from '../../src/instances/exec-driver.js';
import { buildJarvisWheel, hasVenv, JARVIS_LIKE_ENTRYPOINT, JARVIS_LIKE_NAME } from './jarvis-like-wheel.js';

if (!hasVenv) t.plan(0, 'python3 with venv and ensurepip is not available');

let root = '';
let wheel = '';
t.before(async () => {
  root = await mkdtemp(join(tmpdir(), 'arpd-pipforms-'));
  wheel = buildJarvisWheel(join(root, 'wheels'));
  await mkdir(join(root, 'cwd'));
});
t.teardown(() => rm(root, { recursive: true, force: true }));

function pipExec(spec: string): PipExecConfig {
  return parseExecConfig({ 'arp.jarvis.exec': { driver: 'pip', pip_spec: spec, entrypoint: JARVIS_LIKE_ENTRYPOINT, entrypoint_args: ['serve'] } }, 'p') as PipExecConfig;
}

function ctx(profile: string, more: Partial<DriverContext> = {}, lines: string[] = []): DriverContext {
  return { dataDir: join(root, 'data'), profile, pip: { noIndex: true }, cwd: root, onProgress: (l) => lines.push(l), ...more };
}

/** Runs the installed console script's `version` command: proof that the package is installed and runs. */
function installedVersion(launch: LaunchSpec): string {
  const r = spawnSync(launch.argv[0] ?? '', ['version'], { encoding: 'utf8', shell: false, env: { ...process.env, ...launch.env } });
  return r.status === 0 ? r.stdout.trim() : `exit ${String(r.status)}: ${r.stderr}`;
}

async function markerOf(launch: LaunchSpec): Promise<InstallMarker> {
  return JSON.parse(await readFile(join(launch.argv[0] ?? '', '..', '..', MARKER_FILE), 'utf8')) as InstallMarker;
}

t.test('installs the wheel from every local form JARVIS accepts, offline', async (t) => {
  const forms: Array<{ name: string; spec: () => string; cwd?: () => string }> = [
    { name: 'an absolute path', spec: () => wheel },
    { name: "a ./ path, relative to the daemon's working directory", spec: () => `./wheels/${basename(wheel)}` },
    { name: 'a ../ path', spec: () => `../wheels/${basename(wheel)}`, cwd: () => join(root, 'cwd') },
    { name: 'a file:// URL', spec: () => pathToFileURL(wheel).href },
    { name: 'name @ file:///…', spec: () => `${JARVIS_LIKE_NAME} @ ${pathToFileURL(wheel).href}` },
  ];
  for (const [i, form] of forms.entries()) {
    const spec = form.spec();
    const lines: string[] = [];
    const launch = await prepareLaunch(pipExec(spec), ctx(`form${i}`, form.cwd === undefined ? {} : { cwd: form.cwd() }, lines));
    t.equal(installedVersion(launch), '0.1.0', `${form.name} (${spec}): installed and runs`);
    t.same(launch.argv.slice(1), ['serve'], `${form.name}: the entrypoint_args follow the console script`);
    const marker = await markerOf(launch);
    t.equal(marker.spec, spec, `${form.name}: the marker keeps the spec as written`);
    t.match(marker.options, { source: { path: wheel, identity: { kind: 'file' } } }, `${form.name}: the marker records the resolved file`);
    const log = await readFile(launch.installLog ?? '', 'utf8');
    t.match(log, /pip install --disable-pip-version-check --no-input --no-index /, `${form.name}: offline`);
    if (spec.startsWith('.')) t.ok(log.includes(` ${wheel}\n`), `${form.name}: pip got the absolute path, not the relative one`);
  }
});

t.test('installs a wheel rebuilt at the same path again, and an unchanged one never', async (t) => {
  const lines: string[] = [];
  const first = await prepareLaunch(pipExec(wheel), ctx('rebuild', {}, lines));
  t.equal(installedVersion(first), '0.1.0');

  buildJarvisWheel(join(root, 'wheels'));
  const again: string[] = [];
  const same = await prepareLaunch(pipExec(wheel), ctx('rebuild', {}, again));
  t.same(same, first, 'the same bytes rebuilt: the cached install');
  t.match(again, [/^using the installed /], 'nothing installs');

  buildJarvisWheel(join(root, 'wheels'), '0.2.0');
  const rebuilt: string[] = [];
  const next = await prepareLaunch(pipExec(wheel), ctx('rebuild', {}, rebuilt));
  t.not(next.argv[0], first.argv[0], 'another install directory');
  t.ok(rebuilt.some((l) => l.startsWith('pip install ')), 'pip ran again');
  t.equal(installedVersion(next), '0.2.0', 'the rebuilt wheel is what runs');
  t.equal(installedVersion(first), '0.1.0', 'the old install is left as it was for whatever still runs from it');
  buildJarvisWheel(join(root, 'wheels'));
});
