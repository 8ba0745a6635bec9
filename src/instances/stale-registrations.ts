import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import { toArpdError } from '../errors/index.js';
import { actsOnInstance } from '../policy/ownership.js';
import { staleRegistrationsOf } from '../policy/routing.js';

/**
 * Stale external registrations, as a reactor: when a managed instance becomes ready at the endpoint of an external
 * registration (the registered runtime died and the OS gave its port to a runtime arpd started), the registration is
 * retired (`RetireStaleRegistration` → `instance.superseded`, naming the managed instance), so one runtime never has
 * two instance ids and runs for the old id never reach the managed runtime. The rule is pure
 * (`staleRegistrationsOf` in src/policy/routing.ts) and the decider checks it again. Also looked at for every serving
 * managed instance at start (a daemon stopped between the two). With a shared store, a node looks at its own instances.
 */
export class StaleRegistrationGuard implements Component {
  readonly name = 'stale-registrations';
  private sub: Subscription | undefined;
  private stopped = false;
  private readonly log: Logger;

  constructor(private readonly ctx: DaemonContext) {
    this.log = ctx.logger.child({ part: 'stale-registrations' });
  }

  start(): void {
    this.sub = this.ctx.events$.subscribe((e) => { if (e.type === 'instance.ready') void this.check(e.data.instance_id); });
    for (const state of ['ready', 'busy'] as const) for (const id of this.ctx.state.instanceIdsInState(state)) void this.check(id);
  }

  stop(): void {
    this.stopped = true;
    this.sub?.unsubscribe();
  }

  private async check(id: string): Promise<void> {
    const managed = this.ctx.state.instances.get(id);
    if (this.stopped || managed === undefined || !managed.managed || !actsOnInstance(this.ctx.state, this.ctx.node?.id, managed)) return;
    for (const stale of staleRegistrationsOf(this.ctx.state, managed)) {
      try {
        const [event] = await this.ctx.bus.execute(this.ctx.command('RetireStaleRegistration', { instance_id: stale, by_instance_id: id }, 'stale-registrations'));
        if (event?.type === 'instance.superseded') this.log.warn({ instance_id: stale, by_instance_id: id, runtime_api_endpoint: event.data.runtime_api_endpoint }, `external instance ${stale} is ${event.data.reason}`);
      } catch (err) {
        if (toArpdError(err).code !== 'E_STORAGE' && toArpdError(err).code !== 'E_UNAVAILABLE') this.log.error({ err, instance_id: stale, by_instance_id: id }, 'could not retire a stale external registration');
      }
    }
  }
}
