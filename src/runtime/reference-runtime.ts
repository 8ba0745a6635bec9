/**
 * The bundled reference ARP Runtime (Runtime API v1) as a fastify app: health, version, runs, results,
 * cancel and a Server-Sent Events stream of each run's events. Every error is an ARP ErrorEnvelope in JSON.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply } from 'fastify';
import { ArpdError, type ErrorCode } from '../errors/index.js';
import { checkId } from '../ids/id-rules.js';
import { validate, type ErrorEnvelope, type Health, type RunEvent, type VersionInfo } from '../schemas/index.js';
import { readPackageVersion } from './package-version.js';
import { RunEngine, isEndedState, type RunEngineOptions } from './run-engine.js';

export const DEFAULT_RUNTIME_NAME = 'arpd-reference-runtime';
export const DEFAULT_BODY_LIMIT = 1024 * 1024;
/** How often an idle event stream gets a comment line, so proxies and clients keep it open. */
const HEARTBEAT_MS = 15_000;

export interface ReferenceRuntimeOptions extends RunEngineOptions {
  /** `service_name` in GET /v1/version (default `arpd-reference-runtime`). */
  name?: string;
  /** `service_version` in GET /v1/version (default: the version in arpd's package.json). */
  version?: string;
  /** Largest accepted request body in bytes (default 1 MiB). */
  bodyLimit?: number;
}

export interface StartReferenceRuntimeOptions extends ReferenceRuntimeOptions {
  host?: string;
  port?: number;
}

export interface RunningReferenceRuntime {
  /** e.g. `http://127.0.0.1:43121` */
  readonly url: string;
  readonly port: number;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/** The ErrorEnvelope `code` for each arpd error code the runtime answers with. */
const ENVELOPE_CODES: Partial<Record<ErrorCode, string>> = {
  E_VALIDATION: 'request.invalid',
  E_PARSE: 'request.invalid_json',
  E_PROTOCOL: 'request.malformed',
  E_TOO_LARGE: 'request.too_large',
  E_UNSUPPORTED_MEDIA: 'request.unsupported_media_type',
  E_METHOD_NOT_FOUND: 'route.not_found',
  E_NOT_FOUND: 'runs.not_found',
  E_CONFLICT: 'runs.conflict',
  E_NOT_READY: 'runs.not_ready',
  E_UNAVAILABLE: 'runtime.unavailable',
  E_INTERNAL: 'runtime.internal',
};

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['E_NOT_READY', 'E_UNAVAILABLE']);

