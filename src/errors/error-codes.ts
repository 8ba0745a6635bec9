/**
 * The one table of stable error codes. Append-only: a code is never renamed or reused.
 * Each code maps once to an HTTP status, a JSON-RPC error code and a CLI exit code.
 * `docs/errors.md` documents every code; test/errors/error-codes.test.ts keeps both in step.
 */
export const ERROR_CODES = {
  E_VALIDATION: { http: 400, rpc: -32602, exit: 2, summary: 'The input breaks a rule; the message names the field and the rule.' },
  E_PARSE: { http: 400, rpc: -32700, exit: 1, summary: 'A request line or body is not valid JSON.' },
  E_PROTOCOL: { http: 400, rpc: -32600, exit: 1, summary: 'A request is valid JSON but not a valid JSON-RPC 2.0 request.' },
  E_METHOD_NOT_FOUND: { http: 404, rpc: -32601, exit: 1, summary: 'The method or route does not exist.' },
  E_METHOD_NOT_ALLOWED: { http: 405, rpc: -32601, exit: 1, summary: 'The route exists but not for this HTTP method.' },
  E_TOO_LARGE: { http: 413, rpc: -32600, exit: 1, summary: 'A line, body or event is larger than the limit.' },
  E_UNSUPPORTED_MEDIA: { http: 415, rpc: -32600, exit: 1, summary: 'A request body is not JSON.' },
  E_UNAUTHORIZED: { http: 401, rpc: -32001, exit: 1, summary: 'No valid credentials were given.' },
  E_FORBIDDEN: { http: 403, rpc: -32002, exit: 1, summary: 'The credentials do not allow this.' },
  E_NOT_FOUND: { http: 404, rpc: -32004, exit: 4, summary: 'The named profile, instance, run or subscription does not exist.' },
  E_CONFLICT: { http: 409, rpc: -32009, exit: 5, summary: 'The change conflicts with the current state (a revision, an id in use, a profile in use).' },
  E_NOT_READY: { http: 409, rpc: -32010, exit: 1, summary: 'The thing asked for is not ready yet (a result of a run that has not ended, an instance that is not ready).' },
  E_TIMEOUT: { http: 504, rpc: -32011, exit: 1, summary: 'An operation ran past its time limit.' },
  E_RUNTIME_ERROR: { http: 502, rpc: -32012, exit: 1, summary: 'A runtime refused a request or answered with an error.' },
  E_RUNTIME_LOST: { http: 502, rpc: -32013, exit: 1, summary: 'The runtime process or endpoint went away during the work.' },
  E_CANCELED: { http: 409, rpc: -32014, exit: 1, summary: 'The work was canceled.' },
  E_LOCKED: { http: 409, rpc: -32015, exit: 1, summary: 'Another process holds the data directory lock.' },
  E_LOG_CORRUPT: { http: 500, rpc: -32016, exit: 1, summary: 'The event log is damaged before its last line; see `arpd log verify`.' },
  E_STORAGE: { http: 503, rpc: -32017, exit: 1, summary: 'A write or sync to the event log failed; the writer stopped accepting appends.' },
  E_UNAVAILABLE: { http: 503, rpc: -32003, exit: 1, summary: 'The service is shutting down or cannot serve now; try again.' },
  E_DAEMON_NOT_RUNNING: { http: 503, rpc: -32005, exit: 3, summary: 'No daemon answers on the socket.' },
  E_SLOW_CONSUMER: { http: 503, rpc: -32018, exit: 1, summary: 'A subscriber fell too far behind and was dropped.' },
  E_INSTALL_FAILED: { http: 500, rpc: -32019, exit: 1, summary: 'Installing a runtime (pip or npm driver) failed; the install log tail is in the details.' },
  E_STORE_SCHEMA: { http: 500, rpc: -32030, exit: 1, summary: 'The event store schema in PostgreSQL is newer than this arpd knows, or holds tables arpd did not make; upgrade arpd or use another database.' },
  E_INTERNAL: { http: 500, rpc: -32603, exit: 1, summary: 'An unexpected failure; the full error is in the daemon log.' },
  E_RUNTIME_STALLED: { http: 502, rpc: -32020, exit: 1, summary: 'A runtime stopped making progress on a run (no event for longer than the progress timeout).' },
  E_TRACE_LIMIT: { http: 502, rpc: -32021, exit: 1, summary: "A run's trace broke a limit (line size, nesting depth or total volume); the run was failed to protect the disk." },
  E_LOG_REPAIRED: { http: 500, rpc: -32022, exit: 1, summary: 'The event log was repaired and the end of this run was lost with the damaged lines; arpd failed it rather than run it twice.' },
  E_BAD_RUNTIME: { http: 502, rpc: -32023, exit: 1, summary: 'A runtime answered with something that is not the ARP Runtime API (wrong shape, wrong content type).' },
  E_NODE_LOST: { http: 502, rpc: -32024, exit: 1, summary: 'The daemon (node) that ran the work stopped renewing its lease in the shared store and was recorded lost; the end of the work is unknown.' },
  E_NODE_LEFT: { http: 503, rpc: -32025, exit: 1, summary: 'The daemon (node) whose host alone reaches a runtime (one registered on it at a loopback address) stopped; start it again, or register the runtime from a daemon on that host.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}

/** CLI exit codes, documented in README and docs/errors.md. */
export const EXIT = { OK: 0, ERROR: 1, USAGE: 2, NOT_RUNNING: 3, NOT_FOUND: 4, CONFLICT: 5 } as const;
