// The pip driver, for real: python3 -m venv, pip install --no-index of the local fixture project, the console script run.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { lstat, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { parseExecConfig, type PipExecConfig } from '../../src/instances/exec-config.js';
import { MARKER_FILE, type InstallMarker } from '../../src/instances/exec-driver-cache.js';
import { prepareLaunch, type DriverContext, type LaunchSpec } from '../../src/instances/exec-driver.js';

const FIXTURES = fileURLToPath(new URL('../../fixtures/runtimes/', import.meta.url));
const ECHO = join(FIXTURES, 'pip-echo-runtime');
const BROKEN = join(FIXTURES, 'pip-broken-runtime');

const hasVenv = spawnSync('python3', ['-c', 'import venv, ensurepip'], { stdio: 'ignore' }).status === 0;
if (!hasVenv) t.plan(0, 'python3 with venv and ensurepip is not available');

function pipExec(spec: string, more: Record<string, unknown> = {}): PipExecConfig {
  return parseExecConfig({ 'arp.jarvis.exec': { driver: 'pip', pip_spec: spec, entrypoint: 'pip-echo-runtime', entrypoint_args: ['serve', '--host', '127.0.0.1'], ...more } }, 'p') as PipExecConfig;
}

let dataDir = '';
t.before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'arpd-pip-'));
});
t.teardown(() => rm(dataDir, { recursive: true, force: true }));

function ctx(lines: string[], more: Partial<DriverContext> = {}): DriverContext {
  return { dataDir, profile: 'echo', pip: { noIndex: true }, onProgress: (l) => lines.push(l), ...more };
}

interface Running {
  url: string;
  stop(): Promise<number | null>;
}

