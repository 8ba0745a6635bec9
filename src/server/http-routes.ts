/**
 * The routes of the ARP Daemon API v1 (and arpd's few additions), as one table: each entry has its path in
 * OpenAPI form, its schema (for the OpenAPI document) and a handler that parses the request at the edge and
 * calls the very ops the socket methods call. Bodies are checked by the ops with arpd's strict validators
 * (unknown fields are refused, naming the field); fastify's own validation and serialization are off.
 *
 * Length: over 300 lines because it is one table, an entry per route of the API; each entry is short.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ArpdError, isErrorCode, type ErrorCode } from '../errors/index.js';
import type { EventFilter } from '../events/event-store.js';
import type { DaemonOps } from '../features/daemon-ops.js';
import type { EventOps } from '../features/event-ops.js';
import type { InstanceOps } from '../features/instance-ops.js';
import type { ProfileOps } from '../features/profile-ops.js';
import type { LogOps } from '../features/log-ops.js';
import type { RunOps } from '../features/run-ops.js';
import { checkParams, type ParamsName } from '../schemas/params.js';
import { withTraceparent } from '../telemetry/trace-context.js';
import { envelope, toHttpError } from './http-errors.js';
import { lastEventId, openSse, type SseRegistry } from './http-sse.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** What the routes call: the same operations the socket methods call. */
export interface HttpBackend {
  daemon: DaemonOps;
  events: EventOps;
  profiles: ProfileOps;
  instances: InstanceOps;
  runs: RunOps;
  log: LogOps;
  /** An unexpected failure inside a stream (after the answer began), for the daemon log. */
  streamFailed(err: unknown, info: { url: string }): void;
}

export interface RouteDef {
  method: HttpMethod;
  /** OpenAPI form: `/v1/runs/{run_id}:cancel`. */
  path: string;
  /** Served without credentials. */
  public?: boolean;
  /** Changes the safe list, or the daemon's own data: needs admin credentials (see http-auth.ts). */
  admin?: boolean;
  /** What an admin route does, for its refusal ("taking a log snapshot needs the admin token …"); default: changing the safe list. */
  adminWhy?: string;
  /**
   * Its handler waits for instances (to be ready, registered or stopped), which can take minutes (a pip install):
   * once the request has arrived, the connection's idle timeout, which guards against slow senders, is lifted.
   */
  waits?: boolean;
  /**
   * Some bodies make a request need admin credentials (see http-auth.ts): what this one changes that needs them
   * (for the refusal), or undefined. Checked once the body is parsed, before the handler.
   */
  adminIf?(body: unknown): string | undefined;
  schema: Record<string, unknown>;
  /**
   * The answer (sent as JSON), or a promise of it; a handler that sends itself returns (a promise of) the reply.
   * The reads that need no I/O answer synchronously: fastify sends a plain value at once, while a promise costs
   * an allocation and a microtask per request. A synchronous handler must never return undefined (fastify would
   * then wait for a send that never comes).
   */
  handler(req: FastifyRequest, reply: FastifyReply): unknown;
}

// ---- parsing at the edge ------------------------------------------------------------------------

type Query = Record<string, unknown>;

/** The query string checked (and coerced) against the operation's params schema, the same one the socket uses. */
function queryOf(req: FastifyRequest, name: ParamsName, allowed?: readonly string[]): Query {
  const given = (req.query ?? {}) as Record<string, unknown>;
  // no query string (the hot GETs): nothing to check, every params schema takes {} in query form (all optional)
  if (isEmpty(given)) return {};
  const raw = { ...given };
  for (const [k, v] of Object.entries(raw)) {
    if (Array.isArray(v)) throw new ArpdError('E_VALIDATION', `query parameter '${k}' is given more than once: give it once`, { field: k, rule: 'type' });
    if (allowed !== undefined && !allowed.includes(k)) {
      const hint = allowed.length === 0 ? 'this endpoint takes no query parameters' : `it takes ${allowed.join(', ')}`;
      throw new ArpdError('E_VALIDATION', `query parameter '${k}' is not known here: ${hint}`, { field: k, rule: 'additionalProperties' });
    }
  }
  return checkParams(name, raw, { coerce: true, where: 'query' });
}

