// planLaunch: from a prepared launch (the driver's argv, env and cwd, placeholders kept), the profile's `defaults` and
// the instance's `overrides` to the exact argv, env and cwd to spawn, and the endpoint when arpd chose the port.
// Pure: no I/O, no clock; what the host process knows (its environment, working directory, node binary) comes in.
//
// The rules, as JARVIS runs its runtimes (docs/jarvis.md has the table):
// - argv: the driver's argv with {host}/{port}/{node}/{arpd_runtime} filled; a pip or npm entrypoint gets
//   `--port <port>` appended unless its entrypoint_args use {port} or {host}; then defaults.args, then overrides.args
//   (as given: no placeholders there).
// - env: the daemon's environment < the driver's env (the profile's exec env, VIRTUAL_ENV, PATH) < defaults.env <
//   overrides.env. Then ARP_TRACE_DIR and JARVIS_TRACE_DIR: an explicit value (from those three) is kept, otherwise
//   `runtimeTraceDir`; a value inside `runsDir` is refused, because arpd alone writes `runs/<run_id>/trace.jsonl`.
//   Then the tool registry: an explicit ARP_TOOL_REGISTRY_URL or JARVIS_TOOL_REGISTRY_URL wins and fills the other,
//   else overrides.tool_registry_url, else defaults.tool_registry_url, sets both (JARVIS's setdefault). Last,
//   ARPD_INSTANCE_ID.
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { ArpdError } from '../errors/index.js';
import { EXEC_EXTENSION_KEY, parseProcessSettings, type ExecConfig, type ProcessSettings } from './exec-config.js';

export const TRACE_DIR_VARS = ['ARP_TRACE_DIR', 'JARVIS_TRACE_DIR'] as const;
export const TOOL_REGISTRY_VARS = ['ARP_TOOL_REGISTRY_URL', 'JARVIS_TOOL_REGISTRY_URL'] as const;

/** The folder of the data dir runtimes write their own traces into (`<runtimeTraceDir>/<run_id>/…`). */
export function runtimeTraceDirOf(dataDir: string): string {
  return join(dataDir, 'runtime-traces');
}

/** `defaults` of a profile, `overrides` of an instance: the same three optional fields. */
export type LaunchOptions = ProcessSettings;

export interface LaunchPlanInput {
  /** What `prepareLaunch` returned. */
  launch: { argv: readonly string[]; env: Readonly<Record<string, string>>; cwd?: string | undefined };
  exec: ExecConfig;
  /** The profile's `defaults` as stored (a JSON object or undefined). */
  defaults?: unknown;
  /** The instance's `overrides` as stored. */
  overrides?: unknown;
  host: string;
  /** The port arpd chose; required when `launchNeedsPort` says so. */
  port?: number | undefined;
  /** `<data-dir>/runtime-traces`: where runtimes write their own traces unless told otherwise. */
  runtimeTraceDir: string;
  /** `<data-dir>/runs`: arpd's own; no runtime may be pointed into it. */
  runsDir: string;
  instanceId: string;
  /** The daemon's environment, inherited by the runtime. */
  baseEnv: Readonly<Record<string, string | undefined>>;
  /** The daemon's working directory: relative trace dirs resolve against the runtime's cwd, which defaults to it. */
  daemonCwd: string;
  /** What `{node}` (this node and its flags) and `{arpd_runtime}` (the bundled runtime's entry) stand for. */
  programs: { node: readonly string[]; arpdRuntime: string };
}

export interface LaunchPlan {
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
  /** `http://<host>:<port>` when arpd chose the port; otherwise the runtime's listening line says where it is. */
  endpoint?: string;
}

function fail(field: string, rule: string, message: string): never {
  throw new ArpdError('E_VALIDATION', message, { field, rule });
}

/** Reads `defaults` or `overrides` (schema-checked at the edge and by the deciders; checked again here because a spawn must not get junk). */
export const launchOptionsOf: (value: unknown, field: string) => LaunchOptions = parseProcessSettings;

const hasPlaceholder = (args: readonly string[], ...names: string[]): boolean => args.some((a) => names.some((n) => a.includes(n)));

/**
 * Whether the pip/npm entrypoint gets `--port <port>` appended: JARVIS always appends it; arpd does unless the
 * profile's entrypoint_args already say where to listen with {port} or {host}.
 */
export function appendsPort(exec: ExecConfig): boolean {
  return exec.driver !== 'command' && !hasPlaceholder(exec.entrypointArgs, '{port}', '{host}');
}

