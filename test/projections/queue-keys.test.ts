import fc from 'fast-check';
import t from 'tap';
import type { JsonObject } from '../../src/events/event-types.js';
import { queueKeyOf, queueKeysFor } from '../../src/projections/queue-keys.js';
import type { InstanceView } from '../../src/projections/registry-types.js';
import { matchesSelector, selectorOf } from '../../src/policy/selector.js';

t.test("a waiting run is keyed by its selector's most specific field", async (t) => {
  const rows: Array<[JsonObject | undefined, string]> = [
    [{ runtime_selector: { instance_id: 'i', runtime_profile: 'p', runtime_name: 'n' } }, 'i:i'],
    [{ runtime_selector: { runtime_profile: 'p', runtime_name: 'n' } }, 'p:p'],
    [{ runtime_selector: { runtime_name: 'n' } }, 'n:n'],
    [{ runtime_selector: {} }, '*'],
    [{ runtime_selector: null }, '*'],
    [{ runtime_selector: ['i'] }, '*'],
    [{ runtime_selector: { instance_id: 5 } }, '*'],
    [{}, '*'],
    [undefined, '*'],
  ];
  for (const [request, key] of rows) t.equal(queueKeyOf(request), key, JSON.stringify(request));
});

t.test('an instance is found under its id, profile, runtime name and the catch-all key', async (t) => {
  t.same(queueKeysFor({ instance_id: 'i', runtime_profile: 'p', runtime_name: 'n' }), ['i:i', 'p:p', 'n:n', '*']);
  t.same(queueKeysFor({ instance_id: 'i' }), ['i:i', '*']);
});

t.test('every run an instance can take waits under one of the keys the instance is looked up by', async () => {
  const value = fc.constantFrom('a', 'b');
  const selector = fc.record({ instance_id: value, runtime_profile: value, runtime_name: value }, { requiredKeys: [] });
  const instance = fc.record({ instance_id: value, runtime_profile: value, runtime_name: value }, { requiredKeys: ['instance_id'] })
    .map((f): InstanceView => ({ managed: true, state: 'ready', attempt: 1, restarts: 0, created_at: '', updated_at: '', rev: 1, ...f }));
  fc.assert(fc.property(instance, fc.option(selector, { nil: undefined }), (inst, sel) => {
    const request: JsonObject = sel === undefined ? {} : { runtime_selector: sel };
    if (!matchesSelector(inst, selectorOf(request))) return true;
    return queueKeysFor(inst).includes(queueKeyOf(request));
  }), { numRuns: 1000 });
});
