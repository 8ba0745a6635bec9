/**
 * JSON-RPC 2.0 processing, independent of the transport: one text line in, one response line out
 * (or none). It checks the envelope, finds the method and maps whatever the handler throws to a
 * JSON-RPC error whose `data.code` is the stable arpd code. What the params mean is the handler's
 * business.
 */
import { ArpdError } from '../errors/index.js';
import { MAX_REQUEST_DEPTH, jsonTextTooDeep } from '../policy/json-limits.js';

export type RpcId = string | number | null;

/** What a handler gets besides its params: the connection it was called on. */
export interface CallContext {
  readonly connectionId: string;
  /** Aborted when the connection closes (or the server shuts down). */
  readonly signal: AbortSignal;
  /** Sends a notification to this connection. Returns false if it was not sent (connection gone or dropped). */
  notify(method: string, params?: unknown): boolean;
  /** Runs `cb` once when the connection closes; at once (in a microtask) if it is already closed. */
  onClose(cb: () => void): void;
  /** Is there room to queue more notifications now (the client reads fast enough)? Streams pause their catch-up while not. */
  hasRoom?(): boolean;
  /** Resolves once the queued output drained (or the connection closed). */
  drained?(): Promise<void>;
}

export interface MethodDef {
  handler(params: unknown, ctx: CallContext): Promise<unknown> | unknown;
  /** Safe to send again after a lost connection. Informational here; clients decide per call. */
  idempotent?: boolean;
}

export type MethodTable = Readonly<Record<string, MethodDef>>;

export interface InternalErrorInfo {
  readonly connectionId: string;
  readonly method: string;
}

export interface DispatcherOptions {
  /** Gets the full error of every unexpected failure (the caller only sees a short E_INTERNAL). Default: console.error. */
  onInternalError?: (err: unknown, info: InternalErrorInfo) => void;
  /**
   * Told of every request answered (metrics): the method (`(unknown)` for a method that does not exist,
   * `(invalid)` for a request that is not valid JSON-RPC), `ok` or the arpd error code, and the time it took.
   */
  onRequest?: (method: string, outcome: string, ms: number) => void;
}

export interface Dispatcher {
  /** Handles one request line; resolves to the response line, or null when nothing is to be answered. Never rejects. */
  handleLine(text: string, ctx: CallContext): Promise<string | null>;
  /** Every method name, the built-in `rpc.methods` included, sorted. */
  methodNames(): string[];
}

export const BUILTIN_METHODS = ['rpc.methods'] as const;

type Outcome = { kind: 'answer'; line: string } | { kind: 'silent' };

const SILENT: Outcome = { kind: 'silent' };

export function createDispatcher(methods: MethodTable, options: DispatcherOptions = {}): Dispatcher {
  for (const name of Object.keys(methods)) {
    if (name.startsWith('rpc.')) {
      throw new ArpdError('E_VALIDATION', `method name '${name}' is not allowed: names starting with 'rpc.' are reserved for built-in methods`, {
        field: 'method',
      });
    }
  }
  const onInternalError =
    options.onInternalError ??
    ((err: unknown, info: InternalErrorInfo) => {
      console.error(`arpd: internal error in '${info.method}' on connection ${info.connectionId}:`, err);
    });
  const names = [...Object.keys(methods), ...BUILTIN_METHODS].sort();

  const lookup = (name: string): MethodDef | undefined => {
    if (name === 'rpc.methods') return { handler: () => [...names], idempotent: true };
    return Object.hasOwn(methods, name) ? methods[name] : undefined;
  };

  const onRequest = options.onRequest;

  async function invoke(message: unknown, ctx: CallContext): Promise<Outcome> {
    if (onRequest === undefined) return invokeMethod(message, ctx);
    const t0 = performance.now();
    const told = { method: '(invalid)', outcome: 'ok' };
    const outcome = await invokeMethod(message, ctx, told);
    onRequest(told.method, told.outcome, performance.now() - t0);
    return outcome;
  }

  async function invokeMethod(message: unknown, ctx: CallContext, told?: { method: string; outcome: string }): Promise<Outcome> {
    const checked = checkRequest(message);
    if (!checked.ok) {
      if (told !== undefined) told.outcome = checked.error.code;
      return answer(errorResponseLine(checked.id, checked.error));
    }
    const { id, isNotification, method, params } = checked;
    const def = lookup(method);
    if (told !== undefined) told.method = def === undefined ? '(unknown)' : method;
    if (def === undefined) {
      if (told !== undefined) told.outcome = 'E_METHOD_NOT_FOUND';
      if (isNotification) return SILENT;
      return answer(
        errorResponseLine(
          id,
          new ArpdError('E_METHOD_NOT_FOUND', `method '${method}' does not exist: call 'rpc.methods' to list the methods`, { method }),
        ),
      );
    }
    let result: unknown;
    try {
      result = await def.handler(params, ctx);
    } catch (err) {
      const wireError = toWireError(err, (e) => onInternalError(e, { connectionId: ctx.connectionId, method }));
      if (told !== undefined) told.outcome = wireError.code;
      return isNotification ? SILENT : answer(errorResponseLine(id, wireError));
    }
    if (isNotification) return SILENT;
    try {
      return answer(JSON.stringify({ jsonrpc: '2.0', id, result: result === undefined ? null : result }));
    } catch (err) {
      onInternalError(err, { connectionId: ctx.connectionId, method });
      if (told !== undefined) told.outcome = 'E_INTERNAL';
      return answer(errorResponseLine(id, internalError()));
    }
  }

  async function handleLine(text: string, ctx: CallContext): Promise<string | null> {
    let message: unknown;
    if (jsonTextTooDeep(text, MAX_REQUEST_DEPTH)) {
      onRequest?.('(invalid)', 'E_VALIDATION', 0);
      return errorResponseLine(null, new ArpdError('E_VALIDATION', `the request nests deeper than ${MAX_REQUEST_DEPTH} levels: flatten it`, { field: '', rule: 'max-depth', limit: MAX_REQUEST_DEPTH }));
    }
    try {
      message = JSON.parse(text);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      onRequest?.('(invalid)', 'E_PARSE', 0);
      return errorResponseLine(
        null,
        new ArpdError('E_PARSE', `request is not valid JSON (${why}): send one JSON-RPC 2.0 object per line`),
      );
    }
    try {
      if (!Array.isArray(message)) {
        const outcome = await invoke(message, ctx);
        return outcome.kind === 'answer' ? outcome.line : null;
      }
      if (message.length === 0) {
        onRequest?.('(invalid)', 'E_PROTOCOL', 0);
        return errorResponseLine(
          null,
          new ArpdError('E_PROTOCOL', 'a batch is an empty array: send at least one request in it', { field: 'batch' }),
        );
      }
      const outcomes = await Promise.all(message.map((m: unknown) => invoke(m, ctx)));
      const lines = outcomes.flatMap((o) => (o.kind === 'answer' ? [o.line] : []));
      return lines.length === 0 ? null : `[${lines.join(',')}]`;
    } catch (err) {
      // Not expected: invoke catches handler failures. Kept so that handleLine never rejects.
      onInternalError(err, { connectionId: ctx.connectionId, method: '(dispatch)' });
      return errorResponseLine(null, internalError());
    }
  }

  return { handleLine, methodNames: () => [...names] };
}

