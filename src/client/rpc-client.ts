/**
 * The JSON-RPC 2.0 transport under the typed client: NDJSON lines on the daemon's Unix socket,
 * requests matched to answers by id, server notifications to callbacks. Errors come back as ArpdError
 * with the daemon's stable code and data. Node built-ins and arpd's own files only: it runs in every
 * short-lived CLI process.
 *
 * Length: over 300 lines because it holds the whole wire protocol of the client (framing, id matching, notifications,
 * streams with resume, connection loss) with no dependency; each piece is small and they share the connection.
 */
import { statSync } from 'node:fs';
import net from 'node:net';
import { ArpdError } from '../errors/index.js';
import { DEFAULT_MAX_LINE_BYTES, NdjsonFramer } from '../protocol/ndjson-framer.js';
import { checkSocketPath } from '../protocol/socket-path.js';

const MAX_TIME_LIMIT_MS = 2_147_483_647;

/**
 * (Here, not in transport.ts: `arpd daemon status` loads only this module of the client.) A caller's time limit, checked: 0 (none) or a whole number of ms up to MAX_TIME_LIMIT_MS. Node fires a longer timer
 * (or Infinity) after 1 ms, which failed every request with E_TIMEOUT, and a negative or NaN one meant no limit.
 */
export function checkTimeLimit(field: string, value: number | undefined): void {
  if (value === undefined || (Number.isSafeInteger(value) && value >= 0 && value <= MAX_TIME_LIMIT_MS)) return;
  throw new ArpdError('E_VALIDATION', `${field} must be 0 (no limit) or a whole number of milliseconds up to ${MAX_TIME_LIMIT_MS} (about 24 days), not ${String(value)}`, { field });
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
const DEFAULT_RETRIES = 5;
const DEFAULT_RETRY_DELAY_MS = 100;
const MAX_RETRY_DELAY_MS = 2_000;
/** Answers can be much larger than requests (a page of events); a line over this ends the connection. */
const DEFAULT_MAX_RESPONSE_LINE_BYTES = 64 * 1024 * 1024;

export interface ConnectOptions {
  /** Default time limit of a call, retries included. 0 means none. Default 30 s. */
  timeoutMs?: number;
  /** Time limit for opening the socket. Default 5 s. */
  connectTimeoutMs?: number;
  /** How many times an idempotent call is sent again after a lost connection. Default 5. */
  retries?: number;
  /** Wait before the first retry; it doubles each time, up to 2 s. Default 100 ms. */
  retryDelayMs?: number;
  /** Largest answer line accepted. Default 64 MiB. */
  maxLineBytes?: number;
  /** How an E_TIMEOUT message says to allow more time. Default: the SDK's timeoutMs option; arpd's CLI names --timeout. */
  timeoutHint?: string;
}

/** What a time-limit error tells an SDK caller to change (arpd's CLI names its --timeout flag instead). */
export const SDK_TIMEOUT_HINT = 'the timeoutMs option (of connect() or of the call)';

export interface CallOptions {
  /** Time limit of this call, retries included; 0 means none. Default: the client's timeoutMs. */
  timeoutMs?: number;
  /** Safe to send again: on a lost connection or E_UNAVAILABLE the client reconnects and resends. */
  idempotent?: boolean;
  /** Aborting rejects the call with E_CANCELED (the daemon may still do the work). */
  signal?: AbortSignal;
}

export type RpcParams = Readonly<Record<string, unknown>> | readonly unknown[];

export interface RpcNotification {
  readonly method: string;
  readonly params: unknown;
}

export interface RpcClient {
  readonly socketPath: string;
  /** Calls `method`; resolves to its result (unchecked: validate it if you do not trust the shape). */
  call<T = unknown>(method: string, params?: RpcParams, options?: CallOptions): Promise<T>;
  /** Calls `cb` with every notification the daemon sends, across reconnects; returns the function that stops it. */
  onAnyNotification(cb: (n: RpcNotification) => void): () => void;
  /** Calls `cb` with the params of each notification named `method`; returns the function that stops it. */
  onNotification(method: string, cb: (params: unknown) => void): () => void;
  /** Calls `cb` when an open connection is lost (subscriptions made on it are gone); returns the function that stops it. */
  onDisconnect(cb: (err: ArpdError) => void): () => void;
  /**
   * Stops reading from the socket (answers and notifications wait in the kernel and then in the daemon,
   * which drops a connection that falls too far behind). For a connection that carries one stream.
   */
  pause(): void;
  resume(): void;
  /** Rejects calls still waiting with E_CANCELED and closes the connection; no callback runs after it. */
  close(): Promise<void>;
}

/** Opens a connection to the daemon; rejects E_DAEMON_NOT_RUNNING if nothing listens on the socket. */
export async function connect(socketPath: string, options: ConnectOptions = {}): Promise<RpcClient> {
  const client = new Client(socketPath, options);
  await client.open();
  return client;
}

/** Connects, makes one call and closes. */
export async function callOnce<T = unknown>(
  socketPath: string,
  method: string,
  params?: RpcParams,
  options: ConnectOptions & CallOptions = {},
): Promise<T> {
  const client = await connect(socketPath, options);
  try {
    return await client.call<T>(method, params, options);
  } finally {
    await client.close();
  }
}

interface Pending {
  readonly method: string;
  resolve(value: unknown): void;
  reject(err: ArpdError): void;
}

/** One open socket. The client makes a new one after a loss. */
interface Link {
  readonly socket: net.Socket;
  readonly pending: Map<number, Pending>;
  lost: boolean;
  /** An error the daemon sent for no request of ours (`id: null`), e.g. why it ends this connection. */
  told?: ArpdError;
}

class Client implements RpcClient {
  private readonly notificationListeners = new Set<(n: RpcNotification) => void>();
  private readonly disconnectListeners = new Set<(err: ArpdError) => void>();
  private paused = false;
  private link: Link | undefined;
  private linking: Promise<Link> | undefined;
  private nextId = 1;
  private closed = false;

  constructor(
    readonly socketPath: string,
    private readonly options: ConnectOptions,
  ) {
    checkSocketPath(socketPath);
  }

  async open(): Promise<void> {
    await this.ensureLink();
  }

  onAnyNotification(cb: (n: RpcNotification) => void): () => void {
    const listener = (n: RpcNotification): void => cb(n);
    this.notificationListeners.add(listener);
    return () => this.notificationListeners.delete(listener);
  }

  onNotification(method: string, cb: (params: unknown) => void): () => void {
    return this.onAnyNotification((n) => {
      if (n.method === method) cb(n.params);
    });
  }

  onDisconnect(cb: (err: ArpdError) => void): () => void {
    const listener = (err: ArpdError): void => cb(err);
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  pause(): void {
    this.paused = true;
    this.link?.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.link?.socket.resume();
  }

  async call<T = unknown>(method: string, params?: RpcParams, options: CallOptions = {}): Promise<T> {
    if (this.closed) throw new ArpdError('E_UNAVAILABLE', `cannot call '${method}': this client is closed; connect again`);
    checkTimeLimit('timeoutMs', options.timeoutMs);
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const retries = options.idempotent === true ? (this.options.retries ?? DEFAULT_RETRIES) : 0;
    const deadline = new AbortController();
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            deadline.abort(
              new ArpdError(
                'E_TIMEOUT',
                `'${method}' got no answer within ${timeoutMs} ms: the daemon may be busy; try again or allow more time with ${this.options.timeoutHint ?? SDK_TIMEOUT_HINT}`,
                { method, timeoutMs },
              ),
            );
          }, timeoutMs)
        : undefined;
    const onUserAbort = (): void => {
      deadline.abort(new ArpdError('E_CANCELED', `'${method}' was canceled by the caller`, { method }));
    };
    if (options.signal?.aborted === true) onUserAbort();
    options.signal?.addEventListener('abort', onUserAbort, { once: true });
    try {
      for (let attempt = 0; ; attempt += 1) {
        try {
          return (await this.attempt(method, params, deadline.signal)) as T;
        } catch (err) {
          const e = err instanceof ArpdError ? err : new ArpdError('E_INTERNAL', `'${method}' failed in the client`, undefined, { cause: err });
          if (attempt >= retries || deadline.signal.aborted || !isRetryable(e)) throw e;
          await delay(retryDelay(attempt, this.options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS), deadline.signal);
        }
      }
    } finally {
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onUserAbort);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const link = this.link ?? (await this.linking?.catch(() => undefined));
    this.link = undefined;
    if (link !== undefined) {
      link.lost = true;
      rejectAll(link, new ArpdError('E_CANCELED', 'the call was canceled: the client was closed'));
      if (!link.socket.destroyed) {
        const gone = new Promise<void>((resolve) => link.socket.once('close', () => resolve()));
        link.socket.destroy();
        await gone;
      }
    }
    this.notificationListeners.clear();
    this.disconnectListeners.clear();
  }

  /** One try: sends the request on the current link (opening one if needed) and waits for its answer. */
  private async attempt(method: string, params: RpcParams | undefined, deadline: AbortSignal): Promise<unknown> {
    deadline.throwIfAborted();
    let link = await abortable(this.ensureLink(), deadline);
    // Closed or lost while this call waited for the link: the request was not sent, so one more link is safe.
    if (link.lost && !this.closed) link = await abortable(this.ensureLink(), deadline);
    if (this.closed) throw new ArpdError('E_CANCELED', 'the call was canceled: the client was closed');
    if (link.lost) throw lostError(this.socketPath, method);
    const id = this.nextId;
    this.nextId += 1;
    const line = JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
    const bytes = Buffer.byteLength(line);
    if (bytes > DEFAULT_MAX_LINE_BYTES) {
      throw new ArpdError(
        'E_TOO_LARGE',
        `the request for '${method}' is ${bytes} bytes, over the daemon's ${DEFAULT_MAX_LINE_BYTES}-byte line limit: send less in one call`,
        { method, bytes, limit: DEFAULT_MAX_LINE_BYTES },
      );
    }
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => {
        link.pending.delete(id);
        reject(deadline.reason);
      };
      link.pending.set(id, {
        method,
        resolve: (value) => {
          deadline.removeEventListener('abort', onAbort);
          resolve(value);
        },
        reject: (err) => {
          deadline.removeEventListener('abort', onAbort);
          reject(err);
        },
      });
      deadline.addEventListener('abort', onAbort, { once: true });
      link.socket.write(`${line}\n`);
    });
  }

  private ensureLink(): Promise<Link> {
    if (this.closed) return Promise.reject(new ArpdError('E_UNAVAILABLE', 'this client is closed; connect again'));
    if (this.link !== undefined && !this.link.lost) return Promise.resolve(this.link);
    this.linking ??= this.openLink().finally(() => {
      this.linking = undefined;
    });
    return this.linking;
  }

  private openLink(): Promise<Link> {
    const connectTimeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    return new Promise<Link>((resolve, reject) => {
      const socket = net.createConnection(this.socketPath);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new ArpdError(
            'E_TIMEOUT',
            `connecting to the daemon on '${this.socketPath}' took over ${connectTimeoutMs} ms: it may be stuck; check 'arpd daemon status'`,
            { socketPath: this.socketPath, timeoutMs: connectTimeoutMs },
          ),
        );
      }, connectTimeoutMs);
      const onError = (err: NodeJS.ErrnoException): void => {
        clearTimeout(timer);
        reject(connectError(err, this.socketPath));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        if (this.closed) {
          socket.destroy();
          reject(new ArpdError('E_UNAVAILABLE', 'this client is closed; connect again'));
          return;
        }
        const link: Link = { socket, pending: new Map(), lost: false };
        this.attach(link);
        this.link = link;
        if (this.paused) socket.pause();
        resolve(link);
      });
    });
  }

  private attach(link: Link): void {
    const framer = new NdjsonFramer({ maxLineBytes: this.options.maxLineBytes ?? DEFAULT_MAX_RESPONSE_LINE_BYTES });
    let lostReason: ArpdError | undefined;
    link.socket.on('data', (chunk: Buffer) => {
      for (const item of framer.push(chunk)) {
        if (item.kind === 'oversized') {
          lostReason = new ArpdError(
            'E_TOO_LARGE',
            `the daemon sent an answer over ${framer.maxLineBytes} bytes: ask for less (a smaller page or limit) or raise maxLineBytes`,
            { limit: framer.maxLineBytes },
          );
          link.socket.destroy();
          return;
        }
        this.receive(link, item.text);
      }
    });
    link.socket.on('error', () => {});
    link.socket.on('close', () => {
      if (link.lost) return;
      link.lost = true;
      if (this.link === link) this.link = undefined;
      // the daemon's own reason, when it said one before closing (a refused connection: too many open)
      const err = lostReason ?? link.told ?? lostError(this.socketPath);
      for (const [id, pending] of [...link.pending]) {
        link.pending.delete(id);
        pending.reject(lostReason ?? link.told ?? lostError(this.socketPath, pending.method));
      }
      if (!this.closed) for (const cb of [...this.disconnectListeners]) cb(err);
    });
  }

  private receive(link: Link, text: string): void {
    let message: unknown;
    try {
      message = JSON.parse(text);
    } catch {
      return; // Not JSON: nothing can be matched to it.
    }
    for (const m of Array.isArray(message) ? message : [message]) {
      if (m === null || typeof m !== 'object') continue;
      const msg = m as Record<string, unknown>;
      if (typeof msg.id === 'number' && (Object.hasOwn(msg, 'result') || Object.hasOwn(msg, 'error'))) {
        const pending = link.pending.get(msg.id);
        if (pending === undefined) continue; // Timed out or canceled already.
        link.pending.delete(msg.id);
        if (Object.hasOwn(msg, 'error')) pending.reject(errorFromResponse(msg.error, pending.method));
        else pending.resolve(msg.result);
      } else if (msg.id === null && Object.hasOwn(msg, 'error')) {
        link.told = errorFromResponse(msg.error, 'the connection');
      } else if (typeof msg.method === 'string' && !Object.hasOwn(msg, 'id')) {
        const n: RpcNotification = { method: msg.method, params: msg.params };
        for (const cb of [...this.notificationListeners]) cb(n);
      }
    }
  }
}

