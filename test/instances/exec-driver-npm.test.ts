// The npm driver, for real: npm install --offline of the local fixture package (directory and .tgz), its bin run.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { parseExecConfig, type NpmExecConfig } from '../../src/instances/exec-config.js';
import { MARKER_FILE, type InstallMarker } from '../../src/instances/exec-driver-cache.js';
import { npmInstallArgs, packageBins } from '../../src/instances/exec-driver-npm.js';
import { prepareLaunch, type DriverContext, type LaunchSpec } from '../../src/instances/exec-driver.js';

const ECHO = fileURLToPath(new URL('../../fixtures/runtimes/npm-echo-runtime', import.meta.url));

function npmExec(spec: string, more: Record<string, unknown> = {}): NpmExecConfig {
  return parseExecConfig({ 'arp.jarvis.exec': { driver: 'npm', npm_spec: spec, entrypoint: 'npm-echo-runtime', entrypoint_args: ['serve', '--host', '{host}'], ...more } }, 'p') as NpmExecConfig;
}

let dataDir = '';
t.before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'arpd-npm-'));
});
t.teardown(() => rm(dataDir, { recursive: true, force: true }));

function ctx(lines: string[], more: Partial<DriverContext> = {}): DriverContext {
  return { dataDir, profile: 'echo', npm: { offline: true }, onProgress: (l) => lines.push(l), ...more };
}

/** Spawns a prepared launch (no shell), {host} filled, and waits for its {"event":"listening"} line. */
async function start(t: Test, launch: LaunchSpec, extra: string[]): Promise<{ url: string; stop(): Promise<number | null> }> {
  const [cmd, ...args] = launch.argv.map((a) => a.replaceAll('{host}', '127.0.0.1'));
  if (cmd === undefined) throw new Error('empty argv');
  const child = spawn(cmd, [...args, ...extra], { env: { ...process.env, ...launch.env }, stdio: ['ignore', 'pipe', 'inherit'], shell: false });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    lines.on('line', (line) => {
      const event = JSON.parse(line) as { event?: string; url?: string };
      if (event.event === 'listening' && typeof event.url === 'string') resolve(event.url);
    });
    void exited.then(([code]) => reject(new Error(`the runtime exited (${code}) before listening`)));
  });
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      return (await exited)[0];
    },
  };
}

