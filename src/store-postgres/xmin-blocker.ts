import type pg from 'pg';

/**
 * Who holds the readers back. Readers of the store only read events whose transaction id is below
 * the oldest transaction still running anywhere in the PostgreSQL cluster (any database): a session
 * that wrote something and then sits "idle in transaction", or a forgotten prepared transaction,
 * stops every reader until it ends. This finds the oldest such holder.
 */
export interface XminBlocker {
  kind: 'backend' | 'prepared';
  /** The backend's pid (kind 'backend'). */
  pid?: number;
  /** The prepared transaction's gid (kind 'prepared'). */
  gid?: string;
  /** 'idle in transaction', 'active', …, or 'prepared'. */
  state: string | null;
  database: string | null;
  role: string | null;
  application: string | null;
  client: string | null;
  /** How long its transaction has been open, in ms (null when PostgreSQL hides it from this role). */
  transactionAgeMs: number | null;
}

const QUERY = `
SELECT * FROM (
  SELECT 'backend' AS kind, a.pid, NULL::text AS gid, a.state, a.datname::text AS database, a.usename::text AS role,
         a.application_name AS application, a.client_addr::text AS client,
         (extract(epoch FROM clock_timestamp() - a.xact_start) * 1000)::float8 AS age_ms, age(a.backend_xid) AS xid_age
    FROM pg_stat_activity a
   WHERE a.backend_xid IS NOT NULL AND a.pid <> pg_backend_pid()
  UNION ALL
  SELECT 'prepared', NULL, p.gid, 'prepared', p.database::text, p.owner::text, NULL, NULL,
         (extract(epoch FROM clock_timestamp() - p.prepared) * 1000)::float8, age(p.transaction)
    FROM pg_prepared_xacts p
) h
ORDER BY xid_age DESC
LIMIT 1`;

interface Row {
  kind: 'backend' | 'prepared';
  pid: number | null;
  gid: string | null;
  state: string | null;
  database: string | null;
  role: string | null;
  application: string | null;
  client: string | null;
  age_ms: number | null;
}

/** The oldest transaction that holds an xid, or undefined when none is visible to this role. */
export async function findXminBlocker(q: (text: string) => Promise<pg.QueryResult<Row>>): Promise<XminBlocker | undefined> {
  const r = await q(QUERY);
  const row = r.rows[0];
  if (row === undefined) return undefined;
  return {
    kind: row.kind,
    ...(row.pid === null ? {} : { pid: row.pid }),
    ...(row.gid === null ? {} : { gid: row.gid }),
    state: row.state,
    database: row.database,
    role: row.role,
    application: row.application,
    client: row.client,
    transactionAgeMs: row.age_ms === null ? null : Math.round(row.age_ms),
  };
}

export function describeBlocker(b: XminBlocker | undefined): string {
  if (b === undefined) return 'a transaction this role cannot see in pg_stat_activity (grant it pg_read_all_stats to see which)';
  const age = b.transactionAgeMs === null ? '' : `, open for ${(b.transactionAgeMs / 1000).toFixed(1)} s`;
  if (b.kind === 'prepared') return `prepared transaction '${b.gid ?? '?'}' in database ${b.database ?? '?'}${age} (COMMIT PREPARED or ROLLBACK PREPARED it)`;
  return `backend pid ${b.pid ?? '?'} (${b.state ?? 'state hidden'}, database ${b.database ?? '?'}, user ${b.role ?? '?'}${b.application === null || b.application === '' ? '' : `, application '${b.application}'`}${age})`;
}
