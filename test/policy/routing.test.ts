import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import type { DomainEvent, JsonObject } from '../../src/events/event-types.js';
import type { Registry } from '../../src/projections/registry.js';
import type { InstanceView } from '../../src/projections/registry-types.js';
import {
  answeredByManaged,
  arpStateOf,
  autostartProfile,
  countInstancesByArpState,
  describeWait,
  endpointIdentity,
  endpointKey,
  hasRoom,
  isLoopbackEndpoint,
  isOwnEndpoint,
  liveMatches,
  loadOf,
  pickInstance,
  recentlyFailed,
  routingPolicyOf,
  sameEndpoint,
  scaleUpLimit,
  submitRoute,
  type RoutingPolicy,
} from '../../src/policy/routing.js';
import { given } from '../commands/given.js';

const exec = { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/true'] } };
const profile = (name: string, runtime: JsonObject = {}, extra: JsonObject = {}): DomainEvent => ({
  type: 'profile.upserted',
  data: { runtime_profile: name, profile: { runtime_profile: name, ...extra, extensions: { ...exec, 'arpd.runtime': runtime } } },
});
let port = 9000;
/** A managed instance of `profile` that went through requested → starting (→ ready unless `upTo` says otherwise). */
const managed = (id: string, profileName: string, upTo: 'requested' | 'starting' | 'ready' = 'ready', endpoint = `http://127.0.0.1:${port++}`): DomainEvent[] => [
  { type: 'instance.requested', data: { instance_id: id, runtime_profile: profileName } },
  ...(upTo === 'requested' ? [] : [{ type: 'instance.starting', data: { instance_id: id, pid: 100, argv: ['rt'], attempt: 1 } } as DomainEvent]),
  ...(upTo === 'ready' ? [{ type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: endpoint } } as DomainEvent] : []),
];
const external = (id: string, endpoint: string, fields: { runtime_profile?: string; runtime_name?: string } = {}): DomainEvent[] => [
  { type: 'instance.registered', data: { instance_id: id, runtime_api_endpoint: endpoint, ...fields } },
  { type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: endpoint } },
];
const failed = (id: string, reason = 'exit 1'): DomainEvent => ({ type: 'instance.failed', data: { instance_id: id, code: 'E_RUNTIME_LOST', reason } });
const waiting = (runId: string, selector?: JsonObject): DomainEvent[] => {
  const request: JsonObject = { input: { goal: 'x' }, run_id: runId, ...(selector === undefined ? {} : { runtime_selector: selector }) };
  return [
    { type: 'run.accepted', data: { run_id: runId, request, request_hash: runId } },
    { type: 'run.queued', data: { run_id: runId, deadline: '2026-01-01T00:10:00.000Z' } },
  ];
};
/** A run routed to an instance (in flight there). */
const onInstance = (runId: string, instanceId: string): DomainEvent[] => [
  ...waiting(runId, { instance_id: instanceId }),
  { type: 'run.routed', data: { run_id: runId, instance_id: instanceId, runtime_api_endpoint: 'http://127.0.0.1:1' } },
];
const ended = (runId: string): DomainEvent => ({ type: 'run.succeeded', data: { run_id: runId, result: {} } });

const auto: RoutingPolicy = { autostart: true };
const inst = (reg: Registry, id: string): InstanceView => {
  const i = reg.instances.get(id);
  if (i === undefined) throw new Error(`no instance ${id}`);
  return i;
};
const ids = (list: InstanceView[]): string[] => list.map((i) => i.instance_id);

t.test('routingPolicyOf: autostart unless turned off, and the default profile when given', async (t) => {
  t.same(routingPolicyOf({}), { autostart: true });
  t.same(routingPolicyOf({ runs: { autostartInstances: false } }), { autostart: false });
  t.same(routingPolicyOf({ defaultProfile: 'mine' }), { autostart: true, defaultProfile: 'mine' });
});

