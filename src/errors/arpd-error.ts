import { ERROR_CODES, isErrorCode, type ErrorCode } from './error-codes.js';

export type ErrorData = Record<string, unknown>;

/** The wire form of an error: what crosses the socket (in JSON-RPC error.data) and HTTP. */
export interface ErrorWire {
  code: ErrorCode;
  message: string;
  data?: ErrorData;
}

/**
 * The one error class. It crosses the socket and HTTP as data and comes back as the same class.
 * Code branches on `code`, never on `message`.
 */
export class ArpdError extends Error {
  override readonly name = 'ArpdError';
  readonly code: ErrorCode;
  readonly data: ErrorData | undefined;

  constructor(code: ErrorCode, message: string, data?: ErrorData, options?: { cause?: unknown }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.data = data;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  get rpcCode(): number {
    return ERROR_CODES[this.code].rpc;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  toWire(): ErrorWire {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }

  static fromWire(wire: unknown): ArpdError {
    if (wire !== null && typeof wire === 'object') {
      const w = wire as { code?: unknown; message?: unknown; data?: unknown };
      if (isErrorCode(w.code) && typeof w.message === 'string') {
        const data = w.data !== null && typeof w.data === 'object' ? (w.data as ErrorData) : undefined;
        return new ArpdError(w.code, w.message, data);
      }
    }
    return new ArpdError('E_INTERNAL', 'the peer sent an error that is not in arpd form', { wire });
  }
}

/** Anything thrown becomes an ArpdError; an unknown failure becomes E_INTERNAL with a short message. */
export function toArpdError(err: unknown): ArpdError {
  if (err instanceof ArpdError) return err;
  return new ArpdError('E_INTERNAL', 'internal error: see the daemon log for details', undefined, { cause: err });
}
