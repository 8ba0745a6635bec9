import { ArpdError } from '../errors/index.js';
import type { InstanceCreateResponse, RunState, RunStatus, TraceEvent } from '../schemas/types.js';
import type {
  ArpdClient,
  DaemonApi,
  DaemonStatus,
  EventSubscription,
  EventsApi,
  InstancesApi,
  LogEvent,
  ProfilesApi,
  RequestOptions,
  RunFollow,
  RunsApi,
} from './client-types.js';
import type { Transport, TransportCallOptions } from './transport.js';

const TERMINAL: ReadonlySet<RunState> = new Set(['succeeded', 'failed', 'canceled']);
/** The longest one `runs.wait` request may wait on the socket; a longer wait asks again. */
const MAX_WAIT_SLICE_MS = 3_600_000;
/** A follow the daemon ends early (a slow reader) is taken up again this many times without progress at most. */
const MAX_FOLLOW_RESUMES = 5;

type Params = Record<string, unknown>;

function opts(o: RequestOptions | undefined, extra: TransportCallOptions = {}): TransportCallOptions {
  return { ...(o?.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }), ...(o?.signal === undefined ? {} : { signal: o.signal }), ...extra };
}

/** Only the fields that are set: the daemon refuses unknown and null fields alike, so none is sent empty. */
function defined(p: Params): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(p)) if (v !== undefined) out[k] = v;
  return out;
}

/**
 * Wraps a generator so its return value is also a promise (`status`) and reading that promise alone
 * drains it. The promise never counts as unhandled: a caller that only iterates is not punished.
 */
class Followed<T, R> implements AsyncIterableIterator<T, R, undefined> {
  readonly done: Promise<R>;
  private settle!: { resolve: (v: R) => void; reject: (e: unknown) => void };
  private started = false;
  private readonly gen: AsyncGenerator<T, R, undefined>;
  private readonly abort = new AbortController();

  /** `release` runs once, when the stream ends, fails or is closed; `make` gets the signal that close() aborts. */
  constructor(make: (signal: AbortSignal) => AsyncGenerator<T, R, undefined>, release: () => void) {
    this.gen = make(this.abort.signal);
    this.done = new Promise<R>((resolve, reject) => { this.settle = { resolve, reject }; });
    this.done.then(release, release);
  }

  async next(): Promise<IteratorResult<T, R>> {
    this.started = true;
    try {
      const r = await this.gen.next();
      if (r.done === true) this.settle.resolve(r.value);
      return r;
    } catch (err) {
      this.settle.reject(err);
      throw err;
    }
  }

  async return(): Promise<IteratorResult<T, R>> {
    this.started = true;
    const canceled = new ArpdError('E_CANCELED', 'the stream was closed before it ended');
    this.settle.reject(canceled);
    // a next() in flight (waiting for the daemon) must end first: the abort makes it reject at once
    this.abort.abort(canceled);
    await this.gen.return(undefined as unknown as R).catch(() => undefined);
    return { done: true, value: undefined as unknown as R };
  }

