/**
 * A real daemon on a real PostgreSQL (`--store postgres://…`): it runs a run end to end against the bundled
 * reference runtime, shows the store (password redacted) and its node in `arpd daemon status`, and refuses to start
 * with a clear message naming what to fix on each bad store: unreachable, wrong password, a schema from a newer
 * arpd, a user without the permissions it needs. The password is never in any output nor in the daemon's log.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { openPostgresStore, SCHEMA_VERSION } from '../../src/store-postgres/index.js';
import { daemonHarness, waitFor, waitGone, type CliResult } from '../helpers/daemon-harness.js';
import { NdjsonSocket } from '../helpers/ndjson-socket.js';
import { startPgCluster } from '../helpers/pg-cluster.js';
import { clientOf, expectAnswer, startHttpDaemon } from '../server/http-daemon.js';

const cluster = await startPgCluster();
t.teardown(() => cluster.destroy());
const h = daemonHarness(t);

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 1));
    });
  });
}

/** `arpd daemon start --store <url>` expected to fail: its output, checked for the password. */
async function refusedStart(t: Test, url: string, secret: string, flags: string[] = []): Promise<CliResult> {
  const dir = h.newDataDir();
  const r = await h.cli(dir, ['daemon', 'start', '--no-http', '--store', url, ...flags]);
  t.not(r.code, 0, 'the daemon does not start');
  t.notMatch(`${r.stdout}${r.stderr}`, secret, 'the password is not in the output');
  let log = '';
  try { log = readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8'); } catch { /* no log */ }
  t.notMatch(log, secret, 'the password is not in the daemon log');
  t.equal(await h.status(dir), undefined, 'no daemon runs');
  return r;
}

t.test('a daemon on PostgreSQL runs a run and shows the store redacted and its node in status', async (t) => {
  const db = await cluster.createDatabase('one_daemon');
  const dir = h.newDataDir();
  const url = cluster.url({ database: db });
  const { status } = await h.startDaemon(dir, ['--node-id', 'alpha'], { env: { ARPD_STORE_URL: url } });
  t.match(status['store'], { kind: 'postgres', node_id: 'alpha' });
  const shown = JSON.stringify(status);
  t.notMatch(shown, cluster.password, 'the password is not in status');
  t.match(shown, `postgres://postgres:***@127.0.0.1:${cluster.port}/${db}`, 'the URL is shown with the password redacted');
  t.match(status['cluster'], { node_id: 'alpha', nodes: [{ node_id: 'alpha', this_node: true, lease: 'live' }] });

  const run = await h.cli(dir, ['runs', 'submit', '--goal', 'What is (2+3)*4?', '--wait']);
  t.equal(run.code, 0, run.stderr);
  t.match(run.stdout, /20/, 'the reference runtime answered');

  // the events are in PostgreSQL, stamped with the node that claimed the run
  const routed = await cluster.query<{ data: { node?: string } }>("SELECT data FROM arpd.events WHERE type = 'run.routed'", [], db);
  t.equal(routed.rows.length, 1);
  t.equal(routed.rows[0]?.data.node, 'alpha', 'the claim names the node');
  const joined = await cluster.query("SELECT 1 FROM arpd.events WHERE type = 'node.joined'", [], db);
  t.equal(joined.rows.length, 1, 'the node joined once');
  // a second daemon (another data dir) with the same node id is refused while this one lives
  const twin = await refusedStart(t, url, cluster.password, ['--node-id', 'alpha']);
  t.match(twin.stderr, /E_CONFLICT/);
  t.match(twin.stderr, /node id 'alpha' is in use by a live daemon.*give each daemon its own --node-id/);
  t.equal((await h.cli(dir, ['daemon', 'stop'])).code, 0);
  const left = await cluster.query<{ left_at: Date | null }>('SELECT left_at FROM arpd.nodes', [], db);
  t.not(left.rows[0]?.left_at, null, 'a clean stop ends the lease');
  t.notMatch(readFileSync(join(dir, 'logs', 'daemon.log'), 'utf8'), cluster.password, 'the password is not in the daemon log');
});

t.test('a submit naming a profile another node added a moment ago is accepted, not refused as unknown', async (t) => {
  const db = await cluster.createDatabase('late_profile');
  const dir = h.newDataDir();
  const url = cluster.url({ database: db });
  await h.startDaemon(dir, ['--node-id', 'beta'], { env: { ARPD_STORE_URL: url } });
  // "another node": a store client in this process that sends no NOTIFY, so the daemon sees its event only at its
  // next poll (up to a second away) unless it catches up with the store when a selector names something it lacks
  const other = await openPostgresStore({ url });
  t.teardown(() => other.close());
  (other as unknown as { listener: { notify(): void } }).listener.notify = () => undefined;
  const def = await cluster.query<{ data: { profile: Record<string, unknown> } }>("SELECT data FROM arpd.events WHERE stream = 'profile:default' ORDER BY seq DESC LIMIT 1", [], db);
  const profile = { ...(def.rows[0]?.data.profile as Record<string, unknown>), runtime_profile: 'late' };
  const sock = await NdjsonSocket.open(join(dir, 'arpd.sock'));
  t.teardown(() => sock.socket.destroy());
  const refused = await sock.request(1, 'runs.submit', { request: { input: { goal: 'What is 6*7?' }, runtime_selector: { runtime_profile: 'later' } } });
  t.match(refused.error?.data, { code: 'E_NOT_FOUND' }, 'a profile nobody has is still refused');
  await other.append([{ type: 'profile.upserted', data: { runtime_profile: 'late', profile }, expectedRev: 0 } as never]);
  const r = await sock.request(2, 'runs.submit', { request: { run_id: 'late-1', input: { goal: 'What is 6*7?' }, runtime_selector: { runtime_profile: 'late' } } });
  t.equal(r.error, undefined, `accepted: ${JSON.stringify(r.error)}`);
  t.match(r.result, { run_id: 'late-1' });
  const ended = await sock.request(3, 'runs.wait', { run_id: 'late-1', timeout_ms: 60_000 }, 70_000);
  t.match(ended.result, { state: 'succeeded' }, 'it ran on an instance of the new profile');
  const result = await h.cli(dir, ['runs', 'result', 'late-1']);
  t.match(result.stdout, /42/);
  t.equal((await h.cli(dir, ['daemon', 'stop'])).code, 0);
});

// was a bug in src/policy/routing.ts (fixed): a loopback endpoint compared equal across nodes, so a runtime on one
// node's 127.0.0.1:P made node b refuse to register its own runtime at 127.0.0.1:P (E_CONFLICT, "arpd started and
// manages"). The two daemons here share a host, so beta's registration reaches alpha's runtime; what is checked is
// that each node's loopback is its own.
t.test('a loopback endpoint is its node\'s: a runtime at 127.0.0.1:P on one node does not refuse a registration of 127.0.0.1:P on another', async (t) => {
  const db = await cluster.createDatabase('loopback_nodes');
  const url = cluster.url({ database: db });
  const alpha = h.newDataDir();
  const beta = h.newDataDir();
  await h.startDaemon(alpha, ['--node-id', 'alpha'], { env: { ARPD_STORE_URL: url } });
  await h.startDaemon(beta, ['--node-id', 'beta'], { env: { ARPD_STORE_URL: url } });
  const started = await h.cli(alpha, ['instances', 'start', '--profile', 'default', '--wait', '--json']);
  t.equal(started.code, 0, started.stderr);
  const managed = (JSON.parse(started.stdout) as { instances: Array<{ instance_id: string; runtime_api_endpoint: string }> }).instances[0];
  const port = new URL(String(managed?.runtime_api_endpoint)).port;

  const onAlpha = await h.cli(alpha, ['instances', 'register', '--endpoint', `http://localhost:${port}`]);
  t.equal(onAlpha.code, 5, 'on its own node the endpoint is the managed instance\'s');
  t.match(onAlpha.stderr, new RegExp(`is the endpoint of instance '${String(managed?.instance_id)}', which arpd started and manages.*\\[E_CONFLICT\\]`));
  const onBeta = await h.cli(beta, ['instances', 'register', '--endpoint', `http://localhost:${port}`, '--json']);
  t.equal(onBeta.code, 0, `on another node it is another host's loopback: ${onBeta.stderr}`);
  const registered = (JSON.parse(onBeta.stdout) as { instance: { instance_id: string; managed: boolean } }).instance;
  t.equal(registered.managed, false);
  const rows = await cluster.query<{ data: { node?: string } }>("SELECT data FROM arpd.events WHERE type = 'instance.registered'", [], db);
  t.same(rows.rows.map((r) => r.data.node), ['beta'], 'registered on beta, as beta\'s');
  t.equal((await h.cli(beta, ['daemon', 'stop'])).code, 0);
  t.equal((await h.cli(alpha, ['daemon', 'stop'])).code, 0);
});

/** A stand-in ARP runtime on `host` port 0 that answers health, version and run creation, and counts what it is asked. */
async function countingStandIn(t: Test, host: string): Promise<{ endpoint: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createHttpServer((req, res) => {
    requests.push(`${req.method ?? '?'} ${req.url ?? '/'}`);
    req.resume().on('end', () => {
      const send = (status: number, body: unknown): void => { res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)); };
      if (req.url === '/v1/health') send(200, { status: 'ok', time: new Date().toISOString() });
      else if (req.url === '/v1/version') send(200, { service_name: 'stand-in', service_version: '1.0.0', supported_api_versions: ['v1'] });
      else send(404, { error: { code: 'route.not_found', message: 'not here' } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.teardown(() => { server.closeAllConnections(); return new Promise<void>((resolve) => server.close(() => resolve())); });
  return { endpoint: `http://${host}:${(server.address() as AddressInfo).port}`, requests };
}

type WithNode = { instance_id: string; extensions: { 'arpd.instance': { node?: string } } };

// was missing (fixed): instances list and get did not say which node an instance belongs to, so with daemons sharing a
// store nobody could tell which host runs an instance or reaches its 127.0.0.1 endpoint.
t.test('instances list and get name each instance\'s node when daemons share a store: on the socket, over HTTP and in the listing', async (t) => {
  const db = await cluster.createDatabase('instance_nodes');
  const url = cluster.url({ database: db });
  const alpha = h.newDataDir();
  await h.startDaemon(alpha, ['--node-id', 'alpha'], { env: { ARPD_STORE_URL: url } });
  const beta = await startHttpDaemon(t, ['--node-id', 'beta'], { env: { ARPD_STORE_URL: url } });
  const started = await h.cli(alpha, ['instances', 'start', '--profile', 'default', '--wait', '--json']);
  t.equal(started.code, 0, started.stderr);
  const managedId = String((JSON.parse(started.stdout) as { instances: WithNode[] }).instances[0]?.instance_id);
  const standIn = await countingStandIn(t, '127.0.0.1');
  const reg = await h.cli(beta.dataDir, ['instances', 'register', '--endpoint', standIn.endpoint, '--json']);
  t.equal(reg.code, 0, reg.stderr);
  const extId = (JSON.parse(reg.stdout) as { instance: WithNode }).instance.instance_id;
  const nodes = (list: WithNode[]): Record<string, string | undefined> => Object.fromEntries(list.map((i) => [i.instance_id, i.extensions['arpd.instance'].node]));
  const expected = { [managedId]: 'alpha', [extId]: 'beta' };

  // the socket, on alpha (once it has read beta's registration from the store)
  const onAlpha = await waitFor('alpha lists both instances', async () => {
    const list = (JSON.parse((await h.cli(alpha, ['instances', 'list', '--json'])).stdout) as { instances: WithNode[] }).instances;
    return list.length === 2 ? list : undefined;
  });
  t.same(nodes(onAlpha), expected, 'instances list --json: each instance\'s node');
  const got = JSON.parse((await h.cli(alpha, ['instances', 'get', extId])).stdout) as WithNode;
  t.equal(got.extensions['arpd.instance'].node, 'beta', 'instances get: the registration is beta\'s');
  // HTTP, on beta: still valid ARP (the node is an arpd extension)
  const http = clientOf(beta);
  const one = await http('GET', `/v1/instances/${managedId}`);
  expectAnswer(t, one, 200, 'RuntimeInstance', 'GET /v1/instances/{id}');
  t.equal((one.body as WithNode).extensions['arpd.instance'].node, 'alpha', 'over HTTP: the managed instance is alpha\'s');
  const all = await http('GET', '/v1/instances');
  expectAnswer(t, all, 200, 'InstanceListResponse', 'GET /v1/instances');
  t.same(nodes((all.body as { instances: WithNode[] }).instances), expected);
  // the human listing has a NODE column
  const human = await h.cli(beta.dataDir, ['instances', 'list']);
  t.match(human.stdout, /^INSTANCE\s+STATE\s+PROFILE\s+KIND\s+NODE\s+ENDPOINT\s+REASON/m);
  t.match(human.stdout, new RegExp(`^${managedId}\\s+ready\\s+default\\s+managed\\s+alpha\\s+http://`, 'm'));
  t.match(human.stdout, new RegExp(`^${extId}\\s+ready\\s+-\\s+external\\s+beta\\s+${standIn.endpoint.replace(/\./g, '\\.')}`, 'm'));
  t.equal((await h.cli(alpha, ['daemon', 'stop'])).code, 0);
  t.same(await beta.stop(), { code: 0, signal: null }, 'beta stops cleanly');
});

/** A non-loopback IPv4 address of this host, if it has one. */
function routableAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return undefined;
}

interface ListedInstance { instance_id: string; state: string; extensions: { 'arpd.instance': { error?: { code: string; message: string } } } }

// was a bug in src/policy/ownership.ts (fixed): an external instance registered on node alpha at 127.0.0.1:P was adopted
// by beta once alpha was lost or left, and beta probed 127.0.0.1:P on its own host (another machine in a real cluster)
// and sent runs there. The two daemons share a host here, so the runtime at 127.0.0.1:P counts what beta asks it.
t.test('a loopback registration of a node that is gone is recorded failed, never probed nor sent runs by another node; a routable one is adopted', async (t) => {
  const routable = routableAddress();
  if (routable === undefined) { t.comment('skipped: this host has no non-loopback IPv4 address for the routable registration'); return; }
  const db = await cluster.createDatabase('loopback_adoption');
  const env = { env: { ARPD_STORE_URL: cluster.url({ database: db }) } };
  const flags = ['--node-lease', '1000', '--health-interval', '300'];
  const alpha = h.newDataDir();
  const beta = h.newDataDir();
  const a = await h.startDaemon(alpha, ['--node-id', 'alpha', ...flags], env);
  await h.startDaemon(beta, ['--node-id', 'beta', ...flags], env);
  const lo = await countingStandIn(t, '127.0.0.1');
  const far = await countingStandIn(t, routable);
  const register = async (endpoint: string): Promise<string> => {
    const r = await h.cli(alpha, ['instances', 'register', '--endpoint', endpoint, '--json']);
    t.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { instance: { instance_id: string } }).instance.instance_id;
  };
  const loId = await register(lo.endpoint);
  const farId = await register(far.endpoint);
  const listed = async (id: string): Promise<ListedInstance | undefined> => {
    const r = await h.cli(beta, ['instances', 'list', '--all', '--json']);
    const body = JSON.parse(r.stdout) as { instances: ListedInstance[] } | ListedInstance[];
    return (Array.isArray(body) ? body : body.instances).find((i) => i.instance_id === id);
  };
  await waitFor('both registrations ready', async () => (await listed(loId))?.state === 'ready' && (await listed(farId))?.state === 'ready');

  // node alpha is killed: beta records it lost once its lease and grace have passed
  process.kill(a.pid, 'SIGKILL');
  await waitGone(a.pid);
  const asked = lo.requests.length;
  const lost = await waitFor('the loopback registration recorded failed', async () => { const i = await listed(loId); return i?.state === 'error' ? i : undefined; });
  t.match(lost.extensions['arpd.instance'].error, { code: 'E_NODE_LOST', message: new RegExp(`^node 'alpha' .* recorded lost: instance '${loId}' was registered on that node at ${lo.endpoint}, a loopback address only that node's host reaches.*start node 'alpha' again.*register the runtime from a daemon on that host`) });
  const run = await h.cli(beta, ['runs', 'submit', '--goal', 'What is 6*7?', '--instance', loId, '--json']);
  t.equal(run.code, 0, `the run waits for the instance to come back: ${run.stderr}`);
  const runId = (JSON.parse(run.stdout) as { run_id: string }).run_id;
  // beta adopts the routable registration: two of its checks there, so its checks and routing had their turns
  const farAsked = far.requests.length;
  await waitFor('beta checks the routable registration', () => far.requests.slice(farAsked).filter((r) => r === 'GET /v1/health').length >= 2);
  t.equal((await listed(farId))?.state, 'ready', 'the routable registration is served by beta');
  t.same(lo.requests.slice(asked), [], 'beta asked nothing at 127.0.0.1 for alpha: no check, no run');
  const waiting = await h.cli(beta, ['runs', 'status', runId, '--json']);
  t.match(JSON.parse(waiting.stdout), { state: 'queued' }, 'the run was not sent to another node\'s loopback');

  // alpha back: it checks its registration again (ready), and at a clean stop records it failed E_NODE_LEFT
  await h.startDaemon(alpha, ['--node-id', 'alpha', ...flags], env);
  await waitFor('alpha revives its registration', async () => (await listed(loId))?.state === 'ready');
  const routed = await waitFor('the waiting run is routed', async () => {
    const rows = (await cluster.query<{ node: string }>("SELECT data->>'node' AS node FROM arpd.events WHERE type = 'run.routed'", [], db)).rows;
    return rows.length > 0 ? rows : undefined;
  });
  t.same(routed.map((r) => r.node), ['alpha'], 'the waiting run is sent by alpha, the node whose host reaches the runtime');
  t.equal((await h.cli(alpha, ['daemon', 'stop'])).code, 0);
  const left = await waitFor('beta sees the registration failed', async () => { const i = await listed(loId); return i?.state === 'error' ? i : undefined; });
  t.match(left.extensions['arpd.instance'].error, { code: 'E_NODE_LEFT', message: /^node 'alpha' \(host .*\) left \(.*\): .*start node 'alpha' again/ });
  const stillAsked = lo.requests.length;
  const farNow = far.requests.length;
  await waitFor('beta checks the routable registration again', () => far.requests.slice(farNow).filter((r) => r === 'GET /v1/health').length >= 2);
  t.same(lo.requests.slice(stillAsked), [], 'after a clean leave too, beta asks nothing at 127.0.0.1 for alpha');
  t.equal((await h.cli(beta, ['daemon', 'stop'])).code, 0);
});

// was a bug in src/client/daemon-start.ts (fixed): `arpd daemon start --store postgres://user:PASSWORD@…` passed the URL
// on to the detached daemon's command line, where every user of the host reads the password for as long as it runs
// (`ps`, /proc/<pid>/cmdline).
t.test('a daemon started with --store keeps the password off its command line, and a restart keeps its store', async (t) => {
  const db = await cluster.createDatabase('argv_secret');
  const dir = h.newDataDir();
  const { pid } = await h.startDaemon(dir, ['--store', cluster.url({ database: db })]);
  const cmdline = (p: number): string => readFileSync(`/proc/${p}/cmdline`, 'utf8');
  t.notMatch(cmdline(pid), cluster.password, 'the password is not on the command line');
  t.match((await h.status(dir))?.['store'], { kind: 'postgres' });
  // restarted from a shell without ARPD_STORE_URL: it starts again on the same store, the password still off its command line
  const restarted = await h.cli(dir, ['daemon', 'restart', '--json']);
  t.equal(restarted.code, 0, restarted.stderr);
  t.notMatch(`${restarted.stdout}${restarted.stderr}`, cluster.password);
  const status = await h.status(dir);
  t.not(status?.['pid'], pid, 'a new process');
  t.match(status?.['store'], { kind: 'postgres' }, 'on the same store');
  t.notMatch(cmdline(status?.['pid'] as number), cluster.password, 'the password is not on the command line after the restart');
  t.equal((await h.cli(dir, ['daemon', 'stop'])).code, 0);
});

// was a bug in src/cli (fixed): `arpd log verify`, `log replay` and `arpd events` read only the JSONL log of the data
// dir, which a daemon on PostgreSQL does not have: they said "ok: 0 events", "state at seq 0" and printed nothing.
t.test('log verify and replay refuse a data dir whose events are in PostgreSQL, and events reads them through its daemon', async (t) => {
  const db = await cluster.createDatabase('log_tools');
  const dir = h.newDataDir();
  await h.startDaemon(dir, ['--node-id', 'tools'], { env: { ARPD_STORE_URL: cluster.url({ database: db }) } });
  for (const tool of ['verify', 'replay']) {
    const r = await h.cli(dir, ['log', tool]);
    t.equal(r.code, 2, `log ${tool} is refused`);
    t.match(r.stderr, /E_VALIDATION/);
    t.match(r.stderr, /keeps its events in PostgreSQL \(--store\): read them through the daemon with 'arpd events'/);
  }
  const events = await h.cli(dir, ['events', '--json', '--type', 'node.']);
  t.equal(events.code, 0, events.stderr);
  const lines = events.stdout.trim().split('\n').map((l) => JSON.parse(l) as { type: string; data: { node_id?: string } });
  t.match(lines, [{ type: 'node.joined', data: { node_id: 'tools' } }], 'the events come from the store');
  t.equal((await h.cli(dir, ['daemon', 'stop'])).code, 0);
  const stopped = await h.cli(dir, ['events']);
  t.not(stopped.code, 0, 'with its daemon stopped, events says it needs it');
  t.match(stopped.stderr, /are in PostgreSQL \(--store\) and are read through its daemon, which is not running/);
});

t.test('an unreachable store is refused at start, naming host and port', async (t) => {
  const port = await closedPort();
  const r = await refusedStart(t, `postgres://u:hunter2secret@127.0.0.1:${port}/db`, 'hunter2secret');
  t.match(r.stderr, /E_UNAVAILABLE/);
  t.match(r.stderr, new RegExp(`127\\.0\\.0\\.1:${port}.*check that the server runs`));
});

t.test('a wrong password is refused at start, naming the user', async (t) => {
  const r = await refusedStart(t, cluster.url({ password: 'wrong-secret-42' }), 'wrong-secret-42');
  t.match(r.stderr, /E_UNAUTHORIZED/);
  t.match(r.stderr, /user 'postgres'.*check the user and password in --store/);
});

t.test('a schema from a newer arpd is refused at start, saying to upgrade arpd', async (t) => {
  const db = await cluster.createDatabase('future_schema');
  const dir = h.newDataDir();
  await h.startDaemon(dir, [], { env: { ARPD_STORE_URL: cluster.url({ database: db }) } });
  t.equal((await h.cli(dir, ['daemon', 'stop'])).code, 0);
  await cluster.query("INSERT INTO arpd.schema_version (version, name, arpd_version) VALUES ($1, 'from the future', '99.0.0')", [SCHEMA_VERSION + 1], db);
  const r = await refusedStart(t, cluster.url({ database: db }), cluster.password);
  t.match(r.stderr, /E_STORE_SCHEMA/);
  t.match(r.stderr, /newer than this arpd .*upgrade arpd/);
});

t.test('a user without the permissions it needs is refused at start, saying what to grant', async (t) => {
  const db = await cluster.createDatabase('weak_user');
  await cluster.query("CREATE ROLE weak_daemon LOGIN PASSWORD 'weak-secret-7'");
  const weak = cluster.url({ database: db, user: 'weak_daemon', password: 'weak-secret-7' });
  const noCreate = await refusedStart(t, weak, 'weak-secret-7');
  t.match(noCreate.stderr, /E_FORBIDDEN/);
  t.match(noCreate.stderr, /grant the user CREATE on the database/);
  // the schema made by its owner, everything granted but writes to the lease table: the missing grants are named
  const dir = h.newDataDir();
  await h.startDaemon(dir, [], { env: { ARPD_STORE_URL: cluster.url({ database: db }) } });
  t.equal((await h.cli(dir, ['daemon', 'stop'])).code, 0);
  await cluster.query('GRANT USAGE ON SCHEMA arpd TO weak_daemon; GRANT SELECT ON ALL TABLES IN SCHEMA arpd TO weak_daemon; GRANT INSERT, UPDATE ON arpd.events, arpd.streams TO weak_daemon; GRANT USAGE ON ALL SEQUENCES IN SCHEMA arpd TO weak_daemon', [], db);
  const noLeases = await refusedStart(t, weak, 'weak-secret-7');
  t.match(noLeases.stderr, /E_FORBIDDEN/);
  t.match(noLeases.stderr, /INSERT on arpd\.nodes.*UPDATE on arpd\.nodes/s);
  t.notMatch(noLeases.stderr, /on arpd\.events|on arpd\.streams/, 'what was granted is not listed');
});

t.test('--store with a URL that is not PostgreSQL is a usage error naming the form', async (t) => {
  const r = await refusedStart(t, 'mysql://u:pw-in-mysql@h/db', 'pw-in-mysql');
  t.match(r.stderr, /postgres:\/\/user:password@host:5432/);
});

t.test('a --node-lease out of range is a usage error naming the range', async (t) => {
  const r = await refusedStart(t, cluster.url(), cluster.password, ['--node-lease', '5']);
  t.equal(r.code, 2);
  t.match(r.stderr, /--node-lease takes a number from 300 to 3600000, not '5'/);
});
