/**
 * The NDJSON JSON-RPC transport on a Unix socket: frames lines, hands them to the dispatcher and
 * writes the answers back. Requests on one connection run concurrently and each answer is written
 * when it is ready, so answers can come out of order (the client matches them by id).
 *
 * Memory per connection is bounded: a line is at most `maxLineBytes` (the framer), at most
 * `maxInFlightPerConnection` requests run at once and reading pauses while the client does not read
 * its answers, and a connection whose unread output passes `maxQueuedBytesPerConnection` when a
 * notification is to be sent is dropped with one last `rpc.dropped` notification.
 *
 * Length: over 300 lines because the per-connection flow control (line limits, in-flight cap, backpressure, drop)
 * is one state machine per connection; the method table and parameter parsing live in socket-methods.ts.
 */
import { chmod, lstat, mkdir, stat } from 'node:fs/promises';
import { unlinkSync, lstatSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ArpdError } from '../errors/index.js';
import { NdjsonFramer, type FrameItem } from '../protocol/ndjson-framer.js';
import { checkSocketPath } from '../protocol/socket-path.js';
import { DEFAULT_MAX_CONNECTIONS } from './connection-limit.js';
import { errorResponseLine, type CallContext, type Dispatcher } from './rpc-dispatch.js';

/** Moved to src/protocol; re-exported here until the server's callers import it from there. */
export { checkNotOtherFile, checkSocketPath, MAX_SOCKET_PATH_BYTES } from '../protocol/socket-path.js';

export const DEFAULT_MAX_QUEUED_BYTES_PER_CONNECTION = 8 * 1024 * 1024;
export const DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION = 1024;
export const DEFAULT_END_GRACE_MS = 2000;

export interface SocketServerOptions {
  socketPath: string;
  dispatcher: Dispatcher;
  /** Default 1 MiB. */
  maxLineBytes?: number;
  /** Unread output a connection may have before a notification to it drops it. Default 8 MiB. */
  maxQueuedBytesPerConnection?: number;
  /** Requests run at once per connection before reading from it pauses. Default 1024. */
  maxInFlightPerConnection?: number;
  /** After the server ends a connection (close or slow consumer), how long the peer has to read what is left before it is destroyed. Default 2000. */
  endGraceMs?: number;
  /** Open connections at most (default 1024, connection-limit.ts): one more is told why in an error line and ended. */
  maxConnections?: number;
  /** A connection was refused for `maxConnections` (counted and logged by the daemon). */
  onRefused?: () => void;
  /** Failures that are not a client's fault (a server socket error, a throwing onClose callback). Default: console.error. */
  onInternalError?: (err: unknown) => void;
}

export interface SocketServer {
  readonly path: string;
  /** Open connections. */
  connections(): number;
  /** Stops accepting, lets running requests answer, ends every connection and removes the socket file. */
  close(): Promise<void>;
}

interface Limits {
  maxLineBytes: number | undefined;
  maxQueuedBytes: number;
  maxInFlight: number;
  endGraceMs: number;
}

