/**
 * The port of a shared store's node leases (several daemons, one store): what the node keeper (`src/cluster`) needs,
 * and what `src/store-postgres/node-leases.ts` implements. Beside the event store port, so neither side depends on
 * the other.
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
