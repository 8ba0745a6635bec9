/**
 * Errors on the HTTP API: every failure goes out as the ARP ErrorEnvelope
 * `{"error":{"code","message","details","retryable"}}`, never HTML and never a stack trace.
 *
 * `error.code` is the ARP code the domain chose (`data.arp_code`: `runs.not_found`, `instances.not_found`, …)
 * or else the arpd code in lower case without its `E_` (`validation`, `unauthorized`, `not_found`, …);
 * `details.arpd_code` always carries the stable arpd code, so a client rebuilds the same ArpdError.
 */
import type { FastifyError } from 'fastify';
import { ArpdError, ERROR_CODES, type ErrorCode } from '../errors/index.js';
import type { ErrorEnvelope } from '../schemas/index.js';

const RETRYABLE: ReadonlySet<ErrorCode> = new Set(['E_NOT_READY', 'E_UNAVAILABLE', 'E_TIMEOUT', 'E_SLOW_CONSUMER']);

/** `E_NOT_FOUND` -> `not_found`: the envelope code of an error that names no ARP code. */
export function envelopeCodeOf(code: ErrorCode): string {
  return code.slice(2).toLowerCase();
}

export function envelope(err: ArpdError): ErrorEnvelope {
  const { arp_code: arpCode, ...rest } = err.data ?? {};
  return {
    error: {
      code: typeof arpCode === 'string' && arpCode !== '' ? arpCode : envelopeCodeOf(err.code),
      message: err.message,
      details: { ...rest, arpd_code: err.code },
      retryable: RETRYABLE.has(err.code),
    },
  };
}

/** The HTTP status of an arpd error (the one table in src/errors). */
export function httpStatusOf(err: ArpdError): number {
  return ERROR_CODES[err.code].http;
}

/** Any error from a route, a hook or fastify itself, as the ArpdError the caller is told about. */
export function toHttpError(err: unknown, bodyLimit: number): ArpdError {
  if (err instanceof ArpdError) return err;
  const fe = err as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ArpdError('E_UNSUPPORTED_MEDIA', 'the request body is not JSON: send it with Content-Type: application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ArpdError('E_TOO_LARGE', `the request body is larger than the limit of ${bodyLimit} bytes: send a smaller body`, { limit: bodyLimit });
    case 'FST_ERR_BAD_URL':
      return new ArpdError('E_VALIDATION', 'the URL path is not valid percent-encoding: encode path segments with encodeURIComponent', { field: 'path', rule: 'percent-encoding' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      // fastify also gives this code to valid JSON with a `__proto__` or `constructor.prototype` key
      return new ArpdError('E_PARSE', "the request body is not valid JSON (or has a '__proto__' or 'constructor' key): send a plain JSON object with Content-Type: application/json");
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ArpdError('E_PARSE', 'the request body is empty but Content-Type says JSON: send a JSON object, or no Content-Type');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      // fastify's message repeats the whole path (up to the 16 KiB header limit)
      return new ArpdError('E_VALIDATION', 'a path segment is over 1024 characters: ids use letters, digits, \'-\', \'_\' or \'.\', starting with a letter or digit (max 128)', { field: 'path', rule: 'id' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ArpdError('E_PROTOCOL', 'the Content-Length header does not match the body: send the body length that you send');
    default:
      break;
  }
  if (err instanceof SyntaxError && fe.statusCode === 400) {
    return new ArpdError('E_PARSE', 'the request body is not valid JSON: send a JSON object with Content-Type: application/json');
  }
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    // e.g. a body with "__proto__": fastify refuses it before our handlers see it
    return new ArpdError('E_VALIDATION', `the request was refused: ${(fe.message ?? 'it breaks a rule of the HTTP API').slice(0, 300)}`, { http_status: fe.statusCode });
  }
  return new ArpdError('E_INTERNAL', 'internal error: see the daemon log for details', undefined, { cause: err });
}
