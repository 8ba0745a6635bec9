import t from 'tap';
import { decideDeclareNodeLost, decideJoinNode, decideLeaveNode } from '../../src/commands/node-deciders.js';
import { decideEndRun, decideRecordTraceBatch, decideRouteRun, decideStartRun, requestHash } from '../../src/commands/run-deciders.js';
import type { Command } from '../../src/commands/command-types.js';
import { keysOf } from '../../src/commands/decide.js';
import { decideMarkInstanceReady, decideRecordInstanceFailure } from '../../src/commands/instance-deciders.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { actsOnInstance, loopbackInstancesOf, ownedBy, stewardOf } from '../../src/policy/ownership.js';
import type { InstanceView } from '../../src/projections/registry-types.js';
import { command, events, given, refusal } from './given.js';

/** A command sent by node `node` (as a daemon on a shared store stamps it). */
function by<C extends Command>(node: string, c: C): C {
  return { ...c, meta: { ...c.meta, node } };
}

const joined = (id: string, incarnation = `${id}-1`): DomainEvent => ({
  type: 'node.joined', data: { node_id: id, incarnation, host: `host-${id}`, pid: 1, boot_id: 'b', version: 'test', data_dir: `/d/${id}` },
});
const managed = (id: string, node: string): DomainEvent[] => [
  { type: 'instance.requested', data: { instance_id: id, runtime_profile: 'p', node } },
  { type: 'instance.starting', data: { instance_id: id, pid: 1, argv: ['x'], attempt: 1, node } },
  { type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: `http://127.0.0.1:9${id.length}` } },
];
const run = (id: string): DomainEvent[] => {
  const request = { input: { goal: 'g' }, run_id: id };
  return [
    { type: 'run.accepted', data: { run_id: id, request, request_hash: requestHash(request) } },
    { type: 'run.queued', data: { run_id: id, deadline: '2026-01-01T00:01:00.000Z' } },
  ];
};
const routed = (id: string, instance: string, node: string): DomainEvent => ({ type: 'run.routed', data: { run_id: id, instance_id: instance, runtime_api_endpoint: 'http://127.0.0.1:92', node } });
const lost = (node: string, instances: string[], runs: string[], incarnation = `${node}-1`) => command('DeclareNodeLost', { node_id: node, incarnation, silent_ms: 31_000, instances, runs });

t.test('a node joins once per incarnation, and leaves only as the incarnation that joined', async (t) => {
  const join = command('JoinNode', { node_id: 'a', incarnation: 'a-1', host: 'h', pid: 1, boot_id: 'b', version: 'v', data_dir: '/d' });
  t.same(events(decideJoinNode(given(), join)).map((e) => e.type), ['node.joined']);
  t.same(events(decideJoinNode(given(joined('a')), join)), [], 'the same incarnation again records nothing');
  t.same(events(decideJoinNode(given(joined('a')), { ...join, data: { ...join.data, incarnation: 'a-2' } })).map((e) => e.type), ['node.joined'], 'a restart joins anew');
  t.equal(refusal(decideJoinNode(given(), { ...join, data: { ...join.data, node_id: '../x' } })), 'E_VALIDATION', 'a node id that is not an id is refused');
  t.same(events(decideLeaveNode(given(joined('a')), command('LeaveNode', { node_id: 'a', incarnation: 'a-0', reason: 'stop', instances: [] }))), [], 'an older incarnation does not end the newer one');
  t.same(events(decideLeaveNode(given(joined('a')), command('LeaveNode', { node_id: 'a', incarnation: 'a-1', reason: 'stop', instances: [] }))).map((e) => e.type), ['node.left']);
});

