#!/usr/bin/env node
/**
 * arpd's command line: cac and nothing else. Parse, call the handler (imported lazily, so `--help`
 * and small commands start fast), print, set the exit code. Groups (`arpd daemon …`, `arpd log …`)
 * are a cac program each, so every subcommand has its own `--help`.
 */
import { cac, type CAC } from 'cac';

type Opts = Record<string, unknown>;
type Handler = (args: string[], opts: Opts) => Promise<number>;

const VERSION_TEXT = await (async () => (await import('../src/version.js')).VERSION)();

function globals(cli: CAC): CAC {
  cli.option('--data-dir <dir>', 'Data directory (default: $ARPD_HOME or ~/.arpd)');
  cli.option('--socket <path>', 'Socket path (default: <data-dir>/arpd.sock)');
  cli.option('--no-autostart', 'Do not start the daemon when none is running (also ARPD_NO_AUTOSTART=1)');
  cli.option('--json', 'Print JSON');
  cli.option('--timeout <seconds>', 'Time limit for talking to the daemon (default 30)');
  cli.option('--daemon-url <url>', 'Talk to the daemon at this HTTP URL instead of the local socket (also ARP_DAEMON_URL)');
  cli.option('--token <token>', 'Bearer token for --daemon-url (also ARPD_TOKEN; default: <data-dir>/http.token)');
  return cli;
}

async function run(handler: Handler, args: string[], opts: Opts): Promise<never> {
  let code: number;
  try {
    code = await handler(args, opts);
  } catch (err) {
    const { reportError } = await import('../src/cli/output.js');
    code = reportError(err, opts['json'] === true);
  }
  process.exit(code);
}

async function g(opts: Opts) {
  const { resolveGlobals } = await import('../src/cli/global-options.js');
  return resolveGlobals(opts as never);
}

async function daemonFlags(cmd: ReturnType<CAC['command']>): Promise<ReturnType<CAC['command']>> {
  const { DAEMON_FLAGS } = await import('../src/cli/serve-options.js');
  for (const f of DAEMON_FLAGS) cmd.option(f.flag, f.description);
  return cmd;
}

async function serveArgs(o: Opts): Promise<string[]> {
  return (await import('../src/cli/serve-options.js')).serveArgsOf(o);
}

const list = (v: unknown): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String));
const num = (v: unknown): number | undefined => (v === undefined ? undefined : Number(v));
const str = (v: unknown): string | undefined => (v === undefined ? undefined : String(v));
const res = () => import('../src/cli/resource-commands.js');

// ---- groups -------------------------------------------------------------------------------------