async function checkRuns(t: Test, launch: LaunchSpec): Promise<void> {
  const rt = await start(t, launch, ['--port', '0']);
  t.match(rt.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const health = (await (await fetch(`${rt.url}/v1/health`)).json()) as { status: string; time: string };
  t.equal(health.status, 'ok');
  t.ok(!Number.isNaN(Date.parse(health.time)), 'time is an ISO date');
  t.same(await (await fetch(`${rt.url}/v1/version`)).json(), { service_name: 'npm-echo-runtime', service_version: '0.1.0', supported_api_versions: ['v1'] });
  t.equal(await rt.stop(), 0, 'exits 0 on SIGTERM');
}

t.test('builds npm install arguments with the spec as one argument, after every option', async (t) => {
  t.same(npmInstallArgs('/d', '@s/n@1.0.0', { nodeAbi: '115', registry: 'https://r.example/', offline: true }), [
    'install',
    '--no-audit',
    '--no-fund',
    '--no-update-notifier',
    '--install-links',
    '--ignore-scripts=false',
    '--registry=https://r.example/',
    '--offline',
    '--prefix=/d',
    '@s/n@1.0.0',
  ]);
  t.ok(npmInstallArgs('/d', 'a@1.0.0', { nodeAbi: '115', ignoreScripts: true }).includes('--ignore-scripts=true'));
});

t.test("reads a package's bins as npm does", async (t) => {
  t.same(packageBins({ name: '@scope/tool', bin: 'cli.js' }), { tool: 'cli.js' });
  t.same(packageBins({ name: 'x', bin: { a: 'a.js', b: 'b.js', c: 3 } }), { a: 'a.js', b: 'b.js' });
  t.same(packageBins({ name: 'x' }), {});
});

let first: LaunchSpec | undefined;

t.test('installs a local package directory offline, as a copy, and its bin runs', async (t) => {
  const lines: string[] = [];
  const launch = await prepareLaunch(npmExec(ECHO), ctx(lines));
  first = launch;
  const root = join(dataDir, 'runtimes', 'npm', 'echo');
  const [bin, ...rest] = launch.argv;
  t.match(bin, new RegExp(`^${root}/[0-9a-f]{16}/node_modules/\\.bin/npm-echo-runtime$`));
  t.same(rest, ['serve', '--host', '{host}'], 'placeholders are kept for the launcher');
  t.same(launch.env, {});
  const dir = join(bin ?? '', '..', '..', '..');
  t.equal(launch.installLog, `${dir}.install.log`);
  t.notOk((await lstat(join(dir, 'node_modules', 'npm-echo-runtime'))).isSymbolicLink(), 'a copy, not a link to the source (--install-links)');

  const marker = JSON.parse(await readFile(join(dir, MARKER_FILE), 'utf8')) as InstallMarker;
  t.match(marker, { v: 1, driver: 'npm', spec: ECHO, options: { offline: true, nodeAbi: process.versions.modules }, versions: { node: process.version, packages: { 'npm-echo-runtime': '0.1.0' } } });
  t.match(marker.versions['npm'], /^\d+\.\d+\.\d+/);
  t.match(await readFile(launch.installLog ?? '', 'utf8'), /install --no-audit --no-fund .*--offline --prefix=\S+ \//);
  t.match(lines, [`npm install ${ECHO}…`, /^installed .* in \d+\.\ds$/]);
  t.same((await readdir(root)).filter((n) => n.includes('.d-')).length, 1, 'one install on disk');

  await checkRuns(t, launch);
});

t.test('a second prepare is a cache hit: nothing installs and the log is untouched', async (t) => {
  if (first?.installLog === undefined) throw new Error('the install test did not run');
  const before = await stat(first.installLog);
  const lines: string[] = [];
  t.same(await prepareLaunch(npmExec(ECHO), ctx(lines)), first);
  t.match(lines, [/^using the installed /]);
  t.equal((await stat(first.installLog)).mtimeMs, before.mtimeMs, 'the log was not written');
});

t.test('a missing bin is E_INSTALL_FAILED naming the bins the package has', async (t) => {
  const err = await prepareLaunch(npmExec(ECHO, { entrypoint: 'nope' }), ctx([])).catch((e: unknown) => e);
  t.ok(err instanceof ArpdError);
  t.equal((err as ArpdError).code, 'E_INSTALL_FAILED');
  t.match((err as ArpdError).message, /has no bin 'nope': its bins are 'npm-echo-runtime'/);
  t.same((err as ArpdError).data?.['bins'], ['npm-echo-runtime']);
});

t.test('installs a packed .tgz given by its absolute path', async (t) => {
  const packDir = await mkdtemp(join(tmpdir(), 'arpd-npm-pack-'));
  t.teardown(() => rm(packDir, { recursive: true, force: true }));
  const packed = spawnSync('npm', ['pack', '--offline', `--pack-destination=${packDir}`, ECHO], { cwd: packDir, encoding: 'utf8', shell: false });
  t.equal(packed.status, 0, `npm pack: ${packed.stderr}`);
  const tgz = join(packDir, 'npm-echo-runtime-0.1.0.tgz');
  const launch = await prepareLaunch(npmExec(tgz), ctx([], { profile: 'tgz' }));
  t.match(launch.argv[0], /\/runtimes\/npm\/tgz\/[0-9a-f]{16}\/node_modules\/\.bin\/npm-echo-runtime$/);
  await checkRuns(t, launch);
});

t.test('an npm install that fails is E_INSTALL_FAILED with the log tail, and leaves nothing installed', async (t) => {
  const broken = join(dataDir, 'broken-package');
  await mkdir(broken, { recursive: true });
  await writeFile(join(broken, 'package.json'), '{ "name": "broken-package", not json');
  const err = await prepareLaunch(npmExec(broken), ctx([], { profile: 'broken' })).catch((e: unknown) => e);
  t.ok(err instanceof ArpdError);
  const e = err as ArpdError;
  t.equal(e.code, 'E_INSTALL_FAILED');
  t.match(e.message, new RegExp(`^npm install of ${broken} failed \\(exit \\d+\\): `));
  t.not(e.data?.['exit_code'], 0);
  t.match(String(e.data?.['tail']), /JSON|EJSONPARSE/);
  const root = join(dataDir, 'runtimes', 'npm', 'broken');
  t.same((await readdir(root)).filter((n) => !n.endsWith('.install.log')), [], 'only the log is left');
});

t.test('a local spec that names nothing is E_INSTALL_FAILED naming the path, before npm runs', async (t) => {
  const err = await prepareLaunch(npmExec('./no-such-package-dir'), ctx([], { profile: 'missing', cwd: dataDir })).catch((e: unknown) => e);
  t.ok(err instanceof ArpdError);
  t.equal((err as ArpdError).code, 'E_INSTALL_FAILED');
  t.match((err as ArpdError).message, `./no-such-package-dir names ${join(dataDir, 'no-such-package-dir')} (./no-such-package-dir resolved against the daemon's working directory ${dataDir}), which does not exist`);
  t.notOk(existsSync(join(dataDir, 'runtimes', 'npm', 'missing')), 'nothing was installed');
});
