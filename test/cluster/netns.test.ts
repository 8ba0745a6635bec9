/**
 * Issue 14's multi-host test: three daemons, each on a "host" of its own (a Linux network namespace with one veth
 * pair to the root namespace), sharing one test-made PostgreSQL that listens in the root namespace on the root side
 * of each pair. Each daemon reaches PostgreSQL by its host's gateway address; its managed instances (the counting
 * runtime, fixtures/runtimes/counting-runtime) run inside its namespace, on that namespace's loopback; the CLI
 * reaches each daemon through its Unix socket (a file: it works across namespaces). A host is cut off by setting its
 * own link down inside its namespace, as a pulled cable would.
 *
 * Nodes: `a` (no instances: the submitter, and the smallest id, so the one that records others lost), `b` and `c`
 * (one counting instance each). Short leases (--node-lease) keep the wall time low.
 *
 * Needs root and `ip netns` (iproute2); skips with the reason otherwise. Removes every namespace, veth and process
 * at the end, also when it fails (test/helpers/netns.ts).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { countingCommand, executions } from '../helpers/counting-runtime.js';
import { ARPD_JS, daemonHarness, isRunning, parseNdjson, sleep, waitFor } from '../helpers/daemon-harness.js';
import { instancePid, type Json } from '../helpers/runtime-harness.js';
import { netnsLab, netnsUnavailable, type NetnsHost, type NetnsRunResult } from '../helpers/netns.js';
import { startPgCluster } from '../helpers/pg-cluster.js';

const LEASE_MS = 1000;
const TERMINAL = ['run.succeeded', 'run.failed', 'run.canceled'];

interface Node {
  id: string;
  host: NetnsHost;
  dir: string;
  pid: number;
}

interface Row {
  seq: number;
  stream: string;
  type: string;
  data: Record<string, unknown> & { node?: string; node_id?: string; incarnation?: string; error?: { code?: string } };
  meta: Record<string, unknown>;
}

const unavailable = netnsUnavailable();
if (unavailable !== undefined) {
  t.plan(0, `skipped: ${unavailable}`);
} else {
  await main();
}

async function main(): Promise<void> {
  const lab = netnsLab(t);
  const hosts = ['a', 'b', 'c'].map((n) => lab.addHost(n));
  const cluster = await startPgCluster({
    listenOn: hosts.map((h) => ({ address: h.gateway, clients: h.subnet })),
    // a host cut off mid-transaction leaves a backend waiting on a peer that is gone: the server finds out by its
    // keepalives (an operator's setting, as idle_in_transaction_session_timeout in docs/scale-out.md)
    settings: { tcp_keepalives_idle: '1', tcp_keepalives_interval: '1', tcp_keepalives_count: '3' },
  });
  t.teardown(() => cluster.destroy());
  const h = daemonHarness(t);
  const db = await cluster.createDatabase('netns_hosts');
  const counts = mkdtempSync(join(tmpdir(), 'arpd-counts-'));
  t.teardown(() => rmSync(counts, { recursive: true, force: true }));
  const countFile = join(counts, 'executions.jsonl');
  writeFileSync(countFile, '');

  /** The CLI run inside the node's namespace (as an operator on that host would). */
  const cliIn = (n: Node | { host: NetnsHost; dir: string }, args: string[], timeoutMs = 60_000): Promise<NetnsRunResult> =>
    lab.run(n.host, process.execPath, [ARPD_JS, '--data-dir', n.dir, ...args], { timeoutMs, env: { ARPD_NO_AUTOSTART: '1' } });

  const startNode = async (id: string, host: NetnsHost): Promise<Node> => {
    const dir = h.newDataDir();
    const r = await lab.run(host, process.execPath, [ARPD_JS, '--data-dir', dir, 'daemon', 'start', '--json', '--no-http',
      '--node-id', id, '--node-lease', String(LEASE_MS), '--health-interval', '300'], {
      env: { ARPD_STORE_URL: cluster.url({ database: db, host: host.gateway }) },
    });
    if (r.code !== 0) throw new Error(`node ${id} did not start in ${host.ns}:\n${r.stdout}\n${r.stderr}`);
    const pid = (JSON.parse(r.stdout) as { pid: number }).pid;
    h.trackPid(pid);
    return { id, host, dir, pid };
  };

  const json = async <T>(n: Node, args: string[]): Promise<T> => {
    const r = await cliIn(n, [...args, '--json']);
    if (r.code !== 0) throw new Error(`arpd ${args.join(' ')} on node ${n.id} exited ${String(r.code)}: ${r.stderr}`);
    return JSON.parse(r.stdout) as T;
  };

  const rows = async (): Promise<Row[]> =>
    (await cluster.query<Row>('SELECT seq::int AS seq, stream, type, data, meta FROM arpd.events ORDER BY seq', [], db)).rows;
  const runRows = async (runId: string): Promise<Row[]> => (await rows()).filter((r) => r.stream === `run:${runId}`);

  /** Submits through the CLI on a node; the run id when acknowledged, else the CLI's stderr. */
  const submit = async (n: Node, runId: string, goal: string, extra: string[] = [], timeoutS = 30): Promise<{ ok: boolean; stderr: string }> => {
    const r = await cliIn(n, ['runs', 'submit', '--run-id', runId, '--goal', goal, '--timeout', String(timeoutS), ...extra], (timeoutS + 10) * 1000);
    return { ok: r.code === 0, stderr: r.stderr };
  };

  // the three start together (each joins the cluster by itself)
  const nodes = await Promise.all(['a', 'b', 'c'].map((id, i) => startNode(id, hosts[i] as NetnsHost)));
  const [a, b, c] = nodes as [Node, Node, Node];

  // profiles are shared (they are in the store): one upsert on a does for every host
  writeFileSync(join(a.dir, 'profile.json'), JSON.stringify({
    extensions: {
      'arp.jarvis.exec': { driver: 'command', command_template: countingCommand(countFile, ['--step-delay-ms', '20']) },
      'arpd.runtime': { max_concurrent_runs: 4, max_instances: 1, health_interval_ms: 300 },
    },
  }));
  // (no assertion before the first subtest: tap ends an idle root test by itself)
  const up = await cliIn(a, ['profiles', 'upsert', 'counting', '--request-json', join(a.dir, 'profile.json')]);
  if (up.code !== 0) throw new Error(`the profile could not be upserted on a: ${up.stderr}`);

  /** Every acknowledged run: each must be in the store with exactly one end. */
  const accepted: string[] = [];

  const startInstance = async (n: Node): Promise<{ id: string; pid: number }> => {
    const r = await cliIn(n, ['instances', 'start', '--profile', 'counting', '--wait', '--json'], 120_000);
    if (r.code !== 0) {
      const id = /inst_[a-z0-9]+/.exec(r.stderr)?.[0];
      const logs = id === undefined ? undefined : await cliIn(n, ['instances', 'logs', id]);
      throw new Error(`node ${n.id} could not start an instance: ${r.stderr}${logs === undefined ? '' : `\n${logs.stdout}${logs.stderr}`}`);
    }
    const inst = (JSON.parse(r.stdout) as { instances: Json[] }).instances[0] ?? {};
    if (inst['state'] !== 'ready') throw new Error(`node ${n.id}'s instance is not ready: ${r.stdout}`);
    return { id: String(inst['instance_id']), pid: instancePid(inst) };
  };

  const bInstance = await startInstance(b);

  await t.test("a run submitted to node a runs on node b's instance, and a and b answer its status, result and trace the same", async (t) => {
    for (const n of nodes) t.equal(lab.namespaceOf(n.pid), n.host.ns, `daemon ${n.id} runs in namespace ${n.host.ns}`);
    t.equal(lab.namespaceOf(bInstance.pid), b.host.ns, "b's runtime process runs in b's namespace");
    const runId = 'on-b-1';
    const s = await submit(a, runId, 'What is (19*23)?', ['--profile', 'counting', '--wait']);
    t.ok(s.ok, `a acknowledges and the run ends: ${s.stderr}`);
    if (s.ok) accepted.push(runId);
    const evs = await runRows(runId);
    t.same(evs.filter((e) => e.type === 'run.routed').map((e) => [e.data.node, e.data['instance_id']]), [['b', bInstance.id]], "the run is claimed once, by b, for b's instance");
    t.same(evs.filter((e) => e.type === 'run.accepted').map((e) => e.meta['node']), ['a'], 'the run was accepted by a');
    t.same(evs.filter((e) => TERMINAL.includes(e.type)).map((e) => e.type), ['run.succeeded'], 'it succeeded once');
    const ran = readFileSync(countFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { run_id: string; pid: number });
    t.same(ran.filter((x) => x.run_id === runId).map((x) => x.pid), [bInstance.pid], "the runtime process in b's namespace executed it, once");

    /** What a node's CLI prints for the run: status, result and trace, as JSON, with their exit codes. */
    const answers = async (n: Node): Promise<Record<string, { code: number | null; out: unknown; err: string }>> => {
      const out: Record<string, { code: number | null; out: unknown; err: string }> = {};
      for (const what of ['status', 'result', 'trace']) {
        const r = await cliIn(n, ['runs', what, runId, '--json']);
        let parsed: unknown;
        try { parsed = JSON.parse(r.stdout); } catch { parsed = r.stdout.trim() === '' ? undefined : parseNdjson(r.stdout); }
        out[what] = { code: r.code, out: parsed, err: r.stderr };
      }
      return out;
    };
    const fromA = await answers(a);
    const fromB = await answers(b);
    t.match(fromA['status'], { code: 0, out: { run_id: runId, state: 'succeeded' } }, "a's status says it succeeded");
    t.match(JSON.stringify(fromA['result']), /437/, "a's result holds the runtime's answer");
    // docs/scale-out.md: "Any node answers status, result, trace and runs list for any run" (a trace is read from the
    // store a page at a time: it once asked PostgreSQL for 100,000 events in one read and was refused)
    t.equal(fromA['trace']?.code, 0, `a prints the trace ${fromA['trace']?.err ?? ''}`.trim());
    t.ok(JSON.stringify(fromA['trace']?.out ?? '').includes(runId), "a's trace has the run's lines");
    t.same(fromB, fromA, 'b answers status, result and trace exactly as a does');
  });

  await t.test('cutting node b off the network makes a record it lost after its lease: its started run fails E_NODE_LOST once, and every accepted run ends once', async (t) => {
    const cInstance = await startInstance(c);
    t.equal(lab.namespaceOf(cInstance.pid), c.host.ns, "c's runtime process runs in c's namespace");
    // a slow run on b's instance that b's runtime finishes while b is cut off
    const slow = 'slow-on-b';
    const s = await submit(a, slow, 'sleep:5000 What is 6*7?', ['--instance', bInstance.id]);
    t.ok(s.ok, `a acknowledges the slow run: ${s.stderr}`);
    if (s.ok) accepted.push(slow);
    await waitFor('the slow run to start on b', async () => (await runRows(slow)).some((e) => e.type === 'run.started'), 20_000, 100);
    const startedAt = Date.now();
    t.same(executions(countFile).get(slow), 1, "b's runtime took the slow run");

    const before = (await rows()).length;
    lab.linkDown(b.host);
    // up again even when an assertion below throws: the next subtest starts from a connected b
    t.teardown(() => lab.linkUp(b.host));
    t.comment(`b's link is down (${b.host.ns}: ${b.host.device})`);

    // b cannot reach the store: it acknowledges no submission (asked in the background, with a short time limit)
    const whileCut = submit(b, 'to-cut-b', 'What is 1+1?', [], 5);
    // the others go on: a run submitted to a while b is cut off runs on c
    const during = 'during-cut';
    const d = await submit(a, during, 'What is 3*3?', ['--profile', 'counting', '--wait']);
    t.ok(d.ok, `a acknowledges and ends a run while b is cut off: ${d.stderr}`);
    if (d.ok) accepted.push(during);
    t.same((await runRows(during)).filter((e) => e.type === 'run.routed').map((e) => e.data.node), ['c'], 'it was claimed by c');

    const lost = await waitFor('a to record b lost', async () => (await rows()).find((e) => e.type === 'node.lost' && e.data.node_id === 'b'), 30_000, 100);
    t.equal(lost.meta['node'], 'a', 'a (the live node with the smallest id) recorded b lost');
    t.ok(Number(lost.data['silent_ms']) > 2 * LEASE_MS, `b was silent for more than its lease and as long again (${String(lost.data['silent_ms'])} ms)`);
    const slowEnds = (await runRows(slow)).filter((e) => TERMINAL.includes(e.type));
    t.same(slowEnds.map((e) => [e.type, e.data.error?.code]), [['run.failed', 'E_NODE_LOST']], 'the run b had started fails E_NODE_LOST');
    const instEnd = (await rows()).filter((e) => e.stream === `instance:${bInstance.id}` && (e.type === 'instance.failed' || e.type === 'instance.stopped'));
    t.same(instEnd.map((e) => [e.type, e.data['code']]), [['instance.failed', 'E_NODE_LOST']], "b's instance is recorded failed E_NODE_LOST");
    t.ok((await rows()).length > before, 'the store went on taking events while b was cut off');

    // keep b cut off until its runtime has finished the slow run (b then holds an end it cannot record)
    await sleep(Math.max(0, startedAt + 6000 - Date.now()));
    const cut = await whileCut;
    t.notOk(cut.ok, 'b acknowledges no submission while it cannot reach the store');
    t.match(cut.stderr, /E_UNAVAILABLE|E_TIMEOUT/, `it says it cannot (${cut.stderr.trim()})`);
    lab.linkUp(b.host);
    t.comment("b's link is up again");
  });

  await t.test('once its link is back, node b sees it was recorded lost, stops its old runtime process and joins again as a new incarnation', async (t) => {
    const joins = await waitFor('b to join again', async () => {
      const j = (await rows()).filter((e) => e.type === 'node.joined' && e.data.node_id === 'b');
      return j.length >= 2 ? j : undefined;
    }, 30_000, 100);
    t.equal(joins.length, 2, 'b joined twice: at start and after it was recorded lost');
    t.not(joins[1]?.data.incarnation, joins[0]?.data.incarnation, 'the second join is a new incarnation');
    await waitFor("b's old runtime process to be stopped", () => !isRunning(bInstance.pid), 20_000, 100);
    t.pass("b's old runtime process is stopped");
    const st = await json<{ cluster: { incarnation: string; nodes: Array<{ node_id: string; state: string; lease: string }> } }>(b, ['daemon', 'status']);
    t.equal(st.cluster.incarnation, joins[1]?.data.incarnation, "b's status shows its new incarnation");
    t.match(st.cluster.nodes.find((n) => n.node_id === 'b'), { state: 'joined', lease: 'live' }, 'b is joined with a live lease');

    // b is a full node again: a run submitted to it is acknowledged and ends
    const again = 'after-rejoin';
    const s = await submit(b, again, 'What is 5*5?', ['--profile', 'counting', '--wait']);
    t.ok(s.ok, `b acknowledges and ends a run again: ${s.stderr}`);
    if (s.ok) accepted.push(again);

    // every run in the store ends (a submission b could not answer while cut off may have been written when its
    // link came back: its outcome was unknown to the caller, it must still end once)
    const runIds = (evs: Row[]): string[] => [...new Set(evs.filter((e) => e.stream.startsWith('run:')).map((e) => e.stream.slice(4)))];
    const all = await waitFor('every run in the store to end', async () => {
      const got = await rows();
      return runIds(got).every((id) => got.some((e) => e.stream === `run:${id}` && TERMINAL.includes(e.type))) ? got : undefined;
    }, 30_000, 200);
    const problems: string[] = [];
    for (const id of accepted) if (!all.some((e) => e.stream === `run:${id}` && e.type === 'run.accepted')) problems.push(`acknowledged run ${id} is not in the store`);
    for (const id of runIds(all)) {
      const evs = all.filter((e) => e.stream === `run:${id}`);
      const ends = evs.filter((e) => TERMINAL.includes(e.type));
      if (ends.length !== 1) problems.push(`run ${id} has ${ends.length} ends: ${evs.map((e) => `${e.type}@${String(e.meta['node'])}`).join(' ')}`);
      if (evs.filter((e) => e.type === 'run.started').length > 1) problems.push(`run ${id} was started more than once`);
    }
    for (const [id, n] of executions(countFile)) if (n > 1) problems.push(`run ${id} was executed ${n} times`);
    t.same(problems, [], `every acknowledged run (${accepted.join(', ')}) is in the store, and every run there (${runIds(all).join(', ')}) has exactly one end, none started or executed twice`);
    t.same(all.filter((e) => e.stream === 'run:slow-on-b' && TERMINAL.includes(e.type)).map((e) => e.data.error?.code), ['E_NODE_LOST'], 'the slow run ends E_NODE_LOST, not with the answer b held');
    const lostSeq = all.find((e) => e.type === 'node.lost')?.seq ?? 0;
    const lateByB = all.filter((e) => e.seq > lostSeq && e.meta['node'] === 'b' && (e.stream === 'run:slow-on-b' || e.stream === `instance:${bInstance.id}`));
    t.same(lateByB.map((e) => `${e.type} ${e.stream}`), [], 'b records nothing about the run and the instance it lost');
  });
}
