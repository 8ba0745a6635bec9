import t from 'tap';
import {
  decideCreateInstances,
  decideDeleteInstance,
  decideMarkInstanceReady,
  decideRecordInstanceFailure,
  decideRecordInstanceStarting,
  decideRecordInstanceStopped,
  decideRegisterInstance,
  decideRestartInstance,
  decideRetireStaleRegistration,
  decideStopInstance,
} from '../../src/commands/instance-deciders.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { command, commandProfile, events, given, refusal } from './given.js';

const create = (profile: string, ids: string[], allowUnsafe = false, extra: { limit_live?: number; reason?: string } = {}) =>
  command('CreateInstances', { profile, ids, allow_unsafe: allowUnsafe, ...extra });
const register = (id: string, endpoint: string, own: string[] = []) => command('RegisterInstance', { id, endpoint, own_endpoints: own });
const requested = (id: string, profile = 'p'): DomainEvent => ({ type: 'instance.requested', data: { instance_id: id, runtime_profile: profile } });
const starting = (id: string): DomainEvent => ({ type: 'instance.starting', data: { instance_id: id, pid: 42, argv: ['x'], attempt: 1 } });
const ready = (id: string): DomainEvent => ({ type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: 'http://127.0.0.1:9' } });
const failed = (id: string): DomainEvent => ({ type: 'instance.failed', data: { instance_id: id, code: 'E_RUNTIME_LOST', reason: 'gone' } });
const restartingProfile: DomainEvent = {
  type: 'profile.upserted',
  data: { runtime_profile: 'r', profile: { runtime_profile: 'r', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] }, 'arpd.runtime': { restart: 'on-failure', restart_max: 2 } } } },
};

t.test('creating instances of a safe-listed profile records one instance.requested each', async (t) => {
  t.same(events(decideCreateInstances(given(commandProfile('p')), create('p', ['a', 'b']))).map((e) => [e.type, (e.data as { instance_id: string }).instance_id]), [['instance.requested', 'a'], ['instance.requested', 'b']]);
});

t.test('a profile that is not on the safe list is E_NOT_FOUND without --allow-unsafe-runtime-profiles', async (t) => {
  t.equal(refusal(decideCreateInstances(given(), create('nope', ['a']))), 'E_NOT_FOUND');
});

t.test('with --allow-unsafe-runtime-profiles an unknown profile is recorded as unsafe', async (t) => {
  const [e] = events(decideCreateInstances(given(), create('nope', ['a'], true)));
  t.equal((e?.data as { unsafe?: boolean }).unsafe, true);
});

t.test('an instance id in use is E_CONFLICT', async (t) => {
  t.equal(refusal(decideCreateInstances(given(commandProfile('p'), requested('a')), create('p', ['a']))), 'E_CONFLICT');
});