t.test('liveMatches lists the starting, ready and busy instances that match, oldest first', async (t) => {
  const reg = given(profile('p'), profile('q'),
    ...managed('b-old', 'p'), ...managed('a-new', 'p', 'starting'), ...managed('q1', 'q'),
    ...managed('gone', 'p'), { type: 'instance.stopping', data: { instance_id: 'gone', reason: 'x' } },
    ...managed('bad', 'p'), failed('bad'));
  t.same(ids(liveMatches(reg, { runtime_profile: 'p' })), ['b-old', 'a-new'], 'stopping and failed instances are not live');
  t.same(ids(liveMatches(reg, undefined)), ['b-old', 'a-new', 'q1']);
  t.same(ids(liveMatches(reg, { instance_id: 'q1' })), ['q1']);
  t.same(ids(liveMatches(reg, { instance_id: 'gone' })), []);
});

t.test('load is the runs in flight on an instance against its max_concurrent_runs; a full ready instance is busy', async (t) => {
  const reg = given(profile('p', { max_concurrent_runs: 2 }), ...managed('i1', 'p'), ...onInstance('r1', 'i1'));
  t.same(loadOf(reg, inst(reg, 'i1')), { active: 1, capacity: 2 });
  t.ok(hasRoom(reg, inst(reg, 'i1')));
  t.equal(arpStateOf(reg, inst(reg, 'i1')), 'ready');
  const full = given(profile('p', { max_concurrent_runs: 2 }), ...managed('i1', 'p'), ...onInstance('r1', 'i1'), ...onInstance('r2', 'i1'));
  t.notOk(hasRoom(full, inst(full, 'i1')));
  t.equal(arpStateOf(full, inst(full, 'i1')), 'busy');
  const freed = given(profile('p', { max_concurrent_runs: 2 }), ...managed('i1', 'p'), ...onInstance('r1', 'i1'), ...onInstance('r2', 'i1'), ended('r2'));
  t.equal(arpStateOf(freed, inst(freed, 'i1')), 'ready', 'an ended run frees its place');
  const starting = given(profile('p'), ...managed('s', 'p', 'starting'));
  t.equal(arpStateOf(starting, inst(starting, 's')), 'starting');
});

// was a bug (QA): daemon status counted 1 ready, 0 busy while instances list showed the same instance busy
t.test('counts instances by their ARP state, as instances list shows them: a full ready instance counts as busy', async (t) => {
  const reg = given(profile('p', { max_concurrent_runs: 1 }), ...managed('i1', 'p'), ...managed('i2', 'p'), ...managed('s', 'p', 'starting'), ...onInstance('r1', 'i1'));
  const recorded = reg.countInstancesByState();
  t.same(recorded, { starting: 1, ready: 2, busy: 0, stopping: 0, stopped: 0, error: 0 }, 'recorded: both ready');
  t.same(countInstancesByArpState(reg, recorded), { starting: 1, ready: 1, busy: 1, stopping: 0, stopped: 0, error: 0 }, 'shown: the full one busy');
  t.same(recorded, reg.countInstancesByState(), 'the recorded counts are not changed');
  const freed = given(profile('p', { max_concurrent_runs: 1 }), ...managed('i1', 'p'), ...onInstance('r1', 'i1'), ended('r1'));
  t.same(countInstancesByArpState(freed, freed.countInstancesByState()), { starting: 0, ready: 1, busy: 0, stopping: 0, stopped: 0, error: 0 }, 'a run ended: ready again');
});

t.test('pickInstance takes the least loaded matching serving instance with room, the oldest on a tie', async (t) => {
  const base = [profile('p', { max_concurrent_runs: 2 }), ...managed('i1', 'p'), ...managed('i2', 'p')];
  t.equal(pickInstance(given(...base), { runtime_profile: 'p' })?.instance_id, 'i1', 'both idle: the oldest');
  t.equal(pickInstance(given(...base, ...onInstance('r1', 'i1')), { runtime_profile: 'p' })?.instance_id, 'i2', 'the less loaded');
  t.equal(pickInstance(given(...base, ...onInstance('r1', 'i1'), ...onInstance('r2', 'i2')), { runtime_profile: 'p' })?.instance_id, 'i1', 'equal load: the oldest');
  t.equal(pickInstance(given(...base, ...onInstance('r1', 'i1'), ...onInstance('r2', 'i2'), ...onInstance('r3', 'i2')), undefined)?.instance_id, 'i1', 'i2 is full');
  t.equal(pickInstance(given(...base, ...['r1', 'r2'].flatMap((r) => onInstance(r, 'i1')), ...['r3', 'r4'].flatMap((r) => onInstance(r, 'i2'))), undefined), undefined, 'every instance is full');
  t.equal(pickInstance(given(...base), { runtime_profile: 'q' }), undefined, 'nothing matches');
});

