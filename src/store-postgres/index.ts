export { openPostgresStore, type PostgresStoreOptions } from './open-postgres-store.js';
export { PostgresEventStore, type PostgresStoreStatus, type PostgresStoreTuning } from './postgres-event-store.js';
export { parseStoreUrl, redactStoreUrl, type StoreTarget } from './store-url.js';
export { SCHEMA_VERSION } from './schema-migrations.js';
export type { XminBlocker } from './xmin-blocker.js';
export { NodeLeases, type NodeClaim, type NodeLease } from './node-leases.js';