t.test('a lost node\'s instances fail and its runs in flight fail E_NODE_LOST, claimed-only ones too (they may be at its runtime)', async (t) => {
  const history = [joined('a'), joined('b'), ...managed('ia', 'a'), ...managed('ib', 'b'), ...run('r1'), ...run('r2'), ...run('r3'), ...run('r4'), routed('r1', 'ia', 'a'), routed('r2', 'ia', 'a'), { type: 'run.started', data: { run_id: 'r2', instance_id: 'ia' } } as DomainEvent, routed('r3', 'ib', 'b')];
  const reg = given(...history);
  const e = events(decideDeclareNodeLost(reg, by('b', lost('a', ['ia', 'ib'], ['r1', 'r2', 'r3', 'r4']))));
  const key = (d: object): string => String((d as Record<string, unknown>)['run_id'] ?? (d as Record<string, unknown>)['instance_id'] ?? (d as Record<string, unknown>)['node_id']);
  t.same(e.map((x) => `${x.type}:${key(x.data)}`), [
    'node.lost:a', 'instance.failed:ia', 'run.failed:r1', 'run.failed:r2',
  ], 'only what node a owns is touched; a queued run (r4) stays queued');
  const failed = e.filter((x) => x.type === 'run.failed');
  t.match(failed[0]?.data, { run_id: 'r1', error: { code: 'E_NODE_LOST', message: /may have sent it to its runtime/ } }, 'a claimed run is not handed to another node: it may be running on the lost node\'s runtime');
  t.match(failed[1]?.data, { run_id: 'r2', error: { code: 'E_NODE_LOST', message: /in flight/ } });
  t.notOk(e.some((x) => x.type === 'run.released'), 'nothing is released');
  t.match(e.find((x) => x.type === 'instance.failed')?.data, { code: 'E_NODE_LOST' });
  t.match(e[0]?.data, { declared_by: 'b' });

  const after = given(...history, ...e);
  t.match(after.runs.get('r1'), { state: 'failed' });
  t.match(after.runs.get('r2'), { state: 'failed' });
  t.ok(after.queued().has('r4'), 'the queued run still waits for any node');
  t.match(after.nodes.get('a'), { state: 'lost' });
});

t.test('a node is not recorded lost by itself, nor once it came back as a new incarnation', async (t) => {
  const reg = given(joined('a'), ...managed('ia', 'a'));
  t.equal(refusal(decideDeclareNodeLost(reg, by('a', lost('a', ['ia'], [])))), 'E_CONFLICT');
  const back = given(joined('a'), ...managed('ia', 'a'), joined('a', 'a-2'));
  t.same(events(decideDeclareNodeLost(back, by('b', lost('a', ['ia'], [])))), [], 'the old incarnation is gone: nothing is recorded');
  const already = given(joined('a'), ...managed('ia', 'a'), { type: 'node.lost', data: { node_id: 'a', incarnation: 'a-1', silent_ms: 1, declared_by: 'b' } }, { type: 'instance.failed', data: { instance_id: 'ia', code: 'E_NODE_LOST', reason: 'lost' } });
  t.same(events(decideDeclareNodeLost(already, by('b', lost('a', ['ia'], [])))), [], 'recorded lost once, its instance once');
});

t.test('a run is routed only by the node that stewards the instance, and only that node records its start, trace and end', async (t) => {
  const reg = given(joined('a'), joined('b'), ...managed('ia', 'a'), ...run('r1'));
  const route = command('RouteRun', { run_id: 'r1', instance_id: 'ia', default_run_timeout_ms: 60_000 });
  t.equal(refusal(decideRouteRun(reg, by('b', route))), 'E_CONFLICT', 'node b cannot claim a run for node a\'s instance');
  t.match(events(decideRouteRun(reg, by('a', route)))[0]?.data, { node: 'a' }, 'node a claims it');
  const claimed = given(joined('a'), joined('b'), ...managed('ia', 'a'), ...run('r1'), routed('r1', 'ia', 'a'));
  t.same(events(decideStartRun(claimed, by('b', command('StartRun', { run_id: 'r1', instance_id: 'ia' })))), [], 'b records no start');
  t.same(events(decideStartRun(claimed, by('a', command('StartRun', { run_id: 'r1', instance_id: 'ia' })))).map((e) => e.type), ['run.started']);
  const limits = { max_line_bytes: 1000, max_depth: 10, max_run_bytes: 100_000 };
  t.same(events(decideRecordTraceBatch(claimed, by('b', command('RecordTraceBatch', { run_id: 'r1', lines: [{ level: 'info', type: 'x', data: { seq: 1 } }], limits })))), [], 'b records no trace');
  t.same(events(decideEndRun(claimed, by('b', command('EndRun', { run_id: 'r1', outcome: 'succeeded' })))), [], 'b records no end');
  t.same(events(decideEndRun(claimed, by('a', command('EndRun', { run_id: 'r1', outcome: 'succeeded' })))).map((e) => e.type), ['run.succeeded']);
});

// was a bug in src/policy/ownership.ts (fixed): an external instance registered on node a at 127.0.0.1:P was adopted by
// node b once a left or was lost, and b probed (and sent runs to) 127.0.0.1:P on its own host: another machine.
const registered = (id: string, node: string, endpoint: string): DomainEvent[] => [
  { type: 'instance.registered', data: { instance_id: id, runtime_api_endpoint: endpoint, node } },
  { type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: endpoint } },
];

