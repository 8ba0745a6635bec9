import type { StoredEvent } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { CURRENT_VERSION, streamOf } from '../../src/events/event-types.js';
import { Registry } from '../../src/projections/registry.js';
import type { Command, CommandDataMap, CommandType } from '../../src/commands/command-types.js';
import type { Decision } from '../../src/commands/decision.js';
import { ArpdError } from '../../src/errors/index.js';

/** Given these facts (domain events), the registry a decide function sees. */
export function given(...events: DomainEvent[]): Registry {
  const reg = new Registry();
  const revs = new Map<string, number>();
  let seq = 0;
  for (const e of events) {
    const stream = streamOf(e);
    const rev = (revs.get(stream) ?? 0) + 1;
    revs.set(stream, rev);
    seq++;
    reg.apply({ seq, id: `id-${seq}`, ts: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), stream, rev, type: e.type, v: CURRENT_VERSION[e.type], data: e.data, meta: {} } as StoredEvent);
  }
  return reg;
}

export const commandProfile = (name: string): DomainEvent => ({
  type: 'profile.upserted',
  data: { runtime_profile: name, profile: { runtime_profile: name, extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } } } },
});

/** A command as the edge makes it: the clock given, the actor 'test'. */
export function command<K extends CommandType>(type: K, data: CommandDataMap[K], now = '2026-01-01T00:00:30.000Z'): Extract<Command, { type: K }> {
  return { type, data, meta: { now, actor: 'test' } } as unknown as Extract<Command, { type: K }>;
}

/** The code of a refusal, or undefined when the decider decided events. */
export function refusal(d: Decision): string | undefined {
  return d instanceof ArpdError ? d.code : undefined;
}

/** The events of a decision (fails the test through the thrown refusal when it is one). */
export function events(d: Decision): DomainEvent[] {
  if (d instanceof ArpdError) throw d;
  return d;
}
