// The npm driver: installs the pinned spec once into <dataDir>/runtimes/npm/<profile>/<key>/ (npm install --prefix)
// and runs one of the package's bins from node_modules/.bin.
//
// - `--install-links`: a local directory spec is packed and copied, not symlinked, so the cached install is a snapshot
//   (as pip's is) and does not change under a running runtime when its source tree does.
// - Install scripts run unless `ignoreScripts`: some runtimes need them, and the profile is on the safe list. npm runs
//   them itself; arpd never builds a shell command line.
// - The cache key includes the Node ABI (process.versions.modules): native addons built for another Node do not load.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { ArpdError } from '../errors/index.js';
import { checkId } from '../ids/id-rules.js';
import { EXEC_FIELD, type NpmExecConfig } from './exec-config.js';
import { ensureInstalled, installKey, type InstallIo } from './exec-driver-cache.js';
import type { DriverContext, LaunchSpec } from './exec-driver.js';
import { resolveNpmSource } from './exec-driver-source.js';
import { runInstallStep } from './exec-driver-step.js';

const WINDOWS = process.platform === 'win32';

export interface NpmPlanOptions {
  nodeAbi: string;
  registry?: string;
  offline?: boolean;
  ignoreScripts?: boolean;
}

/** npm settings that, inherited from a parent `npm run`/`npx`, would install somewhere else or not at all. */
const DROPPED_NPM_CONFIG = new Set(['global', 'location', 'prefix', 'dry_run', 'package_lock_only', 'omit', 'include', 'production', 'only']);

export function npmPlanOptions(ctx: Pick<DriverContext, 'npm'>): NpmPlanOptions {
  const npm = ctx.npm ?? {};
  const options: NpmPlanOptions = { nodeAbi: process.versions.modules };
  if (npm.registry !== undefined) options.registry = npm.registry;
  if (npm.offline === true) options.offline = true;
  if (npm.ignoreScripts === true) options.ignoreScripts = true;
  return options;
}

export function npmInstallArgs(prefix: string, spec: string, options: NpmPlanOptions): string[] {
  return [
    'install',
    '--no-audit',
    '--no-fund',
    '--no-update-notifier',
    '--install-links',
    `--ignore-scripts=${options.ignoreScripts === true ? 'true' : 'false'}`,
    ...(options.registry === undefined ? [] : [`--registry=${options.registry}`]),
    ...(options.offline === true ? ['--offline'] : []),
    `--prefix=${prefix}`,
    // one argv element; never seen by a shell
    spec,
  ];
}

/** How to run npm without a shell: `npm` on POSIX; on Windows, node plus the npm-cli.js beside npm.cmd on the PATH. */
export function npmCommand(): { cmd: string; args: string[] } {
  if (!WINDOWS) return { cmd: 'npm', args: [] };
  for (const dir of (process.env['PATH'] ?? process.env['Path'] ?? '').split(delimiter)) {
    if (dir === '' || !existsSync(join(dir, 'npm.cmd'))) continue;
    const cli = join(dir, 'node_modules', 'npm', 'bin', 'npm-cli.js');
    if (existsSync(cli)) return { cmd: process.execPath, args: [cli] };
  }
  return { cmd: 'npm.cmd', args: [] };
}

function stepEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_UPDATE_NOTIFIER: '1' };
  for (const name of Object.keys(env)) {
    const m = /^npm_config_(.+)$/i.exec(name);
    if (m?.[1] !== undefined && DROPPED_NPM_CONFIG.has(m[1].toLowerCase().replaceAll('-', '_'))) delete env[name];
  }
  return env;
}

interface PackageJson {
  name?: unknown;
  version?: unknown;
  bin?: unknown;
  dependencies?: unknown;
}

async function readJson(path: string): Promise<PackageJson | undefined> {
  try {
    const value = JSON.parse(await readFile(path, 'utf8')) as unknown;
    return value !== null && typeof value === 'object' ? (value as PackageJson) : undefined;
  } catch {
    return undefined;
  }
}

/** The packages installed at the top of `prefix` (what the spec named), from the package.json npm wrote there. */
async function topLevelPackages(prefix: string): Promise<string[]> {
  const deps = (await readJson(join(prefix, 'package.json')))?.dependencies;
  return deps !== null && typeof deps === 'object' ? Object.keys(deps) : [];
}

