import type { StoredEvent } from './envelope.js';
import { CURRENT_VERSION, isEventType, type JsonObject } from './event-types.js';

/**
 * A run's own log, `runs/<run_id>/trace.jsonl`, holds that run's events in order, each in the ARP
 * `TraceEvent` shape: `seq` is the event's revision in its `run:<id>` stream (contiguous from 1), `time`
 * its timestamp, and `extensions["arpd.event"]` points back at the global log line.
 */
export interface TraceLine {
  run_id: string;
  seq: number;
  time: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  type: string;
  data: JsonObject;
  extensions: { 'arpd.event': { seq: number; id: string; type: string } };
}

/** Pure: the trace line of one event of a run stream. */
export function traceLineOf(event: StoredEvent, runId: string): TraceLine {
  const ext = { 'arpd.event': { seq: event.seq, id: event.id, type: event.type } };
  if (event.type === 'run.trace') {
    return { run_id: runId, seq: event.rev, time: event.ts, level: event.data.level, type: event.data.type, data: event.data.data ?? {}, extensions: ext };
  }
  const level = event.type === 'run.failed' ? 'error' : 'info';
  const type = event.type.startsWith('run.') ? event.type.slice(4) : event.type;
  return { run_id: runId, seq: event.rev, time: event.ts, level, type, data: event.data as unknown as JsonObject, extensions: ext };
}

export function encodeTraceLine(event: StoredEvent, runId: string): string {
  return `${JSON.stringify(traceLineOf(event, runId))}\n`;
}

/**
 * The stored event a run-log line was made from (`traceLineOf` in reverse): what a repair restores, and how an
 * archived run is read back. The meta is not in the run log; the restored event's meta says where it came from.
 */
export function eventFromTraceLine(line: TraceLine, actor = 'repair'): StoredEvent | undefined {
  const ref = line.extensions?.['arpd.event'];
  if (ref === undefined || !isEventType(ref.type) || !ref.type.startsWith('run.')) return undefined;
  const data: JsonObject = ref.type === 'run.trace'
    ? { run_id: line.run_id, level: line.level, type: line.type, data: line.data }
    : (line.data as JsonObject);
  return {
    seq: ref.seq, id: ref.id, ts: line.time, stream: `run:${line.run_id}`, rev: line.seq, type: ref.type, v: CURRENT_VERSION[ref.type],
    data, meta: { actor },
  } as unknown as StoredEvent;
}
