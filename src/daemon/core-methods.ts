import { statSync } from 'node:fs';
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { forEachEvent, matchesFilter, readEvents, type EventFilter } from '../events/log-read.js';
import { listLogFiles } from '../events/log-files.js';
import type { MethodTable } from '../server/rpc-dispatch.js';
import type { Daemon } from './daemon.js';
import { optInt, optString, optStringArray, paramsObject, type Params } from './params.js';

let logBytesCache: { root: string; at: number; bytes: number } | undefined;

/** The log's size on disk, looked up at most once a second (status is called often; readdir is not free). */
function logBytes(root: string): number {
  const now = Date.now();
  if (logBytesCache !== undefined && logBytesCache.root === root && now - logBytesCache.at < 1000) return logBytesCache.bytes;
  const bytes = measureLogBytes(root);
  logBytesCache = { root, at: now, bytes };
  return bytes;
}

function measureLogBytes(root: string): number {
  let total = 0;
  for (const f of listLogFiles(root)) {
    try { total += statSync(f.path).size; } catch { /* missing active file */ }
  }
  return total;
}

function filterOf(p: Params): EventFilter {
  const types = optStringArray(p, 'types');
  const stream = optString(p, 'stream', 300);
  return { ...(types === undefined ? {} : { types }), ...(stream === undefined ? {} : { stream }) };
}

export function daemonStatus(d: Daemon): Record<string, unknown> {
  const reg = d.projection.registry;
  const ctx = d.ctx;
  return {
    pid: process.pid,
    version: ctx.version,
    started_at: ctx.startedAt.toISOString(),
    uptime_s: Math.round((Date.now() - ctx.startedAt.getTime()) / 1000),
    data_dir: d.paths.root,
    socket: d.paths.socket,
    ...(ctx.httpUrl() === undefined ? {} : { http_url: ctx.httpUrl() }),
    clients: ctx.clients(),
    state: d.isStopping ? 'stopping' : 'running',
    counts: {
      profiles: reg.profiles.size,
      instances: reg.countInstancesByState(),
      runs: reg.countRunsByState(),
    },
    last_seq: d.store.committedSeq,
    log_bytes: logBytes(d.paths.root),
    idle_timeout_s: d.options.idleTimeoutS ?? null,
    ...d.featureStatus(),
  };
}

/** The methods every daemon serves: status, shutdown and the event log. */
export function coreMethods(d: Daemon): MethodTable {
  let nextSub = 1;
  const subs = new Map<string, { connectionId: string; close: () => void }>();

  return {
    'daemon.status': {
      idempotent: true,
      handler: (params) => {
        paramsObject(params, [], 'daemon.status');
        return daemonStatus(d);
      },
    },
    'daemon.shutdown': {
      handler: (params) => {
        const p = paramsObject(params, ['reason', 'keep_instances'], 'daemon.shutdown');
        const reason = optString(p, 'reason', 500) ?? 'requested over the socket';
        const keep = p['keep_instances'];
        if (keep !== undefined && typeof keep !== 'boolean') throw new ArpdError('E_VALIDATION', "field 'keep_instances' must be true or false", { field: 'keep_instances' });
        if (d.options.testIgnoreShutdown !== undefined) {
          d.logger.warn({ reason }, 'ignoring a shutdown request (test switch)');
          return { stopping: true, pid: process.pid };
        }
        // answer first, then stop: the reply means "stopping", the caller waits for the process to exit
        setImmediate(() => { void d.shutdown(reason, keep === undefined ? {} : { keepInstances: keep }); });
        return { stopping: true, pid: process.pid };
      },
    },
    'events.read': {
      idempotent: true,
      handler: (params) => {
        const p = paramsObject(params, ['from_seq', 'limit', 'types', 'stream'], 'events.read');
        const from = optInt(p, 'from_seq', 1, Number.MAX_SAFE_INTEGER) ?? 1;
        const limit = optInt(p, 'limit', 1, 10_000) ?? 1000;
        const head = d.store.committedSeq;
        const { events, nextSeq } = readEvents(d.paths.root, { fromSeq: from, toSeq: head, limit, filter: filterOf(p) });
        return { events, next_seq: Math.min(nextSeq, head + 1), head_seq: head };
      },
    },
    'events.subscribe': {
      handler: (params, call) => {
        const p = paramsObject(params, ['from_seq', 'types', 'stream'], 'events.subscribe');
        const head = d.store.committedSeq;
        const from = optInt(p, 'from_seq', 1, Number.MAX_SAFE_INTEGER) ?? head + 1;
        const filter = filterOf(p);
        const id = `sub-${nextSub++}`;
        let sentUpTo = from - 1;
        let live = false;
        const buffered: StoredEvent[] = [];
        let closed = false;
        const send = (e: StoredEvent): boolean => {
          if (e.seq <= sentUpTo) return true;
          sentUpTo = e.seq;
          if (!matchesFilter(e, filter)) return true;
          if (!call.notify('events.event', { subscription: id, event: e })) { close(); return false; }
          return true;
        };
        const subscription = d.projection.events$.subscribe((e) => {
          if (live) send(e);
          else buffered.push(e);
        });
        const close = (): void => {
          if (closed) return;
          closed = true;
          subscription.unsubscribe();
          subs.delete(id);
        };
        subs.set(id, { connectionId: call.connectionId, close });
        call.onClose(close);
        // catch up from the files in pages (the event loop keeps serving between pages), then go live
        const catchUp = (): void => {
          if (closed) return;
          let count = 0;
          forEachEvent(d.paths.root, (e) => {
            if (!send(e)) return false;
            return ++count < 500;
          }, { fromSeq: sentUpTo + 1, toSeq: head });
          if (closed) return;
          if (count >= 500 && sentUpTo < head) { setImmediate(catchUp); return; }
          live = true;
          for (const e of buffered.splice(0)) if (!send(e)) return;
        };
        setImmediate(catchUp);
        return { subscription: id, from_seq: from, head_seq: head };
      },
    },
    'events.unsubscribe': {
      handler: (params, call) => {
        const p = paramsObject(params, ['subscription'], 'events.unsubscribe');
        const id = optString(p, 'subscription', 100);
        const sub = id === undefined ? undefined : subs.get(id);
        if (sub === undefined || sub.connectionId !== call.connectionId) {
          throw new ArpdError('E_NOT_FOUND', `no subscription '${id ?? ''}' on this connection: use the id events.subscribe returned`, { field: 'subscription' });
        }
        sub.close();
        return { unsubscribed: id };
      },
    },
  };
}
