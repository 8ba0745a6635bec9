#!/usr/bin/env node
/**
 * arpd's command line: cac and nothing else. Parse, call the handler (imported lazily, so `--help` and
 * small commands start fast), print, set the exit code. Groups (`arpd daemon …`, `arpd runs …`) are a cac
 * program each, so every subcommand has its own `--help`. Before a handler runs, src/cli/argv-check.ts
 * checks every option against the ones the command declares (under the names `--help` shows) and refuses
 * options that cannot both apply; every failure is one `arpd: error: <message> [CODE]` line on stderr.
 */
import { cac, type CAC, type Command } from 'cac';
import { checkConflicts, didYouMean, flagSpec, numberOption, scanArgv, takesAsValue, type Conflict, type FlagSpec } from '../src/cli/argv-check.js';
// every command needs these two (small, no packages): imported with the entry point, not one after the other
import { GLOBAL_OPTIONS, resolveGlobals, type ResolvedGlobals } from '../src/cli/global-options.js';

type Opts = Record<string, unknown>;
type Cmd = ReturnType<CAC['command']>;

/** Options every command takes. */
function globals(cli: CAC): CAC {
  for (const o of GLOBAL_OPTIONS) cli.option(o.flag, o.description);
  cli.help(describeCommand);
  return cli;
}

/** The command whose `--help` is printed (set by parseAndRun): cac shows its usage and options, not what it does. */
let helpOf: Command | undefined;

/** Puts the command's description under its usage line (a group's or the top's help lists its commands already). */
function describeCommand(sections: Array<{ title?: string; body: string }>): Array<{ title?: string; body: string }> {
  const c = helpOf;
  if (c === undefined || c.isGlobalCommand || c.isDefaultCommand || c.description === '') return sections;
  return [...sections.slice(0, 2), { body: `  ${c.description}` }, ...sections.slice(2)];
}

/** Pairs that cannot both apply, on every command. */
const GLOBAL_CONFLICTS: Conflict[] = [
  ['--daemon-url', '--socket', '--daemon-url talks HTTP to a daemon, --socket names a local one: give one'],
  ['--token', '--socket', '--token is for a daemon reached over HTTP (--daemon-url), not the local socket'],
];
const NO_HTTP_CONFLICTS: Conflict[] = ['--http-host', '--http-port', '--host', '--port', '--http-auth', '--jwt-issuer', '--jwt-audience', '--jwt-jwks-file', '--jwt-secret-file']
  .map((f) => ['--no-http', f, `${f} configures the HTTP API that --no-http turns off`] as const);
const SUBMIT_CONFLICTS: Conflict[] = [['--goal', '--request-json', 'the run is either the file or the goal: put the goal in the file, or leave the file out']];

/** Set by main() before cac runs the action: the option values as typed, and the command's conflicts. */
let typed: Readonly<Record<string, string | string[]>> = {};
/** Set with `typed`: the spelling each option given was typed with, so a refusal names it as typed (`-n` or `--lines`). */
let spelled: ReadonlyMap<string, string> = new Map();
const asTyped = (display: string): string => spelled.get(display) ?? display;

async function run(handler: (o: Opts) => Promise<number>, o: Opts): Promise<never> {
  let code: number;
  const merged: Opts = { ...o, ...typed };
  try {
    code = await handler(merged);
  } catch (err) {
    const { reportError } = await import('../src/cli/output.js');
    code = reportError(err, merged['json'] === true);
  }
  await (await import('../src/cli/output.js')).flushStdout();
  process.exit(code);
}

async function g(o: Opts): Promise<ResolvedGlobals> {
  return resolveGlobals(o as never);
}

async function daemonFlags(cmd: Cmd): Promise<Cmd> {
  const { DAEMON_FLAGS } = await import('../src/cli/serve-options.js');
  for (const f of DAEMON_FLAGS) cmd.option(f.flag, f.description);
  return cmd;
}

const serveArgs = async (o: Opts): Promise<string[]> => (await import('../src/cli/serve-options.js')).serveArgsOf(o);
const list = (v: unknown): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String));
const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(Array.isArray(v) ? v[v.length - 1] : v));
const num = (v: unknown, flag: string): number | undefined => numberOption(str(v), flag);
const profiles = () => import('../src/cli/profile-commands.js');
const instances = () => import('../src/cli/instance-commands.js');
const runs = () => import('../src/cli/run-commands.js');
const daemon = () => import('../src/cli/daemon-commands.js');

function submitFlags(o: Opts, wait: boolean) {
  return {
    requestJson: str(o['requestJson']), goal: str(o['goal']), profile: str(o['profile']), instance: str(o['instance']),
    runId: str(o['runId']), timeoutMs: num(o['timeoutMs'], '--timeout-ms'), wait: wait || o['wait'] === true, follow: o['follow'] === true,
  };
}