function isEmpty(o: Record<string, unknown>): boolean {
  for (const _ in o) return false;
  return true;
}

const noQuery = (req: FastifyRequest): void => { queryOf(req, 'daemon.status', []); };
const opt = <T>(q: Query, k: string): T | undefined => q[k] as T | undefined;

function filterOf(q: Query): EventFilter {
  return { ...(q['types'] === undefined ? {} : { types: q['types'] as string[] }), ...(q['stream'] === undefined ? {} : { stream: q['stream'] as string }) };
}

function param(req: FastifyRequest, name: string): string {
  return String((req.params as Record<string, unknown>)[name] ?? '');
}

/**
 * `overrides.env` and `overrides.args` of an instance create change what a safe-listed profile runs (an env of
 * `NODE_OPTIONS=--import=data:…`, `LD_PRELOAD`, `PATH`, or an argument the runtime reads as code), so they need what
 * changing the safe list needs; `overrides.tool_registry_url` (the ARP golden vector's) does not. Empty ones are
 * nothing; a wrong type is left to the validator's 400.
 */
function processOverridesOf(body: unknown): string | undefined {
  const o = (body !== null && typeof body === 'object' ? (body as Record<string, unknown>)['overrides'] : undefined) as Record<string, unknown> | undefined;
  if (o === null || typeof o !== 'object') return undefined;
  const env = o['env'];
  const args = o['args'];
  const hasEnv = env !== null && typeof env === 'object' && !Array.isArray(env) && Object.keys(env).length > 0;
  const hasArgs = Array.isArray(args) && args.length > 0;
  if (!hasEnv && !hasArgs) return undefined;
  return `starting an instance with ${hasEnv ? 'overrides.env' : 'overrides.args'} (it changes what a safe-listed profile runs)`;
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
      handler: (req) => { noQuery(req); return b.daemon.health(); },
    },
    {
      method: 'GET', path: '/v1/version', public: true,
      schema: op('version', 'version', 'Version', { response: { 200: { description: 'Version', ...ref('VersionInfo') } } }, true),
      handler: (req) => { noQuery(req); return b.daemon.version(); },
    },
    // ---- instances
    {
      method: 'GET', path: '/v1/instances',
      schema: op('instances', 'list_instances', 'List runtime instances', {
        description: 'Instances still installing have no endpoint yet: they are listed once they have one (the socket API and `arpd instances list` show them all).',
        querystring: { type: 'object', properties: { all: { type: 'boolean', description: 'arpd: include stopped instances' }, runtime_profile: { type: 'string' }, state: { type: 'string' } } },
        response: { 200: { description: 'Runtime instance list', ...ref('InstanceListResponse') } },
      }),
      handler: (req) => {
        const q = queryOf(req, 'instances.list');
        const list = b.instances.list({ all: opt<boolean>(q, 'all') ?? false, profile: opt(q, 'runtime_profile'), state: opt(q, 'state') });
        return { instances: list.instances.filter((i) => i.runtime_api_endpoint !== undefined) };
      },
    },
    {
      method: 'POST', path: '/v1/instances', waits: true, adminIf: processOverridesOf,
      schema: op('instances', 'create_instances', 'Create runtime instances', {
        description: 'Answers once every new instance is healthy, with its endpoint; fails when one cannot start (as the JARVIS daemon does). '
          + 'arpd extension: `?wait=false` answers as soon as each instance has its endpoint (before it is healthy). '
          + '`overrides.env` and `overrides.args` change what a safe-listed profile runs: they need admin credentials, as changing the safe list does.',
        querystring: { type: 'object', properties: { wait: { type: 'boolean', default: true, description: 'arpd: false answers once each instance has its endpoint, before it is healthy' } } },
        body: ref('InstanceCreateRequest'),
        response: { 200: { description: 'Create response', ...ref('InstanceCreateResponse') } },
      }),
      handler: async (req) => {
        const q = queryOf(req, 'instances.create', ['wait']);
        const wait = opt<boolean>(q, 'wait') ?? true;
        const created = await b.instances.create(bodyOf(req, 'InstanceCreateRequest'), { wait: wait ? 'ready' : 'endpoint' });
        const failed = created.instances.filter((i) => i.state === 'error' || i.state === 'stopped' || (wait && i.state === 'starting') || i.runtime_api_endpoint === undefined);
        if (failed.length > 0) {
          const first = failed[0] as (typeof failed)[number];
          const err = ((first.extensions as Record<string, unknown> | undefined)?.['arpd.instance'] as { error?: { code?: string; message?: string }; reason?: string; pid?: number } | undefined);
          const code = err?.error?.code ?? 'E_TIMEOUT';
          const why = err?.error?.message ?? err?.reason ?? `it is still ${first.state}`;
          throw new ArpdError(isKnownCode(code) ? code : 'E_RUNTIME_LOST', `${failed.length} of ${created.instances.length} instance(s) could not start: ${first.instance_id}: ${why}: see 'arpd instances list --all'${err?.pid === undefined ? '' : ` and 'arpd instances logs ${first.instance_id}'`}`, {
            instances: failed.map((i) => ({ instance_id: i.instance_id, state: i.state })) as never,
          });
        }
        return created;
      },
    },
    {
      method: 'GET', path: '/v1/instances/{instance_id}',
      schema: op('instances', 'get_instance', 'Get a runtime instance (arpd)', { params: idParam('instance_id'), response: { 200: { description: 'Runtime instance', ...ref('RuntimeInstance') } } }),
      handler: (req) => {
        noQuery(req);
        const inst = b.instances.get(param(req, 'instance_id'));
        if (inst.runtime_api_endpoint === undefined) {
          throw new ArpdError('E_NOT_READY', `instance '${inst.instance_id}' has no endpoint yet (${inst.state}): ask again once it is ready`, { instance_id: inst.instance_id, arp_code: 'instances.not_ready' });
        }
        return inst;
      },
    },
    {
      method: 'DELETE', path: '/v1/instances/{instance_id}', waits: true,
      schema: op('instances', 'delete_instance', 'Delete runtime instance (managed) or deregister (external)', { params: idParam('instance_id'), response: { 204: noContent } }),
      handler: async (req, reply) => {
        noQuery(req);
        await b.instances.delete(param(req, 'instance_id'), { wait: true });
        return reply.code(204).send();
      },
    },
    {
      method: 'POST', path: '/v1/instances:register', waits: true,
      schema: op('instances', 'register_instance', 'Register external runtime instance endpoint (unmanaged)', {
        body: ref('InstanceRegisterRequest'),
        response: { 200: { description: 'Registered', ...ref('InstanceRegisterResponse') } },
      }),
      handler: async (req) => { noQuery(req); return b.instances.register(bodyOf(req, 'InstanceRegisterRequest')); },
    },
    // ---- runtime profiles
    {
      method: 'GET', path: '/v1/admin/runtime-profiles',
      schema: op('runtime_profiles', 'list_runtime_profiles', 'List runtime profiles (safe list)', { response: { 200: { description: 'Runtime profile list', ...ref('RuntimeProfileListResponse') } } }),
      handler: (req) => { noQuery(req); return b.profiles.list(); },
    },
    {
      method: 'GET', path: '/v1/admin/runtime-profiles/{runtime_profile}',
      schema: op('runtime_profiles', 'get_runtime_profile', 'Get a runtime profile (arpd)', { params: idParam('runtime_profile'), response: { 200: { description: 'Runtime profile', ...ref('RuntimeProfile') } } }),
      handler: (req) => { noQuery(req); return b.profiles.get(param(req, 'runtime_profile')); },
    },
    {
      method: 'PUT', path: '/v1/admin/runtime-profiles/{runtime_profile}', admin: true,
      schema: op('runtime_profiles', 'upsert_runtime_profile', 'Upsert runtime profile (safe list; needs admin credentials)', {
        params: idParam('runtime_profile'),
        body: ref('RuntimeProfileUpsertRequest'),
        response: { 200: { description: 'Runtime profile', ...ref('RuntimeProfile') } },
      }),
      handler: async (req) => { noQuery(req); return b.profiles.upsert(param(req, 'runtime_profile'), bodyOf(req, 'RuntimeProfileUpsertRequest')); },
    },
    {
      method: 'DELETE', path: '/v1/admin/runtime-profiles/{runtime_profile}', admin: true,
      schema: op('runtime_profiles', 'delete_runtime_profile', 'Delete runtime profile (safe list; needs admin credentials)', {
        params: idParam('runtime_profile'),
        querystring: { type: 'object', properties: { force: { type: 'boolean', description: 'arpd: delete even while live instances use it' } } },
        response: { 204: noContent },
      }),
      handler: async (req, reply) => {
        const q = queryOf(req, 'profiles.delete', ['force']);
        await b.profiles.delete(param(req, 'runtime_profile'), opt<boolean>(q, 'force') ?? false);
        return reply.code(204).send();
      },
    },
    // ---- runs
    {
      method: 'GET', path: '/v1/runs',
      schema: op('runs', 'list_runs', 'List runs', {
        description: 'arpd: runs in submission order (newest first with `order=desc`), filtered by `state`, `runtime_profile`, '
          + '`instance_id` and `q` (a run id prefix). One request looks at no more than 10,000 runs: past that it answers '
          + 'with the matches it found (fewer than `page_size`, maybe none) and a `pagination.next_page_token`. A short or '
          + 'empty page with a token is not the end: pass the token (with the same filters) to go on; the list has ended '
          + 'when a page comes without one.',
        querystring: { type: 'object', properties: {
          page_size: { type: 'integer', minimum: 1, maximum: 1000 }, page_token: { type: 'string' },
          state: { type: 'string', description: 'arpd: only runs in this state' },
          runtime_profile: { type: 'string', description: 'arpd: only runs of this profile' },
          instance_id: { type: 'string', description: 'arpd: only runs on this instance' },
          q: { type: 'string', description: 'arpd: only runs whose id starts with this' },
          order: { type: 'string', enum: ['asc', 'desc'], description: 'arpd: desc lists the newest first' },
        } },
        response: { 200: { description: 'Run list', ...ref('RunListResponse') } },
      }),
      handler: (req) => {
        const q = queryOf(req, 'runs.list');
        return b.runs.list({
          pageSize: opt(q, 'page_size'), pageToken: opt(q, 'page_token'), state: opt(q, 'state'),
          profile: opt(q, 'runtime_profile'), instanceId: opt(q, 'instance_id'), q: opt(q, 'q'), order: opt(q, 'order'),
        });
      },
    },
    {
      method: 'POST', path: '/v1/runs',
      schema: op('runs', 'submit_run', 'Submit run (async)', { body: ref('RunRequest'), response: { 202: { description: 'Run accepted', ...ref('RunStatus') } } }),
      handler: async (req, reply) => {
        noQuery(req);
        // a caller's W3C trace context becomes the run's, in its data (extensions["arpd.trace"])
        const status = await b.runs.submit(withTraceparent(bodyOf(req, 'RunRequest'), req.headers['traceparent'], req.headers['tracestate']));
        return reply.code(202).send(status);
      },
    },
    {
      method: 'GET', path: '/v1/runs/{run_id}',
      schema: op('runs', 'get_run_status', 'Get run status', { params: idParam('run_id'), response: { 200: { description: 'Run status', ...ref('RunStatus') } } }),
      handler: (req) => { noQuery(req); return b.runs.get(param(req, 'run_id')); },
    },
    {
      method: 'GET', path: '/v1/runs/{run_id}/result',
      schema: op('runs', 'get_run_result', 'Get run result', { params: idParam('run_id'), response: { 200: { description: 'Run result', ...ref('RunResult') } } }),
      handler: async (req) => { noQuery(req); return b.runs.result(param(req, 'run_id')); },
    },
    {
      method: 'GET', path: '/v1/runs/{run_id}/trace',
      schema: op('runs', 'get_run_trace', 'Get run trace', {
        params: idParam('run_id'),
        querystring: { type: 'object', properties: { from_seq: { type: 'integer', minimum: 1 }, limit: { type: 'integer', minimum: 1, maximum: 100000 } } },
        response: { 200: { description: 'Trace events', ...ref('TraceResponse') } },
      }),
      handler: async (req) => {
        const q = queryOf(req, 'runs.trace', ['from_seq', 'limit']);
        return b.runs.trace(param(req, 'run_id'), { fromSeq: opt(q, 'from_seq'), limit: opt(q, 'limit') });
      },
    },
    {
      method: 'POST', path: '/v1/runs/{run_id}:cancel',
      schema: op('runs', 'cancel_run', 'Cancel a run (arpd; optional in ARP v1)', { params: idParam('run_id'), response: { 200: { description: 'Run status', ...ref('RunStatus') } } }),
      handler: async (req) => { noQuery(req); return b.runs.cancel(param(req, 'run_id')); },
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
        const q = queryOf(req, 'runs.follow', ['from_seq']);
        const runId = param(req, 'run_id');
        const after = lastEventId(req.headers['last-event-id']);
        const from = after !== undefined ? after + 1 : opt<number>(q, 'from_seq') ?? 1;
        b.runs.get(runId); // an unknown run is a JSON 404 before the stream starts
        const stream = openSse(reply, streams, `trace of run ${runId}`);
        const handle = b.events.followRun(runId, from, {
          send: (line) => stream.send('trace', line, line.seq),
          hasRoom: () => stream.hasRoom(),
          drained: () => stream.drained(),
        }, {
          end: () => { stream.send('end', b.runs.get(runId)); stream.end(); },
          error: (err) => {
            const e = toHttpError(err, 0);
            if (e.code === 'E_INTERNAL') b.streamFailed(e.cause ?? err, { url: `/v1/runs/${runId}/events` });
            stream.send('error', envelope(e));
            stream.end();
          },
        });
        stream.onClose(() => handle.close());
      },
    },
    // ---- arpd additions
    {
      method: 'GET', path: '/v1/events',
      schema: op('events', 'stream_events', 'Stream the event log (arpd)', {
        description: `${SSE_NOTE} Each \`event\` event is one line of arpd's event log (id: its seq), from \`from_seq\` (default: what comes next) and then live.`,
        querystring: { type: 'object', properties: { from_seq: { type: 'integer', minimum: 1 }, types: { type: 'string', description: 'comma-separated event types (a prefix ending in "." matches a family; an empty entry, or one with whitespace, is refused)' }, stream: { type: 'string' } } },
        response: { 200: sse('A text/event-stream of log events') },
      }),
      handler: async (req, reply) => {
        const raw = { ...((req.query ?? {}) as Record<string, unknown>) };
        const typesText = raw['types'];
        if (typesText !== undefined && typeof typesText !== 'string') throw new ArpdError('E_VALIDATION', "query parameter 'types' is given more than once: give it once, comma-separated", { field: 'types' });
        if (typeof typesText === 'string' && typesText.length > 2000) throw new ArpdError('E_VALIDATION', "query parameter 'types' is longer than 2000 characters", { field: 'types' });
        // the list the socket takes, checked by the same rule: an empty entry ('types=', 'types=run.,') is refused as
        // the socket refuses types: [''], where it was dropped here (and 'types=' matched every event); an entry is not
        // trimmed, so ' run.' is refused here as on the socket (no event type holds a space), where it matched 'run.'
        if (typeof typesText === 'string') raw['types'] = typesText.split(',');
        const q = checkParams('events.subscribe', raw, { coerce: true, where: 'query' });
        const filter = filterOf(q);
        const after = lastEventId(req.headers['last-event-id']);
        const from = after !== undefined ? after + 1 : opt<number>(q, 'from_seq') ?? (b.daemon.status()['last_seq'] as number) + 1;
        const stream = openSse(reply, streams, 'arpd event log');
        const handle = b.events.subscribe(from - 1, filter, {
          send: (e) => stream.send('event', e, e.seq),
          hasRoom: () => stream.hasRoom(),
          drained: () => stream.drained(),
        }, {
          error: (err) => {
            const e = toHttpError(err, 0);
            if (e.code === 'E_INTERNAL') b.streamFailed(e.cause ?? err, { url: '/v1/events' });
            stream.send('error', envelope(e));
            stream.end();
          },
        });
        stream.onClose(() => handle.close());
      },
    },
    {
      method: 'GET', path: '/v1/admin/status',
      schema: op('admin', 'daemon_status', 'Daemon status (arpd)', { response: { 200: { description: 'The same object as `arpd daemon status --json`', type: 'object', additionalProperties: true } } }),
      handler: (req) => { noQuery(req); return b.daemon.status(); },
    },
    {
      method: 'POST', path: '/v1/admin/log:snapshot', admin: true, adminWhy: 'taking a log snapshot',
      schema: op('admin', 'log_snapshot', 'Take a snapshot of the projections now (arpd; needs admin credentials)', { response: { 200: { description: 'The snapshot written', type: 'object', additionalProperties: true } } }),
      handler: async (req) => { noQuery(req); return b.log.snapshot(); },
    },
    {
      method: 'POST', path: '/v1/admin/log:compact', admin: true, adminWhy: 'compacting the event log',
      schema: op('admin', 'log_compact', 'Compress sealed log segments a snapshot holds; past a budget remove the oldest (arpd; needs admin credentials)', {
        querystring: { type: 'object', properties: { budget_bytes: { type: 'integer', minimum: 1024 * 1024, description: 'past this many bytes, remove the oldest sealed segments a snapshot holds' } } },
        response: { 200: { description: 'What was compressed and removed', type: 'object', additionalProperties: true } },
      }),
      handler: async (req) => { const q = queryOf(req, 'log.compact'); return b.log.compact({ budgetBytes: opt<number>(q, 'budget_bytes') }); },
    },
    {
      method: 'POST', path: '/v1/admin/runs:prune', admin: true, adminWhy: 'pruning ended runs',
      schema: op('admin', 'prune_runs', 'Delete the directories of runs that ended before a date, as events (arpd; needs admin credentials)', {
        querystring: { type: 'object', required: ['before'], properties: {
          before: { type: 'string', maxLength: 40, description: 'runs that ended before this date (e.g. 2026-01-31) or ISO time' },
          dry_run: { type: 'boolean', description: 'say what would be pruned, prune nothing' },
        } },
        response: { 200: { description: 'How many runs were pruned', type: 'object', additionalProperties: true } },
      }),
      handler: async (req) => {
        const q = queryOf(req, 'runs.prune');
        const before = opt<string>(q, 'before');
        if (before === undefined) throw new ArpdError('E_VALIDATION', "query parameter 'before' is required: the date runs must have ended before (e.g. ?before=2026-01-31)", { field: 'before', rule: 'required' });
        return b.log.prune({ before, dryRun: opt<boolean>(q, 'dry_run') });
      },
    },
  ];
}

function isKnownCode(code: string): code is ErrorCode {
  return isErrorCode(code);
}
