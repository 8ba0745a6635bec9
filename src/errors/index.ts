export { ERROR_CODES, EXIT, isErrorCode, type ErrorCode } from './error-codes.js';
export { ArpdError, toArpdError } from './arpd-error.js';
export { storageErrno } from './storage-errnos.js';
