import { filter, firstValueFrom, timeout as rxTimeout } from 'rxjs';
import { findLiveByEndpoint, instanceNotFound, MAX_INSTANCES_PER_CREATE } from '../commands/instance-deciders.js';
import type { DaemonContext } from '../daemon/daemon-context.js';
import { ArpdError } from '../errors/index.js';
import type { JsonObject } from '../events/event-types.js';
import { checkId } from '../ids/id-rules.js';
import type { InstanceStateName, InstanceView } from '../projections/registry-types.js';
import { arpStateOf } from '../policy/routing.js';
import { validate } from '../schemas/index.js';
import type { InstanceCreateResponse, InstanceListResponse, InstanceRegisterResponse, RuntimeInstance } from '../schemas/index.js';
import { refuseWhileStopping, unlessStorageFails } from './guards.js';
import { toRuntimeInstance } from './views.js';

const SETTLED: ReadonlySet<InstanceStateName> = new Set(['ready', 'busy', 'error', 'stopped']);

export interface CreateOptions {
  /**
   * When to answer: 'ready' once every new instance is ready or failed (JARVIS does so); 'endpoint' once
   * each has its endpoint (or failed); 'none' at once (they are recorded as requested).
   */
  wait: 'ready' | 'endpoint' | 'none';
  timeoutMs?: number | undefined;
  onProgress?: ((instanceId: string, line: string) => void) | undefined;
}

/** Operations on runtime instances, shared by the socket and HTTP transports. */
export class InstanceOps {
  constructor(private readonly ctx: DaemonContext) {}

  private get state() {
    return this.ctx.state;
  }

  list(opts: { all?: boolean | undefined; profile?: string | undefined; state?: string | undefined } = {}): InstanceListResponse {
    const out: RuntimeInstance[] = [];
    for (const v of this.state.instances.values()) {
      if (opts.all !== true && opts.state === undefined && v.state === 'stopped') continue;
      if (opts.profile !== undefined && v.runtime_profile !== opts.profile) continue;
      if (opts.state !== undefined && arpStateOf(this.state, v) !== opts.state) continue;
      out.push(toRuntimeInstance(v, this.state));
    }
    return { instances: out };
  }

  private view(id: string): InstanceView {
    checkId('instance id', id, 'instance_id');
    const v = this.state.instances.get(id);
    if (v === undefined) throw instanceNotFound(id);
    return v;
  }

  get(id: string): RuntimeInstance {
    return toRuntimeInstance(this.view(id), this.state);
  }

  /** Resolves once `done(view)` holds for every id (or the time is up). */
  private async waitUntil(ids: string[], done: (v: InstanceView | undefined) => boolean, timeoutMs: number): Promise<void> {
    const pending = new Set(ids.filter((id) => !done(this.state.instances.get(id))));
    if (pending.size === 0) return;
    await unlessStorageFails(this.ctx, firstValueFrom(this.ctx.events$.pipe(
      filter(() => {
        for (const id of [...pending]) if (done(this.state.instances.get(id))) pending.delete(id);
        return pending.size === 0;
      }),
      rxTimeout({ first: timeoutMs }),
    )).catch(() => undefined));
  }

  async create(request: unknown, opts: CreateOptions): Promise<InstanceCreateResponse> {
    const body = validate('InstanceCreateRequest', request);
    refuseWhileStopping(this.ctx);
    const count = body.count ?? 1;
    if (count > MAX_INSTANCES_PER_CREATE) throw new ArpdError('E_VALIDATION', `count must be from 1 to ${MAX_INSTANCES_PER_CREATE}, not ${count}`, { field: 'count' });
    const ids = Array.from({ length: count }, () => this.ctx.newId('inst'));
    const mine = new Set(ids);
    const progress = (id: string, line: string): void => { if (mine.has(id)) opts.onProgress?.(id, line); };
    if (opts.onProgress !== undefined) this.ctx.notifications.on('instance.progress', progress);
    try {
      await this.ctx.bus.execute(this.ctx.command('CreateInstances', {
        profile: body.runtime_profile,
        ids,
        ...(body.overrides === undefined ? {} : { overrides: body.overrides as JsonObject }),
        ...(body.metadata === undefined ? {} : { metadata: body.metadata as JsonObject }),
        allow_unsafe: this.ctx.options.instances?.allowUnsafe ?? false,
      }, 'api'));
      const timeoutMs = opts.timeoutMs ?? this.ctx.options.instances?.waitTimeoutMs ?? 600_000;
      if (opts.wait === 'ready') await this.waitUntil(ids, (v) => v === undefined || SETTLED.has(v.state), timeoutMs);
      else if (opts.wait === 'endpoint') await this.waitUntil(ids, (v) => v === undefined || SETTLED.has(v.state) || v.runtime_api_endpoint !== undefined, timeoutMs);
    } finally {
      if (opts.onProgress !== undefined) this.ctx.notifications.off('instance.progress', progress);
    }
    return { instances: ids.map((id) => this.get(id)) };
  }

  /** Registers an external runtime by its endpoint and answers once its first health check settled it (ready or error). */
  async register(request: unknown): Promise<InstanceRegisterResponse> {
    const body = validate('InstanceRegisterRequest', request);
    refuseWhileStopping(this.ctx);
    const existing = findLiveByEndpoint(this.state, body.runtime_api_endpoint, this.ctx.node?.id);
    if (existing !== undefined) return { instance: this.get(existing) };
    const id = this.ctx.newId('ext');
    await this.ctx.bus.execute(this.ctx.command('RegisterInstance', {
      id,
      endpoint: body.runtime_api_endpoint,
      ...(body.runtime_profile === undefined ? {} : { profile: body.runtime_profile }),
      ...(body.runtime_name === undefined ? {} : { runtime_name: body.runtime_name }),
      ...(body.metadata === undefined ? {} : { metadata: body.metadata as JsonObject }),
      own_endpoints: this.ctx.ownEndpoints(),
    }, 'api'));
    await this.waitUntil([id], (v) => v === undefined || SETTLED.has(v.state), 10_000);
    return { instance: this.get(id) };
  }

  /** Stops a managed instance (answering once it is stopped when `wait`) or deregisters an external one. */
  async delete(id: string, opts: { wait: boolean } = { wait: true }): Promise<{ deleted: string; state: string }> {
    this.view(id);
    refuseWhileStopping(this.ctx);
    await this.ctx.bus.execute(this.ctx.command('DeleteInstance', { id, reason: 'deleted' }, 'api'));
    if (opts.wait) await this.waitUntil([id], (v) => v === undefined || v.state === 'stopped', 120_000);
    return { deleted: id, state: this.state.instances.get(id)?.state ?? 'stopped' };
  }
}
