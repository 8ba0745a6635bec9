import type { StoredEvent } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { streamOf } from '../../src/events/event-types.js';
import { Registry } from '../../src/projections/registry.js';

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
    reg.apply({ seq, id: `id-${seq}`, ts: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(), stream, rev, type: e.type, v: 1, data: e.data, meta: {} } as StoredEvent);
  }
  return reg;
}

export const commandProfile = (name: string): DomainEvent => ({
  type: 'profile.upserted',
  data: { runtime_profile: name, profile: { runtime_profile: name, extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } } } },
});