function startFlags(o: Opts, wait: boolean) {
  return {
    profile: str(o['profile'] ?? o['runtimeProfile']), count: num(o['count'], '--count'), env: list(o['env']), args: list(o['arg']),
    toolRegistryUrl: str(o['toolRegistryUrl']), wait: wait || o['wait'] === true,
  };
}

function registerFlags(o: Opts) {
  return { endpoint: str(o['endpoint'] ?? o['runtimeApiEndpoint']), profile: str(o['profile'] ?? o['runtimeProfile']), name: str(o['name'] ?? o['runtimeName']) };
}

// ---- groups -------------------------------------------------------------------------------------

interface Group {
  description: string;
  /**
   * Declares the group's commands. `sub` is the subcommand the command line names (if known): a group
   * may leave out what the others need (the daemon group imports the daemon's flags for start/restart only).
   */
  build(cli: CAC, spelling: { jarvis: boolean }, sub: string | undefined): void | Promise<void>;
  /** Conflicting options by subcommand name. */
  conflicts?: Record<string, Conflict[]>;
}

const groups: Record<string, Group> = {
  daemon: {
    description: 'Start, stop and inspect the daemon',
    conflicts: { start: NO_HTTP_CONFLICTS, restart: NO_HTTP_CONFLICTS },
    async build(cli, _s, sub) {
      const withFlags = sub === undefined || sub === 'start' || sub === 'restart';
      const flagged = async (cmd: Cmd): Promise<Cmd> => (withFlags ? daemonFlags(cmd) : cmd);
      (await flagged(cli.command('start', 'Start the daemon in the background; returns once it is ready')))
        .action((o: Opts) => run(async (o) => (await daemon()).daemonStartCommand(await g(o), await serveArgs(o)), o));
      cli.command('stop', 'Stop the daemon (asks, then SIGTERM, then SIGKILL)')
        .option('--keep-instances', 'Leave managed runtime instances running for the next start to adopt')
        .action((o: Opts) => run(async (o) => (await daemon()).daemonStopCommand(await g(o), o['keepInstances'] === true), o));
      cli.command('status', 'Show the daemon state (exit 0 running, 3 not running)')
        .action((o: Opts) => run(async (o) => (await import('../src/cli/daemon-status.js')).daemonStatusCommand(await g(o)), o));
      (await flagged(cli.command('restart', 'Stop and start the daemon with the flags it was started with, or with the flags given (--keep-instances leaves runtimes running across it)')))
        .action((o: Opts) => run(async (o) => (await daemon()).daemonRestartCommand(await g(o), o['keepInstances'] === true, await serveArgs(o)), o));
      cli.command('logs', 'Print the daemon log')
        .option('-f, --follow', 'Keep printing as the log grows')
        .option('-n, --lines <n>', 'How many lines from the end (default 50)')
        .action((o: Opts) => run(async (o) => (await daemon()).daemonLogsCommand(await g(o), o['follow'] === true, num(o['lines'], asTyped('--lines')) ?? 50, asTyped('--lines')), o));
      cli.command('purge', 'Delete all state of the data dir (lists it; --force does it)')
        .option('--force', 'Really stop the daemon and delete everything')
        .action((o: Opts) => run(async (o) => (await daemon()).daemonPurgeCommand(await g(o), o['force'] === true), o));
      cli.command('exec [method] [params]', 'Send one raw request (a socket method name and its JSON params) and print the result')
        .action((method: string | undefined, params: string | undefined, o: Opts) => run(async (o) => (await daemon()).daemonExecCommand(await g(o), method ?? 'daemon.status', params), o));
    },
  },
  profiles: {
    description: 'The safe list of runtime profiles (also: arpd runtime-profiles, printing JSON as JARVIS does)',
    build(cli, s) {
      cli.command('list', 'List the runtime profiles').alias('ls')
        .action((o: Opts) => run(async (o) => (await profiles()).profilesList(await g(o), s), o));
      cli.command('get <name>', 'Show one profile as JSON')
        .action((name: string, o: Opts) => run(async (o) => (await profiles()).profilesGet(await g(o), name, s), o));
      cli.command('upsert <name> [...command]', 'Add or replace a profile (from --request-json, or flags and a command after --)')
        .option('--request-json <file>', 'A RuntimeProfileUpsertRequest JSON file (- for stdin); JARVIS profile files work as they are')
        .option('--runtime-name <name>', 'The runtime_name')
        .option('--description <text>', 'A description')
        .action((name: string, command: string[], o: Opts) => run(async (o) => {
          const cmd = command.length > 0 ? command : list(o['--']);
          return (await profiles()).profilesUpsert(await g(o), name, {
            ...(o['requestJson'] === undefined ? {} : { requestJson: String(str(o['requestJson'])) }),
            ...(o['runtimeName'] === undefined ? {} : { runtimeName: String(str(o['runtimeName'])) }),
            ...(o['description'] === undefined ? {} : { description: String(str(o['description'])) }),
            ...(cmd.length > 0 ? { command: cmd } : {}),
          }, s);
        }, o));
      cli.command('delete <name>', 'Remove a profile from the safe list').alias('rm')
        .option('--force', 'Delete even if live instances use it (they keep running)')
        .action((name: string, o: Opts) => run(async (o) => (await profiles()).profilesDelete(await g(o), name, o['force'] === true, s), o));
    },
  },
  instances: {
    description: 'Managed and external runtime instances',
    conflicts: {
      start: [['--profile', '--runtime-profile', 'they are the same option: give one']],
      register: [
        ['--endpoint', '--runtime-api-endpoint', 'they are the same option: give one'],
        ['--profile', '--runtime-profile', 'they are the same option: give one'],
        ['--name', '--runtime-name', 'they are the same option: give one'],
      ],
      logs: [['--stdout', '--stderr', 'each means "only that one": leave both out for both']],
    },
    build(cli, s) {
      cli.command('list', 'List instances (stopped ones with --all)').alias('ls')
        .option('--all', 'Include stopped instances')
        .action((o: Opts) => run(async (o) => (await instances()).instancesList(await g(o), o['all'] === true, s), o));
      cli.command('get <id>', 'Show one instance as JSON')
        .action((id: string, o: Opts) => run(async (o) => (await instances()).instancesGet(await g(o), id), o));
      cli.command('start', 'Start managed instances from a profile')
        .option('--profile <name>', 'The runtime profile')
        .option('--runtime-profile <name>', 'Same as --profile (JARVIS spelling)')
        .option('--count <n>', 'How many (default 1)')
        .option('--env <KEY=VALUE>', 'An environment override (repeatable)')
        .option('--arg <arg>', 'An extra argument for the runtime (repeatable)')
        .option('--tool-registry-url <url>', 'Sets ARP_TOOL_REGISTRY_URL for the runtime')
        .option('--wait', 'Return once every instance is ready (or failed)')
        .action((o: Opts) => run(async (o) => (await instances()).instancesStart(await g(o), startFlags(o, false), s), o));
      cli.command('register', 'Register an external runtime by its endpoint')
        .option('--endpoint <url>', 'The runtime endpoint')
        .option('--runtime-api-endpoint <url>', 'Same as --endpoint (JARVIS spelling)')
        .option('--profile <name>', 'Label it with a profile name')
        .option('--runtime-profile <name>', 'Same as --profile (JARVIS spelling)')
        .option('--name <runtime_name>', 'Its runtime_name')
        .option('--runtime-name <runtime_name>', 'Same as --name (JARVIS spelling)')
        .action((o: Opts) => run(async (o) => (await instances()).instancesRegister(await g(o), registerFlags(o), s), o));
      cli.command('delete <id>', 'Stop a managed instance (SIGTERM, grace, SIGKILL) or deregister an external one').alias('rm')
        .action((id: string, o: Opts) => run(async (o) => (await instances()).instancesDelete(await g(o), id, s), o));
      cli.command('logs <id>', "Print an instance's stdout/stderr logs")
        .option('-f, --follow', 'Keep printing as they grow')
        .option('--stderr', 'Only stderr')
        .option('--stdout', 'Only stdout')
        .action((id: string, o: Opts) => run(async (o) => (await import('../src/cli/instance-logs.js')).instanceLogs(await g(o), id, { follow: o['follow'] === true, stdout: o['stderr'] !== true, stderr: o['stdout'] !== true }), o));
    },
  },
  runs: {
    description: 'Submit, follow and inspect runs (bare `arpd runs` lists them as JSON, as JARVIS does)',
    conflicts: { submit: SUBMIT_CONFLICTS, list: [['--limit', '--page-size', 'they are the same option: give one']] },
    build(cli) {
      const arpd = { jarvis: false };
      cli.command('', 'List runs as the HTTP API returns them (JARVIS: arp-jarvis daemon runs)')
        .option('--page-size <n>', 'Page size (1-1000)')
        .option('--page-token <token>', 'The next page, as the previous one gave it (pagination.next_page_token)')
        .option('--state <state>', 'Only runs in this state')
        .action((o: Opts) => run(async (o) => (await runs()).runsList(await g(o), { state: str(o['state']), pageSize: num(o['pageSize'], '--page-size'), pageToken: str(o['pageToken']) }, { jarvis: true }), o));
      cli.command('submit', 'Submit a run (returns its id; --wait or --follow to see it end)')
        .option('--request-json <file>', 'A RunRequest JSON file (- for stdin)')
        .option('--goal <text>', 'The goal (a RunRequest with only input.goal)')
        .option('--profile <name>', 'Route to an instance of this profile')
        .option('--instance <id>', 'Route to this instance')
        .option('--run-id <id>', 'Choose the run id (resending the same request is safe)')
        .option('--timeout-ms <ms>', 'limits.timeout_ms')
        .option('--wait', 'Wait for the end and print the result')
        .option('--follow', 'Stream the trace live, then print the result')
        .action((o: Opts) => run(async (o) => (await runs()).runsSubmit(await g(o), submitFlags(o, false), arpd), o));
      cli.command('list', 'List runs in submission order, filtered by the daemon').alias('ls')
        .option('--state <state>', 'Only runs in this state')
        .option('--page-size <n>', 'Page size (1-1000, default 100)')
        .option('--limit <n>', 'Same as --page-size')
        .option('--page-token <token>', 'The next page, as printed by the previous one (give the same filters)')
        .option('--profile <name>', 'Only runs of this runtime profile')
        .option('--instance <id>', 'Only runs routed to this instance')
        .option('--prefix <text>', 'Only runs whose id starts with this')
        .option('--order <asc|desc>', 'asc: oldest first (default); desc: newest first')
        .action((o: Opts) => run(async (o) => (await runs()).runsList(await g(o), {
          state: str(o['state']), pageSize: num(o['pageSize'] ?? o['limit'], o['pageSize'] === undefined ? '--limit' : '--page-size'), pageToken: str(o['pageToken']),
          profile: str(o['profile']), instance: str(o['instance']), prefix: str(o['prefix']), order: str(o['order']),
        }, arpd), o));
      cli.command('status <id>', 'Show the status of a run')
        .action((id: string, o: Opts) => run(async (o) => (await runs()).runsStatus(await g(o), id, arpd), o));
      cli.command('result <id>', 'Print the result of an ended run (exit 1 unless it succeeded)')
        .action((id: string, o: Opts) => run(async (o) => (await runs()).runsResult(await g(o), id, arpd), o));
      cli.command('trace <id>', 'Print the trace of a run')
        .option('--follow', 'Keep printing until the run ends')
        .action((id: string, o: Opts) => run(async (o) => (await runs()).runsTrace(await g(o), id, o['follow'] === true, arpd), o));
      cli.command('wait <id>', 'Wait for a run to end and print its result as runs submit --wait does (exit 1 unless it succeeded)')
        .action((id: string, o: Opts) => run(async (o) => (await runs()).runsWait(await g(o), id), o));
      cli.command('cancel <id>', 'Cancel a run')
        .action((id: string, o: Opts) => run(async (o) => (await runs()).runsCancel(await g(o), id), o));
      cli.command('prune', 'Delete the run directories of runs that ended before a date (recorded as events; they are then no longer answered)')
        .option('--before <date>', 'ISO-8601 date or time (e.g. 2026-01-31)')
        .option('--dry-run', 'Only count them')
        .action((o: Opts) => run(async (o) => (await import('../src/cli/log-commands.js')).runsPrune(await g(o), str(o['before']), o['dryRun'] === true), o));
    },
  },
  runtime: {
    description: 'The bundled reference ARP runtime',
    build(cli) {
      const flags: Array<[string, string, string]> = [
        ['host', '<host>', 'Address to listen on (default 127.0.0.1)'],
        ['port', '<port>', 'Port, 0 for a free one (default 0)'],
        ['name', '<name>', 'service_name reported by GET /v1/version'],
        ['instance-id', '<id>', 'runtime_instance_id reported on every run status'],
        ['trace-dir', '<dir>', 'Write <dir>/<run_id>/<file> traces (default: $ARP_TRACE_DIR, else none)'],
        ['trace-file-name', '<file>', 'Trace file name'],
        ['step-delay-ms', '<ms>', 'Pause before each run event (default 5)'],
      ];
      const cmd = cli.command('serve', 'Serve the reference runtime (prints one JSON line with its URL when listening)');
      for (const [name, value, description] of flags) cmd.option(`--${name} ${value}`, description);
      cmd.action((o: Opts) => run(async (o) => {
        const { runtimeServeMain } = await import('../src/runtime/serve.js');
        const key = (name: string): string => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
        await runtimeServeMain(flags.flatMap(([name]) => (str(o[key(name)]) === undefined ? [] : [`--${name}`, String(str(o[key(name)]))])));
        return new Promise<number>(() => undefined);
      }, o));
    },
  },
  log: {
    description: 'Check and replay the event log (verify and replay are read-only and need no daemon), snapshot and compact it',
    build(cli) {
      cli.command('verify', 'Check every line (checksum, seq continuity, run logs); exit 1 on damage')
        .action((o: Opts) => run(async (o) => (await import('../src/cli/log-commands.js')).logVerify(await g(o)), o));
      cli.command('replay', 'Rebuild the state from the log (up to a point) and print it')
        .option('--until <seqOrTime>', 'Stop at this seq, or at this ISO-8601 time')
        .action((o: Opts) => run(async (o) => (await import('../src/cli/log-commands.js')).logReplay(await g(o), str(o['until'])), o));
      cli.command('snapshot', 'Checkpoint the state now (the daemon does it every 50,000 events, every 10 minutes and at stop)')
        .action((o: Opts) => run(async (o) => (await import('../src/cli/log-commands.js')).logSnapshot(await g(o)), o));
      cli.command('compact', 'Compress sealed log segments a snapshot holds; with a budget, remove the oldest ones the oldest snapshot holds')
        .option('--budget-bytes <n>', 'Keep the log under this size (default: the daemon\'s --log-budget-bytes, else compress only)')
        .action((o: Opts) => run(async (o) => (await import('../src/cli/log-commands.js')).logCompact(await g(o), num(o['budgetBytes'], '--budget-bytes')), o));
    },
  },
};

