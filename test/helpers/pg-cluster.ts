/**
 * A throwaway PostgreSQL cluster for tests and benchmarks: `initdb` into a temp dir, the server on a
 * free port of its own on 127.0.0.1 (and on the `listenOn` addresses, each with a `pg_hba.conf` line for its
 * clients), a Unix socket in the same dir, removed at the end. No system service, no fixed port. Uses
 * Debian's binaries (`apt-get install postgresql`); set `ARPD_PG_BIN` to another `bin` dir to use others.
 *
 * initdb and the server refuse to run as root: as root they run as the `postgres` user through
 * `runuser` (spawned without a shell) in a dir that user owns. initdb is made quick with
 * `--no-sync` (it skips only initdb's own final flush); the server keeps `fsync` and
 * `synchronous_commit` on, so the durability tests test real durability.
 *
 * Nothing here imports tap: the benchmarks use it too.
 */
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PgClusterOptions {
  /** Extra server settings, `-c name=value` each (e.g. `{ max_connections: '40' }`). */
  settings?: Record<string, string>;
  /**
   * More addresses to listen on besides 127.0.0.1 (e.g. the root side of a test's veth pairs), each with a
   * `pg_hba.conf` line that lets the clients of `clients` (a CIDR) in with a password (scram-sha-256).
   */
  listenOn?: Array<{ address: string; clients: string }>;
}

export interface PgUrlOptions {
  user?: string;
  password?: string;
  database?: string;
  /** Another port (a proxy in front of the server). */
  port?: number;
  /** Another host (one of `listenOn`'s addresses). */
  host?: string;
}

export interface PgCluster {
  readonly host: string;
  readonly port: number;
  readonly superuser: string;
  readonly password: string;
  /** The temp dir (data dir, socket, log). */
  readonly dir: string;
  /** A connection URL (the superuser on database `postgres` unless told otherwise). */
  url(opts?: PgUrlOptions): string;
  /** A new connected client as the superuser (the caller ends it). */
  connect(database?: string): Promise<pg.Client>;
  /** Runs one statement as the superuser on a short-lived connection. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>>;
  /** Creates a fresh database and returns its name. */
  createDatabase(name?: string): Promise<string>;
  /** The postmaster's pid (from postmaster.pid). */
  postmasterPid(): number;
  /** A crash: SIGKILL to the postmaster and every one of its processes, as a power cut would end them. */
  crash(): Promise<void>;
  /** Starts the server again on the same port (crash recovery runs if it crashed). */
  start(): Promise<void>;
  /** A clean shutdown (`fast`: disconnects clients, finishes the checkpoint). */
  stop(): Promise<void>;
  /** Stops the server at once and removes the temp dir. Idempotent. */
  destroy(): Promise<void>;
}

/** The directory with `initdb` and `postgres`: `ARPD_PG_BIN`, else the newest /usr/lib/postgresql/<n>/bin. */
export function pgBinDir(): string {
  const fromEnv = process.env.ARPD_PG_BIN;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).map(Number).sort((a, b) => b - a) : [];
  for (const v of versions) {
    const bin = join(root, String(v), 'bin');
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'postgres'))) return bin;
  }
  throw new Error('PostgreSQL server binaries were not found under /usr/lib/postgresql/<version>/bin: install them with `apt-get install -y postgresql` (or set ARPD_PG_BIN to a bin dir with initdb and postgres)');
}

const SIGNALS: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

function postgresIds(): { uid: number; gid: number } {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0 || g.status !== 0) throw new Error('running as root, and there is no `postgres` user to run the PostgreSQL server as: install the `postgresql` package (it creates the user)');
  return { uid: Number(r.stdout.trim()), gid: Number(g.stdout.trim()) };
}

