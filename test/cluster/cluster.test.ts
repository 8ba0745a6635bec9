/**
 * Three real daemons (nodes) on one test-made PostgreSQL, each with a real reference-runtime instance of its own.
 * Runs are submitted round-robin to the three HTTP APIs while one daemon is SIGKILLed and started again, another is
 * cut off from PostgreSQL for a few seconds, and then PostgreSQL itself is killed and started again. At the end,
 * from the store: every accepted run has exactly one terminal event, no run was routed twice (a second claim only
 * after a release) nor started twice, every acknowledged run is there, and every daemon's projection equals a
 * fresh fold of the store.
 *
 * Network: each daemon reaches PostgreSQL through a TCP proxy of its own on loopback (test/helpers/tcp-proxy.ts),
 * and "cut off" drops that proxy's connections. The daemons run as separate processes on 127.0.0.1, not in network
 * namespaces (the test says so in its output).
 *
 * Count: ARPD_CLUSTER_RUNS, else 24 (CI) or 1000 (`npm run soak`).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import { Projection } from '../../src/projections/projection.js';
import { Registry } from '../../src/projections/registry.js';
import { usableSnapshots } from '../../src/retention/snapshot-file.js';
import { openPostgresStore } from '../../src/store-postgres/index.js';
import { daemonHarness, sleep, waitFor } from '../helpers/daemon-harness.js';
import { startPgCluster } from '../helpers/pg-cluster.js';
import { soakCount } from '../helpers/soak.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const RUNS = soakCount('ARPD_CLUSTER_RUNS', { ci: 24, soak: 1000 });
const TERMINAL = ['run.succeeded', 'run.failed', 'run.canceled'];

const cluster = await startPgCluster();
t.teardown(() => cluster.destroy());
const h = daemonHarness(t);
const db = await cluster.createDatabase('three_nodes');

interface Node {
  id: string;
  dir: string;
  proxy: TcpProxy;
  leaseMs: number;
  pid: number;
  url: string;
  token: string;
}

async function startNode(n: Omit<Node, 'pid' | 'url' | 'token'>): Promise<Node> {
  // HTTP on (the harness's startDaemon turns it off): the workload goes through the three HTTP APIs
  const r = await h.cli(n.dir, ['daemon', 'start', '--json', '--http-port', '0', '--node-id', n.id, '--node-lease', String(n.leaseMs), '--health-interval', '500'], {
    env: { ARPD_STORE_URL: cluster.url({ database: db, port: n.proxy.port }) },
  });
  if (r.code !== 0) throw new Error(`node ${n.id} did not start:\n${r.stdout}\n${r.stderr}`);
  const st = JSON.parse(r.stdout) as { pid: number; http_url: string };
  h.trackPid(st.pid);
  return { ...n, pid: st.pid, url: st.http_url, token: readFileSync(join(n.dir, 'http.token'), 'utf8').trim() };
}

interface Answer { ok: boolean; status: number; code: string | undefined }

/** One submission over HTTP: ok when acknowledged (202); the status and error code otherwise (status 0: no answer). */
async function submit(n: Node, runId: string, goal: string): Promise<Answer> {
  try {
    const res = await fetch(`${n.url}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${n.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ run_id: runId, input: { goal } }),
      signal: AbortSignal.timeout(15_000),
    });
    const body = await res.text();
    let code: string | undefined;
    try { code = (JSON.parse(body) as { error?: { details?: { arpd_code?: string } } }).error?.details?.arpd_code; } catch { /* not JSON */ }
    return { ok: res.status === 202, status: res.status, code };
  } catch {
    return { ok: false, status: 0, code: undefined };
  }
}

/** Every event of the store, in store order, read as a daemon reads them (catch-up, then live until it has them all). */
async function events(): Promise<StoredEvent[]> {
  const total = (await cluster.query<{ n: number }>('SELECT count(*)::int AS n FROM arpd.events', [], db)).rows[0]?.n ?? 0;
  const store = await openPostgresStore({ url: cluster.url({ database: db }), applicationName: 'arpd test reader' });
  try {
    return await new Promise<StoredEvent[]>((resolve, reject) => {
      const out: StoredEvent[] = [];
      const done = (): void => { sub.close(); resolve(out); };
      const sub = store.subscribe(0, undefined, {
        event: (e) => { out.push(e); if (out.length === total) queueMicrotask(done); },
        live: () => { if (out.length >= total) queueMicrotask(done); },
        error: reject,
      });
      setTimeout(() => { sub.close(); reject(new Error(`the reader got ${out.length} of ${total} events in 60 s (last seq ${out.at(-1)?.seq ?? 0})`)); }, 60_000).unref();
    });
  } finally {
    await store.close();
  }
}

t.test('three daemons share one PostgreSQL through a daemon kill, a cut-off and a PostgreSQL crash', async (t) => {
  t.comment('network namespaces are not used: the three daemons run as separate processes on loopback, each reaching PostgreSQL through its own TCP proxy (a cut-off drops its connections)');
  const spec = [
    { id: 'n1', leaseMs: 1000 },
    // the node that is SIGKILLed: a lease long enough to re-attach when started again
    { id: 'n2', leaseMs: 5000 },
    // the node that is cut off for longer than its lease and grace: it is recorded lost and joins again
    { id: 'n3', leaseMs: 700 },
  ];
  const nodes: Node[] = [];
  for (const s of spec) nodes.push(await startNode({ ...s, dir: h.newDataDir(), proxy: await startTcpProxy(cluster.port) }));
  t.teardown(() => Promise.all(nodes.map((n) => n.proxy.close())));
  for (const n of nodes) {
    const r = await h.cli(n.dir, ['instances', 'start', '--profile', 'default', '--wait', '--json']);
    t.equal(r.code, 0, `node ${n.id} starts an instance: ${r.stderr}`);
  }
  const accepted: string[] = [];
  /** What the cut-off node answered while it was cut off. */
  let cutAnswers: Answer[] | undefined;
  let submitted = 0;
  const submitSome = async (count: number): Promise<void> => {
    const batch: Array<Promise<void>> = [];
    for (let i = 0; i < count && submitted < RUNS; i++) {
      const runId = `r${String(submitted).padStart(5, '0')}`;
      const node = nodes[submitted % 3] as Node;
      submitted++;
      batch.push(submit(node, runId, `sleep:${50 + (submitted % 5) * 40} What is (${submitted}+1)*2?`).then((a) => {
        if (a.ok) accepted.push(runId);
        if (node === nodes[2] && cutAnswers !== undefined) cutAnswers.push(a);
      }));
      if (batch.length >= 6) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
  };
  const step = Math.max(1, Math.floor(RUNS / 6));

  await submitSome(step);
  // a daemon SIGKILLed with runs in flight, then started again on the same data dir
  const n2 = nodes[1] as Node;
  await submitSome(2);
  process.kill(n2.pid, 'SIGKILL');
  await submitSome(step);
  nodes[1] = await startNode(n2);
  await submitSome(step);

  // a daemon cut off from PostgreSQL for a few seconds
  const n3 = nodes[2] as Node;
  n3.proxy.cut();
  cutAnswers = [];
  await submitSome(step);
  await sleep(3000);
  const whileCut = cutAnswers;
  cutAnswers = undefined;
  n3.proxy.restore();
  t.ok(whileCut.length > 0, 'the cut-off node was asked while cut off');
  t.same(whileCut.filter((a) => a.status !== 503 || a.code !== 'E_UNAVAILABLE'), [], 'while cut off from PostgreSQL it refuses every submission with 503 E_UNAVAILABLE');
  // it resumes by itself: a submission to it is acknowledged again
  let probes = 0;
  await waitFor('the cut-off node to acknowledge again', async () => {
    const id = `probe${++probes}`;
    const a = await submit(n3, id, 'What is 1+1?');
    if (a.ok) accepted.push(id);
    return a.ok;
  }, 60_000, 500);
  await submitSome(step);

  // PostgreSQL killed and started again mid-workload: the daemons recover by themselves
  const pids = nodes.map((n) => n.pid);
  await cluster.crash();
  await submitSome(2);
  await sleep(1000);
  await cluster.start();
  await submitSome(RUNS);
  t.same(nodes.map((n) => n.pid), pids, 'no daemon restarted by itself');
  t.ok(accepted.length > 0, `${accepted.length} of ${submitted} submissions acknowledged`);

  // every acknowledged run ends (asked of the store)
  const ended = await waitFor('every acknowledged run to end', async () => {
    const r = await cluster.query<{ n: number }>(`SELECT count(DISTINCT data->>'run_id')::int AS n FROM arpd.events WHERE type = ANY($1) AND data->>'run_id' = ANY($2)`, [TERMINAL, accepted], db).catch(() => undefined);
    return r?.rows[0]?.n === accepted.length;
  }, Math.max(120_000, RUNS * 300), 250).then(() => true, () => false);
  t.ok(ended, 'every acknowledged run ended');

  const all = await events();
  const byRun = new Map<string, StoredEvent[]>();
  for (const e of all) {
    if (!e.stream.startsWith('run:')) continue;
    const id = e.stream.slice(4);
    byRun.set(id, [...(byRun.get(id) ?? []), e]);
  }
  const problems: string[] = [];
  for (const id of accepted) if (!byRun.get(id)?.some((e) => e.type === 'run.accepted')) problems.push(`acknowledged run ${id} is not in the store`);
  for (const [id, evs] of byRun) {
    const ends = evs.filter((e) => TERMINAL.includes(e.type)).length;
    if (ends !== 1) problems.push(`run ${id} has ${ends} terminal events: ${evs.map((e) => `${e.type}${e.meta.node === undefined ? '' : `@${e.meta.node}`}`).join(' ')}`);
    const starts = evs.filter((e) => e.type === 'run.started').length;
    if (starts > 1) problems.push(`run ${id} was started ${starts} times`);
    let claimed = false;
    for (const e of evs) {
      if (e.type === 'run.routed') {
        if (claimed) problems.push(`run ${id} was routed twice without a release`);
        claimed = true;
      } else if (e.type === 'run.released') {
        claimed = false;
      }
    }
  }
  t.same(problems, [], 'the store holds one end per run, no double route or start, every acknowledged run');
  if (problems.length > 0) {
    const act = await cluster.query("SELECT application_name, state, xact_start, backend_xid::text, backend_xmin::text, left(query, 80) AS q FROM pg_stat_activity WHERE datname = $1", [db]);
    const ev = await cluster.query("SELECT count(*)::int AS n, max(seq)::int AS max, pg_snapshot_xmin(pg_current_snapshot())::text AS xmin, max(tx)::text AS maxtx FROM arpd.events", [], db);
    t.comment(JSON.stringify({ read: all.length, last: all.at(-1)?.seq, ...ev.rows[0], activity: act.rows }, null, 1));
  }
  const count = (type: string): number => all.filter((e) => e.type === type).length;
  const lostCodes = all.filter((e) => e.type === 'run.failed' && e.data.error.code === 'E_NODE_LOST').length;
  t.comment(`${byRun.size} runs in the store, ${count('run.succeeded')} succeeded, ${count('run.failed')} failed (${lostCodes} E_NODE_LOST), ${count('run.released')} claims released, ${count('node.lost')} node(s) recorded lost, ${count('node.joined')} joins`);

  // every daemon's projection equals a fresh fold of the store up to the position its snapshot holds (a node may
  // append after the workload, e.g. a lease that ran out on the loaded machine, so later events are read too)
  const head = all.at(-1)?.seq ?? 0;
  const foldUpTo = async (seq: number): Promise<string> => {
    const upTo = (seq <= head ? all : await events()).filter((e) => e.seq <= seq);
    const fresh = new Projection();
    for (const e of upTo) fresh.push(e);
    return JSON.stringify(fresh.registry.snapshot());
  };
  for (const n of nodes) {
    let seen: unknown;
    const reached = await waitFor(`node ${n.id} to fold the store up to seq ${head}`, async () => {
      seen = (await h.status(n.dir))?.['last_seq'];
      return typeof seen === 'number' && seen >= head;
    }, 60_000, 200).then(() => true, () => false);
    t.ok(reached, `node ${n.id} folded the store up to its head at the end of the workload (${head}; the node said ${String(seen)})`);
    const r = await h.cli(n.dir, ['log', 'snapshot', '--json']);
    t.equal(r.code, 0, `node ${n.id} takes a snapshot: ${r.stderr}`);
    const root = join(n.dir, 'snapshots');
    const dir = readdirSync(root).find((d) => d.startsWith('postgres-'));
    const snap = dir === undefined ? undefined : usableSnapshots(join(root, dir), () => undefined).next().value;
    const at = snap?.position.seq ?? 0;
    t.ok(at >= head, `node ${n.id}'s snapshot holds the store's head (${at} >= ${head})`);
    const state = snap === undefined ? '' : JSON.stringify(Registry.importState(snap.body.registry).snapshot());
    t.equal(state, await foldUpTo(at), `node ${n.id}'s projection equals a fresh fold of the store up to seq ${at}`);
  }
});
