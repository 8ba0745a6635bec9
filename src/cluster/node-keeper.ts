import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import { toArpdError } from '../errors/index.js';
import { bootId } from '../system/process-identity.js';
import { ownedBy } from '../policy/ownership.js';
import { newIncarnation } from './node-id.js';
import type { NodeLease, NodeLeaseTable } from '../events/node-lease-table.js';

/** The node's identity, shared with the daemon context: the incarnation changes when the node joins anew. */
export interface MutableNodeIdentity {
  readonly id: string;
  incarnation: string;
}

export interface NodeKeeperOptions {
  /** A node silent this long has an expired lease; lost after twice this (the lease, then as long again of grace). */
  leaseMs: number;
}

/** What is recorded lost per command: the first one also records the node lost, the next ones what it still owns. */
const PER_COMMAND = 200;

/**
 * This daemon as a node of a cluster sharing one store. At start it claims its lease (refused while another live
 * daemon holds the same node id) and records `node.joined`; then it renews the lease (a heartbeat in the store's
 * `nodes` table, not an event) every third of the lease, and reads every node's lease. The node with the smallest id
 * among those whose lease is fresh records a node lost (`DeclareNodeLost`) once that node was silent for the lease
 * and as long again (the grace); a node that comes back within the grace is never recorded lost, and one recorded
 * lost while it was alive (cut off from the store) joins anew. At a clean stop it ends its lease.
 */
export class NodeKeeper implements Component {
  readonly name = 'node';
  private timer: NodeJS.Timeout | undefined;
  private sub: Subscription | undefined;
  private ticking = false;
  private stopped = false;
  private leases: NodeLease[] = [];
  private lastBeatAt: number | undefined;
  private failingSince: number | undefined;
  /** Since when this node's own heartbeats succeed without a break: silence of others is judged only past the grace. */
  private healthySince = Date.now();
  private lastError: string | undefined;
  private readonly log: Logger;

  constructor(
    private readonly ctx: DaemonContext,
    private readonly node: MutableNodeIdentity,
    private readonly table: NodeLeaseTable,
    private readonly o: NodeKeeperOptions,
  ) {
    this.log = ctx.logger.child({ part: 'node' });
  }

  private get lostAfterMs(): number {
    return this.o.leaseMs * 2;
  }