const groups: Record<string, { description: string; build: (cli: CAC) => void | Promise<void> }> = {
  daemon: {
    description: 'Start, stop and inspect the daemon',
    async build(cli) {
      (await daemonFlags(cli.command('start', 'Start the daemon in the background; returns once it is ready')))
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonStartCommand(await g(o), await serveArgs(o)), [], o));
      cli.command('stop', 'Stop the daemon (asks, then SIGTERM, then SIGKILL)')
        .option('--keep-instances', 'Leave managed runtime instances running for the next start to adopt')
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonStopCommand(await g(o), o['keepInstances'] === true), [], o));
      cli.command('status', 'Show the daemon state (exit 0 running, 3 not running)')
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonStatusCommand(await g(o)), [], o));
      (await daemonFlags(cli.command('restart', 'Stop and start the daemon (--keep-instances leaves runtimes running across it)')))
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonRestartCommand(await g(o), o['keepInstances'] === true, await serveArgs(o)), [], o));
      cli.command('logs', 'Print the daemon log')
        .option('-f, --follow', 'Keep printing as the log grows')
        .option('-n, --lines <n>', 'How many lines from the end', { default: 50 })
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonLogsCommand(await g(o), o['follow'] === true, Number(o['lines'])), [], o));
      cli.command('purge', 'Delete all state of the data dir (lists it; --force does it)')
        .option('--force', 'Really stop the daemon and delete everything')
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonPurgeCommand(await g(o), o['force'] === true), [], o));
      cli.command('exec [method] [params]', 'Send one raw JSON-RPC request and print the result')
        .action((method: string | undefined, params: string | undefined, o: Opts) => run(async () => {
          const [cmds, conn] = await Promise.all([import('../src/cli/daemon-commands.js'), import('../src/cli/connection.js')]);
          return cmds.daemonExecCommand(await g(o), method ?? 'daemon.status', params, conn.openClient);
        }, [], o));
    },
  },
  profiles: {
    description: 'The safe list of runtime profiles',
    build(cli) {
      cli.command('list', 'List the runtime profiles').alias('ls')
        .action((o: Opts) => run(async () => (await res()).profilesList(await g(o)), [], o));
      cli.command('get <name>', 'Show one profile as JSON')
        .action((name: string, o: Opts) => run(async () => (await res()).profilesGet(await g(o), name), [], o));
      cli.command('upsert <name> [...command]', 'Add or replace a profile (from --request-json, or flags and a command after --)')
        .option('--request-json <file>', 'A RuntimeProfileUpsertRequest JSON file (- for stdin); JARVIS profile files work as they are')
        .option('--runtime-name <name>', 'The runtime_name')
        .option('--description <text>', 'A description')
        .action((name: string, command: string[], o: Opts) => run(async () => (await res()).profilesUpsert(await g(o), name, {
          ...(o['requestJson'] === undefined ? {} : { requestJson: String(o['requestJson']) }),
          ...(o['runtimeName'] === undefined ? {} : { runtimeName: String(o['runtimeName']) }),
          ...(o['description'] === undefined ? {} : { description: String(o['description']) }),
          ...(command.length > 0 ? { command } : list(o['--']).length > 0 ? { command: list(o['--']) } : {}),
        }), [], o));
      cli.command('delete <name>', 'Remove a profile from the safe list').alias('rm')
        .option('--force', 'Delete even if live instances use it (they keep running)')
        .action((name: string, o: Opts) => run(async () => (await res()).profilesDelete(await g(o), name, o['force'] === true), [], o));
    },
  },
  instances: {
    description: 'Managed and external runtime instances',
    build(cli) {
      cli.command('list', 'List instances (stopped ones with --all)').alias('ls')
        .option('--all', 'Include stopped instances')
        .action((o: Opts) => run(async () => (await res()).instancesList(await g(o), o['all'] === true), [], o));
      cli.command('get <id>', 'Show one instance as JSON')
        .action((id: string, o: Opts) => run(async () => (await res()).instancesGet(await g(o), id), [], o));
      cli.command('start', 'Start managed instances from a profile')
        .option('--profile <name>', 'The runtime profile (alias --runtime-profile)')
        .option('--runtime-profile <name>', 'Same as --profile (JARVIS spelling)')
        .option('--count <n>', 'How many (default 1)')
        .option('--env <KEY=VALUE>', 'An environment override (repeatable)')
        .option('--arg <arg>', 'An extra argument for the runtime (repeatable)')
        .option('--tool-registry-url <url>', 'Sets ARP_TOOL_REGISTRY_URL for the runtime')
        .option('--wait', 'Return once every instance is ready (or failed)')
        .action((o: Opts) => run(async () => (await res()).instancesStart(await g(o), {
          ...(str(o['profile'] ?? o['runtimeProfile']) === undefined ? {} : { profile: String(o['profile'] ?? o['runtimeProfile']) }),
          ...(num(o['count']) === undefined ? {} : { count: num(o['count']) as number }),
          env: list(o['env']), args: list(o['arg']),
          ...(o['toolRegistryUrl'] === undefined ? {} : { toolRegistryUrl: String(o['toolRegistryUrl']) }),
          wait: o['wait'] === true,
        }), [], o));
      cli.command('register', 'Register an external runtime by its endpoint')
        .option('--endpoint <url>', 'The runtime endpoint (alias --runtime-api-endpoint)')
        .option('--runtime-api-endpoint <url>', 'Same as --endpoint (JARVIS spelling)')
        .option('--profile <name>', 'Label it with a profile name')
        .option('--name <runtime_name>', 'Its runtime_name')
        .action((o: Opts) => run(async () => (await res()).instancesRegister(await g(o), {
          ...(str(o['endpoint'] ?? o['runtimeApiEndpoint']) === undefined ? {} : { endpoint: String(o['endpoint'] ?? o['runtimeApiEndpoint']) }),
          ...(o['profile'] === undefined ? {} : { profile: String(o['profile']) }),
          ...(o['name'] === undefined ? {} : { name: String(o['name']) }),
        }), [], o));
      cli.command('delete <id>', 'Stop a managed instance (SIGTERM, grace, SIGKILL) or deregister an external one').alias('rm')
        .action((id: string, o: Opts) => run(async () => (await res()).instancesDelete(await g(o), id), [], o));
      cli.command('logs <id>', "Print an instance's stdout/stderr logs")
        .option('-f, --follow', 'Keep printing as they grow')
        .option('--stderr', 'Only stderr')
        .option('--stdout', 'Only stdout')
        .action((id: string, o: Opts) => run(async () => (await import('../src/cli/instance-logs.js')).instanceLogs(await g(o), id, { follow: o['follow'] === true, stdout: o['stderr'] !== true, stderr: o['stdout'] !== true }), [], o));
    },
  },
  runs: {
    description: 'Submit, follow and inspect runs',
    build(cli) {
      cli.command('submit', 'Submit a run (returns its id; --wait or --follow to see it end)')
        .option('--request-json <file>', 'A RunRequest JSON file (- for stdin)')
        .option('--goal <text>', 'The goal (a RunRequest with only input.goal)')
        .option('--profile <name>', 'Route to an instance of this profile')
        .option('--instance <id>', 'Route to this instance')
        .option('--run-id <id>', 'Choose the run id (resending the same request is safe)')
        .option('--timeout-ms <ms>', 'limits.timeout_ms')
        .option('--wait', 'Wait for the end and print the result')
        .option('--follow', 'Stream the trace live, then print the result')
        .action((o: Opts) => run(async () => (await res()).runsSubmit(await g(o), runSubmitOpts(o)), [], o));
      cli.command('list', 'List runs in submission order').alias('ls')
        .option('--state <state>', 'Only runs in this state')
        .option('--limit <n>', 'Page size (1-1000, default 100)')
        .option('--page-token <token>', 'The next page, as printed by the previous one')
        .action((o: Opts) => run(async () => (await res()).runsList(await g(o), {
          ...(o['state'] === undefined ? {} : { state: String(o['state']) }),
          ...(num(o['limit']) === undefined ? {} : { limit: num(o['limit']) as number }),
          ...(o['pageToken'] === undefined ? {} : { pageToken: String(o['pageToken']) }),
        }), [], o));
      cli.command('status <id>', 'Show the status of a run')
        .action((id: string, o: Opts) => run(async () => (await res()).runsStatus(await g(o), id), [], o));
      cli.command('result <id>', 'Print the result of an ended run')
        .action((id: string, o: Opts) => run(async () => (await res()).runsResult(await g(o), id), [], o));
      cli.command('trace <id>', 'Print the trace of a run')
        .option('--follow', 'Keep printing until the run ends')
        .action((id: string, o: Opts) => run(async () => (await res()).runsTrace(await g(o), id, o['follow'] === true), [], o));
      cli.command('cancel <id>', 'Cancel a run')
        .action((id: string, o: Opts) => run(async () => (await res()).runsCancel(await g(o), id), [], o));
    },
  },
  runtime: {
    description: 'The bundled reference ARP runtime',
    build(cli) {
      cli.command('serve', 'Serve the reference runtime (prints one JSON line with its URL when listening)')
        .option('--host <host>', 'Host (default 127.0.0.1)')
        .option('--port <port>', 'Port (default 0: a free one)')
        .allowUnknownOptions()
        .action((o: Opts) => run(async () => {
          const { runtimeServeMain } = await import('../src/runtime/serve.js');
          const at = process.argv.indexOf('serve');
          await runtimeServeMain(process.argv.slice(at + 1));
          return new Promise<number>(() => undefined);
        }, [], o));
    },
  },
  log: {
    description: 'Check and replay the event log (read-only, no daemon needed)',
    build(cli) {
      cli.command('verify', 'Check every line (checksum, seq continuity, run logs); exit 1 on damage')
        .action((o: Opts) => run(async () => (await import('../src/cli/log-commands.js')).logVerify(await g(o)), [], o));
      cli.command('replay', 'Rebuild the state from the log (up to a point) and print it')
        .option('--until <seqOrTime>', 'Stop at this seq, or at this ISO-8601 time')
        .action((o: Opts) => run(async () => (await import('../src/cli/log-commands.js')).logReplay(await g(o), o['until'] === undefined ? undefined : String(o['until'])), [], o));
    },
  },
};

