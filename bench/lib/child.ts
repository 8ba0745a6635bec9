import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Measurements that need their own process (peak memory, a cold start, a CPU profile of one side
 * only). The parent calls `runChild(new URL('./x-child.js', import.meta.url), args)`; the child
 * script calls `runAsChild(task)`, which runs the task and sends back its value together with the
 * child's peak RSS (`process.resourceUsage().maxRSS`) over the IPC channel.
 */

export interface ChildOutcome<T> {
  value: T;
  /** Peak resident set size of the child, in bytes. */
  maxRssBytes: number;
  /** Wall time from fork to exit, in ms (includes Node's own start-up). */
  wallMs: number;
}

export interface ChildOptions {
  /** Write a V8 CPU profile of the child into this directory (`--cpu-prof`). */
  cpuProfDir?: string | undefined;
  /** File name of the profile inside `cpuProfDir`. */
  cpuProfName?: string;
  /** Extra Node flags. */
  execArgv?: string[];
  timeoutMs?: number;
}

type Message<T> = { ok: true; value: T; maxRssBytes: number } | { ok: false; error: string };

export function runChild<T>(script: URL, args: string[], opts: ChildOptions = {}): Promise<ChildOutcome<T>> {
  const execArgv = [...(opts.execArgv ?? [])];
  if (opts.cpuProfDir !== undefined) {
    execArgv.push('--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir);
    if (opts.cpuProfName !== undefined) execArgv.push('--cpu-prof-name', opts.cpuProfName);
  }
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    // execArgv is explicit so a parent run under --cpu-prof or --inspect does not pass it on
    const child = fork(fileURLToPath(script), args, { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'advanced' });
    let message: Message<T> | undefined;
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.on('message', (m) => { message = m as Message<T>; });
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      const wallMs = performance.now() - t0;
      if (message === undefined) {
        reject(new Error(`benchmark child ${script.pathname} ${args.join(' ')} exited (${signal ?? `code ${code}`}) without a result`));
      } else if (!message.ok) {
        reject(new Error(`benchmark child ${script.pathname} ${args.join(' ')} failed: ${message.error}`));
      } else {
        resolve({ value: message.value, maxRssBytes: message.maxRssBytes, wallMs });
      }
    });
  });
}

/** The child side: runs `task(argv)`, reports its value and peak RSS to the parent, and exits normally (so `--cpu-prof` is written). */
export function runAsChild<T>(task: (args: string[]) => Promise<T> | T): void {
  const send = process.send?.bind(process);
  if (send === undefined) {
    process.stderr.write('this script is a benchmark child: run it through `npm run bench`\n');
    process.exitCode = 2;
    return;
  }
  const done = (m: Message<T>): void => {
    send(m, undefined, {}, () => process.disconnect());
  };
  Promise.resolve()
    .then(() => task(process.argv.slice(2)))
    .then(
      (value) => done({ ok: true, value, maxRssBytes: process.resourceUsage().maxRSS * 1024 }),
      (err: unknown) => {
        process.exitCode = 1;
        done({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      },
    );
}
