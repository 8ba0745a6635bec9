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

/** Flags passed on to `arpd serve` by `daemon start` / `restart` / auto-start. */
function serveArgsOf(opts: Opts): string[] {
  const out: string[] = [];
  if (opts['idleTimeout'] !== undefined) out.push('--idle-timeout', String(opts['idleTimeout']));
  if (opts['repair'] === true) out.push('--repair');
  return out;
}

// ---- groups -------------------------------------------------------------------------------------

const groups: Record<string, { description: string; build: (cli: CAC) => void }> = {
  daemon: {
    description: 'Start, stop and inspect the daemon',
    build(cli) {
      cli.command('start', 'Start the daemon in the background; returns once it is ready')
        .option('--idle-timeout <seconds>', 'Exit after this long with no client and no work (ephemeral mode)')
        .option('--repair', 'Cut a damaged log at the first bad line (the file is copied aside first)')
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonStartCommand(await g(o), serveArgsOf(o)), [], o));
      cli.command('stop', 'Stop the daemon (asks, then SIGTERM, then SIGKILL)')
        .option('--keep-instances', 'Leave managed runtime instances running for the next start to adopt')
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonStopCommand(await g(o), o['keepInstances'] === true), [], o));
      cli.command('status', 'Show the daemon state (exit 0 running, 3 not running)')
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonStatusCommand(await g(o)), [], o));
      cli.command('restart', 'Stop and start the daemon')
        .option('--keep-instances', 'Leave managed runtime instances running across the restart')
        .option('--idle-timeout <seconds>', 'Exit after this long with no client and no work')
        .action((o: Opts) => run(async () => (await import('../src/cli/daemon-commands.js')).daemonRestartCommand(await g(o), o['keepInstances'] === true, serveArgsOf(o)), [], o));
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
const VALUE_OPTIONS = new Set(['--data-dir', '--socket', '--timeout']);

function findCommandWord(argv: string[]): number {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--') return -1;
    if (VALUE_OPTIONS.has(a)) { i++; continue; }
    if (!a.startsWith('-')) return i;
  }
  return -1;
}

async function main(argv: string[]): Promise<void> {
  const at = findCommandWord(argv);
  const first = at === -1 ? undefined : argv[at];
  const group = first === undefined ? undefined : groups[first];
  if (group !== undefined && first !== undefined) {
    argv = [...argv.slice(0, 2), first, ...argv.slice(2, at), ...argv.slice(at + 1)];
    const cli = globals(cac(`arpd ${first}`));
    group.build(cli);
    cli.help();
    cli.addEventListener('command:*', () => {
      process.stderr.write(`arpd ${first}: unknown command '${cli.args.join(' ')}': see 'arpd ${first} --help'\n`);
      process.exit(2);
    });
    const rest = argv.slice(3);
    if (findCommandWord(['', '', ...rest]) === -1) {
      cli.outputHelp();
      process.exit(rest.length === 0 || rest.includes('--help') || rest.includes('-h') ? 0 : 2);
    }
    parse(cli, [argv[0] ?? 'node', `arpd ${first}`, ...rest]);
    return;
  }
  const cli = globals(cac('arpd'));
  cli.command('serve', 'Run the daemon in the foreground (logs to stderr)')
    .option('--idle-timeout <seconds>', 'Exit after this long with no client and no work')
    .option('--repair', 'Cut a damaged log at the first bad line (the file is copied aside first)')
    .option('--keep-instances', 'Leave managed instances running at shutdown')
    .option('--max-line-bytes <n>', 'Largest request line on the socket (default 1048576)')
    .option('--detached-child', '(internal) started by `arpd daemon start`')
    .action((o: Opts) => run(async () => {
      const [{ serveCommand, parseIdleTimeout }, gl] = await Promise.all([import('../src/cli/serve-command.js'), g(o)]);
      const testIgnore = process.env['ARPD_TEST_IGNORE_SHUTDOWN'];
      return serveCommand({
        dataDir: gl.dataDir,
        socketPath: gl.paths.socket,
        foreground: o['detachedChild'] !== true,
        idleTimeoutS: parseIdleTimeout(o['idleTimeout']),
        repair: o['repair'] === true,
        keepInstances: o['keepInstances'] === true,
        ...(o['maxLineBytes'] === undefined ? {} : { maxLineBytes: Number(o['maxLineBytes']) }),
        ...(testIgnore === 'rpc' || testIgnore === 'rpc+term' ? { testIgnoreShutdown: testIgnore } : {}),
      }, o['detachedChild'] === true);
    }, [], o));
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
