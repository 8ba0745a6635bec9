// How a runtime profile says to start its runtime: extensions["arp.jarvis.exec"] (JARVIS-compatible) and arpd's own
// per-profile options in extensions["arpd.runtime"]. Pure: no I/O, no clock; every refusal is E_VALIDATION naming the
// field and saying what to write instead.
//
// Length: over 300 lines because it is the whole JARVIS `arp.jarvis.exec` schema (command, pip and npm drivers, their
// pinning rules, env, placeholders) as one table of checks: each driver's rules read against the shared ones.
import { isAbsolute } from 'node:path';
import { ArpdError } from '../errors/index.js';

export const EXEC_EXTENSION_KEY = 'arp.jarvis.exec';
export const ARPD_RUNTIME_EXTENSION_KEY = 'arpd.runtime';

/** Placeholders the launcher fills inside any argument (`--port={port}` works). */
export const INLINE_PLACEHOLDERS = ['{host}', '{port}'] as const;
/** Placeholders that must be a whole argument of a command driver's argv: the running node (plus its execArgv), the bundled runtime. */
export const WHOLE_ARG_PLACEHOLDERS = ['{node}', '{arpd_runtime}'] as const;

export interface CommandExecConfig {
  driver: 'command';
  /** argv as configured; placeholders are kept for the launcher to fill. */
  argv: string[];
  env: Record<string, string>;
  cwd?: string;
}

/** What `entrypoint_args` omitted, null or empty means (JARVIS: `exec_config.entrypoint_args or ["serve"]`). */
export const DEFAULT_ENTRYPOINT_ARGS: readonly string[] = ['serve'];

export interface PipExecConfig {
  driver: 'pip';
  /** A pinned pip requirement, trimmed: `name==1.2.3`, a path (absolute, `./`, `../`), a `file://` URL, or `name @ <pinned url>`. */
  pipSpec: string;
  /** A console script of the package. */
  entrypoint: string;
  /** `["serve"]` when omitted, null or empty, as JARVIS does. The launcher appends `--port <port>` unless they use {host} or {port}. */
  entrypointArgs: string[];
  env: Record<string, string>;
  cwd?: string;
}

export interface NpmExecConfig {
  driver: 'npm';
  /** A pinned npm spec, trimmed: `name@1.2.3` (scoped too), or a path (absolute, `./`, `../`) to a package directory or `.tgz`. */
  npmSpec: string;
  /** A bin of the package. */
  entrypoint: string;
  /** As for pip: `["serve"]` when omitted, null or empty; `--port <port>` appended unless they use {host} or {port}. */
  entrypointArgs: string[];
  env: Record<string, string>;
  cwd?: string;
}

export type ExecConfig = CommandExecConfig | PipExecConfig | NpmExecConfig;
export type ExecDriver = ExecConfig['driver'];

export interface ArpdRuntimeOptions {
  maxConcurrentRuns: number;
  restart: 'never' | 'on-failure';
  restartMax: number;
  restartBackoffMs: number;
  healthTimeoutMs: number;
  healthIntervalMs: number;
  stopGraceMs: number;
  /** Instances arpd may run of this profile by itself when runs wait (autostart and scale-up). */
  maxInstances: number;
  /** Deadline of a run on this profile that sets no limits.timeout_ms; 0: the daemon's default. */
  runTimeoutMs: number;
}

export const EXEC_FIELD = `extensions[${JSON.stringify(EXEC_EXTENSION_KEY)}]`;
const RUNTIME_FIELD = `extensions[${JSON.stringify(ARPD_RUNTIME_EXTENSION_KEY)}]`;

const KNOWN_KEYS: Record<ExecDriver, readonly string[]> = {
  command: ['driver', 'command_template', 'argv', 'env', 'cwd'],
  pip: ['driver', 'pip_spec', 'entrypoint', 'entrypoint_args', 'env', 'cwd'],
  npm: ['driver', 'npm_spec', 'entrypoint', 'entrypoint_args', 'env', 'cwd'],
};

/** A console-script or bin name: no slashes, no leading dot or dash. */
export const ENTRYPOINT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PLACEHOLDER_PATTERN = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/**
 * The most bytes one argument, or one `NAME=value` environment entry, may have: Linux's MAX_ARG_STRLEN (128 KiB with
 * the terminating NUL). The kernel refuses to start a process with a longer one (E2BIG), so it is refused here first.
 */
export const MAX_ARG_BYTES = 128 * 1024 - 1;

// PEP 508 names, PEP 440 versions (the permissive form `packaging` accepts, without a leading 'v').
const PIP_NAME = '[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?';
const PIP_EXTRAS = `\\[\\s*(?:${PIP_NAME}(?:\\s*,\\s*${PIP_NAME})*)?\\s*\\]`;
const PEP440_VERSION =
  '(?:[0-9]+!)?[0-9]+(?:\\.[0-9]+)*' +
  '(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?' +
  '(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?' +
  '(?:[-_.]?dev[-_.]?[0-9]*)?' +
  '(?:\\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?';