t.test('pickInstance compares load as a share of capacity and skips instances that do not serve', async (t) => {
  const reg = given(profile('big', { max_concurrent_runs: 4 }), profile('small', { max_concurrent_runs: 1 }),
    ...managed('big1', 'big'), ...managed('small1', 'small'), ...onInstance('r1', 'big1'),
    ...managed('starting', 'big', 'starting'));
  t.equal(pickInstance(reg, undefined)?.instance_id, 'small1', '0 of 1 is less than 1 of 4');
  const busyBig = given(profile('big', { max_concurrent_runs: 4 }), profile('small', { max_concurrent_runs: 1 }),
    ...managed('big1', 'big'), ...managed('small1', 'small'), ...onInstance('r1', 'small1'), ...managed('starting', 'big', 'starting'));
  t.equal(pickInstance(busyBig, undefined)?.instance_id, 'big1');
  const onlyStarting = given(profile('p'), ...managed('s', 'p', 'starting'));
  t.equal(pickInstance(onlyStarting, undefined), undefined, 'a starting instance takes no run yet');
});

t.test('autostartProfile: what arpd may start by itself for a selector', async (t) => {
  const only = given(profile('default'));
  const mine = given(profile('default'), profile('mine', {}, { runtime_name: 'rt' }), profile('also', {}, { runtime_name: 'rt' }), profile('other', {}, { runtime_name: 'x' }));
  const rows: Array<[string, Registry, JsonObject | undefined, RoutingPolicy, string | undefined]> = [
    ['no selector, default is the only profile', only, undefined, auto, 'default'],
    ['no selector, the user has profiles of their own', mine, undefined, auto, undefined],
    ['no selector, --default-profile names one', mine, undefined, { autostart: true, defaultProfile: 'mine' }, 'mine'],
    ['no selector, --default-profile names one not on the list', mine, undefined, { autostart: true, defaultProfile: 'nope' }, undefined],
    ['no selector, no profiles', given(), undefined, auto, undefined],
    ['only a user profile (not default)', given(profile('mine')), undefined, auto, undefined],
    ['--no-autostart-instances', only, undefined, { autostart: false }, undefined],
    ['--no-autostart-instances with a profile selector', mine, { runtime_profile: 'mine' }, { autostart: false }, undefined],
    ['a profile on the list', mine, { runtime_profile: 'mine' }, auto, 'mine'],
    ['a profile not on the list', mine, { runtime_profile: 'nope' }, auto, undefined],
    ['a profile and its runtime name', mine, { runtime_profile: 'mine', runtime_name: 'rt' }, auto, 'mine'],
    ['a profile and a runtime name it does not have', mine, { runtime_profile: 'mine', runtime_name: 'x' }, auto, undefined],
    ['a runtime name: the first profile with it by name', mine, { runtime_name: 'rt' }, auto, 'also'],
    ['a runtime name no profile has', mine, { runtime_name: 'none' }, auto, undefined],
    ['an instance id', mine, { instance_id: 'i1' }, auto, undefined],
    ['an endpoint', mine, { runtime_api_endpoint: 'http://10.0.0.1:1' }, auto, undefined],
  ];
  for (const [name, reg, sel, policy, expected] of rows) t.equal(autostartProfile(reg, sel, policy), expected, name);
});

