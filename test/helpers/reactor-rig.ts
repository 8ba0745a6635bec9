/**
 * A reactor's world in one process, for unit tests of src/runs and src/instances reactors: a real
 * LogStore in a temp dir (or the in-memory store), the projection following it, the real command bus, and a minimal
 * DaemonContext around them. The test sends its own commands with `exec` (straight to the bus); the
 * reactor's commands go through `ctx.bus`, which records them in `sent` and can hold each one at a
 * `gate` (to choose when it reaches the bus). `idle()` resolves once no reactor command is in flight.
 */
import { EventEmitter } from 'eventemitter3';
import { pino } from 'pino';
import { CommandBus } from '../../src/bus/command-bus.js';
import type { Command, CommandDataMap, CommandType } from '../../src/commands/command-types.js';
import { dataPaths } from '../../src/config/data-dir.js';
import type { DaemonOptions } from '../../src/config/daemon-options.js';
import type { DaemonContext, DaemonNotifications } from '../../src/daemon/daemon-context.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { EventStore } from '../../src/events/event-store.js';
import { LogStore } from '../../src/events/log-store.js';
import { Projection } from '../../src/projections/projection.js';
import type { RuntimeClient } from '../../src/runtime-client/runtime-client.js';
import { MemoryEventStore } from './memory-event-store.js';

export interface RigOptions {
  options?: Partial<DaemonOptions>;
  /** The clock (ctx.now, command meta.now, event ts). Default: a fixed time. */
  now?: () => Date;
  /** Awaited before a reactor's command reaches the bus. */
  gate?: (cmd: Command) => Promise<void>;
  /** The runtime client the reactor talks to runtimes with (only the methods the test needs). */
  client?: Partial<RuntimeClient>;
  /** The in-memory store instead of the JSONL log (no disk I/O: every step is a promise reaction a scheduler can order). */
  memory?: boolean;
}

export class ReactorRig {
  /** Commands the reactors sent, in the order they sent them. */
  readonly sent: Command[] = [];
  /** Refusals the reactors got back, by command. */
  readonly refused: Array<{ cmd: Command; code: string }> = [];
  readonly ctx: DaemonContext;
  private readonly inflight = new Set<Promise<unknown>>();
  private ids = 0;

  private constructor(readonly store: EventStore, readonly projection: Projection, readonly bus: CommandBus, readonly root: string, opts: RigOptions) {
    const now = opts.now ?? ((): Date => new Date('2026-01-01T00:00:00.000Z'));
    const command = <K extends CommandType>(type: K, data: CommandDataMap[K], actor: string, extra: { correlation_id?: string; causation_id?: string } = {}): Extract<Command, { type: K }> =>
      ({ type, data, meta: { now: now().toISOString(), actor, ...extra } }) as unknown as Extract<Command, { type: K }>;
    const recording = {
      execute: (cmd: Command): Promise<StoredEvent[]> => {
        this.sent.push(cmd);
        const p = (async () => {
          if (opts.gate !== undefined) await opts.gate(cmd);
          return bus.execute(cmd);
        })();
        const tracked = p.catch((err: { code?: string }) => { this.refused.push({ cmd, code: err.code ?? 'unknown' }); throw err; });
        this.inflight.add(tracked);
        void tracked.catch(() => undefined).finally(() => this.inflight.delete(tracked));
        return tracked;
      },
      get state() { return bus.state; },
    } as unknown as CommandBus;
    this.ctx = {
      options: { dataDir: root, foreground: false, ...opts.options },
      paths: dataPaths(root, undefined),
      bus: recording,
      state: projection.registry,
      events$: projection.events$,
      log: store,
      logger: pino({ level: 'silent' }),
      version: 'test',
      startedAt: now(),
      client: (opts.client ?? {}) as RuntimeClient,
      notifications: new EventEmitter<DaemonNotifications>(),
      now,
      newId: (prefix) => `${prefix}_${++this.ids}`,
      command,
      stopping: () => false,
      clients: () => 0,
      ownEndpoints: () => [],
      httpUrl: () => undefined,
      status: () => ({}),
      node: undefined,
      executeRetrying: (cmd) => recording.execute(cmd),
    };
  }

  static open(root: string, opts: RigOptions = {}): ReactorRig {
    const projection = new Projection();
    const store = opts.memory === true
      ? new MemoryEventStore(opts.now)
      : LogStore.open({ root, onEvent: (e) => projection.push(e), ...(opts.now === undefined ? {} : { clock: opts.now }) });
    projection.follow(store.live$);
    return new ReactorRig(store, projection, new CommandBus(store, projection), root, opts);
  }

  /** The test's own command, straight to the bus (not recorded as sent by a reactor). */
  exec<K extends CommandType>(type: K, data: CommandDataMap[K]): Promise<StoredEvent[]> {
    return this.bus.execute(this.ctx.command(type, data, 'test'));
  }

  /** Commands of one type the reactors sent. */
  sentOf<K extends CommandType>(type: K): Array<Extract<Command, { type: K }>> {
    return this.sent.filter((c): c is Extract<Command, { type: K }> => c.type === type);
  }

  /** Resolves once no reactor command is in flight and none was started by the last ones (a few event-loop turns). */
  async idle(): Promise<void> {
    let quiet = 0;
    for (let i = 0; i < 10_000; i++) {
      if (this.inflight.size > 0) {
        quiet = 0;
        await Promise.allSettled([...this.inflight]);
      }
      await new Promise((resolve) => setImmediate(resolve));
      if (this.inflight.size === 0 && ++quiet >= 3) return;
    }
    throw new Error('the reactors never went idle');
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