/** `name[extras]` then the rest of the requirement (specifiers, `@ url`, a marker). */
const PIP_HEAD = new RegExp(`^(${PIP_NAME})\\s*(${PIP_EXTRAS})?\\s*(.*)$`, 's');
/** One version clause; `===` takes any string (PEP 440 arbitrary equality), `==`/`!=` a trailing `.*`. */
const PIP_CLAUSE = new RegExp(`^(?:(===)\\s*([^\\s,;]+)|(==|!=)\\s*(${PEP440_VERSION})(\\.\\*)?|(<=|>=|~=|<|>)\\s*(${PEP440_VERSION}))$`, 'i');
/** A strong hash fragment pip checks the download against. */
const HASH_FRAGMENT = /(?:^|&)(?:sha256=[0-9a-f]{64}|sha384=[0-9a-f]{96}|sha512=[0-9a-f]{128})(?:&|$)/i;
/** A full commit id at the end of a git URL's path: `git+https://host/repo@<40 or 64 hex>`. */
const GIT_COMMIT = /@(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

// npm names (lowercase, url-safe, optionally scoped) and exact semver 2.0 versions.
const NPM_NAME = '(?:@[a-z0-9~][a-z0-9._~-]*/)?[a-z0-9~][a-z0-9._~-]*';
const SEMVER_ID = '(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)';
const SEMVER_EXACT =
  `(?:0|[1-9][0-9]*)\\.(?:0|[1-9][0-9]*)\\.(?:0|[1-9][0-9]*)` +
  `(?:-${SEMVER_ID}(?:\\.${SEMVER_ID})*)?(?:\\+[0-9A-Za-z-]+(?:\\.[0-9A-Za-z-]+)*)?`;
const NPM_PINNED = new RegExp(`^${NPM_NAME}@${SEMVER_EXACT}$`);
const NPM_NAME_ONLY = new RegExp(`^${NPM_NAME}$`);
const NPM_NAME_AT = new RegExp(`^(${NPM_NAME})@(.*)$`);

function fail(field: string, rule: string, message: string): never {
  throw new ArpdError('E_VALIDATION', message, { field, rule });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** Refuses an argument (or, with `name`, an environment entry `name=value`) longer than the kernel passes to a process. */
function checkArgBytes(at: string, value: string, name?: string): void {
  const bytes = Buffer.byteLength(value, 'utf8') + (name === undefined ? 0 : Buffer.byteLength(name, 'utf8') + 1);
  if (bytes <= MAX_ARG_BYTES) return;
  const what = name === undefined ? 'one argument' : 'one environment variable (NAME=value)';
  fail(at, 'max-bytes', `${at} is ${bytes} bytes: ${what} may have at most ${MAX_ARG_BYTES} bytes, or the operating system cannot start the runtime: shorten it, or put the data in a file and pass its path`);
}

function refuseUnknownKeys(obj: Record<string, unknown>, known: readonly string[], base: string, what: string): void {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      fail(`${base}.${key}`, 'known-field', `${base}.${key} is not a field of ${what}: use ${known.join(', ')}`);
    }
  }
}

/** Keeps placeholders but refuses unknown ones (a typo such as `{prot}` would otherwise reach the runtime). */
function checkArgs(value: unknown, field: string, wholeArgPlaceholders: boolean): string[] {
  if (!Array.isArray(value)) {
    fail(field, 'string-array', `${field} must be an array of strings (got ${shown(value)})`);
  }
  const allowed = wholeArgPlaceholders ? [...INLINE_PLACEHOLDERS, ...WHOLE_ARG_PLACEHOLDERS] : [...INLINE_PLACEHOLDERS];
  return value.map((item: unknown, i) => {
    const at = `${field}[${i}]`;
    if (typeof item !== 'string') fail(at, 'string', `${at} must be a string (got ${shown(item)})`);
    if (item.includes('\0')) fail(at, 'no-nul', `${at} contains a NUL character: remove it`);
    checkArgBytes(at, item);
    for (const match of item.matchAll(PLACEHOLDER_PATTERN)) {
      const placeholder = match[0];
      if ((WHOLE_ARG_PLACEHOLDERS as readonly string[]).includes(placeholder)) {
        if (!wholeArgPlaceholders) {
          fail(at, 'placeholder', `${at} uses ${placeholder}, which only a command driver's argv may use: use ${INLINE_PLACEHOLDERS.join(' or ')} here`);
        }
        if (item !== placeholder) {
          fail(at, 'placeholder', `${at} must be exactly ${placeholder} (a whole argument), not ${shown(item)}: put ${placeholder} in an argument of its own`);
        }
      } else if (!(INLINE_PLACEHOLDERS as readonly string[]).includes(placeholder)) {
        fail(at, 'placeholder', `${at} uses the unknown placeholder ${placeholder}: use ${allowed.join(', ')}`);
      }
    }
    return item;
  });
}

