import fc from 'fast-check';
import t from 'tap';
import type { JsonObject } from '../../src/events/event-types.js';
import type { InstanceView } from '../../src/projections/registry-types.js';
import { describeSelector, matchesSelector, normalizeEndpoint, selectorOf } from '../../src/policy/selector.js';

const inst = (fields: Partial<InstanceView> = {}): InstanceView => ({
  instance_id: 'i1', managed: true, state: 'ready', attempt: 1, restarts: 0, created_at: '', updated_at: '', rev: 1,
  runtime_profile: 'p', runtime_name: 'rt', runtime_api_endpoint: 'http://127.0.0.1:9000', ...fields,
});

t.test('selectorOf reads the four string fields of runtime_selector and nothing else', async (t) => {
  t.same(selectorOf({ runtime_selector: { instance_id: 'i', runtime_profile: 'p', runtime_name: 'n', runtime_api_endpoint: 'http://x', other: 'y' } }),
    { instance_id: 'i', runtime_profile: 'p', runtime_name: 'n', runtime_api_endpoint: 'http://x' });
  t.same(selectorOf({ runtime_selector: { runtime_profile: 'p', instance_id: 7, runtime_name: null } }), { runtime_profile: 'p' }, 'fields that are not strings are ignored');
});

t.test('selectorOf is undefined for no selector, an empty one, or one that is not an object', async (t) => {
  const requests: Array<JsonObject | undefined> = [undefined, {}, { runtime_selector: null }, { runtime_selector: {} }, { runtime_selector: [] },
    { runtime_selector: 'p' }, { runtime_selector: { instance_id: 1 } }, { runtime_selector: ['instance_id'] }];
  for (const r of requests) t.equal(selectorOf(r), undefined, JSON.stringify(r));
});

t.test('normalizeEndpoint drops trailing slashes only', async (t) => {
  t.equal(normalizeEndpoint('http://h:1///'), 'http://h:1');
  t.equal(normalizeEndpoint('http://h:1/v1/'), 'http://h:1/v1');
  t.equal(normalizeEndpoint('http://h:1'), 'http://h:1');
});

t.test('matchesSelector needs every named field to match', async (t) => {
  const i = inst();
  t.ok(matchesSelector(i, undefined), 'no selector matches every instance');
  t.ok(matchesSelector(i, { instance_id: 'i1', runtime_profile: 'p', runtime_name: 'rt', runtime_api_endpoint: 'http://127.0.0.1:9000/' }), 'all fields, endpoint with a trailing slash');
  t.notOk(matchesSelector(i, { instance_id: 'i2' }));
  t.notOk(matchesSelector(i, { runtime_profile: 'q' }));
  t.notOk(matchesSelector(i, { runtime_name: 'other' }));
  t.notOk(matchesSelector(i, { runtime_api_endpoint: 'http://127.0.0.1:9001' }));
  t.notOk(matchesSelector(i, { instance_id: 'i1', runtime_profile: 'q' }), 'one field that does not match is enough to refuse');
  const { runtime_api_endpoint: _none, ...noEndpoint } = inst();
  t.notOk(matchesSelector(noEndpoint, { runtime_api_endpoint: 'http://127.0.0.1:9000' }), 'an instance with no endpoint yet matches no endpoint');
  const bare: InstanceView = { instance_id: 'x', managed: false, state: 'ready', attempt: 0, restarts: 0, created_at: '', updated_at: '', rev: 1 };
  t.notOk(matchesSelector(bare, { runtime_profile: 'p' }), 'an instance without a profile matches no profile');
  t.notOk(matchesSelector(bare, { runtime_name: 'rt' }));
});

t.test('matching is the conjunction of matching each named field alone', async () => {
  const value = fc.constantFrom('a', 'b');
  const endpoint = fc.constantFrom('http://h:1', 'http://h:1/', 'http://h:2');
  const selector = fc.record({ instance_id: value, runtime_profile: value, runtime_name: value, runtime_api_endpoint: endpoint }, { requiredKeys: [] });
  const instance = fc.record({ instance_id: value, runtime_profile: value, runtime_name: value, runtime_api_endpoint: endpoint }).map((f) => inst(f));
  fc.assert(fc.property(instance, selector, (i, sel) => {
    const each = Object.entries(sel).every(([k, v]) => matchesSelector(i, { [k]: v }));
    return matchesSelector(i, Object.keys(sel).length === 0 ? undefined : sel) === each;
  }));
});

t.test('describeSelector names each field without the runtime_ prefix', async (t) => {
  t.equal(describeSelector(undefined), 'any instance');
  t.equal(describeSelector({ runtime_profile: 'p', runtime_name: 'n' }), "profile 'p' and name 'n'");
  t.equal(describeSelector({ instance_id: 'i' }), "instance_id 'i'");
});
