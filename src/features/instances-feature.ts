import { filter, firstValueFrom, timeout as rxTimeout, type Observable } from 'rxjs';
import { decideCreateInstances, decideDeleteInstance, decideRegisterInstance, findLiveByEndpoint, notFoundInstance } from '../commands/instance-commands.js';
import type { DaemonContext, Feature } from '../daemon/daemon-context.js';
import { optBool, optInt, optString, paramsObject, reqString } from '../daemon/params.js';
import { ArpdError } from '../errors/index.js';
import type { JsonObject } from '../events/event-types.js';
import type { StoredEvent } from '../events/envelope.js';
import { checkId } from '../ids/id-rules.js';
import { parseArpdRuntimeOptions, parseExecConfig } from '../instances/exec-config.js';
import { InstanceSupervisor, type SupervisorOptions } from '../instances/instance-supervisor.js';
import { LIVE_INSTANCE_STATES, type InstanceStateName, type InstanceView } from '../projections/registry-types.js';
import type { Registry } from '../projections/registry.js';
import { validate } from '../schemas/index.js';
import type { InstanceCreateResponse, InstanceListResponse, InstanceRegisterResponse, RuntimeInstance } from '../schemas/index.js';

/** Runs routed to the instance that have not ended (counted now, not from the last busy/idle event). */
export function activeRunsOf(reg: Registry, instanceId: string): number {
  let n = 0;
  for (const state of ['queued', 'running'] as const) {
    for (const runId of reg.runIdsInState(state)) {
      const run = reg.runs.get(runId);
      if (run?.instance_id === instanceId && (run.phase === 'routed' || run.phase === 'started')) n++;
    }
  }
  return n;
}

/** The ARP RuntimeInstance of a view; arpd's own details ride in `extensions["arpd.instance"]`. */
export function toRuntimeInstance(v: InstanceView, reg?: Registry): RuntimeInstance {
  const details: JsonObject = { created_at: v.created_at, updated_at: v.updated_at, active_runs: reg === undefined ? v.active_runs : activeRunsOf(reg, v.instance_id), attempt: v.attempt };
  if (v.pid !== undefined) details['pid'] = v.pid;
  if (v.reason !== undefined) details['reason'] = v.reason;
  if (v.error !== undefined) details['error'] = v.error as unknown as JsonObject;
  if (v.unsafe === true) details['unsafe'] = true;
  return {
    instance_id: v.instance_id,
    state: v.state,
    managed: v.managed,
    ...(v.runtime_profile === undefined ? {} : { runtime_profile: v.runtime_profile }),
    ...(v.runtime_name === undefined ? {} : { runtime_name: v.runtime_name }),
    ...(v.runtime_version === undefined ? {} : { runtime_version: v.runtime_version }),
    // the schema requires an endpoint: an instance that is not listening yet has the unspecified one
    runtime_api_endpoint: v.runtime_api_endpoint ?? 'http://127.0.0.1:0',
    ...(v.metadata === undefined ? {} : { metadata: v.metadata as never }),
    extensions: { 'arpd.instance': details },
  } as RuntimeInstance;
}

const SETTLED: ReadonlySet<InstanceStateName> = new Set(['ready', 'busy', 'error', 'stopped']);

export interface InstancesFeatureOptions extends Partial<SupervisorOptions> {
  /** How long `wait` may take (install + health), default 10 minutes. */
  waitTimeoutMs?: number;
}

/** Operations on runtime instances, shared by the socket and HTTP transports. */
export class InstanceOps {
  readonly supervisor: InstanceSupervisor;

  constructor(private readonly ctx: DaemonContext, private readonly opts: InstancesFeatureOptions) {
    this.supervisor = new InstanceSupervisor(ctx, {
      host: opts.host ?? '127.0.0.1',
      allowUnsafe: opts.allowUnsafe ?? false,
      healthIntervalMs: opts.healthIntervalMs ?? 5000,
      healthTimeoutMs: opts.healthTimeoutMs,
      logCapBytes: opts.logCapBytes ?? 10 * 1024 * 1024,
      ...(opts.pip === undefined ? {} : { pip: opts.pip }),
      ...(opts.npm === undefined ? {} : { npm: opts.npm }),
    });
  }

  private get reg() {
    return this.ctx.projection.registry;
  }

  list(opts: { all?: boolean; profile?: string | undefined; state?: string | undefined } = {}): InstanceListResponse {
    const out: RuntimeInstance[] = [];
    for (const v of this.reg.instances.values()) {
      if (opts.all !== true && opts.state === undefined && v.state === 'stopped') continue;
      if (opts.profile !== undefined && v.runtime_profile !== opts.profile) continue;
      if (opts.state !== undefined && v.state !== opts.state) continue;
      out.push(toRuntimeInstance(v, this.reg));
    }
    return { instances: out };
  }

  get(id: string): RuntimeInstance {
    checkId('instance id', id, 'instance_id');
    const v = this.reg.instances.get(id);
    if (v === undefined) throw notFoundInstance(id);
    return toRuntimeInstance(v, this.reg);
  }

  private refuseWhileStopping(): void {
    if (this.ctx.stopping()) throw new ArpdError('E_UNAVAILABLE', 'the daemon is shutting down: try again once it has restarted');
  }

  /** Waits until every id is settled (ready, busy, error, stopped). */
  async waitSettled(ids: string[], timeoutMs: number): Promise<void> {
    const pending = new Set(ids.filter((id) => !SETTLED.has(this.reg.instances.get(id)?.state ?? 'stopped')));
    if (pending.size === 0) return;
    const events$: Observable<StoredEvent> = this.ctx.projection.events$;
    await firstValueFrom(events$.pipe(
      filter(() => {
        for (const id of [...pending]) if (SETTLED.has(this.reg.instances.get(id)?.state ?? 'stopped')) pending.delete(id);
        return pending.size === 0;
      }),
      rxTimeout({ first: timeoutMs }),
    )).catch(() => undefined);
  }

