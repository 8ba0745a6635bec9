import pg from 'pg';
import { ArpdError } from '../errors/index.js';
import { VERSION } from '../version.js';
import { sqlState } from './pg-errors.js';
import { MIGRATIONS, SCHEMA_VERSION } from './schema-migrations.js';
import type { StoreTarget } from './store-url.js';

export interface SchemaState {
  /** The version found before migrating (0: no schema yet). */
  from: number;
  /** The version now. */
  to: number;
}

/** E_FORBIDDEN listing the privileges the store's user lacks, with the GRANTs that give them. */
export function missingPrivilegesError(target: StoreTarget, schema: string, missing: readonly string[]): ArpdError {
  const u = pg.escapeIdentifier(target.user);
  return new ArpdError(
    'E_FORBIDDEN',
    `PostgreSQL user '${target.user}' lacks ${missing.join(', ')} in database '${target.database}': grant them, e.g. GRANT USAGE ON SCHEMA ${schema} TO ${u}; GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA ${schema} TO ${u}; GRANT USAGE ON ALL SEQUENCES IN SCHEMA ${schema} TO ${u}`,
    { store: target.redacted, schema, missing: [...missing] },
  );
}

async function readVersion(client: pg.Client, schema: string, target: StoreTarget): Promise<{ version: number; arpdVersion: string | undefined }> {
  const S = pg.escapeIdentifier(schema);
  const ns = await client.query<{ found: boolean; usage: boolean | null }>(
    'SELECT to_regnamespace($1) IS NOT NULL AS found, CASE WHEN to_regnamespace($1) IS NULL THEN NULL ELSE has_schema_privilege($2, \'USAGE\') END AS usage',
    [S, schema],
  );
  if (ns.rows[0]?.found !== true) return { version: 0, arpdVersion: undefined };
  if (ns.rows[0]?.usage !== true) throw missingPrivilegesError(target, schema, [`USAGE on schema ${schema}`]);
  const has = await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [`${S}.schema_version`]);
  if (has.rows[0]?.t === null || has.rows[0]?.t === undefined) return { version: 0, arpdVersion: undefined };
  const r = await client.query<{ version: number; arpd_version: string }>(`SELECT version, arpd_version FROM ${S}.schema_version ORDER BY version DESC LIMIT 1`);
  return { version: r.rows[0]?.version ?? 0, arpdVersion: r.rows[0]?.arpd_version };
}

/**
 * Brings the schema to SCHEMA_VERSION, one migration per transaction, under a transaction-level
 * advisory lock so that daemons starting together migrate once. Refuses (E_STORE_SCHEMA) a schema
 * newer than this arpd knows, and a schema that holds tables arpd did not make.
 */
export async function migrateSchema(client: pg.Client, schema: string, target: StoreTarget): Promise<SchemaState> {
  const S = pg.escapeIdentifier(schema);
  let from: number | undefined;
  for (;;) {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`arpd-schema:${schema}`]);
      const current = await readVersion(client, schema, target);
      from ??= current.version;
      if (current.version > SCHEMA_VERSION) {
        throw new ArpdError(
          'E_STORE_SCHEMA',
          `the event store schema '${schema}' in database '${target.database}' is at version ${current.version}${current.arpdVersion === undefined ? '' : ` (made by arpd ${current.arpdVersion})`}, newer than this arpd ${VERSION} knows (version ${SCHEMA_VERSION}): upgrade arpd on this host, or point --store at another database`,
          { store: target.redacted, schema, found: current.version, known: SCHEMA_VERSION, ...(current.arpdVersion === undefined ? {} : { made_by: current.arpdVersion }) },
        );
      }
      if (current.version === SCHEMA_VERSION) {
        await client.query('COMMIT');
        return { from, to: current.version };
      }
      const next = MIGRATIONS.find((m) => m.version === current.version + 1);
      if (next === undefined) throw new Error(`no migration to version ${current.version + 1}`);
      if (current.version === 0) {
        // CREATE SCHEMA IF NOT EXISTS would still need CREATE on the database: an owner may have made the schema for us
        const ns = await client.query<{ found: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS found', [S]);
        if (ns.rows[0]?.found !== true) await client.query(`CREATE SCHEMA ${S}`);
        await client.query(`CREATE TABLE ${S}.schema_version (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), arpd_version text NOT NULL)`);
      }
      await client.query(next.sql(S));
      await client.query(`INSERT INTO ${S}.schema_version (version, name, arpd_version) VALUES ($1, $2, $3)`, [next.version, next.name, VERSION]);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      if (sqlState(err) === '42P07' || sqlState(err) === '42723') {
        throw new ArpdError(
          'E_STORE_SCHEMA',
          `schema '${schema}' in database '${target.database}' already holds tables or functions that arpd did not make (${(err as Error).message}): give arpd a schema of its own (another database, or drop what is there)`,
          { store: target.redacted, schema },
          { cause: err },
        );
      }
      throw err;
    }
  }
}

/** What the store's user must be allowed to do on the schema's objects, checked at open. */
export async function missingPrivileges(client: pg.Client, schema: string): Promise<string[]> {
  const S = pg.escapeIdentifier(schema);
  const r = await client.query<Record<string, boolean>>(
    `SELECT has_schema_privilege($1, 'USAGE') AS schema_usage,
            has_table_privilege($2, 'SELECT') AS events_select,
            has_table_privilege($2, 'INSERT') AS events_insert,
            has_table_privilege($3, 'SELECT') AS streams_select,
            has_table_privilege($3, 'INSERT') AS streams_insert,
            has_table_privilege($3, 'UPDATE') AS streams_update,
            has_sequence_privilege($4, 'USAGE') AS seq_usage,
            has_function_privilege($5, 'EXECUTE') AS append_execute,
            has_table_privilege($6, 'SELECT') AS nodes_select,
            has_table_privilege($6, 'INSERT') AS nodes_insert,
            has_table_privilege($6, 'UPDATE') AS nodes_update`,
    [schema, `${S}.events`, `${S}.streams`, `${S}.events_seq_seq`, `${S}.append(json, text)`, `${S}.nodes`],
  );
  const row = r.rows[0] ?? {};
  const names: Record<string, string> = {
    schema_usage: `USAGE on schema ${schema}`,
    events_select: `SELECT on ${schema}.events`,
    events_insert: `INSERT on ${schema}.events`,
    streams_select: `SELECT on ${schema}.streams`,
    streams_insert: `INSERT on ${schema}.streams`,
    streams_update: `UPDATE on ${schema}.streams`,
    seq_usage: `USAGE on sequence ${schema}.events_seq_seq`,
    append_execute: `EXECUTE on function ${schema}.append`,
    nodes_select: `SELECT on ${schema}.nodes`,
    nodes_insert: `INSERT on ${schema}.nodes`,
    nodes_update: `UPDATE on ${schema}.nodes`,
  };
  return Object.keys(names).filter((k) => row[k] !== true).map((k) => names[k] as string);
}
