/**
 * The JARVIS client commands with `arpd` in place of `arp-jarvis daemon`, against a REAL daemon: the same
 * flags, the JSON the HTTP API returns (keys sorted, as JARVIS's `json.dumps(…, sort_keys=True)` prints),
 * `JARVIS_DAEMON_URL` honoured like `ARP_DAEMON_URL`, and `arpd --host H --port P` serving HTTP on H:P.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { daemonHarness, waitFor } from '../helpers/daemon-harness.js';
import { runtimeHarness } from '../helpers/runtime-harness.js';
import { startHttpDaemon } from '../server/http-daemon.js';

type Json = Record<string, unknown>;

const h = daemonHarness(t);
const d = await startHttpDaemon(t);
const local = h.newDataDir();
/** Every command goes to the daemon over HTTP, through JARVIS's variable (and its token through ARPD_TOKEN). */
const env = { JARVIS_DAEMON_URL: d.url, ARPD_TOKEN: d.token };

/** With `admin`, the admin token: changing the safe list over HTTP needs it (arpd is stricter than JARVIS here, docs/jarvis.md). */
async function jarvis(args: string[], o: { admin?: boolean } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return h.cli(local, args, { env: o.admin === true ? { ...env, ARPD_TOKEN: d.adminToken } : env });
}

/** Keys sorted at every level, as JARVIS prints. */
function sortedEverywhere(v: unknown): boolean {
  if (Array.isArray(v)) return v.every(sortedEverywhere);
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    return keys.join('\u0000') === [...keys].sort().join('\u0000') && Object.values(v).every(sortedEverywhere);
  }
  return true;
}

async function http(path: string): Promise<unknown> {
  const res = await fetch(`${d.url}${path}`, { headers: { authorization: `Bearer ${d.token}` } });
  return res.json();
}

function parsed(t: Test, r: { code: number | null; stdout: string; stderr: string }, what: string): Json {
  t.equal(r.code, 0, `${what}: ${r.stderr}`);
  const v = JSON.parse(r.stdout) as Json;
  t.ok(sortedEverywhere(v), `${what}: keys sorted as JARVIS prints them`);
  t.equal(r.stdout, `${JSON.stringify(v, null, 2)}\n`, `${what}: indented by 2`);
  return v;
}

