import { dataPaths, resolveDataDir } from '../config/data-dir.js';
import { ArpdError } from '../errors/index.js';
import { Client } from './arpd-client.js';
import type { ArpdClient, DaemonStatus } from './client-types.js';
import { checkTimeLimit } from './rpc-client.js';
import type { Transport } from './transport.js';

interface CommonOptions {
  /** Default time limit of each request; 0 means none, at most 2147483647 (about 24 days). Default 30 s. */
  timeoutMs?: number;
  /**
   * How an E_TIMEOUT message tells the user to allow more time, for a tool that offers the limit under a name of its own
   * (arpd's CLI gives '--timeout <seconds>'). Default: 'the timeoutMs option (of connect() or of the call)'.
   */
  timeoutHint?: string;
}

/** The daemon of a data dir (`<dataDir>/arpd.sock`), or of a socket path. */
export interface SocketConnectOptions extends CommonOptions {
  /** The daemon's data dir; default `$ARPD_HOME`, else `~/.arpd`. */
  dataDir?: string;
  /** The socket, if not `<dataDir>/arpd.sock`. */
  socketPath?: string;
  /** Start the daemon (detached, like `arpd daemon start`) when none answers. Default false. */
  autostart?: boolean;
  /** `arpd serve` flags for a daemon started by `autostart`, e.g. `['--no-http']`. */
  serveArgs?: string[];
  /** How long a started daemon may take to be ready. Default 30 s. */
  startTimeoutMs?: number;
  /** Time limit for opening the socket. Default 5 s. */
  connectTimeoutMs?: number;
  /** How many times an idempotent request is sent again after a lost connection. Default 5. */
  retries?: number;
  url?: undefined;
}

/** A daemon reached over its HTTP API (`<data-dir>/http.url`), with its bearer token (`<data-dir>/http.token`). */
export interface HttpConnectOptions extends CommonOptions {
  url: string;
  token?: string | undefined;
  /**
   * How long an open stream (`runs.follow`, `runs.wait`, `events.subscribe`) may bring nothing, not even the daemon's
   * heartbeat (every 15 s), before it rejects with E_UNAVAILABLE: a daemon or network gone without closing the
   * connection. 0 means none, at most 2147483647. Default 45 s.
   */
  streamIdleMs?: number;
}

export type ConnectOptions = SocketConnectOptions | HttpConnectOptions;

/**
 * Connects to an arpd daemon: over its Unix socket (`{ dataDir }`, `{ socketPath }`, or nothing for the
 * default data dir) or over HTTP (`{ url, token }`). The socket form resolves once the socket answers
 * (E_DAEMON_NOT_RUNNING if none does, unless `autostart`); the HTTP form checks the URL and meets the
 * daemon at the first request. Each transport is loaded only when used.
 */
export async function connect(options: ConnectOptions = {}): Promise<ArpdClient> {
  const { transport, startedDaemon } = await openTransport(options);
  return new Client(transport, startedDaemon);
}

/** The transport `connect` builds the client on (for arpd's CLI `daemon exec`, which sends raw method calls). */
export async function openTransport(options: ConnectOptions = {}): Promise<{ transport: Transport; startedDaemon: DaemonStatus | undefined }> {
  checkTimeLimit('timeoutMs', options.timeoutMs);
  if (options.timeoutHint !== undefined && (typeof options.timeoutHint !== 'string' || options.timeoutHint.trim() === '')) {
    throw new ArpdError('E_VALIDATION', `timeoutHint must be a non-empty text (how your users allow more time, e.g. '--timeout <seconds>'), not ${JSON.stringify(options.timeoutHint)}`, { field: 'timeoutHint' });
  }
  if (options.url === undefined) {
    checkTimeLimit('connectTimeoutMs', options.connectTimeoutMs);
    checkTimeLimit('startTimeoutMs', options.startTimeoutMs);
  }
  if (options.url !== undefined) {
    checkTimeLimit('streamIdleMs', options.streamIdleMs);
    const { HttpTransport } = await import('./http-transport.js');
    return {
      transport: new HttpTransport(options.url, {
        token: options.token,
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.streamIdleMs === undefined ? {} : { streamIdleMs: options.streamIdleMs }),
        ...(options.timeoutHint === undefined ? {} : { timeoutHint: options.timeoutHint }),
      }),
      startedDaemon: undefined,
    };
  }
  const o = options;
  if (o.autostart === true && o.dataDir === undefined && o.socketPath !== undefined) {
    throw new ArpdError('E_VALIDATION', 'autostart needs the data dir of the daemon to start: give dataDir (and socketPath if it is not <dataDir>/arpd.sock)', { field: 'dataDir' });
  }
  const paths = dataPaths(resolveDataDir(o.dataDir), o.socketPath);
  const { SocketTransport } = await import('./socket-transport.js');
  const rpcOptions = {
    ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    connectTimeoutMs: o.connectTimeoutMs ?? 5000,
    ...(o.retries === undefined ? {} : { retries: o.retries }),
    ...(o.timeoutHint === undefined ? {} : { timeoutHint: o.timeoutHint }),
  };
  try {
    return { transport: await SocketTransport.open(paths.socket, rpcOptions), startedDaemon: undefined };
  } catch (err) {
    if (!(err instanceof ArpdError) || err.code !== 'E_DAEMON_NOT_RUNNING' || o.autostart !== true) throw err;
  }
  const { startDetached } = await import('./daemon-start.js');
  const started = await startDetached({ paths, timeoutMs: o.startTimeoutMs ?? 30_000, ...(o.serveArgs === undefined ? {} : { serveArgs: o.serveArgs }) });
  return { transport: await SocketTransport.open(paths.socket, rpcOptions), startedDaemon: started.alreadyRunning ? undefined : started.status };
}
