// One step of a runtime install (python -m venv, pip install, npm install) as a child process: never through a shell,
// its whole output appended to the install log, killed with its process group when the install is aborted.
import { spawn } from 'node:child_process';
import { open, type FileHandle } from 'node:fs/promises';
import { ArpdError } from '../errors/index.js';

/** How many lines of the log an E_INSTALL_FAILED carries. */
export const TAIL_LINES = 20;
/** After SIGTERM, how long an aborted step may take to exit before SIGKILL. */
const KILL_GRACE_MS = 5000;

export interface StepOptions {
  /** What the step does, for messages: "pip install of x==1", "creating the venv for x==1". */
  what: string;
  cwd: string;
  /** The child's whole environment. */
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Also return stdout (it still goes to the log). */
  capture?: boolean;
  /** A hint for when the program cannot be started at all, e.g. "install Python 3". */
  notFoundHint?: string;
}

/** Appends to one install log; steps write their command line and output in order. */
export class InstallLog {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
  ) {}

  /** Starts a fresh log at `path` (an earlier attempt's log is replaced). */
  static async create(path: string): Promise<InstallLog> {
    return new InstallLog(path, await open(path, 'w+', 0o600));
  }

  async write(text: string): Promise<void> {
    await this.fh.write(text);
  }

  async line(text: string): Promise<void> {
    await this.fh.write(`${text}\n`);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  /** The last `n` non-empty lines written so far. */
  async tail(n = TAIL_LINES): Promise<string> {
    const { size } = await this.fh.stat();
    const length = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(length);
    await this.fh.read(buf, 0, length, size - length);
    const lines = buf.toString('utf8').split(/\r?\n/).filter((l) => l.trim() !== '');
    return lines.slice(-n).join('\n');
  }
}

/**
 * What a failed step's message shows of its output: the installer's error lines (pip's `ERROR:`, npm's `npm error`),
 * else its last lines, at most 5, without arpd's own `# …` lines. pip retries and warns at length before the line
 * that says what failed, which came last in a message of thousands of characters; the whole tail stays in the data.
 */
export function failureSummary(tail: string): string {
  const lines = tail.split('\n').filter((l) => !l.startsWith('# '));
  const errors = lines.filter((l) => /^\s*(error\b|npm err(!|or\b)|fatal\b)/i.test(l));
  return (errors.length > 0 ? errors : lines).slice(-5).map((l) => (l.length > 400 ? `${l.slice(0, 400)}…` : l)).join('\n');
}

function canceled(what: string): ArpdError {
  return new ArpdError('E_CANCELED', `${what} was canceled`, { reason: 'aborted' });
}

/** The command line as a person reads it in the log (for reading only: nothing parses it back). */
function displayCommand(cmd: string, args: readonly string[]): string {
  return [cmd, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/**
 * Runs `cmd args` with `shell: false`, appending its output to `log`. Resolves with stdout (when `capture`) on exit 0;
 * rejects E_INSTALL_FAILED with the log's tail on any other exit, or E_CANCELED when `signal` aborts (after the child,
 * and on POSIX its whole process group, has exited).
 */
export async function runInstallStep(log: InstallLog, cmd: string, args: readonly string[], opts: StepOptions): Promise<string> {
  if (opts.signal.aborted) throw canceled(opts.what);
  await log.line(`$ ${displayCommand(cmd, args)}`);
  const posix = process.platform !== 'win32';
  const child = spawn(cmd, [...args], {
    cwd: opts.cwd,
    env: opts.env,
    shell: false,
    stdio: ['ignore', 'pipe', 'pipe'],
    // its own process group, so that an abort also ends what it started (pip's build backend, npm's scripts)
    detached: posix,
    windowsHide: true,
  });

  const stdout: Buffer[] = [];
  let writes = Promise.resolve();
  const append = (chunk: Buffer): void => {
    writes = writes.then(() => log.write(chunk.toString('utf8')));
  };
  child.stdout.on('data', (chunk: Buffer) => {
    if (opts.capture === true) stdout.push(chunk);
    append(chunk);
  });
  child.stderr.on('data', append);

  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const kill = (sig: NodeJS.Signals): void => {
    if (child.pid === undefined) return;
    try {
      if (posix) process.kill(-child.pid, sig);
      else child.kill(sig);
    } catch {
      // already gone
    }
  };
  const onAbort = (): void => {
    aborted = true;
    kill('SIGTERM');
    killTimer = setTimeout(() => kill('SIGKILL'), KILL_GRACE_MS);
    killTimer.unref();
  };
  opts.signal.addEventListener('abort', onAbort, { once: true });
  // the signal may have fired while the log line was written, before there was a child to kill
  if (opts.signal.aborted) onAbort();

  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: NodeJS.ErrnoException }>((resolve) => {
    child.once('error', (error: NodeJS.ErrnoException) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  opts.signal.removeEventListener('abort', onAbort);
  if (killTimer !== undefined) clearTimeout(killTimer);
  // a group member may outlive the leader; make sure nothing keeps writing into a directory about to be removed
  if (aborted) kill('SIGKILL');
  await writes;

  if (aborted) {
    await log.line(`# canceled`);
    throw canceled(opts.what);
  }
  if (outcome.error !== undefined) {
    const reason = outcome.error.code === 'ENOENT' ? `'${cmd}' was not found` : `'${cmd}' could not be started (${outcome.error.code ?? outcome.error.message})`;
    await log.line(`# ${reason}`);
    const hint = opts.notFoundHint === undefined ? '' : `: ${opts.notFoundHint}`;
    throw new ArpdError('E_INSTALL_FAILED', `${opts.what} failed: ${reason}${hint}`, { log: log.path, exit_code: null, tail: await log.tail() }, { cause: outcome.error });
  }
  if (outcome.code !== 0) {
    const how = outcome.code === null ? `signal ${outcome.signal ?? 'unknown'}` : `exit ${outcome.code}`;
    const tail = await log.tail();
    await log.line(`# ${how}`);
    throw new ArpdError('E_INSTALL_FAILED', `${opts.what} failed (${how}): ${failureSummary(tail)}\n(full log: ${log.path})`, {
      log: log.path,
      exit_code: outcome.code,
      tail,
    });
  }
  return Buffer.concat(stdout).toString('utf8');
}