const profileFile = join(local, 'profile.json');
writeFileSync(profileFile, JSON.stringify({ description: 'a JARVIS profile', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0'] } } }));
const runFile = join(local, 'run.json');
writeFileSync(runFile, JSON.stringify({ input: { goal: 'What is (19*23)?' } }));

t.test('runtime-profiles upsert, list and delete print what the HTTP API returns', async (t) => {
  const refused = await jarvis(['runtime-profiles', 'upsert', 'jarvis-local', '--request-json', profileFile]);
  t.match(refused.stderr, /^arpd: error: changing the safe list needs the admin token \(in .*http\.admin-token\), not the run token.*\[E_FORBIDDEN\]\n$/, 'the run token cannot change the safe list, and the error says which token can');
  const up = parsed(t, await jarvis(['runtime-profiles', 'upsert', 'jarvis-local', '--request-json', profileFile], { admin: true }), 'upsert');
  t.same(up, await http('/v1/admin/runtime-profiles/jarvis-local'));
  const list = parsed(t, await jarvis(['runtime-profiles', 'list']), 'list');
  t.same(list, await http('/v1/admin/runtime-profiles'));
  const del = await jarvis(['runtime-profiles', 'delete', 'jarvis-local'], { admin: true });
  t.equal(del.code, 0, del.stderr);
  t.equal(del.stdout, '', 'delete prints nothing, as JARVIS');
});

let instanceId = '';

t.test('start --runtime-profile --count --tool-registry-url answers once the instance is ready; list shows it', async (t) => {
  const r = parsed(t, await jarvis(['start', '--runtime-profile', 'default', '--count', '1', '--tool-registry-url', 'http://127.0.0.1:8000']), 'start');
  const instances = r['instances'] as Json[];
  t.equal(instances.length, 1);
  t.equal(instances[0]?.['state'], 'ready');
  instanceId = String(instances[0]?.['instance_id']);
  const list = parsed(t, await jarvis(['list']), 'list');
  t.same(list, await http('/v1/instances'));
});

let runId = '';

t.test('run --request-json prints the RunStatus at once; status, result and trace print the API\'s JSON', async (t) => {
  const s = parsed(t, await jarvis(['run', '--request-json', runFile]), 'run');
  runId = String(s['run_id']);
  t.match(s['state'], /^(queued|running|succeeded)$/);
  await waitFor('the run to end', async () => ((await http(`/v1/runs/${runId}`)) as Json)['state'] === 'succeeded');
  t.same(parsed(t, await jarvis(['status', runId]), 'status'), await http(`/v1/runs/${runId}`));
  const result = parsed(t, await jarvis(['result', runId]), 'result');
  t.same(result, await http(`/v1/runs/${runId}/result`));
  t.equal((result['output'] as Json)['text'], '(19*23) = 437');
  t.same(parsed(t, await jarvis(['trace', runId]), 'trace'), await http(`/v1/runs/${runId}/trace`));
});

t.test('runs --page-size --page-token pages through the runs as the API does', async (t) => {
  await jarvis(['run', '--request-json', runFile]);
  const first = parsed(t, await jarvis(['runs', '--page-size', '1']), 'runs --page-size 1');
  t.same(first, await http('/v1/runs?page_size=1'));
  const token = String((first['pagination'] as Json)['next_page_token']);
  const second = parsed(t, await jarvis(['runs', '--page-size', '1', '--page-token', token]), 'runs --page-token');
  t.same(second, await http(`/v1/runs?page_size=1&page_token=${token}`));
  t.not((second['runs'] as Json[])[0]?.['run_id'], (first['runs'] as Json[])[0]?.['run_id']);
  t.same(parsed(t, await jarvis(['runs']), 'runs'), await http('/v1/runs'), 'no flags: the API\'s default page');
});

t.test("register --runtime-api-endpoint, then delete <id>; a managed instance's own endpoint is refused", async (t) => {
  const inst = (await http(`/v1/instances/${instanceId}`)) as Json;
  const own = await jarvis(['register', '--runtime-api-endpoint', String(inst['runtime_api_endpoint'])]);
  t.equal(own.code, 5, 'one runtime gets no second instance id');
  t.match(own.stderr, new RegExp(`is the endpoint of instance '${instanceId}', which arpd started and manages.*\\[E_CONFLICT\\]`));
  const external = await runtimeHarness(t).startExternalRuntime();
  const r = parsed(t, await jarvis(['register', '--runtime-api-endpoint', external.url, '--runtime-name', 'again']), 'register');
  const registered = r['instance'] as Json;
  t.equal(registered['state'], 'ready');
  t.equal(registered['managed'], false);
  const del = await jarvis(['delete', String(registered['instance_id'])]);
  t.equal(del.code, 0, del.stderr);
  t.equal(del.stdout, '');
  t.equal(((await http(`/v1/instances/${String(registered['instance_id'])}`)) as Json)['state'], 'stopped');
  t.equal((await jarvis(['delete', instanceId])).code, 0);
});

t.test('JARVIS_DAEMON_URL is honoured like ARP_DAEMON_URL; ARP_DAEMON_URL wins when both are set', async (t) => {
  const r = await h.cli(local, ['daemon', 'status', '--json'], { env: { JARVIS_DAEMON_URL: 'http://127.0.0.1:9', ARP_DAEMON_URL: d.url, ARPD_TOKEN: d.token } });
  t.equal(r.code, 0, r.stderr);
  t.equal((JSON.parse(r.stdout) as Json)['pid'], d.child.pid);
  t.notOk(existsSync(join(local, 'arpd.sock')), 'no local daemon was started');
});

t.test('arpd --host H --port P with no command serves the daemon and its HTTP API on H:P', async (t) => {
  const dir = h.newDataDir();
  const serve = h.spawnCli(dir, ['--host', '127.0.0.1', '--port', '0']);
  await serve.waitForOutput('the daemon to be ready', (_out, err) => /arpd ready: .* http http:\/\/127\.0\.0\.1:\d+/.test(err), 60_000);
  const url = readFileSync(join(dir, 'http.url'), 'utf8').trim();
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'HTTP on the host given, on a free port (0)');
  const health = (await (await fetch(`${url}/v1/health`)).json()) as Json;
  t.equal(health['status'], 'ok');
  serve.kill('SIGTERM');
  const end = await serve.exited;
  t.equal(end.code, 0, 'it stops on SIGTERM');
});

t.test('arpd with only daemon flags (JARVIS\'s server mode: any option and no command) serves the daemon as arpd serve', async (t) => {
  const dir = h.newDataDir();
  const serve = h.spawnCli(dir, ['--log-level', 'debug', '--allow-unsafe-runtime-profiles', '--http-port', '0']);
  await serve.waitForOutput('the daemon to be ready', (_out, err) => /arpd ready: .* http http:\/\/127\.0\.0\.1:\d+/.test(err), 60_000);
  const url = readFileSync(join(dir, 'http.url'), 'utf8').trim();
  const health = (await (await fetch(`${url}/v1/health`)).json()) as Json;
  t.equal(health['status'], 'ok');
  serve.kill('SIGTERM');
  t.equal((await serve.exited).code, 0, 'it stops on SIGTERM');

  const globalsOnly = await h.cli(h.newDataDir(), []);
  t.equal(globalsOnly.code, 2, 'only global options (arpd --data-dir D) are no command: a usage error');
  t.match(globalsOnly.stderr, /^arpd: error: no command given: .*'arpd serve'.* \[E_VALIDATION\]\n$/, 'and the message says how to serve the daemon, as arp-jarvis daemon --data-dir D did');
});

t.test('a JARVIS command over HTTP without the token, or with a wrong one, says how the CLI takes it (--token or ARPD_TOKEN)', async (t) => {
  const none = await h.cli(local, ['list'], { env: { JARVIS_DAEMON_URL: d.url } });
  t.equal(none.code, 1);
  t.match(none.stderr, /^arpd: error: this endpoint needs a bearer token: .*http\.token.*; the CLI sent none \(it reads .*http\.token when there is one\): give it as --token <token> or ARPD_TOKEN=<token> \[E_UNAUTHORIZED\]\n$/, 'no token: where it is, and how to give it to the CLI');
  const wrong = await h.cli(local, ['list'], { env: { JARVIS_DAEMON_URL: d.url, ARPD_TOKEN: 'not-the-token' } });
  t.equal(wrong.code, 1);
  t.match(wrong.stderr, /^arpd: error: the bearer token is wrong: .*; the CLI sent the one given: give it as --token <token> or ARPD_TOKEN=<token> \[E_UNAUTHORIZED\]\n$/, 'a wrong token: the same advice');
});

t.test('a safe-list change over HTTP with the run token says to give the admin token as --token or ARPD_TOKEN', async (t) => {
  const r = await jarvis(['runtime-profiles', 'delete', 'default']);
  t.equal(r.code, 1, 'refused');
  t.match(r.stderr, /^arpd: error: .*needs the admin token \(in .*http\.admin-token\).*; from the CLI, give that token as --token <token> or ARPD_TOKEN=<token> \[E_FORBIDDEN\]\n$/, 'where the admin token is, and how to give it to the CLI');
});

t.test('runtime-profiles get prints sorted as the rest of runtime-profiles; register without an endpoint names the JARVIS flag', async (t) => {
  t.same(parsed(t, await jarvis(['runtime-profiles', 'get', 'default']), 'runtime-profiles get'), await http('/v1/admin/runtime-profiles/default'));
  const r = await jarvis(['register']);
  t.equal(r.code, 2);
  t.equal(r.stderr, 'arpd: error: give the runtime endpoint: --runtime-api-endpoint http://host:port [E_VALIDATION]\n');
});