/** A JSON-RPC error response line for an ArpdError: `data` carries the stable code and the error's data. */
export function errorResponseLine(id: RpcId, err: ArpdError): string {
  return JSON.stringify({
    jsonrpc: '2.0',
    id,
    error: { code: err.rpcCode, message: err.message, data: { ...err.data, code: err.code } },
  });
}

function answer(line: string): Outcome {
  return { kind: 'answer', line };
}

function internalError(): ArpdError {
  return new ArpdError('E_INTERNAL', 'internal error: see the daemon log for details');
}

/** An ArpdError passes through (an E_INTERNAL one is also logged); anything else is logged and becomes a short E_INTERNAL. */
function toWireError(err: unknown, log: (err: unknown) => void): ArpdError {
  if (err instanceof ArpdError) {
    if (err.code === 'E_INTERNAL') log(err);
    return err;
  }
  log(err);
  return internalError();
}

type CheckedRequest =
  | { ok: true; id: RpcId; isNotification: boolean; method: string; params: unknown }
  | { ok: false; id: RpcId; error: ArpdError };

function isRpcId(value: unknown): value is RpcId {
  return value === null || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
}

function checkRequest(message: unknown): CheckedRequest {
  if (message === null || typeof message !== 'object' || Array.isArray(message)) {
    const got = message === null ? 'null' : Array.isArray(message) ? 'a nested array' : typeof message;
    return protocolError(null, 'request', `a request must be a JSON object with "jsonrpc": "2.0" and a string "method", got ${got}`);
  }
  const m = message as Record<string, unknown>;
  const hasId = Object.hasOwn(m, 'id');
  // The id is echoed in an error only when it is itself valid; otherwise it is null, as JSON-RPC 2.0 says.
  const id: RpcId = hasId && isRpcId(m.id) ? m.id : null;
  if (m.jsonrpc !== '2.0') return protocolError(id, 'jsonrpc', 'the request must have "jsonrpc": "2.0"');
  if (typeof m.method !== 'string') return protocolError(id, 'method', 'the request\'s "method" must be a string');
  if (hasId && !isRpcId(m.id)) return protocolError(null, 'id', 'the request\'s "id" must be a string, a number or null');
  if (Object.hasOwn(m, 'params') && (m.params === null || typeof m.params !== 'object')) {
    return protocolError(id, 'params', 'the request\'s "params" must be an object or an array when present');
  }
  return { ok: true, id, isNotification: !hasId, method: m.method, params: m.params };
}

function protocolError(id: RpcId, field: string, message: string): CheckedRequest {
  return { ok: false, id, error: new ArpdError('E_PROTOCOL', message, { field }) };
}