function checkArgv(value: unknown, field: string): string[] {
  if (typeof value === 'string') {
    fail(field, 'argv-array', `${field} must be an argv array, never a shell string: write ["prog", "arg", …] (got ${shown(value)})`);
  }
  const argv = checkArgs(value, field, true);
  if (argv.length === 0) fail(field, 'non-empty', `${field} is empty: give the program and its arguments, e.g. ["my-runtime", "--port", "{port}"]`);
  if (argv[0] === '') fail(`${field}[0]`, 'non-empty', `${field}[0] is empty: give the program to run`);
  return argv;
}

function checkEnv(value: unknown, field: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) fail(field, 'string-map', `${field} must be an object of environment variables, name -> string value (got ${shown(value)})`);
  const env: Record<string, string> = {};
  for (const [name, v] of Object.entries(value)) {
    const at = `${field}.${name}`;
    if (!ENV_NAME_PATTERN.test(name)) fail(at, ENV_NAME_PATTERN.source, `${at}: ${shown(name)} is not an allowed environment variable name: use letters, digits and '_', not starting with a digit`);
    if (typeof v !== 'string') fail(at, 'string', `${at} must be a string (got ${shown(v)}): quote numbers and booleans`);
    if (v.includes('\0')) fail(at, 'no-nul', `${at} contains a NUL character: remove it`);
    checkArgBytes(at, v, name);
    env[name] = v;
  }
  return env;
}

/** `defaults` of a profile, `overrides` of an instance: the same three optional fields. */
export interface ProcessSettings {
  env: Record<string, string>;
  args: string[];
  toolRegistryUrl?: string;
}

/**
 * Reads a profile's `defaults` or an instance's `overrides` (`field` names which): env names and values, args as given
 * (no placeholders are filled there), each within what the operating system passes to a process. Checked when the
 * profile is saved and the instance created, so a bad one is refused then instead of failing the instance later.
 */
export function parseProcessSettings(value: unknown, field: string): ProcessSettings {
  const out: ProcessSettings = { env: {}, args: [] };
  if (value === undefined || value === null) return out;
  if (!isPlainObject(value)) fail(field, 'object', `${field} must be an object with env, args and tool_registry_url`);
  out.env = checkEnv(value['env'], `${field}.env`);
  const args = value['args'];
  if (args !== undefined) {
    if (!Array.isArray(args)) fail(`${field}.args`, 'string-array', `${field}.args must be an array of strings`);
    args.forEach((a: unknown, i) => {
      if (typeof a !== 'string' || a.includes('\0')) fail(`${field}.args[${i}]`, 'string', `${field}.args[${i}] must be a string without NUL characters`);
      checkArgBytes(`${field}.args[${i}]`, a);
      out.args.push(a);
    });
  }
  const url = value['tool_registry_url'];
  if (url !== undefined) {
    if (typeof url !== 'string' || url === '' || url.includes('\0')) fail(`${field}.tool_registry_url`, 'string', `${field}.tool_registry_url must be a URL string`);
    out.toolRegistryUrl = url;
  }
  return out;
}

/**
 * The most bytes of arguments and environment a profile (its exec config and `defaults`) and an instance's `overrides`
 * may give a runtime together, counted as the kernel counts them (`execBytes`). Linux refuses an exec whose argv and
 * envp are over a quarter of the stack limit (2 MiB with the usual 8 MiB) with E2BIG; the runtime also gets the
 * daemon's own environment and what arpd adds (PATH, trace dirs, the instance id), so a profile gets half of it.
 */
export const MAX_EXEC_BYTES = 1024 * 1024;
/** What the kernel counts for each argument or environment entry besides its bytes: its NUL and its pointer. */
const EXEC_ENTRY_OVERHEAD = 1 + 8;

/** Bytes of `args` and of `env` as NAME=value, as the kernel counts them for an exec (each string's NUL and pointer too). */
export function execBytes(args: readonly string[], env: Readonly<Record<string, string | undefined>>): number {
  let bytes = 0;
  for (const a of args) bytes += Buffer.byteLength(a, 'utf8') + EXEC_ENTRY_OVERHEAD;
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined) bytes += Buffer.byteLength(name, 'utf8') + 1 + Buffer.byteLength(value, 'utf8') + EXEC_ENTRY_OVERHEAD;
  }
  return bytes;
}

/** One source of a runtime's arguments and environment, for `checkExecBudget`: the field that gives it. */
export interface ExecPart {
  field: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
}

/** The arguments and environment an exec config gives (a pip or npm runtime's entrypoint and its args). */
export function execPartOf(exec: ExecConfig): ExecPart {
  return { field: EXEC_FIELD, args: exec.driver === 'command' ? exec.argv : [exec.entrypoint, ...exec.entrypointArgs], env: exec.env };
}