export async function startSocketServer(options: SocketServerOptions): Promise<SocketServer> {
  const { socketPath, dispatcher } = options;
  checkSocketPath(socketPath);
  const onInternalError =
    options.onInternalError ?? ((err: unknown) => console.error('arpd: socket server internal error:', err));
  const limits: Limits = {
    maxLineBytes: options.maxLineBytes,
    maxQueuedBytes: options.maxQueuedBytesPerConnection ?? DEFAULT_MAX_QUEUED_BYTES_PER_CONNECTION,
    maxInFlight: options.maxInFlightPerConnection ?? DEFAULT_MAX_IN_FLIGHT_PER_CONNECTION,
    endGraceMs: options.endGraceMs ?? DEFAULT_END_GRACE_MS,
  };
  // Built before listening so that a bad maxLineBytes fails here, not on the first connection.
  new NdjsonFramer(limits.maxLineBytes === undefined ? {} : { maxLineBytes: limits.maxLineBytes });

  await prepareDirectory(path.dirname(socketPath));

  const live = new Map<Connection, Promise<void>>();
  let nextConnection = 0;
  let closing: Promise<void> | undefined;
  const maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    if (closing !== undefined) {
      socket.destroy();
      return;
    }
    if (live.size >= maxConnections) {
      refuse(socket, maxConnections, limits.endGraceMs);
      options.onRefused?.();
      return;
    }
    nextConnection += 1;
    let gone: () => void = () => {};
    const closed = new Promise<void>((resolve) => (gone = resolve));
    const conn = new Connection(socket, `conn-${nextConnection}`, dispatcher, limits, onInternalError, () => {
      live.delete(conn);
      gone();
    });
    live.set(conn, closed);
  });

  await listen(server, socketPath);
  let identity: { dev: number; ino: number };
  try {
    await chmod(socketPath, 0o600);
    const st = await stat(socketPath);
    if (!st.isSocket() || (st.mode & 0o777) !== 0o600) {
      throw new ArpdError('E_INTERNAL', `socket '${socketPath}' has mode ${(st.mode & 0o777).toString(8)}, not 600 after chmod`);
    }
    identity = { dev: st.dev, ino: st.ino };
  } catch (err) {
    server.close();
    throw err instanceof ArpdError
      ? err
      : new ArpdError('E_INTERNAL', `could not make socket '${socketPath}' private (mode 600)`, { socketPath }, { cause: err });
  }
  server.on('error', onInternalError);

  const unlinkOwnSocket = (): void => {
    // libuv already unlinks the path when the listening handle closes (whatever file is there by
    // then; the daemon's data-dir lock keeps a second daemon off the path). This is the explicit
    // step, and it removes only the file this server made.
    try {
      const st = lstatSync(socketPath);
      if (st.dev === identity.dev && st.ino === identity.ino) unlinkSync(socketPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') onInternalError(err);
    }
  };

  return {
    path: socketPath,
    connections: () => live.size,
    close(): Promise<void> {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        unlinkOwnSocket();
        const remaining = [...live.values()];
        for (const conn of live.keys()) conn.shutdown();
        await Promise.all([closed, ...remaining]);
      })();
      return closing;
    },
  };
}

async function prepareDirectory(dir: string): Promise<void> {
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw directoryError(dir, err);
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await chmod(dir, 0o700);
    } catch (mkErr) {
      throw directoryError(dir, mkErr);
    }
    return;
  }
  if (st.isSymbolicLink()) st = await stat(dir).catch((err: unknown) => Promise.reject(directoryError(dir, err)));
  if (!st.isDirectory()) {
    throw new ArpdError('E_VALIDATION', `socket directory '${dir}' is not a directory: use --socket with a path in a directory`, {
      field: 'socketPath',
    });
  }
  // Anyone who can write the directory can replace the socket with their own, unless the sticky bit stops them.
  if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0) {
    const mode = (st.mode & 0o7777).toString(8);
    throw new ArpdError(
      'E_VALIDATION',
      `socket directory '${dir}' is writable by other users (mode ${mode}): run chmod 700 '${dir}' or use --socket in a private directory`,
      { field: 'socketPath', mode },
    );
  }
}

function directoryError(dir: string, err: unknown): ArpdError {
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
  return new ArpdError('E_VALIDATION', `socket directory '${dir}' cannot be used (${code}): use --socket with a path in a directory you own`, {
    field: 'socketPath',
    errno: code,
  }, { cause: err });
}

/**
 * A connection past the cap: one error line says why (`id: null`: it answers no request of its own; the client
 * gives it to the calls it sent), nothing it sends is read, and it is destroyed if its peer has not closed it
 * within the grace time.
 */
function refuse(socket: net.Socket, max: number, graceMs: number): void {
  socket.on('error', () => {});
  socket.pause();
  const err = new ArpdError(
    'E_UNAVAILABLE',
    `the daemon already has ${max} connections open on its socket, its limit (--max-connections): close the clients you do not need and try again, or restart the daemon with a higher --max-connections`,
    { limit: max },
  );
  socket.end(`${errorResponseLine(null, err)}\n`);
  setTimeout(() => socket.destroy(), graceMs).unref();
}

