import { statSync } from 'node:fs';
import { listLogFiles } from '../events/log-files.js';
import type { Daemon } from './daemon.js';

let logBytesCache: { root: string; at: number; bytes: number } | undefined;

/** The log's size on disk, looked up at most once a second (status is called often; readdir is not free). */
function logBytes(root: string): number {
  const now = Date.now();
  if (logBytesCache !== undefined && logBytesCache.root === root && now - logBytesCache.at < 1000) return logBytesCache.bytes;
  let bytes = 0;
  for (const f of listLogFiles(root)) {
    try { bytes += statSync(f.path).size; } catch { /* missing active file */ }
  }
  logBytesCache = { root, at: now, bytes };
  return bytes;
}

/** What `arpd daemon status` (and GET /v1/admin/status) shows. */
export function daemonStatus(d: Daemon): Record<string, unknown> {
  const reg = d.projection.registry;
  const ctx = d.ctx;
  const failure = d.store.failure;
  return {
    pid: process.pid,
    version: ctx.version,
    started_at: ctx.startedAt.toISOString(),
    uptime_s: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
    data_dir: d.paths.root,
    socket: d.paths.socket,
    ...(ctx.httpUrl() === undefined ? {} : { http_url: ctx.httpUrl() }),
    clients: ctx.clients(),
    state: d.isStopping ? 'stopping' : failure !== undefined ? 'degraded' : 'running',
    ...(failure === undefined ? {} : { degraded: { code: failure.code, reason: failure.message } }),
    store: { kind: d.store.kind },
    counts: {
      profiles: reg.profiles.size,
      instances: reg.countInstancesByState(),
      runs: reg.countRunsByState(),
    },
    last_seq: d.store.head,
    log_bytes: logBytes(d.paths.root),
    boot_ms: d.bootMs,
    idle_timeout_s: d.options.idleTimeoutS ?? null,
    ...(d.options.instances?.allowUnsafe === true ? { warnings: ['--allow-unsafe-runtime-profiles is on: instances may be created from profiles that are not on the safe list'] } : {}),
    ...d.partsStatus(),
  };
}
