import type { RunStatus, TraceEvent } from '../schemas/types.js';
import type { EventFilter, InstanceProgress, LogEvent } from './client-types.js';

/**
 * What the typed client needs from a way of reaching the daemon. Two implement it: the Unix socket
 * (`socket-transport.ts`, JSON-RPC) and HTTP (`http-transport.ts`, the ARP Daemon API). Requests are
 * named by the socket's method names, with the socket's params; the HTTP transport maps each onto its
 * route, so both answer with the same shapes and the same ArpdErrors.
 */
export interface Transport {
  readonly kind: 'socket' | 'http';
  /** The socket path or the daemon URL. */
  readonly target: string;
  call<T>(method: string, params: Record<string, unknown>, options?: TransportCallOptions): Promise<T>;
  /**
   * A run's trace lines from `fromSeq`, then live; returns the status the daemon ended the stream with.
   * Aborting `signal` ends it at once (a pending next() rejects with E_CANCELED).
   */
  followRun(runId: string, fromSeq: number, signal: AbortSignal): AsyncGenerator<TraceEvent, RunStatus, undefined>;
  /** The event log from `fromSeq` (undefined: what comes next), then live; never returns by itself. */
  subscribeEvents(query: EventFilter & { fromSeq?: number | undefined }, signal: AbortSignal): AsyncGenerator<LogEvent, void, undefined>;
  /** `instances.create`, with its progress lines where the transport has them. */
  createInstances(params: Record<string, unknown>, onProgress: ((p: InstanceProgress) => void) | undefined, options: TransportCallOptions): Promise<unknown>;
  close(): Promise<void>;
}

export interface TransportCallOptions {
  /** 0 means none; undefined: the transport's default. */
  timeoutMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Safe to send again after a lost connection. */
  idempotent?: boolean | undefined;
}

/** Methods the daemon marks idempotent: safe to resend after a lost connection. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'daemon.status', 'events.read',
  'profiles.list', 'profiles.get', 'profiles.upsert',
  'instances.list', 'instances.get',
  'runs.get', 'runs.result', 'runs.list', 'runs.cancel', 'runs.trace', 'runs.wait',
]);

/** The longest time limit a Node timer keeps (about 24.8 days); a longer one would fire at once. */