function listen(server: net.Server, socketPath: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      reject(listenError(err, socketPath));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // The socket file is created by bind(), synchronously inside listen(): a umask of 177 makes it
    // 0600 from the first instant. umask is process-wide, so it is restored at once. (A worker
    // thread cannot set it; the chmod after listen still applies there.)
    let previous: number | undefined;
    try {
      previous = process.umask(0o177);
    } catch {
      previous = undefined;
    }
    try {
      server.listen(socketPath);
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
  });
}

function listenError(err: NodeJS.ErrnoException, socketPath: string): ArpdError {
  switch (err.code) {
    case 'EADDRINUSE':
      return new ArpdError(
        'E_UNAVAILABLE',
        `socket '${socketPath}' is in use: another arpd daemon may be running (see 'arpd daemon status'), or a stale socket file is left; stop that daemon or use --socket with another path`,
        { socketPath },
        { cause: err },
      );
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'ENOENT':
    case 'ENOTDIR':
      return new ArpdError('E_VALIDATION', `cannot create socket '${socketPath}' (${err.code}): use --socket with a path in a directory you can write`, {
        field: 'socketPath',
        errno: err.code,
      }, { cause: err });
    default:
      return new ArpdError('E_INTERNAL', `cannot listen on socket '${socketPath}' (${err.code ?? err.message})`, { socketPath }, { cause: err });
  }
}