/** Rebuilds the daemon's ArpdError from a JSON-RPC error: `data.code` is the stable code, the rest of `data` is the error's data. */
function errorFromResponse(error: unknown, method: string): ArpdError {
  if (error !== null && typeof error === 'object') {
    const e = error as { message?: unknown; data?: unknown };
    const message = typeof e.message === 'string' ? e.message : `'${method}' failed`;
    if (e.data !== null && typeof e.data === 'object' && !Array.isArray(e.data)) {
      const { code, ...rest } = e.data as Record<string, unknown>;
      return ArpdError.fromWire(Object.keys(rest).length === 0 ? { code, message } : { code, message, data: rest });
    }
  }
  return ArpdError.fromWire(error);
}

function rejectAll(link: Link, err: ArpdError): void {
  const pending = [...link.pending.values()];
  link.pending.clear();
  for (const p of pending) p.reject(err);
}

function lostError(socketPath: string, method?: string): ArpdError {
  const during = method === undefined ? '' : ` during '${method}'`;
  return new ArpdError(
    'E_UNAVAILABLE',
    `the connection to the daemon on '${socketPath}' was lost${during}: it may have stopped; check 'arpd daemon status' and try again`,
    method === undefined ? { socketPath } : { socketPath, method },
  );
}

/** The uid owning the socket file, if it can be read. */
function socketOwner(socketPath: string): number | undefined {
  try { return statSync(socketPath).uid; } catch { return undefined; }
}

