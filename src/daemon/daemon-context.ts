import type { Logger } from 'pino';
import type { DataPaths } from '../config/data-dir.js';
import type { LogStore } from '../events/log-store.js';
import type { Projection } from '../projections/projection.js';
import type { MethodTable } from '../server/rpc-dispatch.js';
import type { CommandBus } from './command-bus.js';
import type { DaemonOptions } from './daemon-options.js';

/** What every part of the running daemon can reach. */
export interface DaemonContext {
  readonly options: DaemonOptions;
  readonly paths: DataPaths;
  readonly store: LogStore;
  readonly projection: Projection;
  readonly bus: CommandBus;
  readonly logger: Logger;
  readonly version: string;
  readonly startedAt: Date;
  /** The clock, read only here and passed into commands as data. */
  now(): Date;
  /** A new unique id with a readable prefix (`run_…`, `inst_…`). */
  newId(prefix: string): string;
  /** True once shutdown began: changes are refused with E_UNAVAILABLE. */
  stopping(): boolean;
  /** Number of open socket connections (status, idle timeout). */
  clients(): number;
  /** The daemon's HTTP URL once listening. */
  httpUrl(): string | undefined;
  /** The HTTP feature reports where it listens (pid file, status). */
  setHttpUrl(url: string | undefined): void;
  /** Status fields of every feature, for `daemon.status` and HTTP health. */
  status(): Record<string, unknown>;
}

/**
 * A part of the daemon (profiles, instances, runs, HTTP): the RPC methods it serves, the reactors it
 * starts after boot, and what it does at shutdown.
 */
export interface Feature {
  readonly name: string;
  methods?(ctx: DaemonContext): MethodTable;
  /** After the log is replayed and the socket listens. */
  start?(ctx: DaemonContext): Promise<void> | void;
  /** At shutdown, before the log is closed (newest feature first). */
  stop?(ctx: DaemonContext, opts: { keepInstances: boolean }): Promise<void> | void;
  /** True while it has work in flight (keeps an ephemeral daemon alive). */
  busy?(ctx: DaemonContext): boolean;
  /** Extra fields for `daemon.status`. */
  status?(ctx: DaemonContext): Record<string, unknown>;
  /** Called once on the first start of an empty data dir (to seed e.g. the default profile). */
  seed?(ctx: DaemonContext): Promise<void> | void;
}