t.test("overrides that take the profile's arguments and environment over 1 MiB in all are E_VALIDATION on overrides", async (t) => {
  const chunk = 'x'.repeat(100_000);
  const env = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`E${i}`, chunk]));
  const big: DomainEvent = { type: 'profile.upserted', data: { runtime_profile: 'big', profile: { runtime_profile: 'big', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'], env } } } } };
  const reg = given(big);
  t.equal(events(decideCreateInstances(reg, create('big', ['a']))).length, 1, 'the profile alone fits');
  const d = decideCreateInstances(reg, command('CreateInstances', { profile: 'big', ids: ['a'], allow_unsafe: false, overrides: { args: [chunk, chunk] } }));
  t.equal(refusal(d), 'E_VALIDATION');
  t.match((d as Error).message, /^an instance of profile 'big' gives its runtime 1100\d{3} bytes of arguments and environment \(extensions\["arp\.jarvis\.exec"\] 900\d{3}, overrides 200\d{3}\): at most 1048576 bytes/);
  t.match((d as { data?: unknown }).data, { field: 'overrides', rule: 'max-total-bytes' });
  const d2 = decideCreateInstances(given(), command('CreateInstances', { profile: 'nope', ids: ['a'], allow_unsafe: true, overrides: { env } }));
  t.equal(events(d2).length, 1, 'an unsafe instance counts its overrides alone');
});

t.test('an autostart with a live limit records nothing once the profile has that many live instances', async (t) => {
  const reg = given(commandProfile('p'), requested('a'));
  t.same(events(decideCreateInstances(reg, create('p', ['b'], false, { limit_live: 1, reason: 'autostart' }))), []);
  t.equal(events(decideCreateInstances(reg, create('p', ['b'], false, { limit_live: 2, reason: 'autostart' }))).length, 1);
});

t.test('registering an endpoint records instance.registered; the same live endpoint again records nothing', async (t) => {
  const first = events(decideRegisterInstance(given(), register('x', 'http://127.0.0.1:9/')));
  t.equal(first[0]?.type, 'instance.registered');
  t.equal((first[0]?.data as { runtime_api_endpoint: string }).runtime_api_endpoint, 'http://127.0.0.1:9');
  const reg = given({ type: 'instance.registered', data: { instance_id: 'x', runtime_api_endpoint: 'http://127.0.0.1:9' } });
  t.same(events(decideRegisterInstance(reg, register('y', 'http://127.0.0.1:9'))), []);
});

t.test('an endpoint that is not an http URL, holds credentials or is the daemon itself is E_VALIDATION', async (t) => {
  for (const endpoint of ['nope', 'file:///etc/passwd', 'ftp://x', 'http://user:secret@127.0.0.1:9', 'http://127.0.0.1:9/?x=1']) {
    t.equal(refusal(decideRegisterInstance(given(), register('x', endpoint))), 'E_VALIDATION', endpoint);
  }
  for (const endpoint of ['http://127.0.0.1:8082', 'http://localhost:8082/', 'http://[::1]:8082']) {
    t.equal(refusal(decideRegisterInstance(given(), register('x', endpoint, ['http://127.0.0.1:8082']))), 'E_VALIDATION', `${endpoint} is the daemon`);
  }
  t.equal(refusal(decideRegisterInstance(given(), register('x', 'http://127.0.0.1:8083', ['http://127.0.0.1:8082']))), undefined);
});

t.test("an endpoint a live managed instance listens at, however written, is E_CONFLICT naming that instance", async (t) => {
  const managed = (endpoint: string): DomainEvent => ({ type: 'instance.ready', data: { instance_id: 'm', runtime_api_endpoint: endpoint } });
  const reg = given(commandProfile('p'), requested('m'), starting('m'), managed('http://127.0.0.1:8400'));
  for (const endpoint of ['http://127.0.0.1:8400', 'http://127.0.0.1:8400/', 'http://localhost:8400', 'http://LOCALHOST:8400//', 'http://[::1]:8400', 'http://[::ffff:127.0.0.1]:8400']) {
    const d = decideRegisterInstance(reg, register('x', endpoint));
    t.equal(refusal(d), 'E_CONFLICT', endpoint);
    t.match((d as Error).message, /is the endpoint of instance 'm', which arpd started and manages.*register another runtime's endpoint/, endpoint);
    t.match((d as { data?: unknown }).data, { field: 'runtime_api_endpoint', instance_id: 'm' });
  }
  for (const endpoint of ['http://127.0.0.1:8401', 'http://127.0.0.2:8400', 'http://127.0.0.1:8400/other', 'https://127.0.0.1:8400', 'http://10.0.0.5:8400']) {
    t.equal(refusal(decideRegisterInstance(reg, register('x', endpoint))), undefined, `${endpoint} may be another runtime`);
  }
  const web = given(commandProfile('p'), requested('w'), starting('w'), managed('http://Example.com:80/arp/'));
  t.equal(refusal(decideRegisterInstance(web, register('x', 'http://example.com/arp'))), 'E_CONFLICT', 'host case and the default port');
  const stopped = given(commandProfile('p'), requested('m'), starting('m'), managed('http://127.0.0.1:8400'), { type: 'instance.stopped', data: { instance_id: 'm', reason: 'deleted' } });
  t.equal(refusal(decideRegisterInstance(stopped, register('x', 'http://127.0.0.1:8400'))), undefined, 'a stopped one no longer listens there');
});

t.test('the endpoint of a live external instance written another way records nothing: it is the same instance', async (t) => {
  const reg = given({ type: 'instance.registered', data: { instance_id: 'x', runtime_api_endpoint: 'http://127.0.0.1:80' } });
  for (const endpoint of ['http://127.0.0.1', 'http://localhost:80/', 'HTTP://LocalHost']) t.same(events(decideRegisterInstance(reg, register('y', endpoint))), [], endpoint);
  t.equal(events(decideRegisterInstance(reg, register('y', 'http://127.0.0.1:81'))).length, 1, 'another port is another runtime');
});

t.test('deleting a managed instance records instance.stopping; an external one is deregistered', async (t) => {
  const reg = given(commandProfile('p'), requested('m'), { type: 'instance.registered', data: { instance_id: 'e', runtime_api_endpoint: 'http://127.0.0.1:9' } });
  t.equal(events(decideDeleteInstance(reg, command('DeleteInstance', { id: 'm', reason: 'deleted' })))[0]?.type, 'instance.stopping');
  t.equal(events(decideDeleteInstance(reg, command('DeleteInstance', { id: 'e', reason: 'deleted' })))[0]?.type, 'instance.deregistered');
  t.equal(refusal(decideDeleteInstance(reg, command('DeleteInstance', { id: 'nope', reason: 'x' }))), 'E_NOT_FOUND');
  t.equal(refusal(decideDeleteInstance(reg, command('DeleteInstance', { id: '../etc', reason: 'x' }))), 'E_VALIDATION');
});

t.test('arpd stops only live managed instances by itself', async (t) => {
  const reg = given(commandProfile('p'), requested('m'), requested('s'), { type: 'instance.stopping', data: { instance_id: 's', reason: 'x' } },
    { type: 'instance.registered', data: { instance_id: 'e', runtime_api_endpoint: 'http://127.0.0.1:9' } });
  t.equal(events(decideStopInstance(reg, command('StopInstance', { id: 'm', reason: 'idle' })))[0]?.type, 'instance.stopping');
  t.same(events(decideStopInstance(reg, command('StopInstance', { id: 's', reason: 'idle' }))), []);
  t.same(events(decideStopInstance(reg, command('StopInstance', { id: 'e', reason: 'idle' }))), []);
});

t.test('nothing more is recorded about a stopping or stopped instance (a late health check never revives it)', async (t) => {
  const stopping = given(commandProfile('p'), requested('a'), starting('a'), ready('a'), { type: 'instance.stopping', data: { instance_id: 'a', reason: 'deleted' } });
  t.same(events(decideMarkInstanceReady(stopping, command('MarkInstanceReady', { instance_id: 'a', endpoint: 'http://127.0.0.1:9' }))), []);
  t.same(events(decideRecordInstanceFailure(stopping, command('RecordInstanceFailure', { instance_id: 'a', code: 'E_RUNTIME_LOST', reason: 'x' }))), []);
  const stopped = given(commandProfile('p'), requested('a'), { type: 'instance.stopped', data: { instance_id: 'a', reason: 'deleted' } });
  t.same(events(decideRecordInstanceStarting(stopped, command('RecordInstanceStarting', { instance_id: 'a', pid: 1, argv: [], attempt: 1 }))), []);
  t.same(events(decideRecordInstanceStopped(stopped, command('RecordInstanceStopped', { instance_id: 'a', reason: 'x' }))), []);
  t.equal(events(decideRecordInstanceStopped(stopping, command('RecordInstanceStopped', { instance_id: 'a', reason: 'x' })))[0]?.type, 'instance.stopped');
});

t.test('a failure is recorded once', async (t) => {
  const reg = given(commandProfile('p'), requested('a'), starting('a'), ready('a'));
  const fail = command('RecordInstanceFailure', { instance_id: 'a', code: 'E_RUNTIME_LOST', reason: 'gone' });
  t.equal(events(decideRecordInstanceFailure(reg, fail))[0]?.type, 'instance.failed');
  t.same(events(decideRecordInstanceFailure(given(commandProfile('p'), requested('a'), failed('a')), fail)), []);
});

t.test("a managed instance's runtime_name is its profile's when the profile names one, else what the runtime reports", async (t) => {
  const named: DomainEvent = { type: 'profile.upserted', data: { runtime_profile: 'n', profile: { runtime_profile: 'n', runtime_name: 'from-profile', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } } } } };
  const withName = events(decideMarkInstanceReady(given(named, requested('a', 'n'), starting('a')), command('MarkInstanceReady', { instance_id: 'a', endpoint: 'http://127.0.0.1:9', runtime_name: 'reported' })));
  t.equal((withName[0]?.data as { runtime_name?: string }).runtime_name, 'from-profile');
  const without = events(decideMarkInstanceReady(given(commandProfile('p'), requested('a'), starting('a')), command('MarkInstanceReady', { instance_id: 'a', endpoint: 'http://127.0.0.1:9', runtime_name: 'reported' })));
  t.equal((without[0]?.data as { runtime_name?: string }).runtime_name, 'reported');
});

