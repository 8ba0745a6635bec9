export * from './common.js';
export * from './runs.js';
export * from './trace.js';
export * from './profiles.js';
export * from './instances.js';
export type * from './types.js';
export { SCHEMAS, type SchemaName } from './registry.js';
export { isValid, validate, validationProblem } from './validate.js';
