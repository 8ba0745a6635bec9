/**
 * TypeScript shapes of the ARP v1 payloads, one per schema in this folder (same field names, same optionality).
 * A value of one of these types is what `validate(name, value)` returns for that schema's name.
 */

export type JsonObject = Record<string, unknown>;

/** Keys are namespaced as `<reverse_dns_or_org>.<key>`, e.g. `dev.arpd.attempt`. */
export type Extensions = Record<string, unknown>;

export interface Metadata {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  extensions?: Extensions;
}

/** A URI such as `http://127.0.0.1:43120`. */
export type EndpointLocator = string;

export interface ErrorCause {
  code?: string;
  message: string;
  details?: JsonObject;
  extensions?: Extensions;
}

export interface ErrorDetail {
  code: string;
  message: string;
  details?: JsonObject;
  retryable?: boolean;
  cause?: ErrorCause;
  extensions?: Extensions;
}

export interface ErrorEnvelope {
  error: ErrorDetail;
  extensions?: Extensions;
}

export type HealthStatus = 'ok' | 'degraded' | 'down';

export interface HealthCheck {
  name: string;
  status: HealthStatus;
  message?: string;
  details?: JsonObject;
}

export interface Health {
  status: HealthStatus;
  /** ISO-8601 date-time. */
  time: string;
  checks?: HealthCheck[];
  extensions?: Extensions;
}

export interface VersionInfo {
  service_name: string;
  service_version: string;
  supported_api_versions: string[];
  build?: { commit?: string; built_at?: string; dirty?: boolean };
  extensions?: Extensions;
}

export interface Pagination {
  next_page_token?: string;
  page_size?: number;
  extensions?: Extensions;
}

export interface ResourceRef {
  type: string;
  id: string;
  uri?: string;
  extensions?: Extensions;
}

export type RunState = 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled';
export type RunEventType = 'token' | 'step' | 'tool_call' | 'tool_result' | 'final' | 'error';

export interface RunInput {
  goal: string;
  context?: JsonObject;
  data?: JsonObject;
}

export interface RuntimeSelector {
  runtime_profile?: string;
  instance_id?: string;
  runtime_name?: string;
  runtime_api_endpoint?: EndpointLocator;
}

export interface ToolPolicy {
  allow_tool_ids?: string[];
  deny_tool_ids?: string[];
}

export interface RunLimits {
  timeout_ms?: number;
  max_steps?: number;
  max_tokens?: number;
}

export interface RunRequest {
  run_id?: string;
  input: RunInput;
  runtime_selector?: RuntimeSelector;
  tool_policy?: ToolPolicy;
  limits?: RunLimits;
  metadata?: Metadata;
  extensions?: Extensions;
}

export interface RunStatus {
  run_id: string;
  state: RunState;
  started_at?: string;
  ended_at?: string;
  runtime_instance_id?: string;
  extensions?: Extensions;
}

export interface RunResult {
  run_id: string;
  ok: boolean;
  output?: JsonObject;
  error?: ErrorDetail;
  artifacts?: ResourceRef[];
  usage?: JsonObject;
  extensions?: Extensions;
}

export interface RunEvent {
  run_id: string;
  seq: number;
  type: RunEventType;
  time: string;
  data?: JsonObject;
  extensions?: Extensions;
}

export interface RunListResponse {
  runs: RunStatus[];
  pagination?: Pagination;
  extensions?: Extensions;
}

export type TraceLevel = 'debug' | 'info' | 'warn' | 'error';

export interface TraceEvent {
  run_id: string;
  seq: number;
  time: string;
  level: TraceLevel;
  type: string;
  data?: JsonObject;
  extensions?: Extensions;
}

export interface TraceResponse {
  trace_uri?: string;
  events?: TraceEvent[];
  extensions?: Extensions;
}

/** The `defaults` of a profile and the `overrides` of an instance create. */
export interface ProcessSettings {
  env?: Record<string, string>;
  args?: string[];
  tool_registry_url?: EndpointLocator;
}

export interface RuntimeProfile {
  runtime_profile: string;
  runtime_name?: string;
  description?: string;
  defaults?: ProcessSettings;
  metadata?: Metadata;
  extensions?: Extensions;
}

export interface RuntimeProfileUpsertRequest {
  runtime_name?: string;
  description?: string;
  defaults?: ProcessSettings;
  metadata?: Metadata;
  extensions?: Extensions;
}

export interface RuntimeProfileListResponse {
  profiles: RuntimeProfile[];
  pagination?: Pagination;
  extensions?: Extensions;
}

export type InstanceState = 'starting' | 'ready' | 'busy' | 'stopping' | 'stopped' | 'error';

export interface RuntimeInstance {
  instance_id: string;
  state: InstanceState;
  managed?: boolean;
  runtime_profile?: string;
  runtime_name?: string;
  runtime_version?: string;
  runtime_api_endpoint: EndpointLocator;
  metadata?: Metadata;
  extensions?: Extensions;
}

export interface InstanceCreateRequest {
  runtime_profile: string;
  count?: number;
  overrides?: ProcessSettings;
  metadata?: Metadata;
  extensions?: Extensions;
}

export interface InstanceCreateResponse {
  instances: RuntimeInstance[];
  extensions?: Extensions;
}

export interface InstanceRegisterRequest {
  runtime_api_endpoint: EndpointLocator;
  runtime_profile?: string;
  runtime_name?: string;
  metadata?: Metadata;
  extensions?: Extensions;
}

export interface InstanceRegisterResponse {
  instance: RuntimeInstance;
  extensions?: Extensions;
}

export interface InstanceListResponse {
  instances: RuntimeInstance[];
  extensions?: Extensions;
}