  /** Reads to the end, dropping the items, unless someone already reads. */
  drain(): Promise<R> {
    if (!this.started) {
      this.started = true;
      void (async () => {
        try {
          for (;;) {
            const r = await this.gen.next();
            if (r.done === true) { this.settle.resolve(r.value); return; }
          }
        } catch (err) {
          this.settle.reject(err);
        }
      })();
    }
    return this.done;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

class RunFollowImpl extends Followed<TraceEvent, RunStatus> implements RunFollow {
  get status(): Promise<RunStatus> {
    return this.drain();
  }

  async close(): Promise<void> {
    await this.return();
  }
}

class EventSubscriptionImpl extends Followed<LogEvent, void> implements EventSubscription {
  async close(): Promise<void> {
    await this.return();
  }
}

/** The typed client over one transport. Built by `connect()`. */
export class Client implements ArpdClient {
  readonly runs: RunsApi;
  readonly instances: InstancesApi;
  readonly profiles: ProfilesApi;
  readonly events: EventsApi;
  readonly daemon: DaemonApi;
  private readonly streams = new Set<{ close(): Promise<void> }>();

  constructor(private readonly t: Transport, readonly startedDaemon: DaemonStatus | undefined) {
    const call = <T>(method: string, params: Params, o?: TransportCallOptions): Promise<T> => t.call<T>(method, defined(params), o);
    this.runs = {
      submit: (request, o) => call('runs.submit', { request }, opts(o, typeof request.run_id === 'string' ? { idempotent: true } : {})),
      get: (runId, o) => call('runs.get', { run_id: runId }, opts(o)),
      result: (runId, o) => call('runs.result', { run_id: runId }, opts(o)),
      list: (q = {}, o) => call('runs.list', {
        page_size: q.pageSize, page_token: q.pageToken, state: q.state,
        runtime_profile: q.runtimeProfile, instance_id: q.instanceId, q: q.q, order: q.order,
      }, opts(o)),
      cancel: (runId, o) => call('runs.cancel', { run_id: runId }, opts(o)),
      trace: (runId, q = {}, o) => call('runs.trace', { run_id: runId, from_seq: q.fromSeq, limit: q.limit }, opts(o)),
      wait: (runId, o = {}) => this.wait(runId, o),
      follow: (runId, o = {}) => this.track((release) => new RunFollowImpl((signal) => this.follow(runId, o.fromSeq ?? 1, signal), release)),
    };
    this.instances = {
      list: (q = {}, o) => call('instances.list', { all: q.all, runtime_profile: q.runtimeProfile, state: q.state }, opts(o)),
      get: (id, o) => call('instances.get', { instance_id: id }, opts(o)),
      start: (request, o = {}) => t.createInstances(
        defined({ request, wait: o.wait }),
        o.onProgress,
        opts(o, o.timeoutMs === undefined && o.wait === true ? { timeoutMs: 0 } : {}),
      ) as Promise<InstanceCreateResponse>,
      register: (request, o) => call('instances.register', { request }, opts(o)),
      delete: (id, o) => call('instances.delete', { instance_id: id }, opts(o, o?.timeoutMs === undefined ? { timeoutMs: 120_000 } : {})),
    };
    this.profiles = {
      list: (o) => call('profiles.list', {}, opts(o)),
      get: (name, o) => call('profiles.get', { runtime_profile: name }, opts(o)),
      upsert: (name, request, o) => call('profiles.upsert', { runtime_profile: name, request }, opts(o)),
      delete: (name, o) => call('profiles.delete', { runtime_profile: name, force: o?.force }, opts(o)),
    };
    this.events = {
      read: (q = {}, o) => call('events.read', { from_seq: q.fromSeq, limit: q.limit, types: q.types, stream: q.stream }, opts(o)),
      subscribe: (q = {}) => this.track((release) => new EventSubscriptionImpl((signal) => t.subscribeEvents(q, signal), release)),
    };
    this.daemon = {
      status: (o) => call('daemon.status', {}, opts(o)),
      shutdown: (o = {}) => call('daemon.shutdown', { reason: o.reason, keep_instances: o.keepInstances }, opts(o)),
    };
  }

  get transport(): 'socket' | 'http' {
    return this.t.kind;
  }

  get target(): string {
    return this.t.target;
  }

  async close(): Promise<void> {
    await Promise.all([...this.streams].map((s) => s.close().catch(() => undefined)));
    await this.t.close();
  }

  /** Keeps an open stream so that close() closes it; it is forgotten once it ends. */
  private track<S extends { close(): Promise<void> }>(make: (release: () => void) => S): S {
    const ref: { s?: S; ended: boolean } = { ended: false };
    const s = make(() => {
      ref.ended = true;
      if (ref.s !== undefined) this.streams.delete(ref.s);
    });
    ref.s = s;
    if (!ref.ended) this.streams.add(s);
    return s;
  }

  /** The trace from `fromSeq`; a stream the daemon ends before the run did is taken up again where it stopped. */
  private async *follow(runId: string, fromSeq: number, signal: AbortSignal): AsyncGenerator<TraceEvent, RunStatus, undefined> {
    let next = fromSeq;
    for (let idle = 0; ; ) {
      const before = next;
      const stream = this.t.followRun(runId, next, signal);
      let end: RunStatus;
      try {
        let r = await stream.next();
        for (; r.done !== true; r = await stream.next()) {
          next = r.value.seq + 1;
          yield r.value;
        }
        end = r.value;
      } finally {
        await stream.return(undefined as unknown as RunStatus);
      }
      if (TERMINAL.has(end.state)) return end;
      idle = next > before ? 0 : idle + 1;
      if (idle >= MAX_FOLLOW_RESUMES) {
        throw new ArpdError('E_UNAVAILABLE', `the daemon ended the trace stream of run '${runId}' ${MAX_FOLLOW_RESUMES} times without a new line while the run is ${end.state}: follow again later`, { run_id: runId });
      }
    }
  }

  /** `runs.wait`, in slices of at most an hour when no time limit is given. */
  private async wait(runId: string, o: { timeoutMs?: number; signal?: AbortSignal }): Promise<RunStatus> {
    const call = (ms: number): Promise<RunStatus> => this.t.call<RunStatus>('runs.wait', { run_id: runId, timeout_ms: ms }, { timeoutMs: 0, ...(o.signal === undefined ? {} : { signal: o.signal }) });
    if (o.timeoutMs !== undefined) {
      if (!Number.isSafeInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > 86_400_000) {
        throw new ArpdError('E_VALIDATION', `timeoutMs must be a whole number of milliseconds from 1 to 86400000, not ${String(o.timeoutMs)}`, { field: 'timeoutMs' });
      }
      return call(o.timeoutMs);
    }
    for (;;) {
      const s = await call(MAX_WAIT_SLICE_MS);
      if (TERMINAL.has(s.state)) return s;
    }
  }
}
