/** Runtime profile payload schemas (ARP Standard v1 `schemas/daemon/runtime_profiles/*`). */
import { EndpointLocatorSchema, ExtensionsSchema, MetadataSchema, PaginationSchema } from './common.js';

/** How a runtime process is started: the `defaults` of a profile and the `overrides` of an instance create. */
export const ProcessSettingsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    env: { type: 'object', additionalProperties: { type: 'string' } },
    args: { type: 'array', items: { type: 'string' } },
    tool_registry_url: EndpointLocatorSchema,
  },
} as const;

export const RuntimeProfileSchema = {
  title: 'RuntimeProfile',
  type: 'object',
  additionalProperties: false,
  required: ['runtime_profile'],
  properties: {
    runtime_profile: { type: 'string' },
    runtime_name: { type: 'string' },
    description: { type: 'string' },
    defaults: ProcessSettingsSchema,
    metadata: MetadataSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const RuntimeProfileUpsertRequestSchema = {
  title: 'RuntimeProfileUpsertRequest',
  type: 'object',
  additionalProperties: false,
  properties: {
    runtime_name: { type: 'string' },
    description: { type: 'string' },
    defaults: ProcessSettingsSchema,
    metadata: MetadataSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const RuntimeProfileListResponseSchema = {
  title: 'RuntimeProfileListResponse',
  type: 'object',
  additionalProperties: false,
  required: ['profiles'],
  properties: {
    profiles: { type: 'array', items: RuntimeProfileSchema },
    pagination: PaginationSchema,
    extensions: ExtensionsSchema,
  },
} as const;
