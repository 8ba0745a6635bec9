import type pg from 'pg';
import { ArpdError } from '../errors/index.js';
import type { NodeClaim, NodeLease, NodeLeaseTable } from '../events/node-lease-table.js';

/** Runs one statement on the store's read connections (E_UNAVAILABLE while PostgreSQL does not answer). */
export type LeaseQuery = <R extends pg.QueryResultRow>(text: string, params: unknown[], what: string) => Promise<pg.QueryResult<R>>;

interface LeaseRow {
  node_id: string;
  incarnation: string;
  host: string;
  pid: number;
  data_dir: string;
  version: string;
  lease_ms: number;
  http_url: string | null;
  started_at: Date;
  heartbeat_at: Date;
  silent_ms: string;
  left_at: Date | null;
}

const COLUMNS = `node_id, incarnation, host, pid, data_dir, version, lease_ms, http_url, started_at, heartbeat_at, left_at,
  floor(extract(epoch FROM clock_timestamp() - heartbeat_at) * 1000)::bigint AS silent_ms`;

function leaseOf(r: LeaseRow): NodeLease {
  return {
    node_id: r.node_id, incarnation: r.incarnation, host: r.host, pid: r.pid, data_dir: r.data_dir, version: r.version, lease_ms: r.lease_ms,
    http_url: r.http_url ?? undefined, started_at: r.started_at.toISOString(), heartbeat_at: r.heartbeat_at.toISOString(),
    silent_ms: Math.max(0, Number(r.silent_ms)), left_at: r.left_at === null ? undefined : r.left_at.toISOString(),
  };
}

/**
 * The leases of the nodes sharing a store: one row per node in `<schema>.nodes`, renewed by a heartbeat. Liveness
 * is a row, not events (a heartbeat every few seconds would fill the log); the facts a lease leads to (joined, left,
 * lost) are events. Every time here is the server's clock, so the hosts' clocks need not agree.
 */
export class NodeLeases implements NodeLeaseTable {
  constructor(private readonly query: LeaseQuery, private readonly S: string) {}

  /**
   * Takes the row of `node_id` for this incarnation. Refused (E_CONFLICT, naming the holder) while another daemon
   * holds it: a row is free when its holder left, when its lease expired, or when it is the same host and data dir
   * (this daemon restarted: the data dir lock says the old one is gone).
   */
  async claim(n: NodeClaim): Promise<void> {
    const r = await this.query<{ incarnation: string }>(
      `INSERT INTO ${this.S}.nodes AS n (node_id, incarnation, host, pid, data_dir, version, lease_ms, http_url, started_at, heartbeat_at, left_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, clock_timestamp(), clock_timestamp(), NULL)
       ON CONFLICT (node_id) DO UPDATE SET incarnation = excluded.incarnation, host = excluded.host, pid = excluded.pid, data_dir = excluded.data_dir,
         version = excluded.version, lease_ms = excluded.lease_ms, http_url = NULL, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at, left_at = NULL
       WHERE n.left_at IS NOT NULL
          OR n.heartbeat_at < clock_timestamp() - n.lease_ms * interval '1 millisecond'
          OR (n.host = excluded.host AND n.data_dir = excluded.data_dir)
       RETURNING n.incarnation`,
      [n.node_id, n.incarnation, n.host, n.pid, n.data_dir, n.version, n.lease_ms],
      'claim the node lease',
    );
    if (r.rows.length === 1) return;
    const held = (await this.list()).find((l) => l.node_id === n.node_id);
    throw new ArpdError(
      'E_CONFLICT',
      `node id '${n.node_id}' is in use by a live daemon on host ${held?.host ?? '?'} (pid ${held?.pid ?? '?'}, data dir ${held?.data_dir ?? '?'}, last heartbeat ${Math.round((held?.silent_ms ?? 0) / 100) / 10}s ago): give each daemon its own --node-id, or stop that one`,
      { node_id: n.node_id, ...(held === undefined ? {} : { host: held.host, pid: held.pid, data_dir: held.data_dir }) },
    );
  }

  /** Renews the lease; false when the row now belongs to another incarnation (another daemon took the id). */
  async beat(nodeId: string, incarnation: string, httpUrl: string | undefined): Promise<boolean> {
    const r = await this.query(
      `UPDATE ${this.S}.nodes SET heartbeat_at = clock_timestamp(), http_url = $3, left_at = NULL WHERE node_id = $1 AND incarnation = $2`,
      [nodeId, incarnation, httpUrl ?? null],
      'renew the node lease',
    );
    return r.rowCount === 1;
  }

  /** A clean stop: the row says so (its lease ends now). */
  async leave(nodeId: string, incarnation: string): Promise<void> {
    await this.query(`UPDATE ${this.S}.nodes SET left_at = clock_timestamp() WHERE node_id = $1 AND incarnation = $2`, [nodeId, incarnation], 'end the node lease');
  }

  /** Every node's lease, by node id. */
  async list(): Promise<NodeLease[]> {
    const r = await this.query<LeaseRow>(`SELECT ${COLUMNS} FROM ${this.S}.nodes ORDER BY node_id`, [], 'read the node leases');
    return r.rows.map(leaseOf);
  }
}
