/**
 * The environment a real runtime process gets from a real daemon: the env-echo fixture (a command-driver runtime)
 * writes its whole environment to a file, and the test reads it. Trace dirs default to the runtimes' own folder, an
 * explicit one is honoured, one inside runs/ is refused when the instance starts; tool_registry_url sets both
 * registry variables unless one is given explicitly.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { instanceDetails, runtimeHarness, type Json, type RuntimeHarness } from '../helpers/runtime-harness.js';

const ENV_ECHO = fileURLToPath(new URL('../../fixtures/runtimes/env-echo-runtime/server.mjs', import.meta.url));

interface Started {
  argv: string[];
  env: Record<string, string>;
}

/** Starts one instance of `profile` whose env goes to `<dir>/<name>.json`; returns the instance and what it recorded. */
async function start(r: RuntimeHarness, dir: string, profile: string, name: string, overrides: Json = {}): Promise<{ inst: Json; started?: Started }> {
  const out = join(dir, `${name}.json`);
  const args = [...((overrides['args'] as string[] | undefined) ?? []), '--env-out', out];
  const created = await r.call<{ instances: Json[] }>(dir, 'instances.create', { request: { runtime_profile: profile, overrides: { ...overrides, args } }, wait: true }, 60_000);
  const inst = created.instances[0] ?? {};
  if (!existsSync(out)) return { inst };
  return { inst, started: JSON.parse(readFileSync(out, 'utf8')) as Started };
}

t.test('tells a real runtime process where to trace and which tool registry to use', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir);
  const command = [process.execPath, ENV_ECHO, '--port', '{port}'];
  await r.upsertProfile(dir, 'plain', { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: command } } });
  await r.upsertProfile(dir, 'configured', {
    defaults: { tool_registry_url: 'http://127.0.0.1:9/profile', env: { ARP_TRACE_DIR: join(dir, 'profile-traces') } },
    extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: command, env: { JARVIS_TRACE_DIR: join(dir, 'exec-traces') } } },
  });

  const plain = await start(r, dir, 'plain', 'plain');
  t.equal(plain.inst['state'], 'ready', JSON.stringify(instanceDetails(plain.inst)));
  const traces = join(dir, 'runtime-traces');
  t.equal(plain.started?.env['ARP_TRACE_DIR'], traces, 'ARP_TRACE_DIR: the runtimes\' own folder');
  t.equal(plain.started?.env['JARVIS_TRACE_DIR'], traces, 'JARVIS_TRACE_DIR: the same, never <data-dir>/runs');
  t.equal(statSync(traces).mode & 0o777, 0o700, 'created 0700');
  t.notOk('ARP_TOOL_REGISTRY_URL' in (plain.started?.env ?? {}), 'no tool registry when none is configured');
  t.equal(plain.started?.env['ARPD_INSTANCE_ID'], plain.inst['instance_id']);

  const configured = await start(r, dir, 'configured', 'configured');
  t.equal(configured.inst['state'], 'ready', JSON.stringify(instanceDetails(configured.inst)));
  t.equal(configured.started?.env['ARP_TRACE_DIR'], join(dir, 'profile-traces'), 'defaults.env ARP_TRACE_DIR is honoured');
  t.equal(configured.started?.env['JARVIS_TRACE_DIR'], join(dir, 'exec-traces'), 'the exec env JARVIS_TRACE_DIR is honoured');
  t.equal(configured.started?.env['ARP_TOOL_REGISTRY_URL'], 'http://127.0.0.1:9/profile', 'tool_registry_url sets ARP_TOOL_REGISTRY_URL');
  t.equal(configured.started?.env['JARVIS_TOOL_REGISTRY_URL'], 'http://127.0.0.1:9/profile', 'and JARVIS_TOOL_REGISTRY_URL');

  const overridden = await start(r, dir, 'configured', 'overridden', { tool_registry_url: 'http://127.0.0.1:9/instance', env: { JARVIS_TOOL_REGISTRY_URL: 'http://127.0.0.1:9/explicit' } });
  t.equal(overridden.inst['state'], 'ready', JSON.stringify(instanceDetails(overridden.inst)));
  t.equal(overridden.started?.env['JARVIS_TOOL_REGISTRY_URL'], 'http://127.0.0.1:9/explicit', 'an explicit JARVIS_TOOL_REGISTRY_URL wins over tool_registry_url');
  t.equal(overridden.started?.env['ARP_TOOL_REGISTRY_URL'], 'http://127.0.0.1:9/explicit', 'and fills ARP_TOOL_REGISTRY_URL, as JARVIS does');
  const argv = overridden.started?.argv ?? [];
  t.same(argv.slice(0, 2), ['--port', argv[1]], 'the command as configured, {port} filled');
  t.not(argv[1], '0');

  const refused = await start(r, dir, 'plain', 'refused', { env: { JARVIS_TRACE_DIR: join(dir, 'runs') } });
  t.equal(refused.inst['state'], 'error', 'a trace dir inside runs/ is refused when the instance starts');
  t.equal(refused.started, undefined, 'no process was started');
  const err = instanceDetails(refused.inst)['error'] as { code?: string; message?: string } | undefined;
  t.equal(err?.code, 'E_VALIDATION');
  t.match(err?.message, `overrides.env.JARVIS_TRACE_DIR '${join(dir, 'runs')}' points into arpd's runs folder`);
  t.match(err?.message, `remove it to use ${traces}, or set a folder outside ${join(dir, 'runs')}`, 'and says what to set instead');
});
