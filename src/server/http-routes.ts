/**
 * The routes of the ARP Daemon API v1 (and arpd's few additions), as one table: each entry has its path in
 * OpenAPI form, its schema (for the OpenAPI document) and a handler that parses the request at the edge and
 * calls the very ops the socket methods call. Bodies are checked by the ops with arpd's strict validators
 * (unknown fields are refused, naming the field); fastify's own validation and serialization are off.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ArpdError } from '../errors/index.js';
import type { InstanceOps } from '../features/instances-feature.js';
import type { ProfileOps } from '../features/profiles-feature.js';
import type { RunOps } from '../features/runs-feature.js';
import type { Health, VersionInfo } from '../schemas/index.js';
import { envelope, toHttpError } from './http-errors.js';
import { lastEventId, openSse, type SseRegistry } from './http-sse.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One event of the global log, as the SSE stream sends it. */
export interface LogEvent {
  readonly seq: number;
}

export interface EventsSubscription {
  fromSeq: number;
  headSeq: number;
  stop(): void;
}

/** What the routes call. Ops are the same objects the socket methods use. */
export interface HttpBackend {
  profiles: ProfileOps;
  instances: InstanceOps;
  runs: RunOps;
  health(): Health;
  version(): VersionInfo;
  status(): Record<string, unknown>;
  /**
   * Streams the global log from `fromSeq` (default: only what comes next) to `send`, from the files and then live,
   * until `send` returns false or `stop()` is called.
   */
  subscribeEvents(opts: { fromSeq?: number | undefined; types?: string[] | undefined; stream?: string | undefined }, send: (e: LogEvent) => boolean, fail: (err: unknown) => void): EventsSubscription;
  /** An unexpected failure inside a stream (after the answer began), for the daemon log. */
  streamFailed(err: unknown, info: { url: string }): void;
}

export interface RouteDef {
  method: HttpMethod;
  /** OpenAPI form: `/v1/runs/{run_id}:cancel`. */
  path: string;
  /** Served without credentials. */
  public?: boolean;
  schema: Record<string, unknown>;
  handler(req: FastifyRequest, reply: FastifyReply): Promise<unknown>;
}

// ---- parsing at the edge ------------------------------------------------------------------------

type Query = Record<string, string>;

/** The query string as single strings; unknown or repeated parameters are refused, naming them. */
function queryOf(req: FastifyRequest, allowed: readonly string[]): Query {
  const raw = (req.query ?? {}) as Record<string, unknown>;
  const out: Query = {};
  for (const [k, v] of Object.entries(raw)) {
    if (!allowed.includes(k)) {
      const hint = allowed.length === 0 ? 'this endpoint takes no query parameters' : `it takes ${allowed.join(', ')}`;
      throw new ArpdError('E_VALIDATION', `query parameter '${k}' is not known here: ${hint}`, { field: k, rule: 'additionalProperties' });
    }
    if (typeof v !== 'string') throw new ArpdError('E_VALIDATION', `query parameter '${k}' is given more than once: give it once`, { field: k, rule: 'type' });
    out[k] = v;
  }
  return out;
}

function intOf(q: Query, key: string, min: number, max: number): number | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  const n = /^\d{1,16}$/.test(v) ? Number(v) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ArpdError('E_VALIDATION', `${key} must be a whole number from ${min} to ${max}, not '${v.slice(0, 40)}'`, { field: key, rule: 'integer' });
  }
  return n;
}

function boolOf(q: Query, key: string): boolean | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ArpdError('E_VALIDATION', `${key} must be true or false, not '${v.slice(0, 40)}'`, { field: key, rule: 'boolean' });
}

function strOf(q: Query, key: string, max: number): string | undefined {
  const v = q[key];
  if (v === undefined) return undefined;
  if (v.length > max) throw new ArpdError('E_VALIDATION', `${key} is longer than ${max} characters`, { field: key, rule: 'maxLength' });
  return v;
}

function param(req: FastifyRequest, name: string): string {
  return String((req.params as Record<string, unknown>)[name] ?? '');
}

function bodyOf(req: FastifyRequest, schemaName: string): unknown {
  if (req.body === undefined || req.body === null) {
    throw new ArpdError('E_VALIDATION', `the request body is missing: send a ${schemaName} as JSON with Content-Type: application/json`, { field: '', rule: 'required', schema: schemaName });
  }
  return req.body;
}

