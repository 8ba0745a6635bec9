import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Child processes of benchmarks: their RSS, their exit, their "listening" line. */

/** VmRSS of a process from /proc, in bytes (NaN when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? Number.NaN : Number(m[1]) * 1024;
  } catch {
    return Number.NaN;
  }
}

/** Waits for the child to exit; SIGKILLs it after `ms`. */
export function waitExit(child: ChildProcess, ms: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), ms);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Resolves with the first line of the child's stream that `match` accepts; rejects if the child exits first. */
export function waitForLine(child: ChildProcess, stream: 'stdout' | 'stderr', match: (line: string) => boolean, timeoutMs: number, what: string): Promise<string> {
  const src = child[stream];
  if (src === null) return Promise.reject(new Error(`${what}: its ${stream} is not a pipe`));
  return new Promise((resolve, reject) => {
    let buf = '';
    let seen = '';
    const done = (err: Error | undefined, line?: string): void => {
      clearTimeout(timer);
      src.off('data', onData);
      child.off('exit', onExit);
      if (err !== undefined) reject(err);
      else resolve(line as string);
    };
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        seen = `${seen}${line}\n`.slice(-4000);
        if (match(line)) {
          done(undefined, line);
          return;
        }
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done(new Error(`${what} exited (${signal ?? `code ${code}`}) before it was ready:\n${seen}${buf}`));
    };
    const timer = setTimeout(() => done(new Error(`${what} was not ready within ${timeoutMs} ms:\n${seen}${buf}`)), timeoutMs);
    src.on('data', onData);
    child.once('exit', onExit);
  });
}

/** CPU time (user + system) a process has used so far, in ms (10 ms steps: /proc counts clock ticks of 1/100 s). */
export function cpuMsOf(pid: number): number {
  try {
    // the fields after the command name, which is in parentheses and may hold spaces
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return Number.NaN;
  }
}