  async create(request: unknown, opts: { wait: boolean; onProgress?: (id: string, line: string) => void; reason?: string } = { wait: false }): Promise<InstanceCreateResponse> {
    const body = validate('InstanceCreateRequest', request);
    this.refuseWhileStopping();
    const count = body.count ?? 1;
    if (count > 100) throw new ArpdError('E_VALIDATION', `count must be from 1 to 100, not ${count}`, { field: 'count' });
    const ids = Array.from({ length: count }, () => this.ctx.newId('inst'));
    await this.ctx.bus.execute([`profile:${body.runtime_profile}`, ...ids.map((id) => `instance:${id}`)], (reg) => ({
      events: decideCreateInstances(reg, {
        profile: body.runtime_profile,
        ids,
        overrides: body.overrides as JsonObject | undefined,
        metadata: body.metadata as JsonObject | undefined,
        allowUnsafe: this.opts.allowUnsafe ?? false,
        ...(opts.reason === undefined ? {} : { reason: opts.reason }),
        checkStartable: (profile, name) => {
          parseExecConfig(profile['extensions'], name);
          parseArpdRuntimeOptions(profile['extensions']);
        },
      }),
      result: () => undefined,
    }), { actor: 'api' });
    for (const id of ids) this.supervisor.launch(id, opts.onProgress === undefined ? undefined : (line) => opts.onProgress?.(id, line));
    if (opts.wait) await this.waitSettled(ids, this.opts.waitTimeoutMs ?? 600_000);
    return { instances: ids.map((id) => this.get(id)) };
  }

  async register(request: unknown): Promise<InstanceRegisterResponse> {
    const body = validate('InstanceRegisterRequest', request);
    this.refuseWhileStopping();
    const existing = findLiveByEndpoint(this.reg, body.runtime_api_endpoint);
    if (existing !== undefined) return { instance: this.get(existing) };
    const id = this.ctx.newId('ext');
    await this.ctx.bus.execute([`instance:${id}`], (reg) => ({
      events: decideRegisterInstance(reg, {
        id,
        endpoint: body.runtime_api_endpoint,
        profile: body.runtime_profile,
        runtimeName: body.runtime_name,
        metadata: body.metadata as JsonObject | undefined,
      }),
      result: () => undefined,
    }), { actor: 'api' });
    await this.supervisor.probeExternal(id, true);
    return { instance: this.get(id) };
  }

  async delete(id: string): Promise<{ deleted: string; state: string }> {
    checkId('instance id', id, 'instance_id');
    this.refuseWhileStopping();
    const events = await this.ctx.bus.execute([`instance:${id}`], (reg) => ({
      events: decideDeleteInstance(reg, { id, reason: 'deleted' }),
      result: (stored) => stored,
    }), { actor: 'api' });
    const v = this.reg.instances.get(id);
    if (v?.managed === true && (events.length > 0 || v.state === 'stopping')) {
      await this.supervisor.stopProcess(id, 'deleted');
    }
    return { deleted: id, state: this.reg.instances.get(id)?.state ?? 'stopped' };
  }

  busy(): boolean {
    for (const v of this.reg.instances.values()) if (v.managed && LIVE_INSTANCE_STATES.has(v.state)) return true;
    return false;
  }
}

export function instancesFeature(options: InstancesFeatureOptions = {}): Feature & { ops(ctx: DaemonContext): InstanceOps } {
  let ops: InstanceOps | undefined;
  const get = (ctx: DaemonContext): InstanceOps => (ops ??= new InstanceOps(ctx, options));
  return {
    name: 'instances',
    ops: get,
    async start(ctx) {
      await get(ctx).supervisor.start();
    },
    async stop(ctx, { keepInstances }) {
      await get(ctx).supervisor.shutdown(keepInstances);
    },
    busy: (ctx) => get(ctx).busy(),
    status: () => (options.allowUnsafe === true ? { warnings: ['--allow-unsafe-runtime-profiles is on: instances may be created from profiles that are not on the safe list'] } : {}),
    methods(ctx) {
      const o = get(ctx);
      return {
        'instances.list': {
          idempotent: true,
          handler: (params) => {
            const p = paramsObject(params, ['all', 'runtime_profile', 'state'], 'instances.list');
            return o.list({ all: optBool(p, 'all') ?? false, profile: optString(p, 'runtime_profile', 200), state: optString(p, 'state', 20) });
          },
        },
        'instances.get': { idempotent: true, handler: (params) => o.get(reqString(paramsObject(params, ['instance_id'], 'instances.get'), 'instance_id', 200)) },
        'instances.create': {
          handler: (params, call) => {
            const p = paramsObject(params, ['request', 'wait', 'timeout_ms'], 'instances.create');
            const wait = optBool(p, 'wait') ?? false;
            optInt(p, 'timeout_ms', 1, 3_600_000);
            return o.create(p['request'], { wait, onProgress: (id, line) => { call.notify('instances.progress', { instance_id: id, line }); } });
          },
        },
        'instances.register': {
          handler: (params) => o.register(paramsObject(params, ['request'], 'instances.register')['request']),
        },
        'instances.delete': {
          handler: (params) => o.delete(reqString(paramsObject(params, ['instance_id'], 'instances.delete'), 'instance_id', 200)),
        },
      };
    },
  };
}