/** The arguments and environment `defaults` or `overrides` give (the tool registry URL as its two variables). */
export function settingsPartOf(settings: ProcessSettings, field: string): ExecPart {
  const url = settings.toolRegistryUrl;
  return { field, args: settings.args, env: url === undefined ? settings.env : { ARP_TOOL_REGISTRY_URL: url, JARVIS_TOOL_REGISTRY_URL: url, ...settings.env } };
}

/**
 * Refuses (E_VALIDATION) arguments and environment that together are over `MAX_EXEC_BYTES`, each entry being within
 * `MAX_ARG_BYTES`: the kernel would refuse to start the runtime (E2BIG). Arguments add up; an environment variable a
 * later part sets again counts once. `what` names whose they are ("profile 'x'"); the refusal's field is `field`, or
 * else the part with the most bytes.
 */
export function checkExecBudget(parts: readonly ExecPart[], what: string, field?: string): void {
  const env: Record<string, string> = {};
  const args: string[] = [];
  for (const part of parts) {
    args.push(...part.args);
    Object.assign(env, part.env);
  }
  const total = execBytes(args, env);
  if (total <= MAX_EXEC_BYTES) return;
  const sized = parts.map((p) => ({ field: p.field, bytes: execBytes(p.args, p.env) })).filter((p) => p.bytes > 0);
  const largest = sized.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  const each = sized.map((p) => `${p.field} ${p.bytes}`).join(', ');
  throw new ArpdError('E_VALIDATION', `${what} gives its runtime ${total} bytes of arguments and environment (${each}): at most ${MAX_EXEC_BYTES} bytes (1 MiB) may come from the profile and the instance, or the operating system cannot start the runtime beside the daemon's own environment (Linux takes about 2 MiB in all): shorten them, or put the data in a file and pass its path`, { field: field ?? largest.field, rule: 'max-total-bytes', total_bytes: total, limit_bytes: MAX_EXEC_BYTES });
}

function checkCwd(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '' || value.includes('\0') || !isAbsolute(value)) {
    fail(field, 'absolute-path', `${field} must be an absolute directory path (got ${shown(value)})`);
  }
  return value;
}

function checkEntrypoint(value: unknown, field: string, what: string): string {
  if (value === undefined) fail(field, 'required', `${field} is missing: name the ${what} to run`);
  if (typeof value !== 'string') fail(field, ENTRYPOINT_PATTERN.source, `${field} must be a string naming the ${what} (got ${shown(value)})`);
  const name = value.trim();
  if (!ENTRYPOINT_PATTERN.test(name)) {
    fail(field, ENTRYPOINT_PATTERN.source, `${field} ${shown(value)} is not a ${what} name: use letters, digits, '.', '_' or '-', starting with a letter or digit, no slashes (max 128)`);
  }
  return name;
}

function specString(value: unknown, field: string, example: string): string {
  if (value === undefined) fail(field, 'required', `${field} is missing: give a pinned spec such as ${example}`);
  if (typeof value !== 'string') fail(field, 'string', `${field} must be a string such as ${example} (got ${shown(value)})`);
  const spec = value.trim();
  if (spec === '') fail(field, 'pinned', `${field} is empty: give a pinned spec such as ${example}`);
  if (spec.startsWith('-')) {
    fail(field, 'no-option', `${field} ${shown(value)} starts with '-', which the installer would read as an option: give one pinned spec such as ${example}`);
  }
  if (spec.includes('\0')) fail(field, 'no-nul', `${field} contains a NUL character: remove it`);
  return spec;
}

/** `./x`, `../x`: a path relative to the daemon's working directory, resolved when the runtime is installed. */
export function isRelativeSpecPath(spec: string): boolean {
  return /^\.{1,2}\//.test(spec);
}

/** Where a pip spec installs from, as the pip driver needs to know it (pure: nothing is resolved or read here). */
export type PipSource =
  /** An absolute path, or a `./` / `../` path relative to the daemon's working directory, as written (extras kept). */
  | { kind: 'path'; path: string }
  /** A bare `file://` URL. */
  | { kind: 'file-url'; url: string }
  /** A named requirement: `name==1.2` (no url) or `name @ <url>`. */
  | { kind: 'requirement'; name: string; url?: string };

/** How a checked pip spec installs (the spec must have passed `checkPipSpec`). */
export function pipSource(spec: string): PipSource {
  if (spec.startsWith('/') || isRelativeSpecPath(spec)) return { kind: 'path', path: spec };
  if (spec.startsWith('file:')) return { kind: 'file-url', url: spec };
  const head = PIP_HEAD.exec(spec);
  const name = head?.[1] ?? spec;
  const rest = (head?.[3] ?? '').trim();
  if (rest.startsWith('@')) {
    const url = /^@\s*(\S+)/.exec(rest)?.[1];
    if (url !== undefined) return { kind: 'requirement', name, url };
  }
  return { kind: 'requirement', name };
}