/** One client connection: framing in, concurrent dispatch, bounded output. */
class Connection {
  private readonly framer: NdjsonFramer;
  private readonly abort = new AbortController();
  private readonly ctx: CallContext;
  private closeCallbacks: (() => void)[] = [];
  private closedFired = false;
  private inFlight = 0;
  private readEnded = false;
  private shuttingDown = false;
  /** Set once this side has ended or dropped the connection: nothing more is read or written. */
  private ending = false;
  private paused = false;
  private graceTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly socket: net.Socket,
    readonly id: string,
    private readonly dispatcher: Dispatcher,
    private readonly limits: Limits,
    private readonly onInternalError: (err: unknown) => void,
    private readonly onGone: () => void,
  ) {
    this.framer = new NdjsonFramer(limits.maxLineBytes === undefined ? {} : { maxLineBytes: limits.maxLineBytes });
    this.ctx = {
      connectionId: id,
      signal: this.abort.signal,
      notify: (method, params) => this.notify(method, params),
      onClose: (cb) => this.onClose(cb),
      hasRoom: () => !this.ending && this.socket.writableLength < this.limits.maxQueuedBytes / 2,
      drained: () => new Promise<void>((resolve) => {
        if (this.ending || this.socket.destroyed || this.socket.writableLength === 0) { resolve(); return; }
        const done = (): void => { this.socket.off('drain', done); this.socket.off('close', done); resolve(); };
        this.socket.once('drain', done);
        this.socket.once('close', done);
      }),
    };
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('drain', () => this.updateFlow());
    // ECONNRESET, EPIPE and the like: the peer went away. 'close' follows and cleans up.
    socket.on('error', () => {});
    socket.on('close', () => this.onSocketClose());
  }

  /** Server shutdown: stop reading, cancel handlers, answer what is running, then end. */
  shutdown(): void {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.fireClose(new ArpdError('E_UNAVAILABLE', 'the daemon is shutting down: try again once it is running'));
    this.startGraceTimer();
    this.maybeEnd();
  }

  private onData(chunk: Buffer): void {
    if (this.ending || this.shuttingDown) return;
    for (const item of this.framer.push(chunk)) this.handle(item);
  }

  /**
   * EOF from the client. On a Unix socket a half-close cannot be told from a full close until a
   * write fails, so EOF counts as a disconnect: the signal aborts and onClose callbacks run (no
   * long poll or subscription outlives its client). Requests still running may answer; those
   * answers reach a client that only half-closed (`socat`, `nc -N`), then the server ends.
   */
  private onEnd(): void {
    this.readEnded = true;
    if (!this.ending && !this.shuttingDown) {
      for (const item of this.framer.end()) this.handle(item);
    }
    this.fireClose(new ArpdError('E_CANCELED', 'the client disconnected'));
    this.maybeEnd();
  }

  private handle(item: FrameItem): void {
    if (item.kind === 'oversized') {
      const limit = this.framer.maxLineBytes;
      this.write(
        errorResponseLine(
          null,
          new ArpdError(
            'E_TOO_LARGE',
            `request line is over the ${limit}-byte limit (${item.bytes} bytes so far): it was skipped; send smaller requests`,
            { limit, bytes: item.bytes },
          ),
        ),
      );
      return;
    }
    this.inFlight += 1;
    this.updateFlow();
    this.dispatcher
      .handleLine(item.text, this.ctx)
      .then(
        (response) => {
          if (response !== null) this.write(response);
        },
        (err: unknown) => this.onInternalError(err),
      )
      .finally(() => {
        this.inFlight -= 1;
        this.updateFlow();
        this.maybeEnd();
      });
  }

  /** Answers are always written while the connection is open; reading pauses while the client lags. */
  private write(line: string): boolean {
    if (this.ending || this.socket.destroyed || !this.socket.writable) return false;
    this.socket.write(`${line}\n`);
    this.updateFlow();
    return true;
  }

  private notify(method: string, params: unknown): boolean {
    if (this.ending || this.closedFired || this.socket.destroyed || !this.socket.writable) return false;
    let line: string;
    try {
      line = JSON.stringify(params === undefined ? { jsonrpc: '2.0', method } : { jsonrpc: '2.0', method, params });
    } catch (err) {
      this.onInternalError(err);
      return false;
    }
    if (this.socket.writableLength + Buffer.byteLength(line) + 1 > this.limits.maxQueuedBytes) {
      this.dropSlowConsumer();
      return false;
    }
    return this.write(line);
  }

  private dropSlowConsumer(): void {
    const limit = this.limits.maxQueuedBytes;
    const message = `this connection fell more than ${limit} bytes behind in reading and was dropped: read notifications as they come, then connect and subscribe again`;
    this.fireClose(new ArpdError('E_SLOW_CONSUMER', message));
    this.endNow(JSON.stringify({ jsonrpc: '2.0', method: 'rpc.dropped', params: { code: 'E_SLOW_CONSUMER', message } }));
  }

  private maybeEnd(): void {
    if (this.ending || this.inFlight > 0) return;
    if (this.readEnded || this.shuttingDown) this.endNow();
  }

  /** Ends our side (after `lastLine`, best effort) and destroys the socket if the peer has not closed within the grace time. */
  private endNow(lastLine?: string): void {
    if (this.ending) return;
    this.ending = true;
    if (!this.socket.destroyed) {
      if (this.socket.writable) {
        if (lastLine === undefined) this.socket.end();
        else this.socket.end(`${lastLine}\n`);
      }
      // Keep reading (and discarding) so that the peer's EOF is seen.
      this.socket.resume();
    }
    this.startGraceTimer();
  }

  private startGraceTimer(): void {
    if (this.graceTimer !== undefined || this.socket.destroyed) return;
    this.graceTimer = setTimeout(() => this.socket.destroy(), this.limits.endGraceMs);
    this.graceTimer.unref();
  }

  private updateFlow(): void {
    if (this.ending || this.socket.destroyed) return;
    const shouldPause = this.inFlight >= this.limits.maxInFlight || this.socket.writableLength > this.limits.maxQueuedBytes;
    if (shouldPause && !this.paused) {
      this.paused = true;
      this.socket.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      this.socket.resume();
    }
  }

  private onClose(cb: () => void): void {
    if (this.closedFired) {
      queueMicrotask(() => this.runCallback(cb));
    } else {
      this.closeCallbacks.push(cb);
    }
  }

  /** Aborts the signal and runs the onClose callbacks, once. */
  private fireClose(reason: ArpdError): void {
    if (this.closedFired) return;
    this.closedFired = true;
    this.abort.abort(reason);
    const callbacks = this.closeCallbacks;
    this.closeCallbacks = [];
    for (const cb of callbacks) this.runCallback(cb);
  }

  private runCallback(cb: () => void): void {
    try {
      cb();
    } catch (err) {
      this.onInternalError(err);
    }
  }

  private onSocketClose(): void {
    if (this.graceTimer !== undefined) clearTimeout(this.graceTimer);
    this.ending = true;
    this.fireClose(new ArpdError('E_CANCELED', 'the client disconnected'));
    this.onGone();
  }
}
