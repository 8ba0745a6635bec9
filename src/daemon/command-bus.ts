import type { EventMeta, StoredEvent } from '../events/envelope.js';
import type { AppendInput, LogStore } from '../events/log-store.js';
import type { Projection } from '../projections/projection.js';
import type { Registry } from '../projections/registry.js';

/**
 * Runs commands: take the keys the command touches (one stream, or a few), call its pure decide
 * function on the current registry, append what it decided, and answer once the events are durable
 * AND reflected in the registry. Commands on the same key run one after the other (so a decision
 * never rests on a state that an earlier, not yet durable, command is about to change); commands on
 * different keys run concurrently and share group commits.
 */
export class CommandBus {
  private readonly tails = new Map<string, Promise<void>>();

  constructor(private readonly store: LogStore, private readonly projection: Projection) {}

  get registry(): Registry {
    return this.projection.registry;
  }

  async execute<R>(keys: readonly string[], decide: (registry: Registry) => { events: AppendInput[]; result: (events: StoredEvent[]) => R }, meta?: EventMeta): Promise<R> {
    const sorted = [...new Set(keys)].sort();
    const release = await this.lock(sorted);
    try {
      const { events, result } = decide(this.projection.registry);
      const stored = events.length === 0 ? [] : await this.store.append(events, meta);
      if (stored.length > 0) await this.projection.waitFor((stored[stored.length - 1] as StoredEvent).seq);
      return result(stored);
    } finally {
      release();
    }
  }

  private async lock(keys: string[]): Promise<() => void> {
    let release!: () => void;
    const mine = new Promise<void>((resolve) => { release = resolve; });
    const waits: Promise<void>[] = [];
    for (const k of keys) {
      const prev = this.tails.get(k);
      if (prev !== undefined) waits.push(prev);
      this.tails.set(k, mine);
    }
    if (waits.length > 0) await Promise.all(waits);
    return () => {
      for (const k of keys) if (this.tails.get(k) === mine) this.tails.delete(k);
      release();
    };
  }
}
