export { ERROR_CODES, EXIT, isErrorCode, type ErrorCode } from './error-codes.js';
export { ArpdError, toArpdError, type ErrorData, type ErrorWire } from './arpd-error.js';
