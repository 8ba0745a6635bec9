import type { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import type { Observable } from 'rxjs';
import type { CommandBus } from '../bus/command-bus.js';
import type { Command, CommandDataMap, CommandType } from '../commands/command-types.js';
import type { DataPaths } from '../config/data-dir.js';
import type { StoredEvent } from '../events/envelope.js';
import type { EventStore } from '../events/event-store.js';
import type { ReadModel } from '../projections/registry.js';
import type { RuntimeClient } from '../runtime-client/runtime-client.js';
import type { DaemonOptions } from '../config/daemon-options.js';

/** The read side of the store: everything but appending (appends go through the bus). */
export type EventReader = Pick<EventStore, 'kind' | 'head' | 'failure' | 'failure$' | 'live$' | 'readPage' | 'readStream' | 'readRunTrace' | 'subscribe' | 'caughtUp'>;

/**
 * This daemon as a node of a cluster that shares one store (PostgreSQL). `incarnation` changes at each start, and
 * again when the node was recorded lost while it was alive and joins anew.
 */
export interface NodeIdentity {
  readonly id: string;
  readonly incarnation: string;
}

/** In-process notifications that are not state (progress lines of an install). */
export interface DaemonNotifications {
  'instance.progress': (instanceId: string, line: string) => void;
}

/**
 * What every part of the running daemon can reach: the command bus (the only way to change state),
 * a read-only view of the projections, the events after they were applied, the log's read side,
 * the clock and id maker (read here, passed into commands as data), and the daemon's options.
 * Never the store's writer.
 */
export interface DaemonContext {
  readonly options: DaemonOptions;
  readonly paths: DataPaths;
  readonly bus: CommandBus;
  readonly state: ReadModel;
  /** Every event once the projections reflect it. */
  readonly events$: Observable<StoredEvent>;
  readonly log: EventReader;
  readonly logger: Logger;
  readonly version: string;
  readonly startedAt: Date;
  readonly client: RuntimeClient;
  readonly notifications: EventEmitter<DaemonNotifications>;
  /** This daemon's node when daemons share a store; undefined with the JSONL store (one daemon, which owns everything). */
  readonly node: NodeIdentity | undefined;
  /**
   * `bus.execute`, tried again while the store is unreachable for a while (a shared store's E_UNAVAILABLE marked
   * retryable), until it is recorded or refused, or the daemon stops. For what a reactor must not lose (a run's
   * start, trace and end; an instance's facts): a retry is safe, the decider decides again on fresh state.
   */
  executeRetrying(cmd: Command): Promise<StoredEvent[]>;
  /** The clock, read only here and passed into commands as data. */
  now(): Date;
  /** A new unique id with a readable prefix (`run_…`, `inst_…`). */
  newId(prefix: string): string;
  /** Builds a command with its meta (the clock now, the actor). */
  command<K extends CommandType>(type: K, data: CommandDataMap[K], actor: string, extra?: { correlation_id?: string; causation_id?: string }): Extract<Command, { type: K }>;
  /** True once shutdown began: changes are refused with E_UNAVAILABLE. */
  stopping(): boolean;
  /** Open client connections (socket and HTTP streams): status, idle timeout. */
  clients(): number;
  /** The addresses the daemon listens on (a runtime endpoint that is one of them would loop). */
  ownEndpoints(): string[];
  /** The daemon's HTTP URL once listening. */
  httpUrl(): string | undefined;
  /** Status fields of every part, for `daemon.status` and HTTP health. */
  status(): Record<string, unknown>;
}

/** A part of the daemon with a lifecycle: reactors, transports. Started in order after the log is replayed; stopped in reverse. */
export interface Component {
  readonly name: string;
  start(): Promise<void> | void;
  stop(opts: { keepInstances: boolean }): Promise<void> | void;
  /** True while it has work in flight (keeps an ephemeral daemon alive). */
  busy?(): boolean;
  /** Extra fields for `daemon.status`. */
  status?(): Record<string, unknown>;
}
