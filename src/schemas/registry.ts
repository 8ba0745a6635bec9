/** Every ARP v1 payload schema arpd knows, by name, with the TypeScript type a valid value has. */
import {
  EndpointLocatorSchema,
  ErrorCauseSchema,
  ErrorDetailSchema,
  ErrorEnvelopeSchema,
  ExtensionsSchema,
  HealthSchema,
  MetadataSchema,
  PaginationSchema,
  ResourceRefSchema,
  VersionInfoSchema,
} from './common.js';
import {
  InstanceCreateRequestSchema,
  InstanceCreateResponseSchema,
  InstanceListResponseSchema,
  InstanceRegisterRequestSchema,
  InstanceRegisterResponseSchema,
  RuntimeInstanceSchema,
} from './instances.js';
import {
  RuntimeProfileListResponseSchema,
  RuntimeProfileSchema,
  RuntimeProfileUpsertRequestSchema,
} from './profiles.js';
import {
  RunEventSchema,
  RunListResponseSchema,
  RunRequestSchema,
  RunResultSchema,
  RunStatusSchema,
} from './runs.js';
import { TraceEventSchema, TraceResponseSchema } from './trace.js';
import type * as T from './types.js';

export const SCHEMAS = {
  Extensions: ExtensionsSchema,
  Metadata: MetadataSchema,
  EndpointLocator: EndpointLocatorSchema,
  ErrorCause: ErrorCauseSchema,
  ErrorDetail: ErrorDetailSchema,
  ErrorEnvelope: ErrorEnvelopeSchema,
  Health: HealthSchema,
  VersionInfo: VersionInfoSchema,
  Pagination: PaginationSchema,
  ResourceRef: ResourceRefSchema,
  RunRequest: RunRequestSchema,
  RunStatus: RunStatusSchema,
  RunResult: RunResultSchema,
  RunEvent: RunEventSchema,
  RunListResponse: RunListResponseSchema,
  TraceEvent: TraceEventSchema,
  TraceResponse: TraceResponseSchema,
  RuntimeProfile: RuntimeProfileSchema,
  RuntimeProfileUpsertRequest: RuntimeProfileUpsertRequestSchema,
  RuntimeProfileListResponse: RuntimeProfileListResponseSchema,
  RuntimeInstance: RuntimeInstanceSchema,
  InstanceCreateRequest: InstanceCreateRequestSchema,
  InstanceCreateResponse: InstanceCreateResponseSchema,
  InstanceRegisterRequest: InstanceRegisterRequestSchema,
  InstanceRegisterResponse: InstanceRegisterResponseSchema,
  InstanceListResponse: InstanceListResponseSchema,
} as const;

export type SchemaName = keyof typeof SCHEMAS;

/** The TypeScript type of a value that is valid for each schema name. */
export interface SchemaTypes {
  Extensions: T.Extensions;
  Metadata: T.Metadata;
  EndpointLocator: T.EndpointLocator;
  ErrorCause: T.ErrorCause;
  ErrorDetail: T.ErrorDetail;
  ErrorEnvelope: T.ErrorEnvelope;
  Health: T.Health;
  VersionInfo: T.VersionInfo;
  Pagination: T.Pagination;
  ResourceRef: T.ResourceRef;
  RunRequest: T.RunRequest;
  RunStatus: T.RunStatus;
  RunResult: T.RunResult;
  RunEvent: T.RunEvent;
  RunListResponse: T.RunListResponse;
  TraceEvent: T.TraceEvent;
  TraceResponse: T.TraceResponse;
  RuntimeProfile: T.RuntimeProfile;
  RuntimeProfileUpsertRequest: T.RuntimeProfileUpsertRequest;
  RuntimeProfileListResponse: T.RuntimeProfileListResponse;
  RuntimeInstance: T.RuntimeInstance;
  InstanceCreateRequest: T.InstanceCreateRequest;
  InstanceCreateResponse: T.InstanceCreateResponse;
  InstanceRegisterRequest: T.InstanceRegisterRequest;
  InstanceRegisterResponse: T.InstanceRegisterResponse;
  InstanceListResponse: T.InstanceListResponse;
}

// Both ways: a schema without a type, or a type without a schema, fails the typecheck.
type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : false;
const _schemasAndTypesAgree: SameKeys<typeof SCHEMAS, SchemaTypes> = true;

export function isSchemaName(value: unknown): value is SchemaName {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(SCHEMAS, value);
}
