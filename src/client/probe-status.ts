import type { DaemonStatus } from './client-types.js';
import { connect, type RpcClient } from './rpc-client.js';

/** Asks the daemon on the socket for its status; undefined if nothing answers (one try, no retries). */
export async function probeStatus(socketPath: string, timeoutMs = 2000): Promise<DaemonStatus | undefined> {
  let client: RpcClient | undefined;
  try {
    client = await connect(socketPath, { connectTimeoutMs: timeoutMs, timeoutMs, retries: 0 });
    return await client.call<DaemonStatus>('daemon.status', {});
  } catch {
    return undefined;
  } finally {
    await client?.close().catch(() => undefined);
  }
}