/** argv that runs `bin` as the postgres user when we are root (initdb and postgres refuse root). */
function asServerUser(bin: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** True while `pid` runs (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Every live process whose parent is `pid` (the postmaster's backends and helpers). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function killTree(pid: number): void {
  const kids = childrenOf(pid);
  for (const p of [pid, ...kids]) {
    try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  }
}

async function waitGone(pids: number[], timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (pids.some(alive)) {
    if (Date.now() > until) throw new Error(`PostgreSQL processes ${pids.filter(alive).join(', ')} did not exit`);
    await sleep(20);
  }
}

function run(bin: string, args: string[], what: string): void {
  const [cmd, argv] = asServerUser(bin, args);
  const r = spawnSync(cmd, argv, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${String(r.status)}): ${(r.stderr || r.stdout).trim().slice(-2000)}`);
}

/** Creates and starts a cluster. Call `destroy()` at the end (a process exit kills it too). */
export async function startPgCluster(opts: PgClusterOptions = {}): Promise<PgCluster> {
  const bin = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'arpd-pg-'));
  const data = join(dir, 'data');
  const log = join(dir, 'postgres.log');
  const pwfile = join(dir, 'pw');
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
  if (isRoot()) {
    const { uid, gid } = postgresIds();
    chownSync(dir, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  let destroyed = false;
  /** Synchronous (it runs at process exit): kill the server, wait for it to be gone, remove the dir. */
  const cleanup = (): void => {
    try {
      const pid = readPid();
      if (pid !== undefined) {
        const all = [pid, ...childrenOf(pid)];
        killTree(pid);
        const pause = new Int32Array(new SharedArrayBuffer(4));
        for (let i = 0; i < 100 && all.some(alive); i++) Atomics.wait(pause, 0, 0, 20);
      }
    } catch { /* not running */ }
    try { rmSync(dir, { recursive: true, force: true, maxRetries: 5 }); } catch { /* best effort */ }
  };
  const onExit = (): void => { if (!destroyed) cleanup(); };
  // a test runner's timeout ends the process with a signal: take the server down with it
  const onSignal = (sig: NodeJS.Signals): void => {
    onExit();
    detach();
    process.kill(process.pid, sig);
  };
  const detach = (): void => {
    process.removeListener('exit', onExit);
    for (const sig of SIGNALS) process.removeListener(sig, onSignal);
  };
  process.once('exit', onExit);
  for (const sig of SIGNALS) process.once(sig, onSignal);

  const readPid = (): number | undefined => {
    try {
      const first = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0];
      const pid = Number(first);
      return Number.isInteger(pid) && pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  };

  try {
    run(join(bin, 'initdb'), ['-D', data, '--no-sync', '--no-instructions', '--auth-host=scram-sha-256', '--auth-local=trust', `--pwfile=${pwfile}`, '-U', 'postgres', '-E', 'UTF8', '--no-locale'], 'initdb');
  } catch (err) {
    destroyed = true;
    detach();
    cleanup();
    throw err;
  }
  if (opts.listenOn !== undefined && opts.listenOn.length > 0) {
    appendFileSync(join(data, 'pg_hba.conf'), opts.listenOn.map((l) => `host all all ${l.clients} scram-sha-256\n`).join(''));
  }

  let port = 0;
  const settings: Record<string, string> = {
    listen_addresses: ['127.0.0.1', ...(opts.listenOn ?? []).map((l) => l.address)].join(','),
    unix_socket_directories: dir,
    max_connections: '100',
    shared_buffers: '32MB',
    fsync: 'on',
    synchronous_commit: 'on',
    log_min_messages: 'warning',
    ...opts.settings,
  };

  const startOnce = async (): Promise<void> => {
    const args = ['-D', data, '-p', String(port)];
    for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
    const [cmd, argv] = asServerUser(join(bin, 'postgres'), args);
    const fd = openSync(log, 'a');
    const child = spawn(cmd, argv, { detached: true, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    child.unref();
    let exited = false;
    child.once('exit', () => { exited = true; });
    const until = Date.now() + 60_000;
    for (;;) {
      // postmaster.pid line 8 says "ready" once the server accepts connections
      try {
        const lines = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n');
        if ((lines[7] ?? '').trim() === 'ready' && Number(lines[3]) === port) {
          const pid = Number(lines[0]);
          if (alive(pid)) return;
        }
      } catch { /* not yet */ }
      if (exited) throw new Error(`postgres did not start: ${readFileSync(log, 'utf8').trim().split('\n').slice(-5).join(' | ')}`);
      if (Date.now() > until) throw new Error('postgres did not become ready within 60 s');
      await sleep(15);
    }
  };

  const start = async (): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      if (port === 0) port = await freePort();
      try {
        await startOnce();
        return;
      } catch (err) {
        // another process took the port between freePort() and the bind: try another (first start only)
        if (attempt < 4 && /could not bind|Address already in use|could not create any TCP\/IP sockets/i.test(String((err as Error).message)) && !started) {
          port = 0;
          continue;
        }
        throw err;
      }
    }
  };
  let started = false;
  try {
    await start();
    started = true;
  } catch (err) {
    destroyed = true;
    detach();
    cleanup();
    throw err;
  }

  const cluster: PgCluster = {
    host: '127.0.0.1',
    get port() { return port; },
    superuser: 'postgres',
    password,
    dir,
    url(o: PgUrlOptions = {}): string {
      const user = encodeURIComponent(o.user ?? 'postgres');
      const pass = encodeURIComponent(o.password ?? password);
      return `postgres://${user}:${pass}@${o.host ?? '127.0.0.1'}:${o.port ?? port}/${encodeURIComponent(o.database ?? 'postgres')}`;
    },
    async connect(database = 'postgres'): Promise<pg.Client> {
      const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password, database });
      c.on('error', () => { /* a killed server: the test sees it on its next query */ });
      await c.connect();
      return c;
    },
    async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = [], database = 'postgres'): Promise<pg.QueryResult<R>> {
      const c = await cluster.connect(database);
      try {
        return await c.query<R>(sql, params);
      } finally {
        await c.end().catch(() => undefined);
      }
    },
    async createDatabase(name?: string): Promise<string> {
      const db = name ?? `db_${Math.random().toString(36).slice(2, 10)}`;
      await cluster.query(`CREATE DATABASE ${pg.escapeIdentifier(db)}`);
      return db;
    },
    postmasterPid(): number {
      const pid = readPid();
      if (pid === undefined) throw new Error('the PostgreSQL server is not running');
      return pid;
    },
    async crash(): Promise<void> {
      const pid = cluster.postmasterPid();
      const kids = childrenOf(pid);
      killTree(pid);
      await waitGone([pid, ...kids], 10_000);
    },
    start,
    async stop(): Promise<void> {
      const pid = readPid();
      if (pid === undefined || !alive(pid)) return;
      process.kill(pid, 'SIGINT');
      await waitGone([pid], 30_000);
    },
    async destroy(): Promise<void> {
      if (destroyed) return;
      destroyed = true;
      detach();
      const pid = readPid();
      if (pid !== undefined && alive(pid)) {
        const kids = childrenOf(pid);
        // immediate shutdown: nothing here needs a checkpoint
        try { process.kill(pid, 'SIGQUIT'); } catch { /* gone */ }
        try {
          await waitGone([pid], 10_000);
        } catch {
          killTree(pid);
        }
        await waitGone(kids, 10_000).catch(() => undefined);
      }
      rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
  return cluster;
}