// ---- schemas for the OpenAPI document ---------------------------------------------------------

const ref = (name: string): Record<string, unknown> => ({ $ref: `${name}#` });
const errorResponses = {
  default: { description: 'Error (ErrorEnvelope)', ...ref('ErrorEnvelope') },
};
const authResponses = {
  401: { description: 'Unauthorized: no valid bearer token (sent with WWW-Authenticate: Bearer)', ...ref('ErrorEnvelope') },
  403: { description: 'Forbidden', ...ref('ErrorEnvelope') },
};
const noContent = { description: 'Done, no content', type: 'null' };
const idParam = (name: string) => ({ type: 'object', required: [name], properties: { [name]: { type: 'string', description: "letters, digits, '.', '_', '-' (max 128)" } } });
const sse = (description: string) => ({ description, content: { 'text/event-stream': { schema: { type: 'string' } } } });

function op(tag: string, operationId: string, summary: string, rest: Record<string, unknown> = {}, isPublic = false): Record<string, unknown> {
  const response = (rest['response'] ?? {}) as Record<string, unknown>;
  return {
    tags: [tag],
    operationId,
    summary,
    ...rest,
    response: { ...response, ...(isPublic ? {} : authResponses), ...errorResponses },
    ...(isPublic ? { security: [] } : {}),
  };
}

const SSE_NOTE = 'Server-Sent Events; resume with Last-Event-ID.';

// ---- the routes -----------------------------------------------------------------------------------