/** Whether arpd must choose a port before `planLaunch`: the argv has {port}, or the entrypoint gets `--port` appended. */
export function launchNeedsPort(launch: { argv: readonly string[] }, exec: ExecConfig): boolean {
  return appendsPort(exec) || hasPlaceholder(launch.argv, '{port}');
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

function fillArgv(template: readonly string[], input: LaunchPlanInput): string[] {
  const out: string[] = [];
  for (const a of template) {
    if (a === '{node}') out.push(...input.programs.node);
    else if (a === '{arpd_runtime}') out.push(input.programs.arpdRuntime);
    else out.push(a.replaceAll('{host}', input.host).replaceAll('{port}', String(input.port)));
  }
  return out;
}

/** True when `path` is `dir` or inside it (lexically: both absolute and normalised). */
export function isWithin(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

interface Explicit {
  value: string;
  field: string;
}

/** The explicit value of each variable and the field it came from (the last of exec env, defaults.env, overrides.env). */
function explicitValues(input: LaunchPlanInput, defaults: LaunchOptions, overrides: LaunchOptions, names: readonly string[]): Map<string, Explicit> {
  const out = new Map<string, Explicit>();
  const sources: Array<[Readonly<Record<string, string>>, string]> = [
    [input.launch.env, `extensions["${EXEC_EXTENSION_KEY}"].env`],
    [defaults.env, 'defaults.env'],
    [overrides.env, 'overrides.env'],
  ];
  for (const [env, field] of sources) {
    for (const name of names) {
      const value = env[name];
      if (value !== undefined) out.set(name, { value, field: `${field}.${name}` });
    }
  }
  return out;
}

/** The exact argv, env, cwd (and endpoint) to spawn; E_VALIDATION when a trace dir points into arpd's runs folder. */
export function planLaunch(input: LaunchPlanInput): LaunchPlan {
  const defaults = launchOptionsOf(input.defaults, 'defaults');
  const overrides = launchOptionsOf(input.overrides, 'overrides');
  const needsPort = launchNeedsPort(input.launch, input.exec);
  if (needsPort && (input.port === undefined || !Number.isInteger(input.port) || input.port <= 0 || input.port > 65_535)) {
    throw new ArpdError('E_INTERNAL', `the launch of instance ${input.instanceId} needs a port chosen first (launchNeedsPort), got ${String(input.port)}`);
  }

  const template = appendsPort(input.exec) ? [...input.launch.argv, '--port', '{port}'] : [...input.launch.argv];
  const argv = [...fillArgv(template, input), ...defaults.args, ...overrides.args];

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.baseEnv)) if (v !== undefined) env[k] = v;
  Object.assign(env, input.launch.env, defaults.env, overrides.env);

  const runsDir = resolve(input.daemonCwd, input.runsDir);
  const runtimeTraceDir = resolve(input.daemonCwd, input.runtimeTraceDir);
  const runtimeCwd = resolve(input.daemonCwd, input.launch.cwd ?? '.');
  const traceDirs = explicitValues(input, defaults, overrides, TRACE_DIR_VARS);
  for (const name of TRACE_DIR_VARS) {
    const explicit = traceDirs.get(name);
    if (explicit === undefined) {
      env[name] = runtimeTraceDir;
      continue;
    }
    if (isWithin(resolve(runtimeCwd, explicit.value), runsDir)) {
      fail(explicit.field, 'outside-runs', `${explicit.field} '${explicit.value}' points into arpd's runs folder ${runsDir}, where arpd alone writes each run's trace.jsonl (a runtime's own trace there would be mixed into the trace arpd serves): remove it to use ${runtimeTraceDir}, or set a folder outside ${runsDir}`);
    }
    env[name] = explicit.value;
  }

  const registry = explicitValues(input, defaults, overrides, TOOL_REGISTRY_VARS);
  const [arpVar, jarvisVar] = TOOL_REGISTRY_VARS;
  const xArp = registry.get(arpVar)?.value;
  const xJarvis = registry.get(jarvisVar)?.value;
  const toolRegistry = xArp ?? xJarvis ?? overrides.toolRegistryUrl ?? defaults.toolRegistryUrl;
  if (toolRegistry !== undefined) {
    env[arpVar] = xArp ?? toolRegistry;
    env[jarvisVar] = xJarvis ?? toolRegistry;
  } else if (env[arpVar] !== undefined && env[jarvisVar] === undefined) {
    env[jarvisVar] = env[arpVar];
  } else if (env[jarvisVar] !== undefined && env[arpVar] === undefined) {
    env[arpVar] = env[jarvisVar];
  }

  env['ARPD_INSTANCE_ID'] = input.instanceId;

  const plan: LaunchPlan = { argv, env };
  if (input.launch.cwd !== undefined) plan.cwd = input.launch.cwd;
  if (needsPort) plan.endpoint = `http://${urlHost(input.host)}:${String(input.port)}`;
  return plan;
}
