import { ArpdError } from '../errors/index.js';
import type { DomainEvent } from '../events/event-types.js';

/** What a decider returns: the events to append (none when nothing changes), or the refusal. */
export type Decision = DomainEvent[] | ArpdError;

/** Runs rule checks that throw ArpdError (id rules, schema and exec-config checks) and returns the refusal as a value. */
export function attempt(fn: () => DomainEvent[]): Decision {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
}