/** Why arpd refuses what JARVIS would pass on to pip: each reason is listed in docs/jarvis.md. */
const SAFETY = {
  unhashed: 'arpd installs a download only when its hash is pinned, because the file behind a URL can change or be replaced',
  movingRef: 'a branch or tag can be moved to other code, so only a full commit id is a pin',
  wildcard: 'a wildcard matches every future release, so a new release would be installed without the profile changing',
  oneArg: 'arpd passes the spec to pip as one argument and never splits it into several requirements or options',
} as const;

/**
 * A pinned pip requirement, or E_VALIDATION saying why not. Accepted, as JARVIS accepts them: `name==1.2.3` (extras,
 * several clauses and an environment marker allowed, as long as one clause is an exact `==` or `===`), an absolute
 * path, a `./` or `../` path (relative to the daemon's working directory, resolved at install time), a `file://` URL,
 * and `name @ <url>`. A URL after '@' must be pinned: `file://`, http(s) with `#sha256=` (or sha384/sha512), or
 * `git+…@<full commit id>`. What JARVIS also passes on to pip but arpd refuses is refused with the safety reason.
 */
export function checkPipSpec(value: unknown, field = `${EXEC_FIELD}.pip_spec`): string {
  const example = "'name==1.2.3', a path to a wheel or project ('/abs/x.whl', './x'), or 'name @ file:///abs/path'";
  const spec = specString(value, field, example);
  if (/[\r\n]/.test(spec)) fail(field, 'one-spec', `${field} contains a line break: give one spec on one line (${example})`);

  if (spec.startsWith('/') || isRelativeSpecPath(spec)) return spec;
  if (spec === '.' || spec === '..') {
    fail(field, 'pinned', `${field} ${shown(spec)} is not a spec JARVIS or arpd install: write './' plus the path, e.g. './dist/x-1.0-py3-none-any.whl', or an absolute path`);
  }
  if (spec.startsWith('~')) {
    fail(field, 'pinned', `${field} ${shown(spec)}: '~' is not expanded (JARVIS refuses it too): write the absolute path`);
  }
  if (spec.startsWith('file:')) {
    checkFileUrl(spec, spec, field);
    return spec;
  }

  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(spec)) {
    fail(field, 'pinned', `${field} ${shown(spec)} is a URL without a name: write 'name @ <url>' (an http(s) URL also needs '#sha256=<hash>')`);
  }
  const head = PIP_HEAD.exec(spec);
  if (head === null) return fail(field, 'pinned', `${field} ${shown(spec)} is not a pinned pip spec: use ${example}`);
  const name = head[1] ?? 'name';
  const rest = (head[3] ?? '').trim();

  if (rest.startsWith('@')) {
    const m = /^@\s*(\S*)(.*)$/s.exec(rest);
    const url = m?.[1] ?? '';
    const after = (m?.[2] ?? '').trim();
    if (url === '') fail(field, 'pinned', `${field} ${shown(spec)} has nothing after '@': write '${name} @ file:///abs/path' or '${name}==1.2.3'`);
    if (after !== '' && !after.startsWith(';')) {
      fail(field, 'one-spec', `${field} ${shown(spec)} has more after the URL: ${SAFETY.oneArg}; give one requirement (write a space in a URL as %20)`);
    }
    checkRequirementUrl(url, spec, field, name);
    return spec;
  }

  const semi = rest.indexOf(';');
  let clauses = (semi === -1 ? rest : rest.slice(0, semi)).trim();
  if (semi !== -1 && rest.slice(semi + 1).trim() === '') fail(field, 'marker', `${field} ${shown(spec)} has an empty environment marker after ';': remove the ';' or write a marker`);
  if (clauses === '') {
    fail(field, 'pinned', `${field} ${shown(spec)} is not pinned: add an exact version, e.g. '${name}==1.2.3', or give a path to a wheel (unpinned, pip installs whatever the index offers that day)`);
  }
  if (clauses.startsWith('(') && clauses.endsWith(')')) clauses = clauses.slice(1, -1).trim();
  let exact = false;
  let wildcard = false;
  for (const clause of clauses.split(',').map((c) => c.trim())) {
    const c = PIP_CLAUSE.exec(clause);
    if (c === null) {
      if (/\s/.test(clause)) fail(field, 'one-spec', `${field} ${shown(spec)} is not one requirement: ${SAFETY.oneArg}; give exactly one spec such as ${example}`);
      return fail(field, 'pinned', `${field} ${shown(spec)}: '${clause}' is not a version clause: use '${name}==1.2.3'`);
    }
    if (c[1] === '===' || (c[3] === '==' && c[5] === undefined)) exact = true;
    if (c[3] === '==' && c[5] !== undefined) wildcard = true;
  }
  if (exact) return spec;
  if (wildcard) fail(field, 'pinned', `${field} ${shown(spec)} uses a wildcard version, which JARVIS accepts but arpd refuses: ${SAFETY.wildcard}; pin one exact version, e.g. '${name}==1.2.3'`);
  return fail(field, 'pinned', `${field} ${shown(spec)} is a version range, not a pin: add one exact version, e.g. '${name}==1.2.3' (or '${name}===1.2.3' for arbitrary equality); a range installs whatever release the index offers that day`);
}