export function apiRoutes(b: HttpBackend, streams: SseRegistry): RouteDef[] {
  return [
    {
      method: 'GET', path: '/v1/health', public: true,
      schema: op('health', 'health', 'Health', { response: { 200: { description: 'Health', ...ref('Health') } } }, true),
      handler: async (req) => { queryOf(req, []); return b.health(); },
    },
    {
      method: 'GET', path: '/v1/version', public: true,
      schema: op('version', 'version', 'Version', { response: { 200: { description: 'Version', ...ref('VersionInfo') } } }, true),
      handler: async (req) => { queryOf(req, []); return b.version(); },
    },
    // ---- instances
    {
      method: 'GET', path: '/v1/instances',
      schema: op('instances', 'list_instances', 'List runtime instances', {
        querystring: { type: 'object', properties: { all: { type: 'boolean', description: 'arpd: include stopped instances' }, runtime_profile: { type: 'string' }, state: { type: 'string' } } },
        response: { 200: { description: 'Runtime instance list', ...ref('InstanceListResponse') } },
      }),
      handler: async (req) => {
        const q = queryOf(req, ['all', 'runtime_profile', 'state']);
        return b.instances.list({ all: boolOf(q, 'all') ?? false, profile: strOf(q, 'runtime_profile', 200), state: strOf(q, 'state', 20) });
      },
    },
    {
      method: 'POST', path: '/v1/instances',
      schema: op('instances', 'create_instances', 'Create runtime instances', {
        querystring: { type: 'object', properties: { wait: { type: 'boolean', description: 'arpd: answer once every new instance is ready (or failed)' } } },
        body: ref('InstanceCreateRequest'),
        response: { 200: { description: 'Create response', ...ref('InstanceCreateResponse') } },
      }),
      handler: async (req) => {
        const q = queryOf(req, ['wait']);
        return b.instances.create(bodyOf(req, 'InstanceCreateRequest'), { wait: boolOf(q, 'wait') ?? false });
      },
    },
    {
      method: 'GET', path: '/v1/instances/{instance_id}',
      schema: op('instances', 'get_instance', 'Get a runtime instance (arpd)', { params: idParam('instance_id'), response: { 200: { description: 'Runtime instance', ...ref('RuntimeInstance') } } }),
      handler: async (req) => { queryOf(req, []); return b.instances.get(param(req, 'instance_id')); },
    },
    {
      method: 'DELETE', path: '/v1/instances/{instance_id}',
      schema: op('instances', 'delete_instance', 'Delete runtime instance (managed) or deregister (external)', { params: idParam('instance_id'), response: { 204: noContent } }),
      handler: async (req, reply) => {
        queryOf(req, []);
        await b.instances.delete(param(req, 'instance_id'));
        return reply.code(204).send();
      },
    },
    {
      method: 'POST', path: '/v1/instances:register',
      schema: op('instances', 'register_instance', 'Register external runtime instance endpoint (unmanaged)', {
        body: ref('InstanceRegisterRequest'),
        response: { 200: { description: 'Registered', ...ref('InstanceRegisterResponse') } },
      }),
      handler: async (req) => { queryOf(req, []); return b.instances.register(bodyOf(req, 'InstanceRegisterRequest')); },
    },
    // ---- runtime profiles
    {
      method: 'GET', path: '/v1/admin/runtime-profiles',
      schema: op('runtime_profiles', 'list_runtime_profiles', 'List runtime profiles (safe list)', { response: { 200: { description: 'Runtime profile list', ...ref('RuntimeProfileListResponse') } } }),
      handler: async (req) => { queryOf(req, []); return b.profiles.list(); },
    },
    {
      method: 'GET', path: '/v1/admin/runtime-profiles/{runtime_profile}',
      schema: op('runtime_profiles', 'get_runtime_profile', 'Get a runtime profile (arpd)', { params: idParam('runtime_profile'), response: { 200: { description: 'Runtime profile', ...ref('RuntimeProfile') } } }),
      handler: async (req) => { queryOf(req, []); return b.profiles.get(param(req, 'runtime_profile')); },
    },
    {
      method: 'PUT', path: '/v1/admin/runtime-profiles/{runtime_profile}',
      schema: op('runtime_profiles', 'upsert_runtime_profile', 'Upsert runtime profile (safe list)', {
        params: idParam('runtime_profile'),
        body: ref('RuntimeProfileUpsertRequest'),
        response: { 200: { description: 'Runtime profile', ...ref('RuntimeProfile') } },
      }),
      handler: async (req) => { queryOf(req, []); return b.profiles.upsert(param(req, 'runtime_profile'), bodyOf(req, 'RuntimeProfileUpsertRequest')); },
    },
    {
      method: 'DELETE', path: '/v1/admin/runtime-profiles/{runtime_profile}',
      schema: op('runtime_profiles', 'delete_runtime_profile', 'Delete runtime profile (safe list)', {
        params: idParam('runtime_profile'),
        querystring: { type: 'object', properties: { force: { type: 'boolean', description: 'arpd: delete even while live instances use it' } } },
        response: { 204: noContent },
      }),
      handler: async (req, reply) => {
        const q = queryOf(req, ['force']);
        await b.profiles.delete(param(req, 'runtime_profile'), boolOf(q, 'force') ?? false);
        return reply.code(204).send();
      },
    },
    // ---- runs
    {
      method: 'GET', path: '/v1/runs',
      schema: op('runs', 'list_runs', 'List runs', {
        querystring: { type: 'object', properties: { page_size: { type: 'integer', minimum: 1, maximum: 1000 }, page_token: { type: 'string' }, state: { type: 'string', description: 'arpd: only runs in this state' } } },
        response: { 200: { description: 'Run list', ...ref('RunListResponse') } },
      }),
      handler: async (req) => {
        const q = queryOf(req, ['page_size', 'page_token', 'state']);
        return b.runs.list({ pageSize: intOf(q, 'page_size', 1, 1000), pageToken: strOf(q, 'page_token', 200), state: strOf(q, 'state', 20) });
      },
    },
    {
      method: 'POST', path: '/v1/runs',
      schema: op('runs', 'submit_run', 'Submit run (async)', { body: ref('RunRequest'), response: { 202: { description: 'Run accepted', ...ref('RunStatus') } } }),
      handler: async (req, reply) => {
        queryOf(req, []);
        const status = await b.runs.submit(bodyOf(req, 'RunRequest'));
        return reply.code(202).send(status);
      },
    },
    {
      method: 'GET', path: '/v1/runs/{run_id}',
      schema: op('runs', 'get_run_status', 'Get run status', { params: idParam('run_id'), response: { 200: { description: 'Run status', ...ref('RunStatus') } } }),
      handler: async (req) => { queryOf(req, []); return b.runs.get(param(req, 'run_id')); },
    },
    {
      method: 'GET', path: '/v1/runs/{run_id}/result',
      schema: op('runs', 'get_run_result', 'Get run result', { params: idParam('run_id'), response: { 200: { description: 'Run result', ...ref('RunResult') } } }),
      handler: async (req) => { queryOf(req, []); return b.runs.result(param(req, 'run_id')); },
    },
    {
      method: 'GET', path: '/v1/runs/{run_id}/trace',
      schema: op('runs', 'get_run_trace', 'Get run trace', {
        params: idParam('run_id'),
        querystring: { type: 'object', properties: { from_seq: { type: 'integer', minimum: 1 }, limit: { type: 'integer', minimum: 1, maximum: 100000 } } },
        response: { 200: { description: 'Trace events', ...ref('TraceResponse') } },
      }),
      handler: async (req) => {
        const q = queryOf(req, ['from_seq', 'limit']);
        return b.runs.trace(param(req, 'run_id'), { fromSeq: intOf(q, 'from_seq', 1, Number.MAX_SAFE_INTEGER), limit: intOf(q, 'limit', 1, 100_000) });
      },
    },
    {
      method: 'POST', path: '/v1/runs/{run_id}:cancel',
      schema: op('runs', 'cancel_run', 'Cancel a run (arpd; optional in ARP v1)', { params: idParam('run_id'), response: { 200: { description: 'Run status', ...ref('RunStatus') } } }),
      handler: async (req) => { queryOf(req, []); return b.runs.cancel(param(req, 'run_id')); },
    },
    {
      method: 'GET', path: '/v1/runs/{run_id}/events',
      schema: op('runs', 'stream_run_events', "Stream a run's trace live (arpd)", {
        description: `${SSE_NOTE} Each \`trace\` event is a TraceEvent (id: its seq); a last \`end\` event carries the RunStatus once the run has ended.`,
        params: idParam('run_id'),
        querystring: { type: 'object', properties: { from_seq: { type: 'integer', minimum: 1 } } },
        response: { 200: sse('A text/event-stream of trace events') },
      }),
      handler: async (req, reply) => {
        const q = queryOf(req, ['from_seq']);
        const runId = param(req, 'run_id');
        const after = lastEventId(req.headers['last-event-id']);
        const from = after !== undefined ? after + 1 : intOf(q, 'from_seq', 1, Number.MAX_SAFE_INTEGER) ?? 1;
        b.runs.get(runId); // an unknown run is a JSON 404 before the stream starts
        const stream = openSse(reply, streams, `trace of run ${runId}`);
        const abort = new AbortController();
        stream.onClose(() => abort.abort());
        try {
          const end = await b.runs.follow(runId, from, (line) => stream.send('trace', line, line.seq), abort.signal);
          stream.send('end', end);
        } catch (err) {
          const e = toHttpError(err, 0);
          if (e.code === 'E_INTERNAL') b.streamFailed(e.cause ?? err, { url: `/v1/runs/${runId}/events` });
          stream.send('error', envelope(e));
        } finally {
          stream.end();
        }
      },
    },
    // ---- arpd additions
    {
      method: 'GET', path: '/v1/events',
      schema: op('events', 'stream_events', 'Stream the event log (arpd)', {
        description: `${SSE_NOTE} Each \`event\` event is one line of arpd's event log (id: its seq), from \`from_seq\` (default: what comes next) and then live.`,
        querystring: { type: 'object', properties: { from_seq: { type: 'integer', minimum: 1 }, types: { type: 'string', description: 'comma-separated event types (a prefix ending in "." matches a family)' }, stream: { type: 'string' } } },
        response: { 200: sse('A text/event-stream of log events') },
      }),
      handler: async (req, reply) => {
        const q = queryOf(req, ['from_seq', 'types', 'stream']);
        const after = lastEventId(req.headers['last-event-id']);
        const from = after !== undefined ? after + 1 : intOf(q, 'from_seq', 1, Number.MAX_SAFE_INTEGER);
        const types = strOf(q, 'types', 2000)?.split(',').map((s) => s.trim()).filter((s) => s !== '');
        const stream = openSse(reply, streams, 'arpd event log');
        const sub = b.subscribeEvents({ fromSeq: from, types, stream: strOf(q, 'stream', 300) }, (e) => stream.send('event', e, e.seq), (err) => {
          const e = toHttpError(err, 0);
          if (e.code === 'E_INTERNAL') b.streamFailed(e.cause ?? err, { url: '/v1/events' });
          stream.send('error', envelope(e));
          stream.end();
        });
        stream.onClose(() => sub.stop());
      },
    },
    {
      method: 'GET', path: '/v1/admin/status',
      schema: op('admin', 'daemon_status', 'Daemon status (arpd)', { response: { 200: { description: 'The same object as `arpd daemon status --json`', type: 'object', additionalProperties: true } } }),
      handler: async (req) => { queryOf(req, []); return b.status(); },
    },
  ];
}