/** Other words for the groups; `runtime-profiles` (JARVIS) also prints as JARVIS does. */
const ALIASES: Record<string, { group: string; jarvis: boolean }> = {
  'runtime-profiles': { group: 'profiles', jarvis: true },
  profile: { group: 'profiles', jarvis: false },
  instance: { group: 'instances', jarvis: false },
};

// ---- top-level commands --------------------------------------------------------------------------

const TOP_CONFLICTS: Record<string, Conflict[]> = {
  serve: NO_HTTP_CONFLICTS,
  run: SUBMIT_CONFLICTS,
  register: [['--runtime-api-endpoint', '--endpoint', 'they are the same option: give one']],
};

async function topLevel(cli: CAC): Promise<void> {
  const jarvis = { jarvis: true };
  (await daemonFlags(cli.command('serve', 'Run the daemon in the foreground (logs to stderr); `arpd --host H --port P` is the same with HTTP on H:P')))
    .option('--detached-child', '(internal) started by `arpd daemon start`')
    .action((o: Opts) => run(async (o) => {
      const [{ serveCommand }, { daemonOptionsOf }, gl] = await Promise.all([import('../src/cli/serve-command.js'), import('../src/cli/serve-options.js'), g(o)]);
      return serveCommand(daemonOptionsOf(o, { dataDir: gl.dataDir, socketPath: gl.paths.socket, foreground: o['detachedChild'] !== true }), o['detachedChild'] === true);
    }, o));
  cli.command('demo', 'Run the main job end to end: start the daemon and an instance, submit "What is (19*23)?", stream the trace, print the result')
    .action((o: Opts) => run(async (o) => (await runs()).runsSubmit(await g(o), { goal: 'What is (19*23)?', wait: true, follow: true }, { jarvis: false }), o));
  cli.command('events', 'Print event log lines (NDJSON with --json)')
    .option('--from <seq>', 'Start at this seq')
    .option('--type <type>', 'Only this event type (repeat for several; a prefix ending in "." matches a family)')
    .option('--stream <stream>', "Only this stream (e.g. run:abc), or a prefix ending in ':'")
    .option('-f, --follow', 'Keep printing as the daemon appends')
    .action((o: Opts) => run(async (o) => (await import('../src/cli/events-command.js')).eventsCommand(await g(o), {
      from: num(o['from'], '--from'), types: o['type'] === undefined ? undefined : list(o['type']), stream: str(o['stream']), follow: o['follow'] === true,
    }), o));
  cli.command('ui', "Open the daemon's web UI in a browser (prints its URL)")
    .action((o: Opts) => run(async (o) => (await import('../src/cli/ui-command.js')).uiCommand(await g(o)), o));
  cli.command('import-jarvis [dir]', "Import a JARVIS daemon's profiles and external instances (default dir ~/.arp/daemon)")
    .action((dir: string | undefined, o: Opts) => run(async (o) => (await import('../src/cli/import-jarvis.js')).importJarvis(await g(o), dir), o));
  // JARVIS's client commands (arp-jarvis daemon …): the same flags, the JSON the HTTP API returns
  cli.command('run', 'Submit a run and print its status as JSON (JARVIS); --wait or --follow to see it end')
    .option('--request-json <file>', 'A RunRequest JSON file (- for stdin)')
    .option('--goal <text>', 'The goal')
    .option('--profile <name>', 'Route to an instance of this profile')
    .option('--instance <id>', 'Route to this instance')
    .option('--wait', 'Wait for the end and print the result')
    .option('--follow', 'Stream the trace live, then print the result')
    .action((o: Opts) => run(async (o) => (await runs()).runsSubmit(await g(o), submitFlags(o, false), jarvis), o));
  cli.command('start', 'Start managed instances and print them as JSON once ready (JARVIS)')
    .option('--runtime-profile <name>', 'The runtime profile (default: default)')
    .option('--count <n>', 'How many (default 1)')
    .option('--tool-registry-url <url>', 'Sets ARP_TOOL_REGISTRY_URL for the runtime')
    .option('--env <KEY=VALUE>', 'An environment override (repeatable)')
    .option('--arg <arg>', 'An extra argument for the runtime (repeatable)')
    .action((o: Opts) => run(async (o) => (await instances()).instancesStart(await g(o), { ...startFlags(o, true), profile: str(o['runtimeProfile']) ?? 'default' }, jarvis), o));
  cli.command('list', 'List instances as JSON (JARVIS)')
    .action((o: Opts) => run(async (o) => (await instances()).instancesList(await g(o), false, jarvis), o));
  cli.command('register', 'Register an external runtime and print it as JSON (JARVIS)')
    .option('--runtime-api-endpoint <url>', 'The runtime endpoint')
    .option('--endpoint <url>', 'Same as --runtime-api-endpoint')
    .option('--runtime-profile <name>', 'Label it with a profile name')
    .option('--runtime-name <name>', 'Its runtime_name')
    .action((o: Opts) => run(async (o) => (await instances()).instancesRegister(await g(o), registerFlags(o), jarvis), o));
  cli.command('delete <instance_id>', 'Delete a managed instance or deregister an external one (JARVIS)')
    .action((id: string, o: Opts) => run(async (o) => (await instances()).instancesDelete(await g(o), id, jarvis), o));
  cli.command('status <run_id>', 'Print a run status as JSON (JARVIS)')
    .action((id: string, o: Opts) => run(async (o) => (await runs()).runsStatus(await g(o), id, jarvis), o));
  cli.command('result <run_id>', 'Print a run result as JSON (JARVIS)')
    .action((id: string, o: Opts) => run(async (o) => (await runs()).runsResult(await g(o), id, jarvis), o));
  cli.command('trace <run_id>', 'Print a run trace as JSON (JARVIS)')
    .action((id: string, o: Opts) => run(async (o) => (await runs()).runsTrace(await g(o), id, false, jarvis), o));
  for (const [name, grp] of Object.entries(groups)) {
    cli.command(`${name} <command>`, `${grp.description} (see 'arpd ${name} --help')`);
  }
}

