import { ArpdError } from '../errors/index.js';
import type { StoreTarget } from './store-url.js';

/**
 * Sorting what node-postgres and PostgreSQL throw. PostgreSQL errors carry a SQLSTATE `code`; socket
 * errors carry a Node `code`; node-postgres's own connection errors carry neither, so those few are
 * recognised by their message (the only place this module looks at message text).
 */

const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'EADDRNOTAVAIL', 'EHOSTDOWN', 'ENETDOWN']);
/** admin_shutdown, crash_shutdown, cannot_connect_now (starting up, recovering), too_many_connections. */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const PG_CLIENT_MESSAGES = [/Connection terminated/i, /connection error/i, /not queryable/i, /timeout exceeded when trying to connect/i, /Query read timeout/i, /Client was closed/i, /Cannot use a pool after calling end/i];

interface ErrorLike { code?: unknown; message?: unknown; errors?: unknown; syscall?: unknown }

export function sqlState(err: unknown): string | undefined {
  const code = (err as ErrorLike | null)?.code;
  // five digits or capitals; no SQLSTATE class starts with E, so Node's errno codes (EPIPE, EPERM) are not read as one
  return typeof code === 'string' && /^[0-9A-DF-Z][0-9A-Z]{4}$/.test(code) ? code : undefined;
}

/**
 * True when the error says the connection is gone or the server cannot serve now (nothing about
 * the statement itself): the outcome of a statement in flight is then unknown, and retrying on a new
 * connection is right.
 */
export function isConnectionError(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as ErrorLike;
  if (Array.isArray(e.errors) && e.errors.some(isConnectionError)) return true; // AggregateError (dual-stack connect)
  if ((err as { cause?: unknown }).cause !== undefined && e.code === undefined && isConnectionError((err as { cause?: unknown }).cause)) return true;
  const state = sqlState(err);
  if (state !== undefined) return state.startsWith('08') || UNAVAILABLE_SQLSTATES.has(state);
  if (typeof e.code === 'string' && NET_CODES.has(e.code)) return true;
  // a Unix-socket store (host=/run/postgresql) whose server is not running: its socket file is not there
  if (e.code === 'ENOENT' && e.syscall === 'connect') return true;
  const msg = typeof e.message === 'string' ? e.message : '';
  return PG_CLIENT_MESSAGES.some((re) => re.test(msg));
}

/** A short reason for messages: the SQLSTATE or socket code, else the message's first line. */
export function reasonOf(err: unknown): string {
  const e = (err ?? {}) as ErrorLike;
  const cause = (err as { cause?: unknown } | null)?.cause;
  if (e.code === undefined && cause !== undefined && cause !== null) return reasonOf(cause);
  if (Array.isArray(e.errors) && e.errors.length > 0) return reasonOf(e.errors[0]);
  if (typeof e.code === 'string' && e.code !== '') return e.code;
  const msg = typeof e.message === 'string' ? e.message : String(err);
  return msg.split('\n')[0]?.slice(0, 160) ?? 'unknown';
}

/** The retryable error of a store that cannot be reached now. `what` says what did not happen. */
export function unavailable(target: StoreTarget, err: unknown, what: string): ArpdError {
  return new ArpdError(
    'E_UNAVAILABLE',
    `PostgreSQL at ${target.host}:${target.port}/${target.database} is unreachable (${reasonOf(err)}): ${what}; check that the server runs and accepts connections from this host, then retry (arpd reconnects by itself)`,
    { store: target.redacted, reason: reasonOf(err), retryable: true },
    { cause: err },
  );
}

/** Any other failure of a statement: E_INTERNAL with the SQLSTATE in data (the cause keeps the rest). */
export function unexpected(target: StoreTarget, err: unknown, what: string): ArpdError {
  return new ArpdError('E_INTERNAL', `PostgreSQL at ${target.label} failed to ${what} (${reasonOf(err)}): see the daemon log`, { store: target.redacted, reason: reasonOf(err) }, { cause: err });
}

/** The error for a failure while opening the store: each names what to fix. */
export function openError(target: StoreTarget, err: unknown): ArpdError {
  if (err instanceof ArpdError) return err;
  const state = sqlState(err);
  const where = `${target.host}:${target.port}`;
  const data = { store: target.redacted, reason: reasonOf(err) };
  if (state === '28P01' || state === '28000') {
    return new ArpdError('E_UNAUTHORIZED', `PostgreSQL at ${where} refused the login of user '${target.user}' to database '${target.database}' (${state}): check the user and password in --store (or ARPD_STORE_URL), and pg_hba.conf on the server`, data, { cause: err });
  }
  if (state === '3D000') {
    return new ArpdError('E_NOT_FOUND', `database '${target.database}' does not exist on PostgreSQL at ${where}: create it (createdb ${target.database}) or fix the database name in --store`, data, { cause: err });
  }
  if (state === '42501') {
    return new ArpdError('E_FORBIDDEN', `PostgreSQL user '${target.user}' lacks a permission arpd needs in database '${target.database}' (${firstLine(err)}): let an owner of the database run arpd once to create its schema, or grant the user CREATE on the database (and USAGE on the schema, SELECT and INSERT on its tables)`, data, { cause: err });
  }
  const e = (err ?? {}) as ErrorLike;
  if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') {
    return new ArpdError('E_UNAVAILABLE', `the host '${target.host}' of the store URL cannot be resolved (${String(e.code)}): check the host name in --store`, { ...data, retryable: true }, { cause: err });
  }
  if (isConnectionError(err) && target.host.startsWith('/')) {
    const socket = `${target.host.replace(/\/+$/, '')}/.s.PGSQL.${target.port}`;
    return new ArpdError('E_UNAVAILABLE', `cannot reach PostgreSQL on the Unix socket ${socket} (${reasonOf(err)}): check that the server runs, and that host (the socket's directory) and port in --store are right`, { ...data, retryable: true }, { cause: err });
  }
  if (isConnectionError(err)) {
    return new ArpdError('E_UNAVAILABLE', `cannot reach PostgreSQL at ${where} (${reasonOf(err)}): check that the server runs, that host and port in --store are right, and that it accepts TCP connections from this host`, { ...data, retryable: true }, { cause: err });
  }
  if (/SSL|certificate/i.test(String(e.message))) {
    return new ArpdError('E_UNAVAILABLE', `the TLS connection to PostgreSQL at ${where} failed (${reasonOf(err)}): check sslmode in --store and the server's certificate`, { ...data, retryable: true }, { cause: err });
  }
  return new ArpdError('E_INTERNAL', `opening the event store at ${target.label} failed (${reasonOf(err)}): see the daemon log`, data, { cause: err });
}

function firstLine(err: unknown): string {
  const msg = (err as ErrorLike | null)?.message;
  return typeof msg === 'string' ? (msg.split('\n')[0] ?? msg) : 'permission denied';
}