t.test('scaleUpLimit: the first instance when none is live, one more while every serving one is full and runs outnumber the starting ones', async (t) => {
  const p = profile('p', { max_concurrent_runs: 1, max_instances: 3 });
  t.equal(scaleUpLimit(given(p, ...waiting('w1', { runtime_profile: 'p' })), 'p', auto), 1, 'no live instance: start the first');
  t.equal(scaleUpLimit(given(p), 'p', { autostart: false }), undefined, 'not with --no-autostart-instances');
  t.equal(scaleUpLimit(given(p), 'nope', auto), undefined, 'not for a profile that is not on the list');
  t.equal(scaleUpLimit(given(p, ...managed('i1', 'p'), ...waiting('w1', { runtime_profile: 'p' })), 'p', auto), undefined, 'an instance has room');
  const full = [p, ...managed('i1', 'p'), ...onInstance('r1', 'i1')];
  t.equal(scaleUpLimit(given(...full), 'p', auto), undefined, 'full, but no run waits');
  t.equal(scaleUpLimit(given(...full, ...waiting('w1', { runtime_profile: 'p' })), 'p', auto), 2, 'full and a run waits: a second one');
  t.equal(scaleUpLimit(given(...full, ...waiting('w1', { runtime_profile: 'p' }), ...managed('i2', 'p', 'starting')), 'p', auto), undefined, 'the starting one will take the waiting run');
  t.equal(scaleUpLimit(given(...full, ...waiting('w1', { runtime_profile: 'p' }), ...waiting('w2', { runtime_profile: 'p' }), ...managed('i2', 'p', 'starting')), 'p', auto), 3, 'two wait, one is starting: a third');
  const atMax = [profile('p', { max_concurrent_runs: 1, max_instances: 2 }), ...managed('i1', 'p'), ...onInstance('r1', 'i1'), ...managed('i2', 'p'), ...onInstance('r2', 'i2')];
  t.equal(scaleUpLimit(given(...atMax, ...waiting('w1', { runtime_profile: 'p' })), 'p', auto), undefined, 'never past max_instances');
  const named = [profile('p', { max_concurrent_runs: 1, max_instances: 3 }, { runtime_name: 'rt' }), ...managed('i1', 'p'), ...onInstance('r1', 'i1')];
  t.equal(scaleUpLimit(given(...named, ...waiting('w1', { runtime_name: 'rt' })), 'p', auto), 2, 'runs waiting for its runtime name count');
  const dflt = [profile('default', { max_concurrent_runs: 1, max_instances: 3 }), ...managed('i1', 'default'), ...onInstance('r1', 'i1')];
  t.equal(scaleUpLimit(given(...dflt, ...waiting('w1')), 'default', auto), 2, 'runs with no selector count for the profile arpd starts for them');
  t.equal(scaleUpLimit(given(...dflt, profile('mine'), ...waiting('w1')), 'default', auto), undefined, 'but not when arpd would not start that profile for them');
});

t.test('recentlyFailed: the last managed instance of the profile failed within the backoff and after the profile last changed', async (t) => {
  const events = [profile('p'), ...managed('i1', 'p'), failed('i1')];
  const reg = given(...events);
  const at = Date.parse(inst(reg, 'i1').updated_at);
  t.equal(recentlyFailed(reg, 'p', at + 5000)?.instance_id, 'i1');
  t.equal(recentlyFailed(reg, 'p', at + 10_000), undefined, 'the backoff is over');
  t.equal(recentlyFailed(reg, 'p', at + 500, 400), undefined, 'a shorter backoff');
  t.equal(recentlyFailed(given(...events, profile('p', { max_instances: 2 })), 'p', at + 5000), undefined, 'the profile changed since: try again');
  t.equal(recentlyFailed(reg, 'q', at), undefined);
  const ext = given(profile('p'), ...external('e', 'http://10.0.0.1:1', { runtime_profile: 'p' }), failed('e'));
  t.equal(recentlyFailed(ext, 'p', at), undefined, 'external instances are not started by arpd');
});

t.test('endpointKey normalises loopback forms and default ports', async (t) => {
  const same = ['http://localhost:8082', 'http://127.0.0.1:8082/', 'http://127.9.8.7:8082/v1', 'http://[::1]:8082', 'http://0.0.0.0:8082', 'http://[::]:8082', 'http://LOCALHOST:8082',
    'http://[::ffff:127.0.0.1]:8082', 'http://[::FFFF:7f01:203]:8082', 'http://[::ffff:0.0.0.0]:8082'];
  for (const url of same) t.equal(endpointKey(url), 'loopback:8082', url);
  t.equal(endpointKey('http://localhost'), 'loopback:80');
  t.equal(endpointKey('https://localhost'), 'loopback:443');
  t.equal(endpointKey('http://Example.COM:9000/x'), 'example.com:9000');
  // an IPv4-mapped address is its IPv4 address
  t.equal(endpointKey('http://[::ffff:10.1.2.3]:9000'), '10.1.2.3:9000');
  t.equal(endpointKey('not a url'), undefined);
});