  async start(): Promise<void> {
    await this.join();
    this.sub = this.ctx.events$.subscribe((e) => {
      if (e.type === 'node.lost' && e.data.node_id === this.node.id && e.data.incarnation === this.node.incarnation && !this.stopped) {
        this.log.warn({ declared_by: e.data.declared_by, silent_ms: e.data.silent_ms }, 'this node was recorded lost by another node while it was cut off: its instances and runs were recorded failed; joining again');
        void this.rejoin();
      }
    });
    const every = Math.max(50, Math.floor(this.o.leaseMs / 3));
    this.timer = setInterval(() => { void this.tick(); }, every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.sub?.unsubscribe();
    if (this.timer !== undefined) clearInterval(this.timer);
    try {
      await this.table.leave(this.node.id, this.node.incarnation);
    } catch (err) {
      this.log.warn({ err: toArpdError(err).message }, 'could not end the node lease: other nodes see it expire');
    }
  }

  /** Claims the lease (refused while another daemon holds the id) and records the join. */
  private async join(): Promise<void> {
    this.healthySince = Date.now();
    await this.table.claim({
      node_id: this.node.id, incarnation: this.node.incarnation, host: hostname(), pid: process.pid,
      data_dir: this.ctx.paths.root, version: this.ctx.version, lease_ms: this.o.leaseMs,
    });
    this.lastBeatAt = Date.now();
    this.leases = await this.table.list();
    await this.ctx.executeRetrying(this.ctx.command('JoinNode', {
      node_id: this.node.id, incarnation: this.node.incarnation, host: hostname(), pid: process.pid, boot_id: bootId(),
      version: this.ctx.version, data_dir: this.ctx.paths.root,
    }, 'node'));
  }

  private async rejoin(): Promise<void> {
    this.node.incarnation = newIncarnation();
    for (let n = 0; !this.stopped; n++) {
      try {
        await this.join();
        this.log.info({ incarnation: this.node.incarnation }, 'joined the cluster again');
        return;
      } catch (err) {
        this.log.warn({ err: toArpdError(err).message }, 'could not join the cluster again: trying again');
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(n, 5))));
      }
    }
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const mine = await this.table.beat(this.node.id, this.node.incarnation, this.ctx.httpUrl());
      if (!mine) this.note('the lease row of this node id now belongs to another daemon: two daemons use the same --node-id; give each its own');
      this.leases = await this.table.list();
      this.lastBeatAt = Date.now();
      if (this.failingSince !== undefined) {
        this.healthySince = Date.now();
        this.log.info({ down_ms: Date.now() - this.failingSince }, 'the node lease is renewed again');
        this.failingSince = undefined;
        this.lastError = undefined;
      }
      await this.sweep();
    } catch (err) {
      this.failingSince ??= Date.now();
      this.note(`could not renew the node lease: ${toArpdError(err).message}`);
    } finally {
      this.ticking = false;
    }
  }

  private note(message: string): void {
    if (message === this.lastError) return;
    this.lastError = message;
    this.log.warn(message);
  }

  /** The node that records others lost: the smallest id among the nodes whose lease is fresh (this one included). */
  private sweeper(): string | undefined {
    let first: string | undefined;
    for (const l of this.leases) {
      if (l.left_at !== undefined || l.silent_ms > l.lease_ms) continue;
      if (first === undefined || l.node_id < first) first = l.node_id;
    }
    return first;
  }

  /**
   * Records lost the nodes silent past lease + grace. Only once this node's own heartbeats went through for as long as
   * the grace: after PostgreSQL itself was away every node is silent, and each gets the grace to beat again.
   */
  private async sweep(): Promise<void> {
    if (this.sweeper() !== this.node.id || Date.now() - this.healthySince < this.lostAfterMs) return;
    const rows = new Map(this.leases.map((l) => [l.node_id, l]));
    const state = this.ctx.state;
    for (const n of [...state.nodes.values()]) {
      if (n.node_id === this.node.id || this.stopped) continue;
      const row = rows.get(n.node_id);
      const silent = row?.silent_ms ?? Number.POSITIVE_INFINITY;
      const limit = (row?.lease_ms ?? this.o.leaseMs) * 2;
      // a node that restarted holds a fresh lease under a new incarnation: it joins by itself
      if (silent <= limit) continue;
      const owned = ownedBy(state, n.node_id);
      const has = owned.instances.length + owned.runs.length > 0;
      if (n.state === 'joined' || has) await this.declareLost(n.node_id, n.incarnation, Number.isFinite(silent) ? silent : limit, owned);
    }
  }

  private async declareLost(nodeId: string, incarnation: string, silentMs: number, owned: { instances: string[]; runs: string[] }): Promise<void> {
    const items = [...owned.instances.map((id) => ({ kind: 'instance' as const, id })), ...owned.runs.map((id) => ({ kind: 'run' as const, id }))];
    this.log.warn({ node_id: nodeId, silent_ms: silentMs, instances: owned.instances.length, runs: owned.runs.length }, `node ${nodeId} was silent for ${Math.round(silentMs / 1000)}s: recording it lost`);
    for (let i = 0; i === 0 || i < items.length; i += PER_COMMAND) {
      const slice = items.slice(i, i + PER_COMMAND);
      try {
        await this.ctx.bus.execute(this.ctx.command('DeclareNodeLost', {
          node_id: nodeId, incarnation, silent_ms: Math.round(silentMs),
          instances: slice.filter((x) => x.kind === 'instance').map((x) => x.id),
          runs: slice.filter((x) => x.kind === 'run').map((x) => x.id),
        }, 'node'));
      } catch (err) {
        const e = toArpdError(err);
        // another node recorded it first, or the store is away: the next sweep looks again
        if (e.code !== 'E_CONFLICT' && e.code !== 'E_UNAVAILABLE') this.log.error({ err, node_id: nodeId }, 'could not record a node lost');
        return;
      }
    }
  }

  status(): Record<string, unknown> {
    const state = this.ctx.state;
    const rows = new Map(this.leases.map((l) => [l.node_id, l]));
    const ids = new Set([...state.nodes.keys(), ...rows.keys()]);
    const nodes = [...ids].sort().map((id) => {
      const v = state.nodes.get(id);
      const l = rows.get(id);
      const owned = ownedBy(state, id);
      const lease = l === undefined ? 'none' : l.left_at !== undefined ? 'ended' : l.silent_ms > l.lease_ms ? 'expired' : 'live';
      return {
        node_id: id,
        state: v?.state ?? 'joining',
        lease,
        ...(l === undefined ? {} : { host: l.host, pid: l.pid, silent_ms: l.silent_ms, ...(l.http_url === undefined ? {} : { http_url: l.http_url }) }),
        this_node: id === this.node.id,
        instances: owned.instances.map((iid) => {
          const inst = state.instances.get(iid);
          return { instance_id: iid, state: inst?.state ?? '?', ...(inst?.runtime_profile === undefined ? {} : { runtime_profile: inst.runtime_profile }) };
        }),
        runs_in_flight: owned.runs.length,
      };
    });
    return {
      cluster: {
        node_id: this.node.id,
        incarnation: this.node.incarnation,
        lease_ms: this.o.leaseMs,
        lost_after_ms: this.lostAfterMs,
        ...(this.lastBeatAt === undefined ? {} : { lease_renewed_at: new Date(this.lastBeatAt).toISOString() }),
        ...(this.failingSince === undefined ? {} : { lease_failing_since: new Date(this.failingSince).toISOString(), problem: this.lastError }),
        records_lost_nodes: this.sweeper() === this.node.id,
        nodes,
      },
    };
  }
}
