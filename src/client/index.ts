/**
 * `arpd/client`: the typed SDK for an arpd daemon, the same over its Unix socket and over HTTP.
 *
 *   const arpd = await connect({ dataDir });            // or { socketPath }, or { url, token }
 *   const run = await arpd.runs.submit({ input: { goal: 'What is (19*23)?' } });
 *   for await (const line of arpd.runs.follow(run.run_id)) console.log(line.type);
 *
 * Importing it loads Node built-ins and arpd's own files only; each transport is loaded when used.
 */
export { connect, type ConnectOptions, type HttpConnectOptions, type SocketConnectOptions } from './connect.js';
export type {
  ArpdClient,
  DaemonApi,
  DaemonStatus,
  EventFilter,
  EventPage,
  EventsApi,
  EventSubscription,
  InstanceProgress,
  InstancesApi,
  LogEvent,
  ProfilesApi,
  RequestOptions,
  RunFollow,
  RunListQuery,
  RunsApi,
} from './client-types.js';
export type {
  InstanceCreateRequest,
  InstanceCreateResponse,
  InstanceListResponse,
  InstanceRegisterRequest,
  InstanceRegisterResponse,
  InstanceState,
  RunListResponse,
  RunRequest,
  RunResult,
  RunState,
  RunStatus,
  RuntimeInstance,
  RuntimeProfile,
  RuntimeProfileListResponse,
  RuntimeProfileUpsertRequest,
  TraceEvent,
  TraceResponse,
} from '../schemas/types.js';
export { ArpdError, type ErrorCode } from '../errors/index.js';