/** Spawns a prepared launch (no shell) and waits for its {"event":"listening"} line. */
async function start(t: Test, launch: LaunchSpec, extra: string[]): Promise<Running> {
  const [cmd, ...args] = launch.argv;
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

let first: LaunchSpec | undefined;

t.test('installs a local project into a cached venv, one install for concurrent callers', async (t) => {
  const a: string[] = [];
  const b: string[] = [];
  const [one, two] = await Promise.all([prepareLaunch(pipExec(ECHO), ctx(a)), prepareLaunch(pipExec(ECHO), ctx(b))]);
  first = one;
  t.same(two, one, 'both callers get the same launch');

  const root = join(dataDir, 'venvs', 'echo');
  const [bin, ...rest] = one.argv;
  t.match(bin, new RegExp(`^${root}/[0-9a-f]{16}/bin/pip-echo-runtime$`));
  t.same(rest, ['serve', '--host', '127.0.0.1'], 'the entrypoint_args follow');
  const venv = join(bin ?? '', '..', '..');
  t.equal(one.env['VIRTUAL_ENV'], venv);
  t.ok(one.env['PATH']?.startsWith(`${join(venv, 'bin')}${delimiter}`), "the venv's bin leads the PATH");
  t.equal(one.installLog, `${venv}.install.log`);
  t.ok((await lstat(venv)).isSymbolicLink(), 'the venv is published by a link');
  t.equal((await readdir(root)).filter((n) => n.includes('.d-')).length, 1, 'exactly one venv on disk');

  const marker = JSON.parse(await readFile(join(venv, MARKER_FILE), 'utf8')) as InstallMarker;
  t.match(marker, { v: 1, driver: 'pip', spec: ECHO, options: { python: 'python3', noIndex: true }, versions: { packages: { 'pip-echo-runtime': '0.1.0' } } });
  t.match(marker.versions['python'], /^3\.\d+/);

  const log = await readFile(one.installLog ?? '', 'utf8');
  t.match(log, /-m venv /);
  t.match(log, /-m pip install --disable-pip-version-check --no-input --no-index \//, 'pip gets --no-index, then the spec as one argument');
  t.match(log, /Successfully installed pip-echo-runtime-0\.1\.0/);
  for (const lines of [a, b]) {
    t.ok(lines.some((l) => l.startsWith('creating venv for ')), 'progress: creating venv');
    t.ok(lines.some((l) => l === `pip install ${ECHO}…`), 'progress: pip install');
    t.ok(lines.some((l) => /^installed .* in \d+\.\ds$/.test(l)), 'progress: installed in');
  }
  t.notOk(existsSync(join(ECHO, '__pycache__')), 'nothing was written into the source project');
});

t.test('a second prepare is a cache hit: nothing installs and the log is untouched', async (t) => {
  if (first?.installLog === undefined) throw new Error('the install test did not run');
  const before = await stat(first.installLog);
  const lines: string[] = [];
  const again = await prepareLaunch(pipExec(ECHO), ctx(lines));
  t.same(again, first);
  t.match(lines, [/^using the installed /]);
  t.notOk(lines.some((l) => l.startsWith('pip install')), 'no pip install');
  t.equal((await stat(first.installLog)).mtimeMs, before.mtimeMs, 'the log was not written');
});

t.test('the console script runs from the venv: it prints the listening line and answers health and version', async (t) => {
  if (first === undefined) throw new Error('the install test did not run');
  const rt = await start(t, first, ['--port', '0']);
  t.match(rt.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  const health = (await (await fetch(`${rt.url}/v1/health`)).json()) as { status: string; time: string };
  t.equal(health.status, 'ok');
  t.ok(!Number.isNaN(Date.parse(health.time)), 'time is an ISO date');
  t.same(await (await fetch(`${rt.url}/v1/version`)).json(), { service_name: 'pip-echo-runtime', service_version: '0.1.0', supported_api_versions: ['v1'] });
  t.equal(await rt.stop(), 0, 'exits 0 on SIGTERM');
});

t.test('a missing console script is E_INSTALL_FAILED naming the scripts the package has', async (t) => {
  const err = await prepareLaunch(pipExec(ECHO, { entrypoint: 'no-such-script' }), ctx([])).catch((e: unknown) => e);
  t.ok(err instanceof ArpdError);
  t.equal((err as ArpdError).code, 'E_INSTALL_FAILED');
  t.match((err as ArpdError).message, /has no console script 'no-such-script': it has 'pip-echo-runtime'/);
});

t.test('a failing build is E_INSTALL_FAILED with the log tail, and leaves no venv', async (t) => {
  const lines: string[] = [];
  const err = await prepareLaunch(pipExec(BROKEN), ctx(lines)).catch((e: unknown) => e);
  t.ok(err instanceof ArpdError, 'an ArpdError');
  const e = err as ArpdError;
  t.equal(e.code, 'E_INSTALL_FAILED');
  t.match(e.message, new RegExp(`^pip install of ${BROKEN} failed \\(exit \\d+\\): `));
  t.match(String(e.data?.['tail']), /fails to build on purpose/);
  t.type(e.data?.['exit_code'], 'number');
  t.not(e.data?.['exit_code'], 0);
  const log = String(e.data?.['log']);
  t.match(await readFile(log, 'utf8'), /fails to build on purpose/, 'the full output is in the log');
  const root = join(dataDir, 'venvs', 'echo');
  const key = log.slice(root.length + 1, -'.install.log'.length);
  t.notOk(existsSync(join(root, key)), 'no published venv');
  t.same((await readdir(root)).filter((n) => n.startsWith(`${key}.d-`)), [], 'no half venv left');
});

t.test('aborting a pip install kills it and removes its venv', async (t) => {
  const controller = new AbortController();
  const lines: string[] = [];
  const pending = prepareLaunch(pipExec(ECHO), {
    ...ctx(lines),
    profile: 'aborted',
    signal: controller.signal,
    onProgress: (l) => {
      lines.push(l);
      if (l.startsWith('creating venv')) controller.abort();
    },
  });
  await t.rejects(pending, { code: 'E_CANCELED' });
  const root = join(dataDir, 'venvs', 'aborted');
  t.same(await readdir(root).then((names) => names.filter((n) => !n.endsWith('.install.log'))), [], 'nothing but the log is left');
});

t.test('refuses a profile name that is not a safe path segment', async (t) => {
  await t.rejects(prepareLaunch(pipExec(ECHO), { ...ctx([]), profile: '../x' }), { code: 'E_VALIDATION', data: { field: 'profile' } });
});
