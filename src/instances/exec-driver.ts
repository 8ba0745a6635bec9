// prepareLaunch: from a parsed exec config to the argv, env and cwd to spawn, installing the runtime first when its
// driver needs it (pip: a cached venv; npm: a cached node_modules). Placeholders ({host}, {port}, {node},
// {arpd_runtime}) are kept: the launcher fills them.
import type { ExecConfig } from './exec-config.js';
import { prepareCommandLaunch } from './exec-driver-command.js';
import { prepareNpmLaunch } from './exec-driver-npm.js';
import { preparePipLaunch } from './exec-driver-pip.js';

export interface PipInstallOptions {
  indexUrl?: string | undefined;
  extraIndexUrls?: string[] | undefined;
  trustedHosts?: string[] | undefined;
  noIndex?: boolean | undefined;
  /** `pip install --upgrade pip` in a new venv before the spec. */
  upgradePip?: boolean | undefined;
  /** More arguments for `pip install` (`--pip-arg`), each one argument. */
  extraArgs?: string[] | undefined;
}

export interface NpmInstallOptions {
  registry?: string | undefined;
  offline?: boolean | undefined;
  /** `--ignore-scripts`. Default false: some runtimes need their install scripts (the profile is on the safe list). */
  ignoreScripts?: boolean | undefined;
}

export interface DriverContext {
  /** The daemon's data dir: installs go under `venvs/<profile>/` and `runtimes/npm/<profile>/`. */
  dataDir: string;
  /** The profile name; a path segment, so it must pass checkId. */
  profile: string;
  pip?: PipInstallOptions | undefined;
  npm?: NpmInstallOptions | undefined;
  /** Short plain lines while installing ("pip install x==1…", "installed x==1 in 3.2s"). */
  onProgress?: ((line: string) => void) | undefined;
  /** Aborts the install: the child is killed and its directory removed. */
  signal?: AbortSignal | undefined;
  /** The Python that creates venvs. Default 'python3'. */
  python?: string | undefined;
  /** What `./` and `../` specs are relative to: the daemon's working directory (default `process.cwd()`), as in JARVIS. */
  cwd?: string | undefined;
}

export interface LaunchSpec {
  /** Placeholders kept as configured. */
  argv: string[];
  /** Variables to set on top of the daemon's environment: the profile's env plus the driver's (VIRTUAL_ENV, PATH). */
  env: Record<string, string>;
  cwd?: string;
  /** The install log (pip and npm drivers), from the install that produced what runs. */
  installLog?: string;
}

export async function prepareLaunch(exec: ExecConfig, ctx: DriverContext): Promise<LaunchSpec> {
  switch (exec.driver) {
    case 'command':
      return prepareCommandLaunch(exec);
    case 'pip':
      return preparePipLaunch(exec, ctx);
    case 'npm':
      return prepareNpmLaunch(exec, ctx);
    default: {
      const never: never = exec;
      return never;
    }
  }
}
