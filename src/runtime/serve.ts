/**
 * The standalone reference runtime process: parse flags, listen, print ONE JSON line to stdout
 * (`{"event":"listening","url":...,"pid":...,"runtime_name":...,"runtime_version":...}`), and on SIGTERM or
 * SIGINT close gracefully and exit 0. A `crash` goal exits the process with code 70.
 */
import { ArpdError, EXIT } from '../errors/index.js';
import { readPackageVersion } from './package-version.js';
import { DEFAULT_RUNTIME_NAME, startReferenceRuntime, type RunningReferenceRuntime } from './reference-runtime.js';
import { DEFAULT_TRACE_FILE_NAME } from './run-engine.js';

/** Exit code of the process after a `crash` goal (EX_SOFTWARE). */
export const CRASH_EXIT_CODE = 70;
const FORCED_EXIT_AFTER_MS = 5_000;

export interface ServeArgs {
  host: string;
  port: number;
  name: string;
  instanceId?: string;
  traceDir?: string;
  traceFileName: string;
  stepDelayMs?: number;
  help: boolean;
}

export const SERVE_USAGE = `usage: arpd-reference-runtime [options]

  --host <host>              address to listen on (default 127.0.0.1)
  --port <port>              port to listen on, 0 for a free one (default 0)
  --name <name>              service_name reported by GET /v1/version (default ${DEFAULT_RUNTIME_NAME})
  --instance-id <id>         runtime_instance_id reported on every run status
  --trace-dir <dir>          write <dir>/<run_id>/<file> traces (default: $ARP_TRACE_DIR, else none;
                             arpd sets it to <data-dir>/runtime-traces)
  --trace-file-name <file>   trace file name (default ${DEFAULT_TRACE_FILE_NAME})
  --step-delay-ms <ms>       pause before each run event (default 5)
  --help                     show this help
`;

const VALUE_FLAGS = ['host', 'port', 'name', 'instance-id', 'trace-dir', 'trace-file-name', 'step-delay-ms'] as const;
type ValueFlag = (typeof VALUE_FLAGS)[number];

/** Parses the flags; throws E_VALIDATION naming the flag and what to pass. `env` supplies ARP_TRACE_DIR. */
export function parseServeArgs(argv: readonly string[], env: NodeJS.ProcessEnv = {}): ServeArgs {
  const values: Partial<Record<ValueFlag, string>> = {};
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    const match = /^--([a-z-]+)(?:=(.*))?$/s.exec(arg);
    const flag = match?.[1] as ValueFlag | undefined;
    if (match === null || flag === undefined || !VALUE_FLAGS.includes(flag)) {
      throw usageError(`unknown argument '${arg}': see --help for the flags`, arg);
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined) throw usageError(`flag --${flag} needs a value`, flag);
    values[flag] = value;
  }

  const args: ServeArgs = {
    host: values.host ?? '127.0.0.1',
    port: integer(values.port ?? '0', 'port', 65_535),
    name: values.name ?? DEFAULT_RUNTIME_NAME,
    traceFileName: values['trace-file-name'] ?? DEFAULT_TRACE_FILE_NAME,
    help,
  };
  const traceDir = values['trace-dir'] ?? env['ARP_TRACE_DIR'];
  if (traceDir !== undefined && traceDir !== '') args.traceDir = traceDir;
  if (values['instance-id'] !== undefined) args.instanceId = values['instance-id'];
  if (values['step-delay-ms'] !== undefined) args.stepDelayMs = integer(values['step-delay-ms'], 'step-delay-ms', 60_000);
  return args;
}

export interface ServeIo {
  stdout: (line: string) => void;
  stderr: (line: string) => void;
  exit: (code: number) => void;
  env: NodeJS.ProcessEnv;
}

const processIo: ServeIo = {
  stdout: (line) => process.stdout.write(line),
  stderr: (line) => process.stderr.write(line),
  exit: (code) => process.exit(code),
  env: process.env,
};

/** Runs the standalone reference runtime until a signal; resolves once it is listening. */
export async function runtimeServeMain(argv: readonly string[], io: ServeIo = processIo): Promise<void> {
  let args: ServeArgs;
  try {
    args = parseServeArgs(argv, io.env);
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n`);
    io.exit(EXIT.USAGE);
    return;
  }
  if (args.help) {
    io.stdout(SERVE_USAGE);
    io.exit(EXIT.OK);
    return;
  }

  const version = readPackageVersion();
  let running: RunningReferenceRuntime;
  try {
    running = await startReferenceRuntime({
      host: args.host,
      port: args.port,
      name: args.name,
      version,
      traceFileName: args.traceFileName,
      ...(args.traceDir === undefined ? {} : { traceDir: args.traceDir }),
      ...(args.instanceId === undefined ? {} : { instanceId: args.instanceId }),
      ...(args.stepDelayMs === undefined ? {} : { stepDelayMs: args.stepDelayMs }),
      onCrash: (runId) => {
        io.stderr(`run ${runId}: 'crash' goal, exiting with code ${CRASH_EXIT_CODE}\n`);
        io.exit(CRASH_EXIT_CODE);
      },
      onTraceError: (err, runId) => io.stderr(`run ${runId}: cannot write its trace: ${String(err)}\n`),
      onInternalError: (err) => io.stderr(`internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`),
    });
  } catch (err) {
    io.stderr(`cannot start the reference runtime on ${args.host}:${args.port}: ${err instanceof Error ? err.message : String(err)}\n`);
    io.exit(EXIT.ERROR);
    return;
  }

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      io.stderr(`did not close within ${FORCED_EXIT_AFTER_MS} ms after ${signal}; exiting\n`);
      io.exit(EXIT.ERROR);
    }, FORCED_EXIT_AFTER_MS).unref();
    running.close().then(
      () => io.exit(EXIT.OK),
      (err: unknown) => {
        io.stderr(`error while closing: ${String(err)}\n`);
        io.exit(EXIT.ERROR);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  io.stdout(
    `${JSON.stringify({ event: 'listening', url: running.url, pid: process.pid, runtime_name: args.name, runtime_version: version })}\n`,
  );
}

function integer(text: string, flag: string, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) > max) throw usageError(`--${flag} '${text}' is not allowed: use a whole number from 0 to ${max}`, flag);
  return Number(text);
}

function usageError(message: string, field: string): ArpdError {
  return new ArpdError('E_VALIDATION', message, { field, rule: 'usage' });
}
