import { statSync } from 'node:fs';
import { listLogFiles } from '../events/log-files.js';
import { countInstancesByArpState } from '../policy/routing.js';
import type { Daemon } from './daemon.js';

let logBytesCache: { root: string; head: number; at: number; bytes: number } | undefined;

/**
 * The log's size on disk, looked up at most once a second while nothing is appended (status is called often; readdir
 * is not free): a status never pairs a new `last_seq` with the size of an older log.
 */
function logBytes(root: string, head: number): number {
  const now = Date.now();
  if (logBytesCache !== undefined && logBytesCache.root === root && logBytesCache.head === head && now - logBytesCache.at < 1000) return logBytesCache.bytes;
  let bytes = 0;
  for (const f of listLogFiles(root)) {
    try { bytes += statSync(f.path).size; } catch { /* missing active file */ }
  }
  logBytesCache = { root, head, at: now, bytes };
  return bytes;
}

/**
 * The store: its kind and, for a shared store, where it is (the URL with its password redacted), its schema,
 * whether it answers, and this daemon's node id.
 */
function storeStatus(d: Daemon): { store: Record<string, unknown>; unavailable?: string } {
  const st = d.store.status?.() as Record<string, unknown> | undefined;
  if (st === undefined) return { store: { kind: d.store.kind } };
  const { kind, store: url, ...rest } = st;
  return {
    store: { kind: kind ?? d.store.kind, url, ...rest, ...(d.node === undefined ? {} : { node_id: d.node.id }) },
    ...(st['available'] === false ? { unavailable: `the event store does not answer (${String(st['last_error'] ?? 'unreachable')}): changes are refused with E_UNAVAILABLE until it does; arpd reconnects by itself` } : {}),
  };
}

/** What `arpd daemon status` (and GET /v1/admin/status) shows. */
export function daemonStatus(d: Daemon): Record<string, unknown> {
  const reg = d.projection.registry;
  const ctx = d.ctx;
  const failure = d.store.failure;
  const { store, unavailable } = storeStatus(d);
  return {
    pid: process.pid,
    version: ctx.version,
    started_at: ctx.startedAt.toISOString(),
    uptime_s: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
    data_dir: d.paths.root,
    socket: d.paths.socket,
    ...(ctx.httpUrl() === undefined ? {} : { http_url: ctx.httpUrl() }),
    clients: ctx.clients(),
    state: d.isStopping ? 'stopping' : failure !== undefined || unavailable !== undefined ? 'degraded' : 'running',
    ...(failure === undefined ? {} : { degraded: { code: failure.code, reason: failure.message } }),
    ...(failure === undefined && unavailable !== undefined ? { degraded: { code: 'E_UNAVAILABLE', reason: unavailable } } : {}),
    store,
    counts: {
      profiles: reg.profiles.size,
      // as `instances list` shows them: a ready instance at capacity is busy
      instances: countInstancesByArpState(reg, reg.countInstancesByState()),
      runs: reg.countRunsByState(),
    },
    last_seq: d.store.head,
    ...(d.store.kind === 'jsonl' ? { log_bytes: logBytes(d.paths.root, d.store.head) } : {}),
    boot_ms: d.bootMs,
    idle_timeout_s: d.options.idleTimeoutS ?? null,
    ...(d.options.instances?.allowUnsafe === true ? { warnings: ['--allow-unsafe-runtime-profiles is on: instances may be created from profiles that are not on the safe list'] } : {}),
    ...d.partsStatus(),
  };
}