t.test('a failed instance is restarted while its profile allows, counting the restarts', async (t) => {
  const once = given(restartingProfile, requested('a', 'r'), starting('a'), failed('a'));
  const r = events(decideRestartInstance(once, command('RestartInstance', { instance_id: 'a' })));
  t.same(r.map((e) => [e.type, (e.data as { attempt: number }).attempt]), [['instance.restarting', 1]]);
  const twice = given(restartingProfile, requested('a', 'r'), starting('a'), failed('a'),
    { type: 'instance.restarting', data: { instance_id: 'a', attempt: 1, reason: 'x' } }, starting('a'), failed('a'),
    { type: 'instance.restarting', data: { instance_id: 'a', attempt: 2, reason: 'x' } }, starting('a'), failed('a'));
  t.same(events(decideRestartInstance(twice, command('RestartInstance', { instance_id: 'a' }))), [], 'restart_max 2 is reached');
  t.same(events(decideRestartInstance(given(commandProfile('p'), requested('a'), failed('a')), command('RestartInstance', { instance_id: 'a' }))), [], 'restart: never');
});

const onNode = <C extends { meta: object }>(cmd: C, node: string): C => ({ ...cmd, meta: { ...cmd.meta, node } });
const registered = (id: string, endpoint: string, node?: string): DomainEvent => ({ type: 'instance.registered', data: { instance_id: id, runtime_api_endpoint: endpoint, ...(node === undefined ? {} : { node }) } });
const managedReady = (id: string, endpoint: string, node?: string): DomainEvent[] => [
  { type: 'instance.requested', data: { instance_id: id, runtime_profile: 'p', ...(node === undefined ? {} : { node }) } },
  starting(id),
  { type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: endpoint } },
];
const retire = (id: string, by: string) => command('RetireStaleRegistration', { instance_id: id, by_instance_id: by });