/** Global options that take a value, so `arpd --data-dir D daemon start` finds the group word. */
const VALUE_OPTIONS = new Set(['--data-dir', '--socket', '--timeout', '--daemon-url', '--token']);

function findCommandWord(argv: string[]): number {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return -1;
    if (VALUE_OPTIONS.has(a)) { i++; continue; }
    if (!a.startsWith('-')) return i;
  }
  return -1;
}

function runSubmitOpts(o: Opts) {
  return {
    ...(o['requestJson'] === undefined ? {} : { requestJson: String(o['requestJson']) }),
    ...(o['goal'] === undefined ? {} : { goal: String(o['goal']) }),
    ...(o['profile'] === undefined ? {} : { profile: String(o['profile']) }),
    ...(o['instance'] === undefined ? {} : { instance: String(o['instance']) }),
    ...(o['runId'] === undefined ? {} : { runId: String(o['runId']) }),
    ...(num(o['timeoutMs']) === undefined ? {} : { timeoutMs: num(o['timeoutMs']) as number }),
    wait: o['wait'] === true,
    follow: o['follow'] === true,
  };
}

/** `arpd runtime-profiles …` is `arpd profiles …`. */
const ALIASES: Record<string, string> = { 'runtime-profiles': 'profiles', instance: 'instances', profile: 'profiles' };