function checkFileUrl(url: string, spec: string, field: string): void {
  if (!url.startsWith('file://')) {
    fail(field, 'pinned', `${field} ${shown(spec)}: pip cannot install a relative file: URL: write file:///abs/path or a './' path`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return fail(field, 'pinned', `${field} ${shown(spec)} is not a valid file URL: write file:///abs/path`);
  }
  if (parsed.hostname !== '' && parsed.hostname !== 'localhost') {
    fail(field, 'pinned', `${field} ${shown(spec)} names another host in a file URL, which pip cannot install here: use file:///abs/path`);
  }
  if (parsed.pathname === '' || parsed.pathname === '/') fail(field, 'pinned', `${field} ${shown(spec)} has no path: use file:///abs/path`);
}

function checkRequirementUrl(url: string, spec: string, field: string, name: string): void {
  if (url.startsWith('file:')) {
    checkFileUrl(url, spec, field);
    return;
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    fail(field, 'pinned', `${field} ${shown(spec)}: after '@' pip needs a URL (JARVIS would pass it on and pip would fail): for a version write '${name}==${url}', for a file '${name} @ file:///abs/path'`);
  }
  if (scheme === 'https' || scheme === 'http') {
    let hash: string;
    try {
      hash = new URL(url).hash.slice(1);
    } catch {
      return fail(field, 'pinned', `${field} ${shown(spec)}: '${url}' is not a valid URL`);
    }
    if (!HASH_FRAGMENT.test(hash)) {
      fail(field, 'pinned', `${field} ${shown(spec)} is a download without a hash, which JARVIS accepts but arpd refuses: ${SAFETY.unhashed}; add '#sha256=<64 hex digits>' (pip checks it), or download the file and give its path`);
    }
    return;
  }
  if (scheme.startsWith('git+')) {
    if (!GIT_COMMIT.test(url.split('#')[0] ?? '')) {
      const base = (url.split('#')[0] ?? url).replace(/@[^/@]*$/, '');
      fail(field, 'pinned', `${field} ${shown(spec)} does not name a commit, which JARVIS accepts but arpd refuses: ${SAFETY.movingRef}; write '${name} @ ${base}@<40-hex commit id>'`);
    }
    return;
  }
  if (/^(?:hg|svn|bzr)\+/.test(scheme)) {
    fail(field, 'pinned', `${field} ${shown(spec)} uses ${scheme.split('+')[0]}, which JARVIS accepts but arpd refuses: arpd can check a pin only for git (a full commit id) and for downloads (a hash); use one of those, or a wheel path`);
  }
  fail(field, 'pinned', `${field} ${shown(spec)} uses ${scheme}://, which JARVIS accepts but arpd refuses: ${SAFETY.unhashed}; use file://, https with '#sha256=', git+https with a commit id, or '${name}==1.2.3'`);
}

/**
 * A pinned npm spec, or E_VALIDATION saying why not: `name@1.2.3` / `@scope/name@1.2.3` (exact semver), or a path to a
 * package directory or `.tgz`: absolute, or `./` / `../` relative to the daemon's working directory (as for pip).
 * Ranges, tags, git and URL specs are refused: npm cannot check their integrity from the command line.
 */
export function checkNpmSpec(value: unknown, field = `${EXEC_FIELD}.npm_spec`): string {
  const example = "'name@1.2.3', '@scope/name@1.2.3', or a path to a package directory or .tgz ('/abs/x.tgz', './x')";
  const spec = specString(value, field, example);
  if (/[\r\n]/.test(spec)) fail(field, 'one-spec', `${field} contains a line break: give one spec on one line (${example})`);
  if (spec.startsWith('/') || isRelativeSpecPath(spec)) return spec;
  if (/\s/.test(spec)) {
    fail(field, 'one-spec', `${field} ${shown(spec)} contains whitespace: give exactly one pinned spec (${example})`);
  }
  if (spec === '.' || spec === '..' || spec.startsWith('~')) {
    fail(field, 'absolute-path', `${field} ${shown(spec)}: write a './' path or an absolute path ('~' is not expanded)`);
  }
  if (NPM_PINNED.test(spec)) return spec;

  if (spec.startsWith('file:')) {
    fail(field, 'pinned', `${field} ${shown(spec)}: write the path itself, without 'file:' (an absolute path or a './' path)`);
  }
  if (/^(?:[a-z][a-z0-9+.-]*:|git@)/i.test(spec) && !spec.startsWith('@')) {
    fail(field, 'pinned', `${field} ${shown(spec)} is a git, URL or alias spec, which npm cannot pin by integrity here: use 'name@1.2.3', or download the .tgz and give its path`);
  }
  if (NPM_NAME_ONLY.test(spec)) {
    fail(field, 'pinned', `${field} ${shown(spec)} is not pinned: add an exact version, e.g. '${spec}@1.2.3'`);
  }
  const at = NPM_NAME_AT.exec(spec);
  if (at !== null) {
    fail(field, 'pinned', `${field} ${shown(spec)}: '${at[2] ?? ''}' is a range or a tag, not an exact version: use '${at[1] ?? 'name'}@1.2.3'`);
  }
  return fail(field, 'pinned', `${field} ${shown(spec)} is not a pinned npm spec: use ${example}`);
}

/** The entrypoint's arguments, as JARVIS reads them: omitted, `null` and `[]` all mean `["serve"]`. */
function entrypointArgsOf(raw: unknown): string[] {
  if (raw === undefined || raw === null) return [...DEFAULT_ENTRYPOINT_ARGS];
  const args = checkArgs(raw, `${EXEC_FIELD}.entrypoint_args`, false);
  return args.length === 0 ? [...DEFAULT_ENTRYPOINT_ARGS] : args;
}

/**
 * Parses and normalises `extensions["arp.jarvis.exec"]` of profile `profileName`. JARVIS profiles are accepted as they
 * are: `driver` defaults to "pip", spec and entrypoint are trimmed, and `entrypoint_args` (pip and npm) omitted, null or
 * empty is ["serve"].
 */
export function parseExecConfig(extensions: unknown, profileName: string): ExecConfig {
  let exec: unknown;
  if (isPlainObject(extensions)) exec = extensions[EXEC_EXTENSION_KEY];
  else if (extensions !== undefined && extensions !== null) {
    fail('extensions', 'object', `the extensions of profile ${profileName} must be a JSON object (got ${shown(extensions)})`);
  }
  if (exec === undefined) {
    fail(EXEC_FIELD, 'required', `profile ${profileName} has no ${EXEC_FIELD}: add a driver (command, pip or npm)`);
  }
  if (!isPlainObject(exec)) {
    fail(EXEC_FIELD, 'object', `${EXEC_FIELD} of profile ${profileName} must be an object with a driver (command, pip or npm), got ${shown(exec)}`);
  }

  const rawDriver = exec['driver'] ?? 'pip';
  const driver = typeof rawDriver === 'string' ? rawDriver.trim() : rawDriver;
  if (driver !== 'command' && driver !== 'pip' && driver !== 'npm') {
    fail(`${EXEC_FIELD}.driver`, 'command|pip|npm', `${EXEC_FIELD}.driver ${shown(rawDriver)} of profile ${profileName} is not a driver: use "command", "pip" or "npm"`);
  }
  if (exec['driver'] === undefined && exec['pip_spec'] === undefined && (exec['command_template'] !== undefined || exec['argv'] !== undefined)) {
    fail(`${EXEC_FIELD}.driver`, 'required', `${EXEC_FIELD}.driver of profile ${profileName} is missing but a command is given (without a driver, "pip" is meant): add "driver": "command"`);
  }
  refuseUnknownKeys(exec, KNOWN_KEYS[driver], EXEC_FIELD, `the ${driver} driver`);

  const env = checkEnv(exec['env'], `${EXEC_FIELD}.env`);
  const cwd = checkCwd(exec['cwd'], `${EXEC_FIELD}.cwd`);
  const withCwd = <T extends object>(config: T): T & { cwd?: string } => (cwd === undefined ? config : { ...config, cwd });

  switch (driver) {
    case 'command': {
      const hasTemplate = exec['command_template'] !== undefined;
      const hasArgv = exec['argv'] !== undefined;
      if (hasTemplate && hasArgv) {
        fail(`${EXEC_FIELD}.argv`, 'one-of', `${EXEC_FIELD}.argv is given as well as command_template: keep one (argv is an alias of command_template)`);
      }
      if (!hasTemplate && !hasArgv) {
        fail(`${EXEC_FIELD}.command_template`, 'required', `${EXEC_FIELD}.command_template is missing: give the argv to run, e.g. ["my-runtime", "serve", "--port", "{port}"]`);
      }
      const field = hasTemplate ? `${EXEC_FIELD}.command_template` : `${EXEC_FIELD}.argv`;
      const argv = checkArgv(hasTemplate ? exec['command_template'] : exec['argv'], field);
      return withCwd({ driver, argv, env });
    }
    case 'pip': {
      const pipSpec = checkPipSpec(exec['pip_spec'], `${EXEC_FIELD}.pip_spec`);
      const entrypoint = checkEntrypoint(exec['entrypoint'], `${EXEC_FIELD}.entrypoint`, 'console script');
      const entrypointArgs = entrypointArgsOf(exec['entrypoint_args']);
      return withCwd({ driver, pipSpec, entrypoint, entrypointArgs, env });
    }
    case 'npm': {
      const npmSpec = checkNpmSpec(exec['npm_spec'], `${EXEC_FIELD}.npm_spec`);
      const entrypoint = checkEntrypoint(exec['entrypoint'], `${EXEC_FIELD}.entrypoint`, 'bin');
      const entrypointArgs = entrypointArgsOf(exec['entrypoint_args']);
      return withCwd({ driver, npmSpec, entrypoint, entrypointArgs, env });
    }
    default: {
      const never: never = driver;
      return never;
    }
  }
}

interface IntRule {
  key: string;
  min: number;
  max: number;
  fallback: number;
}

const INT_RULES = {
  maxConcurrentRuns: { key: 'max_concurrent_runs', min: 1, max: 1000, fallback: 1 },
  restartMax: { key: 'restart_max', min: 0, max: 100, fallback: 5 },
  restartBackoffMs: { key: 'restart_backoff_ms', min: 0, max: 600_000, fallback: 1000 },
  healthTimeoutMs: { key: 'health_timeout_ms', min: 100, max: 600_000, fallback: 30_000 },
  healthIntervalMs: { key: 'health_interval_ms', min: 100, max: 3_600_000, fallback: 5000 },
  stopGraceMs: { key: 'stop_grace_ms', min: 0, max: 600_000, fallback: 5000 },
  maxInstances: { key: 'max_instances', min: 1, max: 100, fallback: 1 },
  runTimeoutMs: { key: 'run_timeout_ms', min: 0, max: 7 * 86_400_000, fallback: 0 },
} as const satisfies Record<string, IntRule>;

export const ARPD_RUNTIME_DEFAULTS: Readonly<ArpdRuntimeOptions> = Object.freeze({
  maxConcurrentRuns: INT_RULES.maxConcurrentRuns.fallback,
  restart: 'never',
  restartMax: INT_RULES.restartMax.fallback,
  restartBackoffMs: INT_RULES.restartBackoffMs.fallback,
  healthTimeoutMs: INT_RULES.healthTimeoutMs.fallback,
  healthIntervalMs: INT_RULES.healthIntervalMs.fallback,
  stopGraceMs: INT_RULES.stopGraceMs.fallback,
  maxInstances: INT_RULES.maxInstances.fallback,
  runTimeoutMs: INT_RULES.runTimeoutMs.fallback,
});

function intOption(obj: Record<string, unknown>, rule: IntRule): number {
  const value = obj[rule.key];
  if (value === undefined) return rule.fallback;
  const field = `${RUNTIME_FIELD}.${rule.key}`;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < rule.min || value > rule.max) {
    fail(field, `int ${rule.min}..${rule.max}`, `${field} must be a whole number from ${rule.min} to ${rule.max} (got ${shown(value)})`);
  }
  return value;
}

