import { readFileSync } from 'node:fs';
import { connect, type RpcClient } from '../client/index.js';
import { HttpClient } from '../client/http-client.js';
import { ArpdError } from '../errors/index.js';
import { startDetached } from './daemon-control.js';
import type { ResolvedGlobals } from './global-options.js';
import { info } from './output.js';

/**
 * Connects to the daemon of the data dir, starting it first when none answers (unless
 * `--no-autostart` / `ARPD_NO_AUTOSTART=1`), runs `fn`, and closes the connection. With a daemon URL
 * (`--daemon-url` / `ARP_DAEMON_URL`) it talks to that daemon over HTTP instead, and never starts one.
 */
export async function withClient<T>(g: ResolvedGlobals, fn: (client: RpcClient) => Promise<T>): Promise<T> {
  const client = await openClient(g);
  try {
    return await fn(client);
  } finally {
    await client.close().catch(() => undefined);
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

export async function openClient(g: ResolvedGlobals): Promise<RpcClient> {
  if (g.daemonUrl !== undefined) return new HttpClient(g.daemonUrl, { token: clientToken(g), timeoutMs: g.timeoutMs });
  const opts = { timeoutMs: g.timeoutMs, connectTimeoutMs: 5000 };
  try {
    return await connect(g.paths.socket, opts);
  } catch (err) {
    if (!(err instanceof ArpdError) || err.code !== 'E_DAEMON_NOT_RUNNING') throw err;
    if (!g.autostart) {
      throw new ArpdError('E_DAEMON_NOT_RUNNING', `no arpd daemon is running for ${g.dataDir} (auto-start is off): start it with 'arpd daemon start --data-dir ${g.dataDir}'`, { data_dir: g.dataDir });
    }
  }
  const started = await startDetached({ paths: g.paths, timeoutMs: Math.max(g.timeoutMs, 30_000) });
  if (!started.alreadyRunning && !g.json) info(`arpd: started the daemon (pid ${String(started.status['pid'])}) for ${g.dataDir}`);
  return connect(g.paths.socket, opts);
}
