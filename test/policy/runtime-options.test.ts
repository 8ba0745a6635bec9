import t from 'tap';
import { ARPD_RUNTIME_DEFAULTS } from '../../src/instances/exec-config.js';
import type { DomainEvent, JsonObject } from '../../src/events/event-types.js';
import { capacityOf, optionsOfInstance, optionsOfProfile } from '../../src/policy/runtime-options.js';
import { given } from '../commands/given.js';

const exec = { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } };
const profile = (name: string, runtime?: JsonObject): DomainEvent => ({
  type: 'profile.upserted',
  data: { runtime_profile: name, profile: { runtime_profile: name, extensions: { ...exec, ...(runtime === undefined ? {} : { 'arpd.runtime': runtime }) } } },
});

t.test("a profile's arpd.runtime options are read fully defaulted", async (t) => {
  const reg = given(profile('p', { max_concurrent_runs: 3, restart: 'on-failure' }), profile('plain'));
  t.same(optionsOfProfile(reg.profiles.get('p')), { ...ARPD_RUNTIME_DEFAULTS, maxConcurrentRuns: 3, restart: 'on-failure' });
  t.same(optionsOfProfile(reg.profiles.get('plain')), ARPD_RUNTIME_DEFAULTS);
  t.same(optionsOfProfile(undefined), ARPD_RUNTIME_DEFAULTS, 'no profile: the defaults');
});

t.test('a profile whose options break the rules gets the defaults', async (t) => {
  for (const bad of [{ max_concurrent_runs: 0 }, { max_concurrent_runs: 'many' }, { restart: 'always' }, { unknown_key: 1 }]) {
    const reg = given(profile('p', bad));
    t.same(optionsOfProfile(reg.profiles.get('p')), ARPD_RUNTIME_DEFAULTS, JSON.stringify(bad));
  }
});

t.test("the options of one profile view are parsed once; a new view of the profile is read again", async (t) => {
  const reg = given(profile('p', { max_concurrent_runs: 2 }));
  const view = reg.profiles.get('p');
  t.equal(optionsOfProfile(view), optionsOfProfile(view), 'the same object for the same view');
  const after = given(profile('p', { max_concurrent_runs: 2 }), profile('p', { max_concurrent_runs: 5 }));
  t.equal(optionsOfProfile(after.profiles.get('p')).maxConcurrentRuns, 5);
});

t.test("an instance is governed by its profile's options, and an instance without one by the defaults", async (t) => {
  const reg = given(
    profile('p', { max_concurrent_runs: 4 }),
    { type: 'instance.requested', data: { instance_id: 'i1', runtime_profile: 'p' } },
    { type: 'instance.registered', data: { instance_id: 'ext', runtime_api_endpoint: 'http://10.0.0.1:1' } },
    { type: 'instance.registered', data: { instance_id: 'orphan', runtime_api_endpoint: 'http://10.0.0.1:2', runtime_profile: 'gone' } },
  );
  const get = (id: string) => reg.instances.get(id) as NonNullable<ReturnType<typeof reg.instances.get>>;
  t.equal(capacityOf(reg, get('i1')), 4);
  t.equal(optionsOfInstance(reg, get('i1')).maxConcurrentRuns, 4);
  t.equal(capacityOf(reg, get('ext')), ARPD_RUNTIME_DEFAULTS.maxConcurrentRuns);
  t.equal(capacityOf(reg, get('orphan')), ARPD_RUNTIME_DEFAULTS.maxConcurrentRuns, 'a profile that is not on the safe list: the defaults');
});
