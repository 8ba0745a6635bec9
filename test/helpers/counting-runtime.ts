/**
 * The counting runtime (fixtures/runtimes/counting-runtime/server.mjs: the bundled reference runtime that appends
 * every run it takes to a count file before answering, and can turn into garbage) as an external process of a
 * test, or as the command of a managed profile.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { cleanEnv, REPO_ROOT, type TeardownHost } from './daemon-harness.js';

export const COUNTING_RUNTIME = join(REPO_ROOT, 'fixtures', 'runtimes', 'counting-runtime', 'server.mjs');

/** A managed profile's command that runs the counting runtime with this count file. */
export function countingCommand(countFile: string, extra: readonly string[] = []): string[] {
  return ['{node}', COUNTING_RUNTIME, '--host', '{host}', '--port', '0', '--count-file', countFile, ...extra];
}

/** How many times each run id was executed, over every process that wrote `countFile`. */
export function executions(countFile: string): Map<string, number> {
  const out = new Map<string, number>();
  let text: string;
  try { text = readFileSync(countFile, 'utf8'); } catch { return out; }
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const id = (JSON.parse(line) as { run_id: string }).run_id;
    out.set(id, (out.get(id) ?? 0) + 1);
  }
  return out;
}

export interface CountingRuntime {
  url: string;
  pid: number;
  /** Turns it into a runtime that answers 200 with non-ARP JSON to everything (SIGUSR2). */
  turnGarbage(): void;
  kill(signal?: NodeJS.Signals): void;
  exited: Promise<void>;
}

/** Spawns the counting runtime on 127.0.0.1:0 (killed at teardown); resolves once it listens. */
export async function startCountingRuntime(t: TeardownHost, args: readonly string[] = []): Promise<CountingRuntime> {
  const child = spawn(process.execPath, [COUNTING_RUNTIME, ...args], { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const kill = (signal: NodeJS.Signals = 'SIGKILL'): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  t.teardown(async () => { kill(); await exited; });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the counting runtime printed no listening line within 20 s: ${stderr}`)), 20_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const ev = JSON.parse(line) as { event?: string; url?: string };
        if (ev.event === 'listening' && typeof ev.url === 'string') { clearTimeout(timer); resolve(ev.url); }
      } catch { /* not our line */ }
    });
    void exited.then(() => { clearTimeout(timer); reject(new Error(`the counting runtime exited before listening: ${stderr}`)); });
  });
  const pid = child.pid ?? 0;
  return { url, pid, turnGarbage: () => { child.kill('SIGUSR2'); }, kill, exited };
}
