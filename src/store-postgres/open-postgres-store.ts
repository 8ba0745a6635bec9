import pg from 'pg';
import { ArpdError } from '../errors/index.js';
import { MAX_LINE_BYTES } from '../events/line-codec.js';
import { posOf, START, type Pos } from './event-rows.js';
import { openError } from './pg-errors.js';
import { PostgresEventStore, type PostgresStoreTuning } from './postgres-event-store.js';
import { migrateSchema, missingPrivileges, missingPrivilegesError } from './schema-migrate.js';
import type { Warn } from './store-health.js';
import { parseStoreUrl, type StoreTarget } from './store-url.js';

export interface PostgresStoreOptions extends Partial<PostgresStoreTuning> {
  /** `postgres://user:password@host:5432/database` (from `--store` or `ARPD_STORE_URL`). */
  url: string;
  /** The PostgreSQL schema (namespace) for arpd's tables. Default `arpd`. */
  schema?: string;
  /** Shown in pg_stat_activity. Default `arpd`. */
  applicationName?: string;
  clock?: () => Date;
  /** Receives every warning (unreachable, back again, readers held back, fsync off). Never the password. */
  onWarning?: Warn;
}

const DEFAULTS: PostgresStoreTuning = {
  readPoolSize: 4,
  connectTimeoutMs: 5000,
  queryTimeoutMs: 10_000,
  lockTimeoutMs: 5000,
  pollIntervalMs: 1000,
  stuckAfterMs: 10_000,
  resolveTimeoutMs: 15_000,
  maxBatchEvents: 1000,
  maxBatchBytes: 8 * 1024 * 1024,
  maxEventBytes: MAX_LINE_BYTES,
};

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const MIN_SERVER = 130000; // pg_current_xact_id, pg_current_snapshot, xid8: PostgreSQL 13

function checkTuning(t: PostgresStoreTuning): void {
  for (const [k, v] of Object.entries(t)) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ArpdError('E_VALIDATION', `store option ${k} must be a whole number >= 1 (got ${String(v)})`);
  }
}

async function serverChecks(c: pg.Client, target: StoreTarget, warn: Warn): Promise<void> {
  const r = await c.query<{ v: number; fsync: string; sc: string; standby: boolean }>(
    "SELECT current_setting('server_version_num')::int AS v, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc, pg_is_in_recovery() AS standby",
  );
  const s = r.rows[0] as { v: number; fsync: string; sc: string; standby: boolean };
  if (s.v < MIN_SERVER) {
    throw new ArpdError('E_VALIDATION', `PostgreSQL at ${target.host}:${target.port} is version ${Math.floor(s.v / 10000)}, too old for the arpd event store: use PostgreSQL 13 or newer`, { store: target.redacted, server_version_num: s.v });
  }
  if (s.standby) {
    throw new ArpdError('E_VALIDATION', `PostgreSQL at ${target.host}:${target.port} is a read-only standby: point --store at the primary`, { store: target.redacted });
  }
  if (s.fsync !== 'on') {
    warn(`PostgreSQL at ${target.host}:${target.port} runs with fsync=${s.fsync}: a crash of its host can lose acknowledged events; turn fsync on`, { store: target.redacted, fsync: s.fsync });
  }
  if (s.sc === 'off') {
    warn(`PostgreSQL at ${target.host}:${target.port} has synchronous_commit=off by default: arpd turns it on for its own transactions, so appends stay durable`, { store: target.redacted, synchronous_commit: s.sc });
  }
}

/**
 * Opens the PostgreSQL event store: checks the URL, connects, checks the server, creates or
 * migrates the schema (refusing one newer than this arpd), checks the user's privileges, then starts
 * the reader. Each failure is an ArpdError that names what to fix, never with the password:
 * E_VALIDATION (URL, options, server too old or a standby), E_UNAVAILABLE (cannot reach it),
 * E_UNAUTHORIZED (login refused), E_NOT_FOUND (no such database), E_FORBIDDEN (missing privileges),
 * E_STORE_SCHEMA (schema newer than this arpd, or not arpd's).
 */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresEventStore> {
  const target = parseStoreUrl(opts.url);
  const schema = opts.schema ?? 'arpd';
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw new ArpdError('E_VALIDATION', `the store schema name '${String(schema)}' is not allowed: use lower-case letters, digits and '_' (max 63), starting with a letter or '_'`);
  }
  const tuning: PostgresStoreTuning = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS) as Array<keyof PostgresStoreTuning>) {
    const v = opts[k];
    if (v !== undefined) tuning[k] = v;
  }
  checkTuning(tuning);
  const warn: Warn = opts.onWarning ?? (() => undefined);
  const clientConfig: pg.ClientConfig = {
    connectionString: opts.url,
    application_name: opts.applicationName ?? 'arpd',
    connectionTimeoutMillis: tuning.connectTimeoutMs,
    query_timeout: tuning.queryTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };

  const c = new pg.Client(clientConfig);
  c.on('error', () => { /* reported by the failing query */ });
  let start: Pos = START;
  let version: number;
  try {
    await c.connect();
    await serverChecks(c, target, warn);
    version = (await migrateSchema(c, schema, target)).to;
    const missing = await missingPrivileges(c, schema);
    if (missing.length > 0) throw missingPrivilegesError(target, schema, missing);
    // the reader starts at the last event readable now; later ones arrive on live$
    const S = pg.escapeIdentifier(schema);
    const r = await c.query<{ tx: string; seq: string }>(`SELECT tx::text AS tx, seq FROM ${S}.events WHERE tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY tx DESC, seq DESC LIMIT 1`);
    const row = r.rows[0];
    if (row !== undefined) start = posOf(row);
  } catch (err) {
    throw openError(target, err);
  } finally {
    await c.end().catch(() => undefined);
  }
  const store = new PostgresEventStore({ target, schema, schemaVersion: version, clientConfig, tuning, start, clock: opts.clock ?? (() => new Date()), warn });
  store.start();
  return store;
}
