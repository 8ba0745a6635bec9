/**
 * The socket's JSON-RPC methods: each one checks its params against the operation's schema
 * (src/schemas/params.ts, the same schemas the HTTP routes use) and calls the operation. Nothing else.
 */
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import type { EventFilter } from '../events/event-store.js';
import type { TraceLine } from '../events/trace-line.js';
import type { DaemonOps } from '../features/daemon-ops.js';
import type { EventOps } from '../features/event-ops.js';
import type { InstanceOps } from '../features/instance-ops.js';
import type { ProfileOps } from '../features/profile-ops.js';
import type { LogOps } from '../features/log-ops.js';
import type { RunOps } from '../features/run-ops.js';
import type { CatchUpHandle } from '../events/catch-up.js';
import { checkParams, type ParamsName } from '../schemas/params.js';
import type { CallContext, MethodDef, MethodTable } from './rpc-dispatch.js';

export interface SocketBackend {
  daemon: DaemonOps;
  events: EventOps;
  profiles: ProfileOps;
  instances: InstanceOps;
  runs: RunOps;
  log: LogOps;
  /** Asks the daemon to stop (answers first, then stops). */
  shutdown(reason: string, keepInstances: boolean | undefined): void;
  /** Extra methods (log maintenance, retention) added by the parts that own them. */
  extra?: MethodTable;
}

type P = Record<string, unknown>;

function method<T>(name: ParamsName, handler: (p: P, call: CallContext) => T, idempotent = false): [string, MethodDef] {
  return [name, { idempotent, handler: (params, call) => handler(checkParams(name, params), call) }];
}

function filterOf(p: P): EventFilter {
  return { ...(p['types'] === undefined ? {} : { types: p['types'] as string[] }), ...(p['stream'] === undefined ? {} : { stream: p['stream'] as string }) };
}

const str = (p: P, k: string): string => p[k] as string;
const opt = <T>(p: P, k: string): T | undefined => p[k] as T | undefined;

export function socketMethods(b: SocketBackend): MethodTable {
  let nextSub = 1;
  const subs = new Map<string, { connectionId: string; handle: CatchUpHandle }>();

  const table: Array<[string, MethodDef]> = [
    method('daemon.status', () => b.daemon.status(), true),
    method('daemon.shutdown', (p) => {
      // answer first, then stop: the reply means "stopping", the caller waits for the process to exit
      const reason = opt<string>(p, 'reason') ?? 'requested over the socket';
      setImmediate(() => b.shutdown(reason, opt<boolean>(p, 'keep_instances')));
      return { stopping: true, pid: process.pid };
    }),
    method('events.read', (p) => b.events.read({ fromSeq: opt<number>(p, 'from_seq') ?? 1, limit: opt<number>(p, 'limit') ?? 1000, filter: filterOf(p) }), true),
    method('events.subscribe', (p, call) => {
      const head = b.daemon.status()['last_seq'] as number;
      const from = opt<number>(p, 'from_seq') ?? head + 1;
      const id = `sub-${nextSub++}`;
      const handle = b.events.subscribe(from - 1, filterOf(p), {
        send: (e: StoredEvent) => call.notify('events.event', { subscription: id, event: e }),
        ...(call.hasRoom === undefined ? {} : { hasRoom: call.hasRoom }),
        ...(call.drained === undefined ? {} : { drained: call.drained }),
      }, {
        error: (err) => { call.notify('events.error', { subscription: id, error: err.toWire() }); subs.delete(id); },
      });
      subs.set(id, { connectionId: call.connectionId, handle });
      call.onClose(() => { handle.close(); subs.delete(id); });
      return { subscription: id, from_seq: from, head_seq: head };
    }),
    method('events.unsubscribe', (p, call) => {
      const id = str(p, 'subscription');
      const sub = subs.get(id);
      if (sub === undefined || sub.connectionId !== call.connectionId) {
        throw new ArpdError('E_NOT_FOUND', `no subscription '${id}' on this connection: use the id events.subscribe returned`, { field: 'subscription' });
      }
      sub.handle.close();
      subs.delete(id);
      return { unsubscribed: id };
    }),
    method('profiles.list', () => b.profiles.list(), true),
    method('profiles.get', (p) => b.profiles.get(str(p, 'runtime_profile')), true),
    method('profiles.upsert', (p) => b.profiles.upsert(str(p, 'runtime_profile'), p['request'] ?? {}), true),
    method('profiles.delete', (p) => b.profiles.delete(str(p, 'runtime_profile'), opt<boolean>(p, 'force') ?? false)),
    method('instances.list', (p) => b.instances.list({ all: opt<boolean>(p, 'all') ?? false, profile: opt(p, 'runtime_profile'), state: opt(p, 'state') }), true),
    method('instances.get', (p) => b.instances.get(str(p, 'instance_id')), true),
    method('instances.create', (p, call) => b.instances.create(p['request'], {
      wait: opt<boolean>(p, 'wait') === true ? 'ready' : 'none',
      timeoutMs: opt<number>(p, 'timeout_ms'),
      onProgress: (id, line) => { call.notify('instances.progress', { instance_id: id, line }); },
    })),
    method('instances.register', (p) => b.instances.register(p['request'])),
    method('instances.delete', (p) => b.instances.delete(str(p, 'instance_id'), { wait: opt<boolean>(p, 'wait') ?? true })),
    method('runs.submit', (p) => b.runs.submit(p['request'])),
    method('runs.get', (p) => b.runs.get(str(p, 'run_id')), true),
    method('runs.result', (p) => b.runs.result(str(p, 'run_id')), true),
    method('runs.list', (p) => b.runs.list({
      pageSize: opt(p, 'page_size'), pageToken: opt(p, 'page_token'), state: opt(p, 'state'),
      profile: opt(p, 'runtime_profile'), instanceId: opt(p, 'instance_id'), q: opt(p, 'q'), order: opt(p, 'order'),
    }), true),
    method('runs.cancel', (p) => b.runs.cancel(str(p, 'run_id')), true),
    method('runs.trace', (p) => b.runs.trace(str(p, 'run_id'), { fromSeq: opt(p, 'from_seq'), limit: opt(p, 'limit') }), true),
    method('runs.wait', (p) => b.runs.wait(str(p, 'run_id'), opt<number>(p, 'timeout_ms') ?? 3_600_000), true),
    method('runs.prune', (p) => b.log.prune({ before: str(p, 'before'), dryRun: opt<boolean>(p, 'dry_run') })),
    method('log.snapshot', () => b.log.snapshot()),
    method('log.compact', (p) => b.log.compact({ budgetBytes: opt<number>(p, 'budget_bytes') })),
    method('runs.follow', (p, call) => {
      const runId = str(p, 'run_id');
      b.runs.get(runId); // an unknown run is refused before anything is streamed
      return new Promise((resolve, reject) => {
        const handle = b.events.followRun(runId, opt<number>(p, 'from_seq') ?? 1, {
          send: (line: TraceLine) => call.notify('runs.trace', { run_id: runId, line }),
          ...(call.hasRoom === undefined ? {} : { hasRoom: call.hasRoom }),
          ...(call.drained === undefined ? {} : { drained: call.drained }),
        }, {
          end: () => resolve(b.runs.get(runId)),
          error: (err) => reject(err),
        });
        call.onClose(() => { handle.close(); resolve(b.runs.get(runId)); });
      });
    }),
  ];
  return { ...Object.fromEntries(table), ...(b.extra ?? {}) };
}