t.test('a managed instance serving at an external registration\'s endpoint, however written, retires the registration naming itself', async (t) => {
  for (const state of [[], [failed('e')]]) {
    const reg = given(commandProfile('p'), registered('e', 'http://127.0.0.1:8400'), ...state, ...managedReady('m', 'http://LOCALHOST:8400'));
    const out = events(decideRetireStaleRegistration(reg, retire('e', 'm')));
    t.equal(out.length, 1, state.length === 0 ? 'a ready registration' : 'a failed one (it would be revived by the next check)');
    t.equal(out[0]?.type, 'instance.superseded');
    t.match(out[0]?.data, { instance_id: 'e', by_instance_id: 'm', runtime_api_endpoint: 'http://LOCALHOST:8400', reason: /^superseded: http:\/\/LOCALHOST:8400 now answers as instance 'm', which arpd started and manages/ });
  }
});

t.test('a stale registration is retired only while it holds: never the managed instance, another endpoint, a stopped one or a managed one not serving', async (t) => {
  const base = [commandProfile('p'), registered('e', 'http://127.0.0.1:8400')];
  t.same(events(decideRetireStaleRegistration(given(...base, ...managedReady('m', 'http://127.0.0.1:8400')), retire('m', 'e'))), [], 'the managed one is never retired');
  t.same(events(decideRetireStaleRegistration(given(...base, ...managedReady('m', 'http://127.0.0.1:8401')), retire('e', 'm'))), [], 'another port');
  t.same(events(decideRetireStaleRegistration(given(...base, ...managedReady('m', 'http://127.0.0.2:8400')), retire('e', 'm'))), [], 'another 127.x address');
  t.same(events(decideRetireStaleRegistration(given(...base, { type: 'instance.deregistered', data: { instance_id: 'e' } }, ...managedReady('m', 'http://127.0.0.1:8400')), retire('e', 'm'))), [], 'already deregistered');
  const stopping = given(...base, ...managedReady('m', 'http://127.0.0.1:8400'), { type: 'instance.stopping', data: { instance_id: 'm', reason: 'deleted' } });
  t.same(events(decideRetireStaleRegistration(stopping, retire('e', 'm'))), [], 'the managed one is stopping');
  t.same(events(decideRetireStaleRegistration(given(...base), retire('e', 'nope'))), [], 'no such managed instance');
});