t.test('a loopback external instance is only its node\'s: no other node routes to it or records its checks, even once its node is gone', async (t) => {
  const history = [joined('a'), joined('b'), ...registered('lo', 'a', 'http://127.0.0.1:9100'), ...registered('far', 'a', 'http://10.0.0.7:9100'), ...run('r1')];
  const gone = [...history, { type: 'node.left', data: { node_id: 'a', incarnation: 'a-1', reason: 'stop' } } as DomainEvent];
  const reg = given(...gone);
  t.equal(stewardOf(reg, reg.instances.get('lo') as InstanceView), 'a', 'a loopback registration stays its node\'s');
  t.equal(stewardOf(reg, reg.instances.get('far') as InstanceView), 'b', 'a routable one is adopted by a live node');
  t.notOk(actsOnInstance(reg, 'b', reg.instances.get('lo') as InstanceView));
  const route = (id: string) => command('RouteRun', { run_id: 'r1', instance_id: id, default_run_timeout_ms: 60_000 });
  t.equal(refusal(decideRouteRun(reg, by('b', route('lo')))), 'E_CONFLICT', 'node b cannot send a run to node a\'s 127.0.0.1');
  t.match(events(decideRouteRun(reg, by('b', route('far'))))[0]?.data, { node: 'b' }, 'node b takes over the routable one');
  const failure = command('RecordInstanceFailure', { instance_id: 'lo', code: 'E_RUNTIME_LOST', reason: 'refused' });
  t.same(events(decideRecordInstanceFailure(reg, by('b', failure))), [], 'a failed check from node b (its own loopback) is not recorded');
  t.same(events(decideRecordInstanceFailure(reg, by('a', failure))).map((e) => e.type), ['instance.failed'], 'node a\'s is');
  const down = given(...gone, { type: 'instance.failed', data: { instance_id: 'lo', code: 'E_NODE_LEFT', reason: 'left' } });
  const ready = command('MarkInstanceReady', { instance_id: 'lo', endpoint: 'http://127.0.0.1:9100' });
  t.same(events(decideMarkInstanceReady(down, by('b', ready))), [], 'a runtime answering on node b\'s loopback does not revive it');
  t.same(events(decideMarkInstanceReady(down, by('a', ready))).map((e) => e.type), ['instance.ready'], 'node a, back, revives it');
});

t.test('a node that leaves or is lost records its loopback external instances failed, saying why and what to do', async (t) => {
  const history = [joined('a'), joined('b'), ...registered('lo', 'a', 'http://localhost:9100'), ...registered('far', 'a', 'http://10.0.0.7:9100'), ...registered('lob', 'b', 'http://127.0.0.1:9100')];
  const reg = given(...history);
  const leave = command('LeaveNode', { node_id: 'a', incarnation: 'a-1', reason: 'daemon stop', instances: loopbackInstancesOf(reg, 'a').map((i) => i.instance_id) });
  t.same(keysOf(leave), ['node:a', 'instance:lo'], 'the leave is serialized on the instance streams it writes (the bus refuses a write to any other)');
  const left = events(decideLeaveNode(reg, leave));
  t.same(left.map((e) => e.type), ['node.left', 'instance.failed']);
  t.match(left[1]?.data, {
    instance_id: 'lo', code: 'E_NODE_LEFT',
    reason: /node 'a' \(host host-a\) left \(daemon stop\): .*loopback address only that node's host reaches.*start node 'a' again.*register the runtime from a daemon on that host \('arpd instances register --endpoint http:\/\/localhost:9100'\)/,
  });
  t.same(ownedBy(reg, 'a').instances, ['lo'], 'the node owns its loopback registration, not its routable one');
  const declared = events(decideDeclareNodeLost(reg, by('b', lost('a', ownedBy(reg, 'a').instances, []))));
  t.same(declared.map((e) => `${e.type}:${String((e.data as { instance_id?: string }).instance_id ?? '')}`), ['node.lost:', 'instance.failed:lo']);
  t.match(declared[1]?.data, { code: 'E_NODE_LOST', reason: /was silent for 31s and was recorded lost: instance 'lo' was registered on that node at http:\/\/localhost:9100, a loopback address/ });
  t.same(events(decideDeclareNodeLost(reg, by('b', lost('a', ['lob', 'far'], [])))).map((e) => e.type), ['node.lost'], 'another node\'s loopback instance and a routable one are not touched');
});
