import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import type { EventFilter } from '../events/event-store.js';

/** A place in the store order: (writing transaction id, seq). */
export interface Pos {
  tx: bigint;
  seq: number;
}

export const START: Pos = { tx: 0n, seq: 0 };

export function comparePos(a: Pos, b: Pos): number {
  if (a.tx !== b.tx) return a.tx < b.tx ? -1 : 1;
  return a.seq - b.seq;
}

/** The columns every read selects, in this order. */
export const EVENT_COLUMNS = 'e.seq, e.tx::text AS tx, e.id, e.ts, e.stream, e.rev, e.type, e.v, e.data, e.meta';

export interface EventRow {
  seq: string;
  tx: string;
  id: string;
  ts: Date;
  stream: string;
  rev: number;
  type: string;
  v: number;
  data: unknown;
  meta: unknown;
}

export function toStoredEvent(r: EventRow): StoredEvent {
  return { seq: Number(r.seq), id: r.id, ts: r.ts.toISOString(), stream: r.stream, rev: r.rev, type: r.type, v: r.v, data: r.data, meta: r.meta } as StoredEvent;
}

export function posOf(r: { tx: string; seq: string | number }): Pos {
  return { tx: BigInt(r.tx), seq: Number(r.seq) };
}

/**
 * The SQL condition of a filter, with its parameters numbered from `first`. Types ending in '.' are
 * families (a prefix), others exact; a stream ending in ':' is a prefix, else exact.
 */
export function filterSql(f: EventFilter | undefined, first: number): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (f?.types !== undefined && f.types.length > 0) {
    const exact = f.types.filter((t) => !t.endsWith('.'));
    const prefixes = f.types.filter((t) => t.endsWith('.'));
    params.push(exact, prefixes);
    parts.push(`(e.type = ANY ($${first}::text[]) OR EXISTS (SELECT 1 FROM unnest($${first + 1}::text[]) p WHERE starts_with(e.type, p)))`);
  }
  if (f?.stream !== undefined) {
    params.push(f.stream);
    const n = first + params.length - 1;
    parts.push(f.stream.endsWith(':') ? `starts_with(e.stream, $${n})` : `e.stream = $${n}`);
  }
  return { sql: parts.length === 0 ? 'true' : parts.join(' AND '), params };
}

/** Checks an EventFilter from a caller: E_VALIDATION on a wrong shape. */
export function checkFilter(f: EventFilter | undefined): void {
  if (f === undefined) return;
  if (f === null || typeof f !== 'object') throw new ArpdError('E_VALIDATION', 'the event filter must be an object like { types: ["run."], stream: "run:" }');
  if (f.types !== undefined && (!Array.isArray(f.types) || f.types.some((t) => typeof t !== 'string' || t === '' || t.includes('\u0000')))) {
    throw new ArpdError('E_VALIDATION', "filter.types must be a list of event types (an entry ending in '.' matches a family, e.g. 'run.')");
  }
  if (f.stream !== undefined && (typeof f.stream !== 'string' || f.stream === '' || f.stream.includes('\u0000'))) {
    throw new ArpdError('E_VALIDATION', "filter.stream must be a stream name ('run:abc') or a prefix ending in ':' ('run:')");
  }
}

export function checkCount(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ArpdError('E_VALIDATION', `${name} must be a whole number from ${min} to ${max} (got ${String(value)})`, { [name]: String(value) });
  }
  return value;
}