// was a bug in src/policy/routing.ts (fixed): endpointIdentity bound only localhost, 127.0.0.1 and ::1 to their node,
// while stewardship (isLoopbackEndpoint) reads any 127.x as loopback, so 127.0.0.2:P on node a and on node b were one
// runtime: a registration on one node was refused, or retired, for the other node's runtime.
t.test('any 127.x endpoint is its node\'s own when daemons share a store, as stewardship reads it, and still not 127.0.0.1', async (t) => {
  for (const host of ['127.0.0.2', '127.9.8.7', '[::ffff:127.0.0.2]']) {
    const url = `http://${host}:8400`;
    t.ok(isLoopbackEndpoint(url), `${host} is loopback to stewardship`);
    t.notOk(sameEndpoint({ endpoint: url, node: 'a' }, { endpoint: url, node: 'b' }), `${host}:8400 on node a and on node b are two runtimes`);
    t.ok(sameEndpoint({ endpoint: url, node: 'a' }, { endpoint: `${url}/`, node: 'a' }), `${host}:8400 twice on node a is one`);
    t.notOk(sameEndpoint({ endpoint: url, node: 'a' }, { endpoint: 'http://127.0.0.1:8400', node: 'a' }), `${host} is not 127.0.0.1 on the same node`);
    t.notOk(sameEndpoint({ endpoint: url }, { endpoint: 'http://localhost:8400' }), `${host} is not localhost with a single daemon`);
  }
  t.equal(endpointIdentity('http://127.0.0.2:8400', 'a'), 'http://127.0.0.2@a:8400');
  t.equal(endpointIdentity('http://127.0.0.2:8400'), 'http://127.0.0.2:8400', 'with a single daemon, the address alone');
  t.equal(endpointIdentity('http://[::ffff:127.0.0.2]:8400', 'a'), 'http://127.0.0.2@a:8400', 'an IPv4-mapped 127.x is its IPv4 address');
  // the forms of the main loopback stay one, on their node
  for (const host of ['localhost', '127.0.0.1', '[::1]', '0.0.0.0', '[::]']) t.equal(endpointIdentity(`http://${host}:8400`, 'a'), 'http://loopback@a:8400', host);
  // and a routable address is the same runtime from any node
  t.ok(sameEndpoint({ endpoint: 'http://10.0.0.5:8400', node: 'a' }, { endpoint: 'http://10.0.0.5:8400', node: 'b' }));
  // every host endpointIdentity binds to its node is a loopback endpoint to stewardship, and the other way round
  for (const host of ['localhost', '127.0.0.1', '127.0.0.2', '127.255.255.254', '[::1]', '0.0.0.0', '[::]', '[::ffff:127.1.2.3]', '10.0.0.5', 'example.com', '128.0.0.1', '[::2]']) {
    const url = `http://${host}:8400`;
    t.equal(endpointIdentity(url, 'a') !== endpointIdentity(url, 'b'), isLoopbackEndpoint(url), `${host}: bound to its node exactly when loopback`);
  }
});

t.test('answeredByManaged names the serving managed instance at an external instance\'s endpoint, on its node', async (t) => {
  const reg = given(profile('p'), ...external('ext', 'http://localhost:7100'), ...managed('m', 'p', 'ready', 'http://127.0.0.1:7100/'),
    ...external('other', 'http://127.0.0.1:7101'), ...managed('starting', 'p', 'starting'));
  t.equal(answeredByManaged(reg, inst(reg, 'ext')), 'm', 'm answers where ext was registered');
  t.equal(answeredByManaged(reg, inst(reg, 'other')), undefined, 'another port');
  t.equal(answeredByManaged(reg, inst(reg, 'm')), undefined, 'a managed instance is never stale');
  const stopping = given(profile('p'), ...external('ext', 'http://localhost:7100'), ...managed('m', 'p', 'ready', 'http://127.0.0.1:7100'),
    { type: 'instance.stopping', data: { instance_id: 'm', reason: 'delete' } } as DomainEvent);
  t.equal(answeredByManaged(stopping, inst(stopping, 'ext')), undefined, 'a managed instance that no longer serves does not count');
  const nodes = given(profile('p'),
    { type: 'instance.registered', data: { instance_id: 'ext', runtime_api_endpoint: 'http://127.0.0.2:7100', node: 'b' } },
    { type: 'instance.ready', data: { instance_id: 'ext', runtime_api_endpoint: 'http://127.0.0.2:7100' } },
    { type: 'instance.requested', data: { instance_id: 'm', runtime_profile: 'p', node: 'a' } },
    { type: 'instance.starting', data: { instance_id: 'm', pid: 100, argv: ['rt'], attempt: 1 } },
    { type: 'instance.ready', data: { instance_id: 'm', runtime_api_endpoint: 'http://127.0.0.2:7100' } });
  t.equal(answeredByManaged(nodes, inst(nodes, 'ext')), undefined, 'node a\'s runtime at 127.0.0.2:P is not node b\'s');
});