// ---- argv ------------------------------------------------------------------------------------------

function specsOf(cmd: Command): FlagSpec[] {
  return cmd.options.map((o) => flagSpec(o.rawName, o.names));
}

/** Help must not print "(default: true)" for `--no-…` switches: cac's own default for them stays off. */
function noNegatedDefaults(cli: CAC): void {
  for (const c of [cli.globalCommand, ...cli.commands]) for (const o of c.options) if (o.negated) o.config.default = undefined;
}

/** The index of the first word that is not an option or an option's value, from `from`. */
function firstWord(argv: readonly string[], from: number, valueFlags: ReadonlySet<string>): number {
  for (let i = from; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return -1;
    if (!a.startsWith('-') || a === '-') return i;
    if (!a.includes('=') && valueFlags.has(a)) i++;
  }
  return -1;
}

function valueFlagsOf(cmds: readonly Command[]): Set<string> {
  const out = new Set<string>();
  for (const c of cmds) for (const f of specsOf(c)) if (f.takesValue) for (const s of f.spellings) out.add(s);
  return out;
}

async function fail(err: unknown): Promise<never> {
  const { flushStdout, reportError } = await import('../src/cli/output.js');
  const code = reportError(err, process.argv.includes('--json'));
  await flushStdout();
  process.exit(code);
}

