import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { DaemonOptions } from '../config/daemon-options.js';
import type { DataPaths } from '../config/data-dir.js';
import { ArpdError, toArpdError } from '../errors/index.js';
import type { EventSubscription } from '../events/event-store.js';
import { Projection } from '../projections/projection.js';
import { Registry } from '../projections/registry.js';
import type { RetentionPolicy } from '../retention/retention-policy.js';
import { RunArchive } from '../retention/run-archive.js';
import { RunRetention } from '../retention/run-retention.js';
import { usableSnapshots, type LoadedSnapshot } from '../retention/snapshot-file.js';
import { openPostgresStore, parseStoreUrl, type PostgresEventStore } from '../store-postgres/index.js';

/** A PostgreSQL store opened for a daemon, its projections caught up and following it. */
export interface OpenedPostgres {
  store: PostgresEventStore;
  projection: Projection;
  archive: RunArchive;
  retention: RunRetention;
  loaded: LoadedSnapshot | undefined;
  replayed: number;
  /** Where this daemon keeps its snapshots of this store (one folder per store under `<data-dir>/snapshots`). */
  snapshotsDir: string;
  /** The projection's subscription to the store (catch-up, then live); closed with the store. */
  following: EventSubscription;
}

/**
 * The snapshots of a shared store are this daemon's own files: a folder per store (host, port, database and
 * schema), so a daemon pointed at another database never starts from a snapshot of the first.
 */
export function postgresSnapshotsDir(paths: DataPaths, url: string, schema: string): string {
  const t = parseStoreUrl(url);
  return join(paths.snapshots, `postgres-${createHash('sha256').update(`${t.host}:${t.port}/${t.database}/${schema}`).digest('hex').slice(0, 12)}`);
}

/**
 * Opens the PostgreSQL store of `--store`, then the projections: from the newest usable snapshot of this store
 * (its state, then the store's events after its seq), falling back to an older one and then to the whole store,
 * each time with a warning. Catch-up and live are one subscription (`store.subscribe`): no event published while
 * catching up is missed or folded twice. Resolves once the projections reached the store's head.
 */
export async function openPostgresFromSnapshot(options: DaemonOptions, paths: DataPaths, logger: Logger, o: { applicationName: string; policy: RetentionPolicy }): Promise<OpenedPostgres> {
  const url = options.store?.url;
  if (url === undefined) throw new ArpdError('E_INTERNAL', 'no store URL');
  if (options.repair === true) {
    throw new ArpdError('E_VALIDATION', '--repair repairs the JSONL log in the data dir; a PostgreSQL store is kept whole by PostgreSQL: start without --repair', { field: '--repair' });
  }
  if (options.retention?.logBudgetBytes !== undefined) {
    throw new ArpdError('E_VALIDATION', '--log-budget-bytes bounds the JSONL log in the data dir; with --store the events stay in PostgreSQL: start without --log-budget-bytes', { field: '--log-budget-bytes' });
  }
  const warn = (message: string, details: Record<string, unknown> = {}): void => { logger.warn(details, message); };
  const store = await openPostgresStore({ url, applicationName: o.applicationName, onWarning: warn });
  try {
    const snapshotsDir = postgresSnapshotsDir(paths, url, store.schema);
    const archive = new RunArchive(paths.runs, 512, false);
    const policy = o.policy;
    const attempt = async (registry: Registry, from: LoadedSnapshot | undefined): Promise<Omit<OpenedPostgres, 'store' | 'archive' | 'loaded' | 'snapshotsDir'>> => {
      registry.setArchive(archive);
      const projection = new Projection(registry);
      const retention = new RunRetention(registry, archive, policy, { events$: projection.events$, logger: logger.child({ part: 'retention' }), now: () => new Date() });
      let replayed = 0;
      let live = false;
      let following: EventSubscription | undefined;
      await new Promise<void>((resolve, reject) => {
        following = store.subscribe(from?.position.seq ?? 0, undefined, {
          event: (e) => {
            projection.push(e);
            if (!live && ++replayed % 10_000 === 0) retention.sweep();
          },
          live: () => { live = true; resolve(); },
          error: (err) => {
            if (!live) { reject(err); return; }
            // the projections no longer follow the store: nothing this daemon decides can be trusted any more
            logger.fatal({ err }, `the projections stopped following the event store (${err.message}): restart the daemon`);
          },
        });
      });
      return { projection, retention, replayed, following: following as EventSubscription };
    };
    for (const snap of usableSnapshots(snapshotsDir, (m) => warn(m))) {
      let registry: Registry;
      try {
        registry = Registry.importState(snap.body.registry);
        archive.importIndex(snap.body.archive, (m) => warn(m));
      } catch (err) {
        warn(`snapshot ${snap.path} is not used: ${(err as Error).message}`);
        continue;
      }
      try {
        return { store, archive, loaded: snap, snapshotsDir, ...(await attempt(registry, snap)) };
      } catch (err) {
        if (toArpdError(err).code !== 'E_VALIDATION') throw err;
        warn(`snapshot ${snap.path} is not used: ${toArpdError(err).message}; trying an older snapshot or the whole store`);
      }
    }
    archive.reset();
    return { store, archive, loaded: undefined, snapshotsDir, ...(await attempt(new Registry(), undefined)) };
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
}
