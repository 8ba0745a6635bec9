import { connect, type RpcClient } from '../client/index.js';
import { ArpdError } from '../errors/index.js';
import { startDetached } from './daemon-control.js';
import type { ResolvedGlobals } from './global-options.js';
import { info } from './output.js';

/**
 * Connects to the daemon of the data dir, starting it first when none answers (unless
 * `--no-autostart` / `ARPD_NO_AUTOSTART=1`), runs `fn`, and closes the connection.
 */
export async function withClient<T>(g: ResolvedGlobals, fn: (client: RpcClient) => Promise<T>): Promise<T> {
  const client = await openClient(g);
  try {
    return await fn(client);
  } finally {
    await client.close().catch(() => undefined);
  }
}

export async function openClient(g: ResolvedGlobals): Promise<RpcClient> {
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