async function usage(message: string, data: Record<string, unknown> = {}): Promise<never> {
  const { ArpdError } = await import('../src/errors/index.js');
  return fail(new ArpdError('E_VALIDATION', message, { usage: true, ...data }));
}

/** Whether the options (before any `--`) ask for help. */
function asksHelp(tokens: readonly string[]): boolean {
  const end = tokens.indexOf('--');
  return (end === -1 ? tokens : tokens.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/**
 * `--request-json -` as `--request-json=-`, `--token -Xy…` as `--token=-Xy…`: cac reads a lone `-` after an option as
 * no value ("value is missing") and a word that starts with `-` as more options, yet both are the option's value when
 * `takesAsValue` says so (the check above has taken them as the value already).
 */
function dashValues(argv: readonly string[], valueFlags: ReadonlySet<string>, known: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return [...out, ...argv.slice(i)];
    const next = argv[i + 1];
    if (valueFlags.has(a) && next !== undefined && next.startsWith('-') && takesAsValue(next, known)) {
      out.push(`${a}=${next}`);
      i++;
    } else {
      out.push(a);
    }
  }
  return out;
}

/** Checks the options of the command line against `cmd`, then lets cac parse it and run the action. */
async function parseAndRun(cli: CAC, argv: string[], cmd: Command, label: string, conflicts: readonly Conflict[]): Promise<void> {
  const tokens = argv.slice(2);
  if (asksHelp(tokens)) {
    helpOf = cmd;
    cli.parse(argv, { run: false });
    return;
  }
  try {
    const scanned = scanArgv(tokens, label, specsOf(cmd), specsOf(cli.globalCommand));
    checkConflicts(scanned.given, [...GLOBAL_CONFLICTS, ...conflicts], label);
    typed = scanned.values;
    spelled = scanned.spelled;
    const known = new Set([...specsOf(cli.globalCommand), ...specsOf(cmd)].flatMap((f) => f.spellings));
    cli.parse(dashValues(argv, valueFlagsOf([cli.globalCommand, cmd]), known), { run: false });
    await cli.runMatchedCommand();
  } catch (err) {
    if (err instanceof Error && err.name === 'CACError') {
      const m = /^missing required args for command `(.*)`$/.exec(err.message);
      if (m !== null) return usage(`'${label}' needs ${m[1]?.split(' ').slice(1).join(' ')}: see '${label} --help'`, { command: label });
      const unused = /^Unused args: (.*)$/.exec(err.message);
      if (unused !== null) {
        // `arpd runs lsit`: the group's default command got a mistyped command as an argument
        const first = /^`([^`]*)`/.exec(unused[1] ?? '')?.[1];
        const near = cmd.isDefaultCommand && first !== undefined ? didYouMean(first, cli.commands.filter((c) => !c.isDefaultCommand).map((c) => c.name)) : '';
        return usage(`'${label}' takes no more arguments, not ${unused[1]}${near}: see '${label} --help'`, { command: label });
      }
      return usage(`${err.message}: see '${label} --help'`, { command: label });
    }
    return fail(err);
  }
}

/** The spellings of the global options (`--data-dir`, `--no-autostart`, …). */
const GLOBAL_NAMES: ReadonlySet<string> = new Set(GLOBAL_OPTIONS.map((o) => o.flag.split(' ')[0] as string));

/** The daemon's own flags (`arpd serve`'s), by spelling: true when the flag takes a value. */
async function daemonFlagNames(): Promise<ReadonlyMap<string, boolean>> {
  const { DAEMON_FLAGS } = await import('../src/cli/serve-options.js');
  return new Map(DAEMON_FLAGS.map((f) => [f.flag.split(' ')[0] as string, f.kind !== 'bool']));
}

/**
 * JARVIS's server mode: `arp-jarvis daemon` with options and no command serves. `arpd --host H --port P …`, or any of
 * the daemon's own flags with no command (`arpd --log-level debug`, `--allow-unsafe-runtime-profiles`, `--pip-…`), is
 * `arpd serve --http-host H --http-port P …`. Global options alone (`arpd --data-dir D`) are no command.
 */
async function jarvisServe(argv: string[]): Promise<string[] | undefined> {
  const end = argv.indexOf('--');
  const before = end === -1 ? argv.slice(2) : argv.slice(2, end);
  // most command lines hold no long option but the global ones: they load nothing more to find that out
  if (!before.some((a) => a.startsWith('--') && !GLOBAL_NAMES.has(a.split('=')[0] as string))) return undefined;
  const daemonFlags = await daemonFlagNames();
  if (!before.some((a) => daemonFlags.has(a.split('=')[0] as string))) return undefined;
  const top = globals(cac('arpd'));
  await topLevel(top);
  const serve = top.commands.find((c) => c.name === 'serve');
  const values = valueFlagsOf([top.globalCommand, ...(serve === undefined ? [] : [serve])]);
  values.add('--host');
  values.add('--port');
  if (firstWord(argv, 2, values) !== -1) return undefined;
  const rest = argv.slice(2).map((a) => (a === '--host' ? '--http-host' : a === '--port' ? '--http-port' : a.startsWith('--host=') ? `--http-host=${a.slice(7)}` : a.startsWith('--port=') ? `--http-port=${a.slice(7)}` : a));
  return [argv[0] ?? 'node', argv[1] ?? 'arpd', 'serve', ...rest];
}

/** The top-level program (built only when the command is not in a group: groups are a program each). */
async function topProgram(): Promise<CAC> {
  const top = globals(cac('arpd'));
  await topLevel(top);
  top.usage('<command> [options]   (arpd --version prints the version; arpd help <command> is arpd <command> --help)');
  noNegatedDefaults(top);
  return top;
}

/** `arpd help [command…]` and `arpd <group> help [command]` are `… --help`, as in git, docker, npm and pm2. */
const asHelp = (argv: readonly string[], at: number): string[] => [...argv.slice(0, at), ...argv.slice(at + 1), '--help'];

async function main(argv: string[]): Promise<void> {
  argv = (await jarvisServe(argv)) ?? argv;
  const at = firstWord(argv, 2, valueFlagsOf([globals(cac('arpd')).globalCommand]));
  if (at !== -1 && argv[at] === 'help') return main(asHelp(argv, at));
  const word = at === -1 ? undefined : argv[at];
  const alias = word === undefined ? undefined : ALIASES[word];
  const groupName = alias?.group ?? word;
  const group = groupName === undefined ? undefined : groups[groupName];
  if (word !== undefined && group !== undefined) {
    const label = `arpd ${word}`;
    const rest = [...argv.slice(2, at), ...argv.slice(at + 1)];
    const program = async (hint: string | undefined): Promise<CAC> => {
      const p = globals(cac(label));
      await group.build(p, { jarvis: alias?.jarvis ?? false }, hint);
      noNegatedDefaults(p);
      return p;
    };
    // a first guess at the subcommand, knowing only the global options' values, lets the group skip the rest
    const guessAt = firstWord(rest, 0, valueFlagsOf([globals(cac(label)).globalCommand]));
    const guess = guessAt === -1 ? undefined : rest[guessAt];
    let cli = await program(guess);
    if (guess !== undefined && !cli.commands.some((c) => c.isMatched(guess))) cli = await program(undefined);
    const subAt = firstWord(rest, 0, valueFlagsOf([cli.globalCommand, ...cli.commands]));
    const sub = subAt === -1 ? undefined : rest[subAt];
    if (sub === 'help') return main([argv[0] ?? 'node', argv[1] ?? 'arpd', word, ...asHelp(rest, subAt)]);
    const byName = sub === undefined ? undefined : cli.commands.find((c) => c.isMatched(sub));
    // `arpd runs --page-sze 2`: a word right after an option the group does not know is that option's value, not a
    // command; the default command (if any) then refuses the option, naming the real flags
    const before = rest[subAt - 1] ?? '';
    // (a known switch, `--no-autostart`, takes no value: the word after it is the command)
    const knownSwitch = specsOf(cli.globalCommand).some((f) => !f.takesValue && f.spellings.includes(before));
    const afterOption = subAt > 0 && /^-/.test(before) && !before.includes('=') && !knownSwitch;
    const cmd = byName ?? (sub === undefined || afterOption ? cli.commands.find((c) => c.isDefaultCommand) : undefined);
    if (cmd === undefined) {
      const names = cli.commands.filter((c) => !c.isDefaultCommand).map((c) => c.name).join(', ');
      if (sub === undefined) {
        if (rest.length === 0 || asksHelp(rest)) {
          cli.outputHelp();
          process.exit(0);
        }
        return usage(`'${label}' needs a command: one of ${names} (see '${label} --help')`, { command: label });
      }
      if (afterOption) {
        // `arpd instances --bogus 2`: the group has no command of its own, and '2' is the unknown option's value
        return usage(`unknown option '${rest[subAt - 1] ?? ''}' for '${label}': put a command first, one of ${names} (see '${label} --help')`, { command: label });
      }
      const near = didYouMean(sub, cli.commands.filter((c) => !c.isDefaultCommand).map((c) => c.name));
      return usage(`unknown command '${sub}' for '${label}'${near}: it has ${names} (see '${label} --help')`, { command: label });
    }
    const subLabel = cmd.isDefaultCommand ? label : `${label} ${cmd.name}`;
    return parseAndRun(cli, [argv[0] ?? 'node', label, ...rest], cmd, subLabel, group.conflicts?.[cmd.name] ?? []);
  }
  const top = await topProgram();
  if (word === undefined) {
    const tokens = argv.slice(2);
    if (tokens.includes('-v') || tokens.includes('--version')) {
      const { VERSION } = await import('../src/version.js');
      process.stdout.write(tokens.includes('--json') ? `${JSON.stringify({ version: VERSION })}\n` : `arpd/${VERSION}\n`);
      process.exit(0);
    }
    if (tokens.length === 0 || asksHelp(tokens)) {
      top.outputHelp();
      process.exit(0);
    }
    try {
      scanArgv(tokens, 'arpd', [], specsOf(top.globalCommand));
    } catch (err) {
      return fail(err);
    }
    return usage("no command given: see 'arpd --help' for the commands; 'arpd serve' (or 'arpd --host H --port P') runs the daemon in the foreground, as 'arp-jarvis daemon' did");
  }
  const cmd = top.commands.find((c) => c.isMatched(word));
  if (cmd === undefined) {
    // `arpd --log-level debug daemon start`: the word was the value of a daemon flag put before the command
    const before = argv[at - 1] ?? '';
    if (before.startsWith('--') && !before.includes('=')) {
      if ((await daemonFlagNames()).get(before) === true) {
        const words = argv.slice(at + 1).filter((a) => !a.startsWith('-'));
        // a store URL may hold a password: not repeated in a message
        const value = before === '--store' ? '<url>' : word;
        const daemonCommand = words[0] === 'serve' ? 'serve' : words[0] === 'daemon' && (words[1] === 'start' || words[1] === 'restart') ? `daemon ${words[1]}` : undefined;
        return usage(daemonCommand !== undefined
          ? `'${before}' goes after the command: 'arpd ${daemonCommand} ${before} ${value}'`
          : `'${before}' is an option of 'arpd serve' and 'arpd daemon start|restart'${words.length > 0 ? `, not of 'arpd ${words.slice(0, 2).join(' ')}'` : ''}: e.g. 'arpd daemon start ${before} ${value}'`, { option: before });
      }
    }
    const near = didYouMean(word, [...Object.keys(groups), ...Object.keys(ALIASES), ...top.commands.map((c) => c.name)].filter((n) => n !== ''));
    return usage(`unknown command '${word}'${near}: see 'arpd --help' for the commands`, { command: word });
  }
  return parseAndRun(top, argv, cmd, `arpd ${cmd.name}`, TOP_CONFLICTS[cmd.name] ?? []);
}

// `arpd events --json | head -2`: a reader that has read enough closes the pipe; that ends the command quietly (as
// `cat` and `git log` do), not with an EPIPE stack trace
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

await main(process.argv);
