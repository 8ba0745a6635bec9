/**
 * Starting instances with options: the profile defaults and the CLI overrides reach the runtime
 * process; an unknown profile is refused, or, with --allow-unsafe-runtime-profiles, started as the
 * bundled reference runtime with a warning.
 */
import t from 'tap';
import { RuntimeHarness, instanceDetails, runtimeHarness, type Json } from '../helpers/runtime-harness.js';

async function health(endpoint: string): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${endpoint}/v1/health`, { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Json };
}

// A runtime that reports how it was started on stdout, then serves health and version on its {port}.
const ECHO_START = `
const http = require('node:http');
const port = Number(process.argv[process.argv.indexOf('--port') + 1]);
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('MY_') || k.startsWith('ARP')));
process.stdout.write(JSON.stringify({ started: { args: process.argv.slice(2), env } }) + '\\n');
process.stderr.write('a line on stderr\\n');
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(req.url === '/v1/version' ? JSON.stringify({ service_name: 'echo-start', service_version: '1.0.0', supported_api_versions: ['v1'] }) : JSON.stringify({ status: 'ok', time: new Date().toISOString() }));
}).listen(port, '127.0.0.1');
`;

t.test('passes the profile defaults and the --env, --arg and --tool-registry-url overrides to the runtime', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  await r.upsertProfile(dir, 'echo-start', {
    defaults: { tool_registry_url: 'http://127.0.0.1:8081', env: { MY_DEFAULT: 'd', MY_BOTH: 'from-profile' }, args: ['--from-profile'] },
    extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [process.execPath, '-e', ECHO_START, '--', '--port', '{port}'], env: { MY_EXEC: 'e' } } },
  });
  const res = await r.cli(dir, ['instances', 'start', '--profile', 'echo-start', '--env', 'MY_BOTH=from-cli', '--env', 'MY_EQ=a=b', '--arg=--from-cli', '--tool-registry-url', 'http://127.0.0.1:9999', '--wait', '--json']);
  t.equal(res.code, 0, res.stderr);
  const inst = (JSON.parse(res.stdout) as { instances: Json[] }).instances[0] as Json;
  t.equal(inst['state'], 'ready');
  const id = String(inst['instance_id']);
  const logs = await r.cli(dir, ['instances', 'logs', id, '--stdout']);
  t.equal(logs.code, 0, logs.stderr);
  const line = logs.stdout.split('\n').find((l) => l.startsWith('{"started"'));
  const started = (JSON.parse(line ?? '{}') as { started?: { args: string[]; env: Record<string, string> } }).started;
  t.ok(started, `the runtime's stdout is in its log: ${logs.stdout}`);
  t.same(started?.args.slice(-2), ['--from-profile', '--from-cli'], 'profile args, then --arg, after the command');
  t.equal(started?.env['MY_DEFAULT'], 'd', 'defaults.env is set');
  t.equal(started?.env['MY_EXEC'], 'e', 'the driver env is set');
  t.equal(started?.env['MY_BOTH'], 'from-cli', '--env overrides defaults.env');
  t.equal(started?.env['MY_EQ'], 'a=b', '--env keeps everything after the first =');
  t.equal(started?.env['ARP_TOOL_REGISTRY_URL'], 'http://127.0.0.1:9999', '--tool-registry-url overrides defaults.tool_registry_url');
  t.equal(started?.env['ARP_TRACE_DIR'], `${dir}/runtime-traces`, "the runtime is told to write its own traces in a folder of the runtimes' own");
  const errLog = await r.cli(dir, ['instances', 'logs', id, '--stderr']);
  t.match(errLog.stdout, /a line on stderr/, 'instances logs --stderr shows its stderr');
  const bad = await r.cli(dir, ['instances', 'start', '--profile', 'echo-start', '--env', 'NOEQUALS', '--json']);
  t.equal(bad.code, 2, '--env without = exits 2');
});

t.test('refuses to start an unknown profile with exit 4', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const res = await r.cli(dir, ['instances', 'start', '--profile', 'nope', '--json']);
  t.equal(res.code, 4);
  const err = RuntimeHarness.errorOf(res);
  t.equal(err.code, 'E_NOT_FOUND');
  t.match(err.message, /safe list/);
  const bad = await r.cli(dir, ['instances', 'start', '--profile', '../x', '--json']);
  t.equal(bad.code, 2, 'a hostile profile name exits 2');
  const none = await r.cli(dir, ['instances', 'start']);
  t.equal(none.code, 2, 'no --profile exits 2');
  const zero = await r.cli(dir, ['instances', 'start', '--profile', 'default', '--count', '0', '--json']);
  t.equal(zero.code, 2, '--count 0 exits 2');
  t.same((await r.cliJson<{ instances: Json[] }>(dir, ['instances', 'list', '--all'])).instances, [], 'nothing was started');
});

t.test('starts an unknown profile as the reference runtime with --allow-unsafe-runtime-profiles, and says so', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--allow-unsafe-runtime-profiles']);
  const created = await r.cliJson<{ instances: Json[] }>(dir, ['instances', 'start', '--profile', 'not-listed', '--wait']);
  const inst = created.instances[0] as Json;
  t.equal(inst['state'], 'ready', JSON.stringify(inst));
  t.equal(inst['runtime_profile'], 'not-listed');
  t.equal(inst['runtime_name'], 'arpd-reference-runtime', 'it runs the bundled reference runtime');
  t.equal(instanceDetails(inst)['unsafe'], true, 'the instance is marked unsafe');
  const status = await r.cliJson(dir, ['daemon', 'status']);
  t.match(status['warnings'], [/allow-unsafe-runtime-profiles/], 'status --json carries the warning');
  const human = await r.cli(dir, ['daemon', 'status']);
  t.equal(human.code, 0);
  t.match(human.stderr, /warning: .*allow-unsafe-runtime-profiles/, 'status prints the warning');
  const h = await health(String(inst['runtime_api_endpoint']));
  t.equal(h.status, 200);
});