t.test('submitRoute names the managed instance serving an endpoint, not a stale external registration there', async (t) => {
  const reg = given(profile('p'), ...external('ext', 'http://localhost:7200'), ...managed('m', 'p', 'ready', 'http://127.0.0.1:7200'));
  t.same(submitRoute(reg, { runtime_selector: { runtime_api_endpoint: 'http://127.0.0.1:7200' } }, auto, []), { kind: 'direct', endpoint: 'http://127.0.0.1:7200', instance_id: 'm' });
});

t.test("isOwnEndpoint finds the daemon's own address in any loopback form", async (t) => {
  const own = ['http://127.0.0.1:8082'];
  t.ok(isOwnEndpoint('http://localhost:8082/', own));
  t.ok(isOwnEndpoint('http://[::1]:8082', own));
  t.notOk(isOwnEndpoint('http://127.0.0.1:8083', own), 'another port');
  t.notOk(isOwnEndpoint('http://10.1.2.3:8082', own), 'another host');
  t.notOk(isOwnEndpoint('garbage', own));
  t.notOk(isOwnEndpoint('http://127.0.0.1:8082', []), 'no HTTP listener yet');
});

t.test('submitRoute refuses at once a selector that can never match (issue 10, "Run routing")', async (t) => {
  const onFailure = profile('restarting', { restart: 'on-failure', restart_max: 2 });
  const reg = given(profile('p', {}, { runtime_name: 'rt' }), onFailure,
    ...managed('i1', 'p'), ...managed('s1', 'p', 'starting'),
    ...managed('dead', 'p'), { type: 'instance.stopped', data: { instance_id: 'dead', reason: 'deleted' } },
    ...managed('going', 'p'), { type: 'instance.stopping', data: { instance_id: 'going', reason: 'deleted' } },
    ...managed('broken', 'p'), failed('broken', 'exit 3'),
    ...managed('comeback', 'restarting'), failed('comeback'),
    ...external('ext', 'http://10.0.0.5:7000', { runtime_profile: 'unlisted', runtime_name: 'extrt' }));
  const own = ['http://127.0.0.1:8082'];
  const rows: Array<[string, JsonObject | undefined, string, string | undefined]> = [
    // [what, selector, expected: queue | direct | an error code, arp_code or rule]
    ['an unknown instance_id', { instance_id: 'nope' }, 'E_NOT_FOUND', 'instances.not_found'],
    ['a deleted (stopped) instance_id', { instance_id: 'dead' }, 'E_NOT_FOUND', 'instances.not_found'],
    ['a stopping instance_id', { instance_id: 'going' }, 'E_NOT_FOUND', 'instances.not_found'],
    ['a profile not on the safe list that no instance has', { runtime_profile: 'nope' }, 'E_NOT_FOUND', 'runtime_profiles.not_found'],
    ['a profile name no profile can have', { runtime_profile: '../x' }, 'E_VALIDATION', 'id'],
    ['a runtime_name no instance and no profile has', { runtime_name: 'nobody' }, 'E_NOT_FOUND', 'instances.not_found'],
    ['runtime_api_endpoint with instance_id', { runtime_api_endpoint: 'http://10.0.0.1:1', instance_id: 'i1' }, 'E_VALIDATION', 'exclusive'],
    ['runtime_api_endpoint with runtime_profile', { runtime_api_endpoint: 'http://10.0.0.1:1', runtime_profile: 'p' }, 'E_VALIDATION', 'exclusive'],
    ['runtime_api_endpoint with runtime_name', { runtime_api_endpoint: 'http://10.0.0.1:1', runtime_name: 'rt' }, 'E_VALIDATION', 'exclusive'],
    ['a runtime_api_endpoint that is not a URL', { runtime_api_endpoint: 'nope' }, 'E_VALIDATION', undefined],
    ['a runtime_api_endpoint that is not http', { runtime_api_endpoint: 'ftp://10.0.0.1/' }, 'E_VALIDATION', undefined],
    ['a runtime_api_endpoint with credentials', { runtime_api_endpoint: 'http://u:pw@10.0.0.1:1' }, 'E_VALIDATION', undefined],
    ["the daemon's own address", { runtime_api_endpoint: 'http://localhost:8082/' }, 'E_VALIDATION', 'not-self'],
    ["the daemon's own address, IPv4-mapped", { runtime_api_endpoint: 'http://[::ffff:127.0.0.1]:8082/' }, 'E_VALIDATION', 'not-self'],
    ['an instance_id with a profile it does not have', { instance_id: 'i1', runtime_profile: 'restarting' }, 'E_VALIDATION', 'consistent'],
    ['an instance_id with a runtime_name it does not have', { instance_id: 'ext', runtime_name: 'rt' }, 'E_VALIDATION', 'consistent'],
    ['a failed instance that will not be restarted', { instance_id: 'broken' }, 'E_NOT_READY', 'instances.not_ready'],
    // what may wait
    ['a ready instance', { instance_id: 'i1' }, 'queue', undefined],
    ['a starting instance', { instance_id: 's1' }, 'queue', undefined],
    ['a failed instance its restart policy will start again', { instance_id: 'comeback' }, 'queue', undefined],
    ['a profile with live instances', { runtime_profile: 'p' }, 'queue', undefined],
    ['a profile not on the list that an external instance has', { runtime_profile: 'unlisted' }, 'queue', undefined],
    ['a runtime_name an instance has', { runtime_name: 'extrt' }, 'queue', undefined],
    ['a runtime_name only a profile has', { runtime_name: 'rt' }, 'queue', undefined],
    ['a profile on the list with no instance (arpd starts one)', { runtime_profile: 'restarting' }, 'queue', undefined],
    ['no selector with a ready instance', undefined, 'queue', undefined],
    ['an endpoint', { runtime_api_endpoint: 'http://10.0.0.9:7000' }, 'direct', undefined],
  ];
  for (const [what, sel, expected, detail] of rows) {
    const r = submitRoute(reg, { input: { goal: 'x' }, ...(sel === undefined ? {} : { runtime_selector: sel }) }, auto, own);
    if (r instanceof ArpdError) {
      t.equal(r.code, expected, what);
      if (detail !== undefined) t.equal(r.data?.['arp_code'] ?? r.data?.['rule'], detail, `${what}: ${detail}`);
      t.match(String(r.data?.['field']), /^runtime_selector/, `${what}: the error names the field`);
    } else {
      t.equal(r.kind, expected, what);
    }
  }
});