/** arpd's own per-profile options in `extensions["arpd.runtime"]`, all optional, returned fully defaulted. */
export function parseArpdRuntimeOptions(extensions: unknown): ArpdRuntimeOptions {
  if (extensions === undefined || extensions === null) return { ...ARPD_RUNTIME_DEFAULTS };
  if (!isPlainObject(extensions)) fail('extensions', 'object', `extensions must be a JSON object (got ${shown(extensions)})`);
  const raw = extensions[ARPD_RUNTIME_EXTENSION_KEY];
  if (raw === undefined) return { ...ARPD_RUNTIME_DEFAULTS };
  if (!isPlainObject(raw)) fail(RUNTIME_FIELD, 'object', `${RUNTIME_FIELD} must be an object of options (got ${shown(raw)})`);
  refuseUnknownKeys(raw, [...Object.values(INT_RULES).map((r) => r.key), 'restart'], RUNTIME_FIELD, RUNTIME_FIELD);

  const restart = raw['restart'] === undefined ? 'never' : raw['restart'];
  if (restart !== 'never' && restart !== 'on-failure') {
    fail(`${RUNTIME_FIELD}.restart`, 'never|on-failure', `${RUNTIME_FIELD}.restart must be "never" or "on-failure" (got ${shown(restart)})`);
  }
  return {
    maxConcurrentRuns: intOption(raw, INT_RULES.maxConcurrentRuns),
    restart,
    restartMax: intOption(raw, INT_RULES.restartMax),
    restartBackoffMs: intOption(raw, INT_RULES.restartBackoffMs),
    healthTimeoutMs: intOption(raw, INT_RULES.healthTimeoutMs),
    healthIntervalMs: intOption(raw, INT_RULES.healthIntervalMs),
    stopGraceMs: intOption(raw, INT_RULES.stopGraceMs),
    maxInstances: intOption(raw, INT_RULES.maxInstances),
    runTimeoutMs: intOption(raw, INT_RULES.runTimeoutMs),
  };
}