export function createReferenceRuntime(opts: ReferenceRuntimeOptions = {}): FastifyInstance {
  const name = opts.name ?? DEFAULT_RUNTIME_NAME;
  const version = opts.version ?? readPackageVersion();
  const bodyLimit = opts.bodyLimit ?? DEFAULT_BODY_LIMIT;
  const engine = new RunEngine(opts);
  const streams = new Set<() => void>();

  const app = Fastify({
    logger: false,
    bodyLimit,
    // run ids are up to 128 characters (the id rule): longer path parameters reach the id check and its message
    routerOptions: { maxParamLength: 1024 },
    return503OnClosing: false,
    // Errors fastify raises before routing (a bad percent-encoding) and malformed HTTP get envelopes too.
    frameworkErrors: (err, _req, reply) => {
      const arpd = toArpd(err, bodyLimit);
      void (reply as FastifyReply).status(arpd.httpStatus).send(envelope(arpd));
    },
    clientErrorHandler: (err, socket) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ECONNRESET' || code === 'EPIPE' || !socket.writable) {
        socket.destroy(err);
        return;
      }
      const [status, arpd] =
        code === 'HPE_HEADER_OVERFLOW'
          ? [431, new ArpdError('E_TOO_LARGE', 'the request headers are too large: send smaller headers')]
          : [400, new ArpdError('E_PROTOCOL', 'the request is not valid HTTP/1.1: send a well-formed HTTP request')];
      const body = JSON.stringify(envelope(arpd));
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
          `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
    },
  });
  // JSON only: without a parser for text/plain, any non-JSON body is refused with 415.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err, _req, reply) => {
    const arpd = toArpd(err, bodyLimit);
    if (arpd.code === 'E_INTERNAL') opts.onInternalError?.(err);
    void reply.status(arpd.httpStatus).send(envelope(arpd));
  });

  app.setNotFoundHandler((req, reply) => {
    const arpd = new ArpdError(
      'E_METHOD_NOT_FOUND',
      `no route ${req.method} ${(req.url.split('?')[0] ?? '').slice(0, 200)}: this runtime serves GET /v1/health, GET /v1/version, POST /v1/runs, ` +
        'GET /v1/runs/{run_id}, GET /v1/runs/{run_id}/result, POST /v1/runs/{run_id}:cancel and GET /v1/runs/{run_id}/events',
      { method: req.method },
    );
    void reply.status(arpd.httpStatus).send(envelope(arpd));
  });

  app.addHook('preClose', async () => {
    for (const end of [...streams]) end();
    await engine.close();
  });

  app.get('/v1/health', async (): Promise<Health> => {
    const runs = engine.list();
    const active = runs.filter((r) => !isEndedState(r.state)).length;
    return {
      status: 'ok',
      time: new Date().toISOString(),
      checks: [{ name: 'runs', status: 'ok', details: { active, remembered: runs.length } }],
    };
  });

  app.get('/v1/version', async (): Promise<VersionInfo> => ({
    service_name: name,
    service_version: version,
    supported_api_versions: ['v1'],
  }));

  app.post('/v1/runs', async (req) => {
    if (req.body === undefined || req.body === null) {
      throw new ArpdError('E_VALIDATION', 'the request body is missing: send a RunRequest as JSON with content-type application/json', {
        field: '',
        rule: 'required',
      });
    }
    return engine.submit(validate('RunRequest', req.body));
  });

  app.get<{ Params: { run_id: string } }>('/v1/runs/:run_id', async (req) => engine.status(runIdOf(req.params)));

  app.get<{ Params: { run_id: string } }>('/v1/runs/:run_id/result', async (req) => engine.result(runIdOf(req.params)));

  // '::' is fastify's escape for a literal ':'; the pattern keeps the id from swallowing ':cancel'.
  app.post<{ Params: { run_id: string } }>('/v1/runs/:run_id(^[^:/]+)::cancel', async (req) => engine.cancel(runIdOf(req.params)));

  app.get<{ Params: { run_id: string }; Headers: { 'last-event-id'?: string } }>('/v1/runs/:run_id/events', (req, reply) => {
    const runId = runIdOf(req.params);
    const after = lastEventId(req.headers['last-event-id']);
    engine.status(runId); // a 404 goes out as JSON before the stream starts

    void reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': run events\n\n');

    let unsubscribe: () => void = () => undefined;
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    const end = (): void => {
      clearInterval(heartbeat);
      unsubscribe();
      streams.delete(end);
      if (!res.writableEnded) res.end();
    };
    streams.add(end);
    res.on('close', end);
    unsubscribe = engine.subscribe(runId, after, {
      event: (event: RunEvent) => {
        res.write(`id: ${event.seq}\ndata: ${JSON.stringify(event)}\n\n`);
      },
      end,
    });
  });

  return app;
}

/** Creates the reference runtime and listens (default 127.0.0.1, a free port). */
export async function startReferenceRuntime(opts: StartReferenceRuntimeOptions = {}): Promise<RunningReferenceRuntime> {
  const app = createReferenceRuntime(opts);
  await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') {
    await app.close();
    throw new ArpdError('E_INTERNAL', 'the reference runtime is not listening on a TCP port');
  }
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    app,
    close: () => app.close(),
  };
}

function runIdOf(params: { run_id: string }): string {
  return checkId('run id', params.run_id, 'run_id');
}

/** The `Last-Event-ID` header as the seq to resume after (0: from the start). */
function lastEventId(header: string | undefined): number {
  if (header === undefined || header.trim() === '') return 0;
  const value = header.trim();
  if (!/^\d{1,15}$/.test(value)) {
    throw new ArpdError('E_VALIDATION', `Last-Event-ID '${value.slice(0, 32)}' is not an event seq: send the id of the last event received, or no header`, {
      field: 'Last-Event-ID',
      rule: 'integer',
    });
  }
  return Number(value);
}

function envelope(err: ArpdError): ErrorEnvelope {
  return {
    error: {
      code: ENVELOPE_CODES[err.code] ?? 'runtime.internal',
      message: err.message,
      details: { ...(err.data ?? {}), arpd_code: err.code },
      retryable: RETRYABLE.has(err.code),
    },
  };
}

/** Any error from a route or from fastify itself, as the ArpdError the caller is told about. */
function toArpd(err: unknown, bodyLimit: number): ArpdError {
  if (err instanceof ArpdError) return err;
  const fe = err as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ArpdError('E_UNSUPPORTED_MEDIA', 'the request body is not JSON: send it with content-type application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ArpdError('E_TOO_LARGE', `the request body is larger than the limit of ${bodyLimit} bytes: send a smaller body`, {
        limit: bodyLimit,
      });
    case 'FST_ERR_BAD_URL':
      return new ArpdError('E_VALIDATION', 'the URL path is not valid percent-encoding: encode path segments with encodeURIComponent', {
        field: 'path',
        rule: 'percent-encoding',
      });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ArpdError('E_PARSE', 'the request body is not valid JSON: send a JSON object (content-type application/json)');
    default:
      break;
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) {
    return new ArpdError('E_PARSE', 'the request body is not valid JSON: send a JSON object (content-type application/json)');
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ArpdError('E_VALIDATION', `the request was refused: ${fe.message ?? 'it breaks a rule of the HTTP API'}`, {
      http_status: fe.statusCode,
    });
  }
  return new ArpdError('E_INTERNAL', 'internal error in the reference runtime: see its log for details', undefined, { cause: err });
}
