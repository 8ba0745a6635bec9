/**
 * Common ARP v1 payload schemas (hand-written from the ARP Standard v1 `schemas/common/*`).
 * Every schema is a plain `as const` JSON Schema (draft-07) with sub-schemas inlined, so each one can be
 * handed to ajv, used as a fastify route schema, or emitted into an OpenAPI document as it is.
 */

/** Vendor extension map; keys are namespaced as `<reverse_dns_or_org>.<key>`. */
export const ExtensionsSchema = {
  title: 'Extensions',
  description: 'Optional vendor extension map. Keys must be namespaced as <reverse_dns_or_org>.<key>.',
  type: 'object',
  patternProperties: {
    '^[A-Za-z0-9][A-Za-z0-9_.-]*\\.[A-Za-z0-9_.-]+$': {},
  },
  additionalProperties: false,
} as const;

/** A free-form JSON object (`details`, `context`, `output`, ...). */
export const OpenObjectSchema = { type: 'object', additionalProperties: true } as const;

const StringMapSchema = { type: 'object', additionalProperties: { type: 'string' } } as const;

export const MetadataSchema = {
  title: 'Metadata',
  type: 'object',
  additionalProperties: false,
  properties: {
    labels: StringMapSchema,
    annotations: StringMapSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const EndpointLocatorSchema = {
  title: 'EndpointLocator',
  description:
    'Transport-agnostic locator URI for an API endpoint (e.g. http://127.0.0.1:43120). Future deployments may use other URI schemes (e.g. unix://...).',
  type: 'string',
  format: 'uri',
} as const;

export const ErrorCauseSchema = {
  title: 'ErrorCause',
  type: 'object',
  additionalProperties: false,
  required: ['message'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    details: OpenObjectSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const ErrorDetailSchema = {
  title: 'ErrorDetail',
  type: 'object',
  additionalProperties: false,
  required: ['code', 'message'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    details: OpenObjectSchema,
    retryable: { type: 'boolean' },
    cause: ErrorCauseSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const ErrorEnvelopeSchema = {
  title: 'ErrorEnvelope',
  type: 'object',
  additionalProperties: false,
  required: ['error'],
  properties: {
    error: ErrorDetailSchema,
    extensions: ExtensionsSchema,
  },
} as const;

export const HealthStatusSchema = {
  title: 'Status',
  type: 'string',
  enum: ['ok', 'degraded', 'down'],
} as const;

export const HealthSchema = {
  title: 'Health',
  type: 'object',
  additionalProperties: false,
  required: ['status', 'time'],
  properties: {
    status: HealthStatusSchema,
    time: { type: 'string', format: 'date-time' },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'status'],
        properties: {
          name: { type: 'string' },
          status: HealthStatusSchema,
          message: { type: 'string' },
          details: OpenObjectSchema,
        },
      },
    },
    extensions: ExtensionsSchema,
  },
} as const;

export const VersionInfoSchema = {
  title: 'VersionInfo',
  type: 'object',
  additionalProperties: false,
  required: ['service_name', 'service_version', 'supported_api_versions'],
  properties: {
    service_name: { type: 'string' },
    service_version: { type: 'string' },
    supported_api_versions: { type: 'array', items: { type: 'string' }, minItems: 1 },
    build: {
      type: 'object',
      additionalProperties: false,
      properties: {
        commit: { type: 'string' },
        built_at: { type: 'string', format: 'date-time' },
        dirty: { type: 'boolean' },
      },
    },
    extensions: ExtensionsSchema,
  },
} as const;

export const PaginationSchema = {
  title: 'Pagination',
  type: 'object',
  additionalProperties: false,
  properties: {
    next_page_token: { type: 'string' },
    page_size: { type: 'integer', minimum: 1, maximum: 1000 },
    extensions: ExtensionsSchema,
  },
} as const;

export const ResourceRefSchema = {
  title: 'ResourceRef',
  type: 'object',
  additionalProperties: false,
  required: ['type', 'id'],
  properties: {
    type: { type: 'string' },
    id: { type: 'string' },
    uri: { type: 'string', format: 'uri' },
    extensions: ExtensionsSchema,
  },
} as const;