t.test('with daemons sharing a store, a loopback endpoint is its node\'s: the same loopback on two nodes is two runtimes', async (t) => {
  const managedOnB = given(commandProfile('p'), ...managedReady('m', 'http://127.0.0.1:8400', 'b'));
  for (const endpoint of ['http://127.0.0.1:8400', 'http://localhost:8400', 'http://[::1]:8400']) {
    t.equal(events(decideRegisterInstance(managedOnB, onNode(register('x', endpoint), 'a'))).length, 1, `${endpoint} on node a is not node b's runtime`);
    t.equal(refusal(decideRegisterInstance(managedOnB, onNode(register('x', endpoint), 'b'))), 'E_CONFLICT', `${endpoint} on node b is`);
  }
  const web = given(commandProfile('p'), ...managedReady('w', 'http://10.0.0.5:8400', 'b'));
  t.equal(refusal(decideRegisterInstance(web, onNode(register('x', 'http://10.0.0.5:8400'), 'a'))), 'E_CONFLICT', 'a routable address is one runtime from every node');

  const externalOnA = given(registered('e', 'http://127.0.0.1:9', 'a'));
  t.equal(events(decideRegisterInstance(externalOnA, onNode(register('y', 'http://localhost:9'), 'b'))).length, 1, 'node b\'s loopback is another runtime: registered');
  t.same(events(decideRegisterInstance(externalOnA, onNode(register('y', 'http://localhost:9'), 'a'))), [], 'node a\'s is the same one');

  const twoHosts = given(commandProfile('p'), registered('e', 'http://127.0.0.1:8400', 'a'), ...managedReady('m', 'http://127.0.0.1:8400', 'b'));
  t.same(events(decideRetireStaleRegistration(twoHosts, retire('e', 'm'))), [], 'a managed instance on node b does not retire node a\'s loopback registration');
  const oneHost = given(commandProfile('p'), registered('e', 'http://127.0.0.1:8400', 'b'), ...managedReady('m', 'http://localhost:8400', 'b'));
  t.equal(events(decideRetireStaleRegistration(oneHost, retire('e', 'm')))[0]?.type, 'instance.superseded', 'on one node it does');
});