/** A package's bins, name -> script path relative to the package, as npm reads its `bin` field. */
export function packageBins(pkg: PackageJson): Record<string, string> {
  if (typeof pkg.bin === 'string' && typeof pkg.name === 'string') {
    return { [pkg.name.replace(/^@[^/]+\//, '')]: pkg.bin };
  }
  const out: Record<string, string> = {};
  if (pkg.bin !== null && typeof pkg.bin === 'object') {
    for (const [name, path] of Object.entries(pkg.bin)) if (typeof path === 'string') out[name] = path;
  }
  return out;
}

async function installNpm(dir: string, io: InstallIo, spec: string, options: NpmPlanOptions): Promise<Record<string, unknown>> {
  // a package.json of our own (no name, so it cannot clash with the package's) keeps npm from looking further up
  await writeFile(join(dir, 'package.json'), `${JSON.stringify({ private: true, description: 'an arpd runtime install; managed by arpd' }, null, 2)}\n`);
  const env = stepEnv();
  const npm = npmCommand();
  const base = { cwd: dir, env, signal: io.signal, notFoundHint: 'install npm (it comes with Node.js) and make sure it is on the PATH' };
  io.progress(`npm install ${spec}…`);
  await runInstallStep(io.log, npm.cmd, [...npm.args, ...npmInstallArgs(dir, spec, options)], { ...base, what: `npm install of ${spec}` });
  const names = await topLevelPackages(dir);
  if (names.length === 0) {
    throw new ArpdError('E_INSTALL_FAILED', `npm install of ${spec} added no package: check that the spec names an npm package`, { log: io.log.path, exit_code: 0, tail: await io.log.tail() });
  }
  const packages: Record<string, unknown> = {};
  for (const name of names) packages[name] = (await readJson(join(dir, 'node_modules', name, 'package.json')))?.version ?? null;
  const npmVersion = await runInstallStep(io.log, npm.cmd, [...npm.args, '--version'], { ...base, what: 'npm --version', capture: true });
  return { node: process.version, npm: npmVersion.trim(), packages };
}

export async function prepareNpmLaunch(exec: NpmExecConfig, ctx: DriverContext): Promise<LaunchSpec> {
  const profile = checkId('profile name', ctx.profile, 'profile');
  const options = npmPlanOptions(ctx);
  const spec = exec.npmSpec;
  // as for pip: a local spec is resolved now, and what is there now is part of the key
  const source = await resolveNpmSource(spec, ctx.cwd ?? process.cwd(), `${EXEC_FIELD}.npm_spec`);
  const installSpec = source?.installSpec ?? spec;
  const keyParts: Record<string, unknown> = { driver: 'npm', spec, ...options };
  const recorded: Record<string, unknown> = { ...options };
  if (source !== undefined) {
    keyParts['source'] = { path: source.path, identity: source.identity };
    recorded['source'] = { path: source.path, install_spec: installSpec, identity: { ...source.identity } };
  }
  const key = installKey(keyParts);
  const root = join(resolve(ctx.dataDir), 'runtimes', 'npm', profile);
  const outcome = await ensureInstalled(
    { driver: 'npm', spec, root, key, options: recorded, install: (dir, io) => installNpm(dir, io, installSpec, options) },
    { signal: ctx.signal, onProgress: ctx.onProgress },
  );

  const bins: Record<string, { pkg: string; script: string }> = {};
  for (const name of await topLevelPackages(outcome.dir)) {
    const pkg = await readJson(join(outcome.dir, 'node_modules', name, 'package.json'));
    if (pkg === undefined) continue;
    for (const [bin, script] of Object.entries(packageBins(pkg))) bins[bin] = { pkg: name, script };
  }
  const found = bins[exec.entrypoint];
  const linked = join(outcome.dir, 'node_modules', '.bin', exec.entrypoint);
  if (found === undefined || (!WINDOWS && !existsSync(linked))) {
    const names = Object.keys(bins).sort();
    const has = names.length === 0 ? 'it has no bins' : `its bins are ${names.map((n) => `'${n}'`).join(', ')}`;
    throw new ArpdError('E_INSTALL_FAILED', `the package ${spec} has no bin '${exec.entrypoint}': ${has}; fix the profile's entrypoint`, {
      log: outcome.log,
      exit_code: null,
      tail: '',
      entrypoint: exec.entrypoint,
      bins: names,
    });
  }
  // Windows' .bin holds .cmd shims, which cannot be spawned without a shell: run the script with node instead
  const argv = WINDOWS
    ? [process.execPath, resolve(join(outcome.dir, 'node_modules', found.pkg), found.script), ...exec.entrypointArgs]
    : [linked, ...exec.entrypointArgs];
  const launch: LaunchSpec = { argv, env: { ...exec.env }, installLog: outcome.log };
  if (exec.cwd !== undefined) launch.cwd = exec.cwd;
  return launch;
}