t.test('submitRoute sends a run for an endpoint straight there, naming the registered instance that serves it', async (t) => {
  const reg = given(...external('ext', 'http://10.0.0.5:7000'));
  t.same(submitRoute(reg, { runtime_selector: { runtime_api_endpoint: 'http://10.0.0.5:7000/' } }, auto, []), { kind: 'direct', endpoint: 'http://10.0.0.5:7000', instance_id: 'ext' });
  t.same(submitRoute(reg, { runtime_selector: { runtime_api_endpoint: 'http://10.0.0.6:7000//' } }, auto, []), { kind: 'direct', endpoint: 'http://10.0.0.6:7000' }, 'an unregistered endpoint too (as JARVIS)');
});

t.test('submitRoute names the instance serving a loopback endpoint only on its own node when daemons share a store', async (t) => {
  const onA: DomainEvent[] = [
    { type: 'instance.registered', data: { instance_id: 'ext', runtime_api_endpoint: 'http://127.0.0.1:7000', node: 'a' } },
    { type: 'instance.ready', data: { instance_id: 'ext', runtime_api_endpoint: 'http://127.0.0.1:7000' } },
  ];
  const reg = given(...onA);
  const sel = { runtime_selector: { runtime_api_endpoint: 'http://localhost:7000' } };
  t.same(submitRoute(reg, sel, auto, [], 'a'), { kind: 'direct', endpoint: 'http://localhost:7000', instance_id: 'ext' }, 'on node a: its runtime');
  t.same(submitRoute(reg, sel, auto, [], 'b'), { kind: 'direct', endpoint: 'http://localhost:7000' }, 'on node b: another host\'s runtime, not that instance');
  const same = { runtime_selector: { runtime_api_endpoint: 'http://127.0.0.1:7000' } };
  t.same(submitRoute(reg, same, auto, [], 'b'), { kind: 'direct', endpoint: 'http://127.0.0.1:7000' }, 'even written as it was registered');
});

