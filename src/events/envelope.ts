import type { EventDataMap, EventType } from './event-types.js';

export interface EventMeta {
  correlation_id?: string;
  causation_id?: string;
  actor?: string;
  /** The node that wrote it, when daemons share a store (absent with a single daemon). */
  node?: string;
}

/** An event as stored: the envelope is added by the store alone. Field order is the on-disk order. */
export type StoredEvent<K extends EventType = EventType> = {
  [T in K]: {
    seq: number;
    id: string;
    ts: string;
    stream: string;
    rev: number;
    type: T;
    v: number;
    data: EventDataMap[T];
    meta: EventMeta;
  };
}[K];
