import { ArpdError } from '../errors/index.js';
import type { RunStatus, TraceEvent } from '../schemas/types.js';
import type { EventFilter, InstanceProgress, LogEvent } from './client-types.js';
import { PushStream } from './push-stream.js';
import { connect as openRpc, type ConnectOptions as RpcOptions, type RpcClient } from './rpc-client.js';
import { IDEMPOTENT_METHODS, type Transport, type TransportCallOptions } from './transport.js';

/**
 * The typed client's socket transport: JSON-RPC on the daemon's Unix socket. Requests share one
 * connection; each stream (a run's trace, the event log, an instance start with progress) gets a
 * connection of its own, so its notifications need no sorting and closing it ends the stream on the
 * daemon too. A stream's connection is paused while its reader is behind (see PushStream).
 */
export class SocketTransport implements Transport {
  readonly kind = 'socket' as const;
  /** The stream connections open now, so that close() ends them too. */
  private readonly streams = new Set<RpcClient>();
  private closed = false;

  private constructor(private readonly rpc: RpcClient, private readonly options: RpcOptions) {}

  static async open(socketPath: string, options: RpcOptions): Promise<SocketTransport> {
    return new SocketTransport(await openRpc(socketPath, options), options);
  }

  get target(): string {
    return this.rpc.socketPath;
  }

  call<T>(method: string, params: Record<string, unknown>, options: TransportCallOptions = {}): Promise<T> {
    return this.rpc.call<T>(method, params, {
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      idempotent: options.idempotent ?? IDEMPOTENT_METHODS.has(method),
    });
  }

  async *followRun(runId: string, fromSeq: number, signal: AbortSignal): AsyncGenerator<TraceEvent, RunStatus, undefined> {
    const rpc = await this.dedicated();
    const stream = this.streamOn<TraceEvent, RunStatus>(rpc, signal);
    rpc.onNotification('runs.trace', (p) => {
      const { run_id: id, line } = p as { run_id?: unknown; line?: TraceEvent };
      if (id === runId && line !== undefined) stream.push(line);
    });
    rpc.call<RunStatus>('runs.follow', { run_id: runId, from_seq: fromSeq }, { timeoutMs: 0 }).then((s) => stream.end(s), (e: unknown) => stream.fail(e));
    try {
      for (let r = await stream.next(); ; r = await stream.next()) {
        if (r.done === true) return r.value;
        yield r.value;
      }
    } finally {
      await this.release(rpc);
    }
  }

  async *subscribeEvents(query: EventFilter & { fromSeq?: number | undefined }, signal: AbortSignal): AsyncGenerator<LogEvent, void, undefined> {
    const rpc = await this.dedicated();
    const stream = this.streamOn<LogEvent, void>(rpc, signal);
    rpc.onNotification('events.event', (p) => {
      const event = (p as { event?: LogEvent }).event;
      if (event !== undefined) stream.push(event);
    });
    // the daemon ends a subscription it cannot serve (a storage failure, damaged history, a slow reader) with this
    rpc.onNotification('events.error', (p) => stream.fail(ArpdError.fromWire((p as { error?: unknown }).error)));
    const params = {
      ...(query.fromSeq === undefined ? {} : { from_seq: query.fromSeq }),
      ...(query.types === undefined ? {} : { types: query.types }),
      ...(query.stream === undefined ? {} : { stream: query.stream }),
    };
    rpc.call('events.subscribe', params, { timeoutMs: this.options.timeoutMs ?? 30_000 }).catch((e: unknown) => stream.fail(e));
    try {
      for (let r = await stream.next(); r.done !== true; r = await stream.next()) yield r.value;
    } finally {
      await this.release(rpc);
    }
  }

  async createInstances(params: Record<string, unknown>, onProgress: ((p: InstanceProgress) => void) | undefined, options: TransportCallOptions): Promise<unknown> {
    if (onProgress === undefined) return this.call('instances.create', params, options);
    const rpc = await this.dedicated();
    try {
      rpc.onNotification('instances.progress', (p) => {
        const { instance_id: id, line } = p as { instance_id?: unknown; line?: unknown };
        if (typeof id === 'string' && typeof line === 'string') onProgress({ instance_id: id, line });
      });
      return await rpc.call('instances.create', params, {
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
    } finally {
      await this.release(rpc);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.streams].map((rpc) => rpc.close()));
    await this.rpc.close();
  }

  /**
   * A connection for one stream: no retries (a stream is resumed by seq, not resent), no time limit. Refused once the
   * transport is closed, like a call: a stream opened then would hold the process open with nothing to close it.
   */
  private async dedicated(): Promise<RpcClient> {
    const closedError = (): ArpdError => new ArpdError('E_UNAVAILABLE', 'this client is closed; connect again');
    if (this.closed) throw closedError();
    const rpc = await openRpc(this.rpc.socketPath, { ...this.options, retries: 0, timeoutMs: 0 });
    if (this.closed) {
      await rpc.close(); // not yet in streams
      throw closedError();
    }
    this.streams.add(rpc);
    return rpc;
  }

  /** Closes a stream's connection and forgets it. */
  private release(rpc: RpcClient): Promise<void> {
    this.streams.delete(rpc);
    return rpc.close();
  }

  /** A bounded queue fed by the connection's notifications; a lost or dropped connection, or `signal`, fails it. */
  private streamOn<T, R>(rpc: RpcClient, signal: AbortSignal): PushStream<T, R> {
    const stream = new PushStream<T, R>({ pause: () => rpc.pause(), resume: () => rpc.resume(), cancel: () => { void this.release(rpc); } });
    rpc.onNotification('rpc.dropped', (p) => stream.fail(ArpdError.fromWire(p)));
    rpc.onDisconnect((err) => stream.fail(err));
    const abort = (): void => {
      stream.fail(signal.reason instanceof ArpdError ? signal.reason : new ArpdError('E_CANCELED', 'the stream was closed by its reader'));
      void this.release(rpc);
    };
    if (signal.aborted) abort();
    else signal.addEventListener('abort', abort, { once: true });
    return stream;
  }
}
