/** Runtime instance payload schemas (ARP Standard v1 `schemas/daemon/instances/*`). */
import { EndpointLocatorSchema, ExtensionsSchema, MetadataSchema } from './common.js';
import { ProcessSettingsSchema } from './profiles.js';

export const InstanceStateSchema = {
  title: 'InstanceState',
  type: 'string',
  enum: ['starting', 'ready', 'busy', 'stopping', 'stopped', 'error'],
} as const;

export const RuntimeInstanceSchema = {
  title: 'RuntimeInstance',
  type: 'object',
  additionalProperties: false,
  required: ['instance_id', 'state', 'runtime_api_endpoint'],
  properties: {
    instance_id: { type: 'string' },
    state: InstanceStateSchema,
    managed: { type: 'boolean', default: true },
    runtime_profile: { type: 'string' },
    runtime_name: { type: 'string' },
    runtime_version: { type: 'string' },
    runtime_api_endpoint: EndpointLocatorSchema,
    metadata: MetadataSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const InstanceCreateRequestSchema = {
  title: 'InstanceCreateRequest',
  type: 'object',
  additionalProperties: false,
  required: ['runtime_profile'],
  properties: {
    runtime_profile: { type: 'string' },
    count: { type: 'integer', minimum: 1, default: 1 },
    overrides: ProcessSettingsSchema,
    metadata: MetadataSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const InstanceCreateResponseSchema = {
  title: 'InstanceCreateResponse',
  type: 'object',
  additionalProperties: false,
  required: ['instances'],
  properties: {
    instances: { type: 'array', items: RuntimeInstanceSchema },
    extensions: ExtensionsSchema,
  },
} as const;

export const InstanceRegisterRequestSchema = {
  title: 'InstanceRegisterRequest',
  type: 'object',
  additionalProperties: false,
  required: ['runtime_api_endpoint'],
  properties: {
    runtime_api_endpoint: EndpointLocatorSchema,
    runtime_profile: { type: 'string' },
    runtime_name: { type: 'string' },
    metadata: MetadataSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const InstanceRegisterResponseSchema = {
  title: 'InstanceRegisterResponse',
  type: 'object',
  additionalProperties: false,
  required: ['instance'],
  properties: {
    instance: RuntimeInstanceSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const InstanceListResponseSchema = {
  title: 'InstanceListResponse',
  type: 'object',
  additionalProperties: false,
  required: ['instances'],
  properties: {
    instances: { type: 'array', items: RuntimeInstanceSchema },
    extensions: ExtensionsSchema,
  },
} as const;
