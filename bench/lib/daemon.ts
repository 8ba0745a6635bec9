import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type RpcClient } from '../../src/client/rpc-client.js';
import { MAX_SOCKET_PATH_BYTES } from '../../src/server/socket-server.js';
import { makeTempDir, removeTempDir } from './temp-dir.js';
import { cpuMsOf, rssOf, waitExit, waitForLine } from './proc.js';
import { nowMs } from './timer.js';

export { cpuMsOf, rssOf, waitExit, waitForLine };

/**
 * The real product in its own processes: `arpd serve` daemons (the built CLI, `dist/bin/arpd.js`) on
 * scratch data dirs, plus the small things benchmarks need around them (a process's RSS, the built
 * reference runtime's entry, waiting for a child's "listening" line). Every daemon started here is
 * stopped with SIGTERM (graceful: it stops its instances) and its data dir removed; `stopAll` at exit.
 */

/** `dist/bin/arpd.js`, the built CLI. */
export const ARPD_CLI = fileURLToPath(new URL('../../bin/arpd.js', import.meta.url));
/** `dist/src/runtime/main.js`, the bundled reference runtime the `default` profile starts. */
export const REFERENCE_RUNTIME = fileURLToPath(new URL('../../src/runtime/main.js', import.meta.url));
/** `fixtures/runtimes/burst-runtime/server.mjs` (fixtures are not compiled: from dist/bench/lib, up three). */
export const BURST_RUNTIME = fileURLToPath(new URL('../../../fixtures/runtimes/burst-runtime/server.mjs', import.meta.url));

export interface DaemonOptions {
  /** Extra `arpd serve` flags (`--no-autostart-instances`, `--queue-timeout 3600000`, …). */
  args?: string[];
  /** Use this data dir (it is kept); default: a new scratch dir, removed on stop. */
  dataDir?: string;
  /** Time allowed until the daemon says it is ready. Default 60 s. */
  readyTimeoutMs?: number;
  /** Extra Node flags for the daemon process (e.g. `--cpu-prof`). */
  execArgv?: string[];
}

export interface Daemon {
  readonly dataDir: string;
  readonly socket: string;
  readonly pid: number;
  /** From spawn to the "arpd ready" line (lock, log replay, features, socket and HTTP listening). */
  readonly readyMs: number;
  /** `<data-dir>/http.url`, when HTTP is on. */
  readonly httpUrl: string | undefined;
  /** `<data-dir>/http.token`, when HTTP is on. */
  readonly token: string | undefined;
  /** A client of the real `arpd/client` library on the daemon's socket (closed by `stop`). */
  client(): Promise<RpcClient>;
  /** VmRSS of the daemon process, in bytes. */
  rssBytes(): number;
  /** SIGTERM, wait for the exit (SIGKILL after 20 s), remove the scratch data dir. */
  stop(): Promise<void>;
}

const live = new Set<Daemon>();
let exitHook = false;

/** A scratch data dir whose socket path fits a Unix socket address. */
export function daemonDir(): { dir: string; remove: () => void } {
  const dir = makeTempDir('d');
  if (Buffer.byteLength(join(dir, 'arpd.sock')) <= MAX_SOCKET_PATH_BYTES) return { dir, remove: () => removeTempDir(dir) };
  removeTempDir(dir);
  const short = mkdtempSync('/tmp/arpd-b');
  return { dir: short, remove: () => rmSync(short, { recursive: true, force: true }) };
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Starts `arpd serve --data-dir <dir> --http-port 0 [args]` (no --http-port with --no-http: the CLI refuses the pair) and resolves once it printed "arpd ready". */
export async function startDaemon(opts: DaemonOptions = {}): Promise<Daemon> {
  if (!exitHook) {
    exitHook = true;
    // last resort if a benchmark threw past its finally: never leave a daemon (or its instances) behind
    process.on('exit', () => {
      for (const d of live) {
        try { process.kill(d.pid, 'SIGTERM'); } catch { /* gone */ }
      }
    });
  }
  const scratch = opts.dataDir === undefined ? daemonDir() : undefined;
  const dataDir = opts.dataDir ?? (scratch as { dir: string }).dir;
  const http = opts.args?.includes('--no-http') === true ? [] : ['--http-port', '0'];
  const args = [...(opts.execArgv ?? []), ARPD_CLI, 'serve', '--data-dir', dataDir, ...http, ...(opts.args ?? [])];
  const t0 = nowMs();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  // keep reading stderr (the daemon logs there in the foreground) so the pipe never fills
  let tail = '';
  child.stderr?.on('data', (c: Buffer) => { tail = `${tail}${c.toString('utf8')}`.slice(-8000); });
  try {
    await waitForLine(child, 'stderr', (l) => l.includes('arpd ready'), opts.readyTimeoutMs ?? 60_000, `arpd serve --data-dir ${dataDir}`);
  } catch (err) {
    child.kill('SIGKILL');
    await waitExit(child, 5000);
    scratch?.remove();
    throw err;
  }
  const readyMs = nowMs() - t0;
  const clients: RpcClient[] = [];
  const pid = child.pid as number;
  let stopping: Promise<void> | undefined;
  const d: Daemon = {
    dataDir,
    socket: join(dataDir, 'arpd.sock'),
    pid,
    readyMs,
    httpUrl: readOptional(join(dataDir, 'http.url')),
    token: readOptional(join(dataDir, 'http.token')),
    async client() {
      const c = await connect(join(dataDir, 'arpd.sock'), { timeoutMs: 600_000 });
      clients.push(c);
      return c;
    },
    rssBytes: () => rssOf(pid),
    stop() {
      stopping ??= (async () => {
        for (const c of clients.splice(0)) await c.close().catch(() => undefined);
        child.kill('SIGTERM');
        await waitExit(child, 20_000);
        live.delete(d);
        if (child.exitCode !== 0 && child.signalCode === null) process.stderr.write(`arpd serve exited with code ${child.exitCode}:\n${tail}\n`);
        scratch?.remove();
      })();
      return stopping;
    },
  };
  live.add(d);
  return d;
}

/**
 * The lines of `<data-dir>/logs/daemon.log` (pino JSON) whose message is `msg`, oldest first: e.g. the boot's
 * `log replayed` line with its `ms`, `replayed` and `from_snapshot`.
 */
export function daemonLogLines(dataDir: string, msg: string): Array<Record<string, unknown>> {
  const text = readOptional(join(dataDir, 'logs', 'daemon.log')) ?? '';
  const out: Array<Record<string, unknown>> = [];
  for (const line of text.split('\n')) {
    if (!line.includes(`"msg":${JSON.stringify(msg)}`)) continue;
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch { /* a line cut by rotation */ }
  }
  return out;
}

/** A profile for `profiles.upsert` that runs the bundled reference runtime with extra flags. */
export function referenceProfile(extraArgs: string[], maxConcurrentRuns?: number): Record<string, unknown> {
  return {
    runtime_name: 'arpd-reference-runtime',
    extensions: {
      'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0', ...extraArgs] },
      ...(maxConcurrentRuns === undefined ? {} : { 'arpd.runtime': { max_concurrent_runs: maxConcurrentRuns } }),
    },
  };
}
