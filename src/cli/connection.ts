import { readFileSync } from 'node:fs';
import { openTransport as openClientTransport, type ConnectOptions } from '../client/connect.js';
import { connect, type ArpdClient } from '../client/index.js';
import type { Transport } from '../client/transport.js';
import { ArpdError } from '../errors/index.js';
import { CLI_TIMEOUT_HINT, type ResolvedGlobals } from './global-options.js';
import { info } from './output.js';

/**
 * Connects to the daemon of the data dir, starting it first when none answers (unless
 * `--no-autostart` / `ARPD_NO_AUTOSTART=1`), runs `fn`, and closes the connection. With a daemon URL
 * (`--daemon-url` / `ARP_DAEMON_URL` / `JARVIS_DAEMON_URL`) it talks to that daemon over HTTP instead,
 * and never starts one.
 */
export async function withArpd<T>(g: ResolvedGlobals, fn: (arpd: ArpdClient) => Promise<T>): Promise<T> {
  const arpd = await openArpd(g);
  try {
    return await fn(arpd);
  } catch (err) {
    throw explained(g, err);
  } finally {
    await arpd.close().catch(() => undefined);
  }
}

/** The token for client mode: --token, ARPD_TOKEN, else the data dir's http.token (if there is one). */
function clientToken(g: ResolvedGlobals): string | undefined {
  if (g.token !== undefined) return g.token;
  try {
    const t = readFileSync(g.paths.httpToken, 'utf8').trim();
    return t === '' ? undefined : t;
  } catch {
    return undefined;
  }
}

/** How the globals say to reach the daemon. */
function connectOptions(g: ResolvedGlobals): ConnectOptions {
  if (g.daemonUrl !== undefined) return { url: g.daemonUrl, token: clientToken(g), timeoutMs: g.timeoutMs, timeoutHint: CLI_TIMEOUT_HINT };
  return { dataDir: g.dataDir, socketPath: g.paths.socket, autostart: g.autostart, timeoutMs: g.timeoutMs, timeoutHint: CLI_TIMEOUT_HINT, startTimeoutMs: Math.max(g.timeoutMs, 30_000) };
}

/**
 * An error said the way the CLI says it: a daemon that is not running (how to start it); a daemon URL that wants a
 * token the CLI did not send or that is wrong, or the admin token (or a JWT with the admin scope) for a change the run
 * token may not make (the daemon's message says where the token is and to send it: the CLI user gives it as --token
 * or ARPD_TOKEN).
 */
function explained(g: ResolvedGlobals, err: unknown): unknown {
  if (err instanceof ArpdError && err.code === 'E_DAEMON_NOT_RUNNING' && g.daemonUrl === undefined && !g.autostart) {
    return new ArpdError('E_DAEMON_NOT_RUNNING', `no arpd daemon is running for ${g.dataDir} (auto-start is off): start it with 'arpd daemon start --data-dir ${g.dataDir}'`, { data_dir: g.dataDir });
  }
  if (err instanceof ArpdError && err.code === 'E_UNAUTHORIZED' && g.daemonUrl !== undefined) {
    const how = g.token !== undefined ? 'the CLI sent the one given' : clientToken(g) === undefined ? `the CLI sent none (it reads ${g.paths.httpToken} when there is one)` : `the CLI sent the one in ${g.paths.httpToken}`;
    return new ArpdError('E_UNAUTHORIZED', `${err.message}; ${how}: give it as --token <token> or ARPD_TOKEN=<token>`, err.data, { cause: err });
  }
  // not with --http-auth none: no token helps there (its message says what does)
  if (err instanceof ArpdError && err.code === 'E_FORBIDDEN' && err.data?.['reason'] === 'admin' && g.daemonUrl !== undefined && !/--http-auth none/.test(err.message)) {
    return new ArpdError('E_FORBIDDEN', `${err.message}; from the CLI, give that token as --token <token> or ARPD_TOKEN=<token>`, err.data, { cause: err });
  }
  return err;
}

export async function openArpd(g: ResolvedGlobals): Promise<ArpdClient> {
  try {
    const arpd = await connect(connectOptions(g));
    if (arpd.startedDaemon !== undefined && !g.json) info(`arpd: started the daemon (pid ${String(arpd.startedDaemon.pid)}) for ${g.dataDir}`);
    return arpd;
  } catch (err) {
    throw explained(g, err);
  }
}

/** The raw transport, for `arpd daemon exec` (method names and params as the socket takes them). */
export async function openTransport(g: ResolvedGlobals): Promise<Transport> {
  try {
    const { transport, startedDaemon } = await openClientTransport(connectOptions(g));
    if (startedDaemon !== undefined && !g.json) info(`arpd: started the daemon (pid ${String(startedDaemon.pid)}) for ${g.dataDir}`);
    return transport;
  } catch (err) {
    throw explained(g, err);
  }
}
