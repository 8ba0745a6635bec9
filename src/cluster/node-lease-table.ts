/**
 * What the node keeper needs of the store's lease table (`src/store-postgres/node-leases.ts` implements it): an
 * interface here, so this folder does not depend on PostgreSQL.
 */
export interface NodeClaim {
  node_id: string;
  incarnation: string;
  host: string;
  pid: number;
  data_dir: string;
  version: string;
  lease_ms: number;
}

export interface NodeLease extends NodeClaim {
  http_url: string | undefined;
  started_at: string;
  heartbeat_at: string;
  /** Milliseconds since its last heartbeat, by the store's clock. */
  silent_ms: number;
  left_at: string | undefined;
}

export interface NodeLeaseTable {
  claim(n: NodeClaim): Promise<void>;
  beat(nodeId: string, incarnation: string, httpUrl: string | undefined): Promise<boolean>;
  leave(nodeId: string, incarnation: string): Promise<void>;
  list(): Promise<NodeLease[]>;
}
