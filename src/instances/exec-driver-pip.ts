// The pip driver: installs the pinned spec once into a cached venv, <dataDir>/venvs/<profile>/<key>/, and runs the
// package's console script from it. A local spec (a path, a file URL) is resolved against the daemon's working
// directory when it is installed, and the file's identity is part of the key: a wheel rebuilt at the same path is
// installed again (exec-driver-source.ts). The launcher appends JARVIS's `--port <port>` (launch-plan.ts).
//
// pip keeps its default build isolation: a project is built with the build requirements it declares, fetched from the
// index. With `noIndex` those must be satisfiable offline, so offline specs should be wheels or projects whose build
// needs nothing from an index (the test fixture declares `requires = []` and an in-tree backend). arpd does not pass
// --no-build-isolation: a fresh venv has no `wheel` (and from Python 3.12 no setuptools), so it would not help.
import { readdir, stat } from 'node:fs/promises';
import { delimiter, join, resolve } from 'node:path';
import { ArpdError } from '../errors/index.js';
import { checkId } from '../ids/id-rules.js';
import { EXEC_FIELD, type PipExecConfig } from './exec-config.js';
import { ensureInstalled, installKey, type InstallIo } from './exec-driver-cache.js';
import type { DriverContext, LaunchSpec } from './exec-driver.js';
import { resolvePipSource } from './exec-driver-source.js';
import { runInstallStep } from './exec-driver-step.js';

const WINDOWS = process.platform === 'win32';

/** Prints the interpreter's version and every installed distribution, for the marker. */
const VERSIONS_SCRIPT = [
  'import json, sys',
  'from importlib import metadata',
  'packages = {}',
  'for d in metadata.distributions():',
  '    name = d.metadata["Name"]',
  '    if name: packages[name] = d.version',
  'print(json.dumps({"python": sys.version.split()[0], "packages": packages}))',
].join('\n');

/** Variables that would send pip's files elsewhere or leak another environment into the venv. */
const DROPPED_ENV = ['PYTHONHOME', 'PYTHONPATH', 'PIP_USER', 'PIP_TARGET', 'PIP_PREFIX', 'PIP_ROOT', 'VIRTUAL_ENV', '__PYVENV_LAUNCHER__'];

export interface PipPlanOptions {
  python: string;
  indexUrl?: string;
  extraIndexUrls?: string[];
  trustedHosts?: string[];
  noIndex?: boolean;
  upgradePip?: boolean;
  /** `--pip-arg`: more arguments for `pip install`, as given (each one argument, never split by a shell). */
  extraArgs?: string[];
}

/** The options that decide what gets installed: part of the cache key and recorded in the marker. */
export function pipPlanOptions(ctx: Pick<DriverContext, 'pip' | 'python'>): PipPlanOptions {
  const pip = ctx.pip ?? {};
  const options: PipPlanOptions = { python: ctx.python ?? 'python3' };
  if (pip.indexUrl !== undefined) options.indexUrl = pip.indexUrl;
  if (pip.extraIndexUrls !== undefined && pip.extraIndexUrls.length > 0) options.extraIndexUrls = [...pip.extraIndexUrls];
  if (pip.trustedHosts !== undefined && pip.trustedHosts.length > 0) options.trustedHosts = [...pip.trustedHosts];
  if (pip.noIndex === true) options.noIndex = true;
  if (pip.upgradePip === true) options.upgradePip = true;
  if (pip.extraArgs !== undefined && pip.extraArgs.length > 0) options.extraArgs = [...pip.extraArgs];
  return options;
}

/** `--opt=value` forms, so that no value can be read as an option of its own. */
export function pipIndexArgs(options: PipPlanOptions): string[] {
  const args: string[] = [];
  if (options.noIndex === true) args.push('--no-index');
  if (options.indexUrl !== undefined) args.push(`--index-url=${options.indexUrl}`);
  for (const url of options.extraIndexUrls ?? []) args.push(`--extra-index-url=${url}`);
  for (const host of options.trustedHosts ?? []) args.push(`--trusted-host=${host}`);
  for (const a of options.extraArgs ?? []) args.push(a);
  return args;
}

export function venvBinDir(venv: string): string {
  return join(venv, WINDOWS ? 'Scripts' : 'bin');
}

function venvPython(venv: string): string {
  return join(venvBinDir(venv), WINDOWS ? 'python.exe' : 'python');
}

function stepEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1', PYTHONDONTWRITEBYTECODE: '1' };
  for (const name of DROPPED_ENV) delete env[name];
  return env;
}

