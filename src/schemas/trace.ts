/** Trace payload schemas (ARP Standard v1 `schemas/trace/trace_event` and `schemas/daemon/runs/trace_response`). */
import { ExtensionsSchema, OpenObjectSchema } from './common.js';

export const TraceLevelSchema = {
  title: 'TraceLevel',
  type: 'string',
  enum: ['debug', 'info', 'warn', 'error'],
} as const;

export const TraceEventSchema = {
  title: 'TraceEvent',
  type: 'object',
  additionalProperties: false,
  required: ['run_id', 'seq', 'time', 'level', 'type'],
  properties: {
    run_id: { type: 'string' },
    seq: { type: 'integer', minimum: 0 },
    time: { type: 'string', format: 'date-time' },
    level: TraceLevelSchema,
    type: { type: 'string' },
    data: OpenObjectSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const TraceResponseSchema = {
  title: 'TraceResponse',
  type: 'object',
  additionalProperties: false,
  properties: {
    trace_uri: { type: 'string', format: 'uri' },
    events: { type: 'array', items: TraceEventSchema },
    extensions: ExtensionsSchema,
  },
} as const;