function connectError(err: NodeJS.ErrnoException, socketPath: string): ArpdError {
  switch (err.code) {
    case 'ENOENT':
    case 'ECONNREFUSED':
      return new ArpdError(
        'E_DAEMON_NOT_RUNNING',
        `no arpd daemon is running on '${socketPath}': start it with 'arpd daemon start'`,
        { socketPath },
        { cause: err },
      );
    case 'EACCES':
    case 'EPERM': {
      const owner = socketOwner(socketPath);
      const mine = owner === undefined || owner === process.getuid?.();
      return new ArpdError(
        'E_FORBIDDEN',
        mine
          ? `permission denied on socket '${socketPath}': you have no write permission on it (or on its directory); give it back with 'chmod 600' (and 700 on the directory), or restart the daemon with 'arpd daemon restart'`
          : `permission denied on socket '${socketPath}': the daemon belongs to another user (uid ${String(owner)}); run arpd as that user or start your own with 'arpd daemon start'`,
        { socketPath, ...(owner === undefined ? {} : { owner_uid: owner }) },
        { cause: err },
      );
    }
    default:
      return new ArpdError('E_UNAVAILABLE', `cannot connect to the daemon on '${socketPath}' (${err.code ?? err.message}): check 'arpd daemon status'`, {
        socketPath,
      }, { cause: err });
  }
}

/** Lost connections, a daemon that is restarting and "try again" answers are worth a retry. */
function isRetryable(err: ArpdError): boolean {
  return err.code === 'E_UNAVAILABLE' || err.code === 'E_DAEMON_NOT_RUNNING';
}

function retryDelay(attempt: number, base: number): number {
  return Math.min(base * 2 ** attempt, MAX_RETRY_DELAY_MS);
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Rejects with the signal's reason as soon as it aborts; the work itself goes on. */
function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
