import fc from 'fast-check';
import t from 'tap';
import type { ArpdRuntimeOptions } from '../../src/instances/exec-config.js';
import type { InstanceView } from '../../src/projections/registry-types.js';
import { restartDecision } from '../../src/policy/restart-policy.js';

type Rt = Pick<ArpdRuntimeOptions, 'restart' | 'restartMax' | 'restartBackoffMs'>;
const failed = (fields: Partial<InstanceView> = {}): InstanceView => ({
  instance_id: 'i', managed: true, state: 'error', attempt: 1, restarts: 0, created_at: '', updated_at: '', rev: 3, reason: 'exit 1', ...fields,
});
const onFailure: Rt = { restart: 'on-failure', restartMax: 3, restartBackoffMs: 1000 };

t.test('restarts a failed managed instance with restart: on-failure, attempt by attempt', async (t) => {
  t.same(restartDecision(failed(), onFailure), { restart: true, attempt: 1, delayMs: 1000 });
  t.same(restartDecision(failed({ restarts: 1 }), onFailure), { restart: true, attempt: 2, delayMs: 2000 });
  t.same(restartDecision(failed({ restarts: 2 }), onFailure), { restart: true, attempt: 3, delayMs: 4000 });
});

t.test('does not restart, and says why', async (t) => {
  const cases: Array<[string, InstanceView, Rt, RegExp]> = [
    ['an external instance', failed({ managed: false }), onFailure, /external/],
    ['an instance that has not failed', failed({ state: 'ready' }), onFailure, /is ready, not failed/],
    ['a stopped instance', failed({ state: 'stopped' }), onFailure, /is stopped/],
    ['a profile with restart: never', failed(), { ...onFailure, restart: 'never' }, /restart: never/],
    ['an instance at the limit', failed({ restarts: 3 }), onFailure, /limit \(3\) is reached/],
    ['an instance past the limit', failed({ restarts: 4 }), onFailure, /limit/],
    ['a profile with restart_max 0', failed(), { ...onFailure, restartMax: 0 }, /limit \(0\)/],
  ];
  for (const [name, inst, rt, why] of cases) {
    const d = restartDecision(inst, rt);
    t.equal(d.restart, false, name);
    if (!d.restart) t.match(d.why, why, name);
  }
});

t.test('restarts exactly restart_max times, each backoff twice the one before', async () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 600_000 }), (max, backoff) => {
    const rt: Rt = { restart: 'on-failure', restartMax: max, restartBackoffMs: backoff };
    const delays: number[] = [];
    let inst = failed();
    for (;;) {
      const d = restartDecision(inst, rt);
      if (!d.restart) break;
      if (d.attempt !== inst.restarts + 1) return false;
      delays.push(d.delayMs);
      inst = failed({ restarts: d.attempt }); // restarted, then failed again
      if (delays.length > 100) return false;
    }
    return delays.length === max && delays.every((d, i) => d === backoff * 2 ** i);
  }));
});