t.test('submitRoute for a run with no selector and nothing running: only the default profile, or --default-profile', async (t) => {
  const route = (reg: Registry, policy: RoutingPolicy) => submitRoute(reg, { input: { goal: 'x' } }, policy, []);
  t.same(route(given(profile('default')), auto), { kind: 'queue' }, 'default is the only profile: arpd starts it');
  const mine = given(profile('default'), profile('mine'), profile('zeta'));
  const refused = route(mine, auto);
  t.ok(refused instanceof ArpdError);
  if (refused instanceof ArpdError) {
    t.equal(refused.code, 'E_NOT_READY');
    t.equal(refused.data?.['arp_code'], 'instances.no_ready');
    t.match(refused.message, /profiles: default, mine, zeta/, 'the message names the profiles to choose from');
    t.match(refused.message, /--default-profile/);
    t.same(refused.data?.['profiles'], ['default', 'mine', 'zeta']);
  }
  t.same(route(mine, { autostart: true, defaultProfile: 'mine' }), { kind: 'queue' }, '--default-profile names one');
  const off = route(given(profile('default')), { autostart: false });
  t.ok(off instanceof ArpdError && off.code === 'E_NOT_READY' && /--no-autostart-instances/.test(off.message), 'autostart off says so');
  const none = route(given(), auto);
  t.ok(none instanceof ArpdError && /there are none/.test(none.message), 'no profiles at all says so');
  const selOff = submitRoute(given(profile('p')), { runtime_selector: { runtime_profile: 'p' } }, { autostart: false }, []);
  t.ok(selOff instanceof ArpdError && selOff.code === 'E_NOT_READY' && /--no-autostart-instances/.test(selOff.message), 'a profile with no instance and autostart off');
});

t.test('describeWait says what a waiting run waited for and what to do', async (t) => {
  const p = profile('p', { max_concurrent_runs: 1 });
  const run = (reg: Registry, id: string) => {
    const r = reg.runs.get(id);
    if (r === undefined) throw new Error(`no run ${id}`);
    return r;
  };
  const busy = given(p, ...managed('i1', 'p'), ...onInstance('r0', 'i1'), ...managed('s1', 'p', 'starting'), ...waiting('w', { runtime_profile: 'p' }));
  t.equal(describeWait(busy, run(busy, 'w'), auto, 30_000),
    "the run waited 30s for an instance matching profile 'p' and none took it (i1 was busy with 1 of 1 run(s); s1 was still starting): start more instances, raise max_concurrent_runs, or give the run a longer queue timeout (extensions[\"arpd.queue_timeout_ms\"])");
  const one = given(p, ...managed('i1', 'p'), ...onInstance('r0', 'i1'), ...waiting('w', { instance_id: 'i1' }));
  t.match(describeWait(one, run(one, 'w'), auto, 1234), /^the run waited 1\.2s for instance 'i1' and none took it \(i1 was busy with 1 of 1 run\(s\)\)/);
  const failedOnly = given(p, ...managed('i1', 'p'), failed('i1', 'exit 3'), ...waiting('w', { runtime_profile: 'p' }));
  t.equal(describeWait(failedOnly, run(failedOnly, 'w'), auto, 500),
    "the run waited 0.5s for an instance matching profile 'p' and none took it (the last matching instance i1 failed: exit 3): arpd tried to start one of profile 'p'; check 'arpd instances list --all'");
  const nothing = given(p, ...waiting('w', { runtime_profile: 'p' }));
  t.equal(describeWait(nothing, run(nothing, 'w'), { autostart: false }, 500),
    "the run waited 0.5s for an instance matching profile 'p' and none took it (no instance matched): start one with 'arpd instances start'");
  const many = given(p, ...['a', 'b', 'c', 'd', 'e', 'f', 'g'].flatMap((id) => managed(id, 'p', 'starting')), ...waiting('w'));
  t.match(describeWait(many, run(many, 'w'), auto, 1000), /for any instance .*e was still starting; and 2 more\)/);
});
