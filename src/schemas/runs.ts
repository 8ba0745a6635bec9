/** Run payload schemas (ARP Standard v1 `schemas/runtime/runs/*` and `schemas/daemon/runs/run_list_response`). */
import {
  EndpointLocatorSchema,
  ErrorDetailSchema,
  ExtensionsSchema,
  MetadataSchema,
  OpenObjectSchema,
  PaginationSchema,
  ResourceRefSchema,
} from './common.js';

export const RunStateSchema = {
  title: 'RunState',
  type: 'string',
  enum: ['queued', 'running', 'succeeded', 'failed', 'canceled'],
} as const;

export const RunEventTypeSchema = {
  title: 'RunEventType',
  type: 'string',
  enum: ['token', 'step', 'tool_call', 'tool_result', 'final', 'error'],
} as const;

const StringListSchema = { type: 'array', items: { type: 'string' } } as const;

export const RunRequestSchema = {
  title: 'RunRequest',
  type: 'object',
  additionalProperties: false,
  required: ['input'],
  properties: {
    run_id: { type: 'string' },
    input: {
      type: 'object',
      additionalProperties: false,
      required: ['goal'],
      properties: {
        goal: { type: 'string' },
        context: OpenObjectSchema,
        data: OpenObjectSchema,
      },
    },
    runtime_selector: {
      type: 'object',
      additionalProperties: false,
      properties: {
        runtime_profile: { type: 'string' },
        instance_id: { type: 'string' },
        runtime_name: { type: 'string' },
        runtime_api_endpoint: EndpointLocatorSchema,
      },
    },
    tool_policy: {
      type: 'object',
      additionalProperties: false,
      properties: {
        allow_tool_ids: StringListSchema,
        deny_tool_ids: StringListSchema,
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        timeout_ms: { type: 'integer', minimum: 0 },
        max_steps: { type: 'integer', minimum: 1 },
        max_tokens: { type: 'integer', minimum: 1 },
      },
    },
    metadata: MetadataSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const RunStatusSchema = {
  title: 'RunStatus',
  type: 'object',
  additionalProperties: false,
  required: ['run_id', 'state'],
  properties: {
    run_id: { type: 'string' },
    state: RunStateSchema,
    started_at: { type: 'string', format: 'date-time' },
    ended_at: { type: 'string', format: 'date-time' },
    runtime_instance_id: { type: 'string' },
    extensions: ExtensionsSchema,
  },
} as const;

export const RunResultSchema = {
  title: 'RunResult',
  type: 'object',
  additionalProperties: false,
  required: ['run_id', 'ok'],
  properties: {
    run_id: { type: 'string' },
    ok: { type: 'boolean' },
    output: OpenObjectSchema,
    error: ErrorDetailSchema,
    artifacts: { type: 'array', items: ResourceRefSchema },
    usage: OpenObjectSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const RunEventSchema = {
  title: 'RunEvent',
  type: 'object',
  additionalProperties: false,
  required: ['run_id', 'seq', 'type', 'time'],
  properties: {
    run_id: { type: 'string' },
    seq: { type: 'integer', minimum: 0 },
    type: RunEventTypeSchema,
    time: { type: 'string', format: 'date-time' },
    data: OpenObjectSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const RunListResponseSchema = {
  title: 'RunListResponse',
  type: 'object',
  additionalProperties: false,
  required: ['runs'],
  properties: {
    runs: { type: 'array', items: RunStatusSchema },
    pagination: PaginationSchema,
    extensions: ExtensionsSchema,
  },
} as const;