async function main(argv: string[]): Promise<void> {
  const at = findCommandWord(argv);
  const first = at === -1 ? undefined : argv[at];
  const groupName = first === undefined ? undefined : ALIASES[first] ?? first;
  const group = groupName === undefined ? undefined : groups[groupName];
  if (group !== undefined && first !== undefined) {
    argv = [...argv.slice(0, 2), first, ...argv.slice(2, at), ...argv.slice(at + 1)];
    const cli = globals(cac(`arpd ${first}`));
    await group.build(cli);
    cli.help();
    cli.addEventListener('command:*', () => {
      process.stderr.write(`arpd ${first}: unknown command '${cli.args.join(' ')}': see 'arpd ${first} --help'\n`);
      process.exit(2);
    });
    let rest = argv.slice(3);
    if (groupName === 'runs' && findCommandWord(['', '', ...rest]) === -1 && !rest.includes('--help') && !rest.includes('-h')) rest = ['list', ...rest];
    if (findCommandWord(['', '', ...rest]) === -1) {
      cli.outputHelp();
      process.exit(rest.length === 0 || rest.includes('--help') || rest.includes('-h') ? 0 : 2);
    }
    parse(cli, [argv[0] ?? 'node', `arpd ${groupName ?? first}`, ...rest]);
    return;
  }
  const cli = globals(cac('arpd'));
  (await daemonFlags(cli.command('serve', 'Run the daemon in the foreground (logs to stderr)')))
    .option('--detached-child', '(internal) started by `arpd daemon start`')
    .action((o: Opts) => run(async () => {
      const [{ serveCommand }, { daemonOptionsOf }, gl] = await Promise.all([import('../src/cli/serve-command.js'), import('../src/cli/serve-options.js'), g(o)]);
      return serveCommand(daemonOptionsOf(o, { dataDir: gl.dataDir, socketPath: gl.paths.socket, foreground: o['detachedChild'] !== true }), o['detachedChild'] === true);
    }, [], o));
  cli.command('run', 'Submit a run and wait for it (JARVIS spelling of arpd runs submit --wait)')
    .option('--request-json <file>', 'A RunRequest JSON file')
    .option('--goal <text>', 'The goal')
    .option('--profile <name>', 'Route to an instance of this profile')
    .option('--instance <id>', 'Route to this instance')
    .option('--follow', 'Stream the trace live')
    .action((o: Opts) => run(async () => (await res()).runsSubmit(await g(o), { ...runSubmitOpts(o), wait: true }), [], o));
  cli.command('demo', 'Run the main job end to end: start the daemon and an instance, submit "What is (19*23)?", stream the trace, print the result')
    .action((o: Opts) => run(async () => (await res()).runsSubmit(await g(o), { goal: 'What is (19*23)?', wait: true, follow: true }), [], o));
  cli.command('events', 'Print event log lines')
    .option('--from <seq>', 'Start at this seq')
    .option('--type <type>', 'Only this event type (repeat for several; a prefix ending in "." matches a family)')
    .option('--stream <stream>', "Only this stream (e.g. run:abc), or a prefix ending in ':'")
    .option('-f, --follow', 'Keep printing as the daemon appends')
    .action((o: Opts) => run(async () => {
      const { eventsCommand } = await import('../src/cli/log-commands.js');
      const t = o['type'];
      const types = t === undefined ? undefined : (Array.isArray(t) ? t : [t]).map(String);
      return eventsCommand(await g(o), { from: o['from'] === undefined ? undefined : Number(o['from']), types, stream: o['stream'] === undefined ? undefined : String(o['stream']), follow: o['follow'] === true });
    }, [], o));
  for (const [name, grp] of Object.entries(groups)) {
    cli.command(`${name} <command>`, `${grp.description} (see 'arpd ${name} --help')`).allowUnknownOptions().action(() => undefined);
  }
  cli.help();
  cli.version(VERSION_TEXT);
  cli.addEventListener('command:*', () => {
    process.stderr.write(`arpd: unknown command '${cli.args.join(' ')}': see 'arpd --help'\n`);
    process.exit(2);
  });
  if (argv.length <= 2) {
    cli.outputHelp();
    process.exit(0);
  }
  parse(cli, argv);
}

function parse(cli: CAC, argv: string[]): void {
  try {
    cli.parse(argv, { run: false });
    void cli.runMatchedCommand();
  } catch (err) {
    process.stderr.write(`arpd: ${(err as Error).message}: see '${cli.name} --help'\n`);
    process.exit(2);
  }
}

await main(process.argv);