async function installPip(dir: string, io: InstallIo, spec: string, options: PipPlanOptions): Promise<Record<string, unknown>> {
  const env = stepEnv();
  const base = { cwd: dir, env, signal: io.signal };
  io.progress(`creating venv for ${spec}…`);
  await runInstallStep(io.log, options.python, ['-m', 'venv', dir], {
    ...base,
    what: `creating the venv for ${spec}`,
    notFoundHint: `install Python 3 (with its venv module), or set the daemon's python option to a Python 3 executable`,
  });
  const python = venvPython(dir);
  const pipInstall = ['-m', 'pip', 'install', '--disable-pip-version-check', '--no-input', ...pipIndexArgs(options)];
  if (options.upgradePip === true) {
    io.progress('upgrading pip…');
    await runInstallStep(io.log, python, [...pipInstall, '--upgrade', 'pip'], { ...base, what: `upgrading pip for ${spec}` });
  }
  io.progress(`pip install ${spec}…`);
  // the spec is one argv element: `name @ file:///x` included; no shell ever sees it
  await runInstallStep(io.log, python, [...pipInstall, spec], { ...base, what: `pip install of ${spec}` });
  const out = await runInstallStep(io.log, python, ['-I', '-c', VERSIONS_SCRIPT], { ...base, what: `listing what pip installed for ${spec}`, capture: true });
  try {
    return JSON.parse(out.trim()) as Record<string, unknown>;
  } catch {
    return { raw: out.trim() };
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** The venv's own files, not the package's console scripts. */
const VENV_OWN = /^(?:python[\d.]*|pythonw|pip[\d.]*|activate(?:\.\w+)?|Activate\.ps1|deactivate(?:\.bat)?|easy_install(?:-[\d.]+)?)(?:\.exe)?$/i;

async function consoleScripts(bin: string): Promise<string[]> {
  try {
    return (await readdir(bin)).filter((n) => !VENV_OWN.test(n)).map((n) => n.replace(/\.exe$/i, '')).sort();
  } catch {
    return [];
  }
}

export async function preparePipLaunch(exec: PipExecConfig, ctx: DriverContext): Promise<LaunchSpec> {
  const profile = checkId('profile name', ctx.profile, 'profile');
  const options = pipPlanOptions(ctx);
  const spec = exec.pipSpec;
  // a local spec is resolved now, against the daemon's working directory; what is there now is part of the key
  const source = await resolvePipSource(spec, ctx.cwd ?? process.cwd(), `${EXEC_FIELD}.pip_spec`);
  const installSpec = source?.installSpec ?? spec;
  const keyParts: Record<string, unknown> = { driver: 'pip', spec, ...options };
  const recorded: Record<string, unknown> = { ...options };
  if (source !== undefined) {
    keyParts['source'] = { path: source.path, identity: source.identity };
    recorded['source'] = { path: source.path, install_spec: installSpec, identity: { ...source.identity } };
  }
  const key = installKey(keyParts);
  const root = join(resolve(ctx.dataDir), 'venvs', profile);
  const outcome = await ensureInstalled(
    { driver: 'pip', spec, root, key, options: recorded, install: (dir, io) => installPip(dir, io, installSpec, options) },
    { signal: ctx.signal, onProgress: ctx.onProgress },
  );

  const bin = venvBinDir(outcome.dir);
  const exe = join(bin, WINDOWS ? `${exec.entrypoint}.exe` : exec.entrypoint);
  if (!(await isFile(exe))) {
    const scripts = await consoleScripts(bin);
    const has = scripts.length === 0 ? 'it has none' : `it has ${scripts.map((s) => `'${s}'`).join(', ')}`;
    throw new ArpdError('E_INSTALL_FAILED', `the package ${spec} has no console script '${exec.entrypoint}': ${has}; fix the profile's entrypoint`, {
      log: outcome.log,
      exit_code: null,
      tail: '',
      entrypoint: exec.entrypoint,
      console_scripts: scripts,
    });
  }
  const basePath = exec.env['PATH'] ?? process.env['PATH'] ?? '';
  const launch: LaunchSpec = {
    argv: [exe, ...exec.entrypointArgs],
    env: { ...exec.env, VIRTUAL_ENV: outcome.dir, PATH: basePath === '' ? bin : `${bin}${delimiter}${basePath}` },
    installLog: outcome.log,
  };
  if (exec.cwd !== undefined) launch.cwd = exec.cwd;
  return launch;
}
