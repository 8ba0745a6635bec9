export { openPostgresStore, type PostgresStoreOptions } from './open-postgres-store.js';
export { PostgresEventStore } from './postgres-event-store.js';
export { parseStoreUrl, redactStoreUrl } from './store-url.js';
export { SCHEMA_VERSION } from './schema-migrations.js';
