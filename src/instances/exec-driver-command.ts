// The command driver: the configured argv, as it is. Nothing to install.
import type { CommandExecConfig } from './exec-config.js';
import type { LaunchSpec } from './exec-driver.js';

export function prepareCommandLaunch(exec: CommandExecConfig): LaunchSpec {
  const spec: LaunchSpec = { argv: [...exec.argv], env: { ...exec.env } };
  if (exec.cwd !== undefined) spec.cwd = exec.cwd;
  return spec;
}
