// planLaunch, as a table: argv (JARVIS's `--port` for pip and npm), the trace dirs, the tool registry, precedence.
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { parseExecConfig, type ExecConfig } from '../../src/instances/exec-config.js';
import { appendsPort, isWithin, launchNeedsPort, planLaunch, runtimeTraceDirOf, type LaunchPlanInput } from '../../src/instances/launch-plan.js';

const DATA = '/data';
const RUNS = '/data/runs';
const TRACES = runtimeTraceDirOf(DATA);
const EXE = '/data/venvs/p/k/bin/rt';

function exec(body: Record<string, unknown>): ExecConfig {
  return parseExecConfig({ 'arp.jarvis.exec': body }, 'p');
}

const pip = (more: Record<string, unknown> = {}): ExecConfig => exec({ driver: 'pip', pip_spec: '/w/rt-1.0-py3-none-any.whl', entrypoint: 'rt', ...more });
const npm = (more: Record<string, unknown> = {}): ExecConfig => exec({ driver: 'npm', npm_spec: '/w/rt', entrypoint: 'rt', ...more });
const command = (argv: string[]): ExecConfig => exec({ driver: 'command', command_template: argv });

/** What the driver hands over: the entrypoint and its args (pip and npm), or the argv (command). */
function launchOf(e: ExecConfig, env: Record<string, string> = {}): LaunchPlanInput['launch'] {
  const argv = e.driver === 'command' ? e.argv : [EXE, ...e.entrypointArgs];
  return { argv, env: { ...e.env, ...env } };
}

function input(e: ExecConfig, more: Partial<LaunchPlanInput> = {}): LaunchPlanInput {
  return {
    launch: launchOf(e),
    exec: e,
    host: '127.0.0.1',
    port: 4242,
    runtimeTraceDir: TRACES,
    runsDir: RUNS,
    instanceId: 'inst_1',
    baseEnv: { HOME: '/home/u', ARP_TRACE_DIR: '/daemon/own', UNSET: undefined },
    daemonCwd: '/srv/daemon',
    programs: { node: ['/usr/bin/node', '--import=tsx'], arpdRuntime: '/opt/arpd/runtime/main.js' },
    ...more,
  };
}

t.test('builds the argv JARVIS builds: entrypoint, entrypoint_args, --port <port>, then defaults.args and overrides.args', async (t) => {
  const rows: Array<{ name: string; exec: ExecConfig; more?: Partial<LaunchPlanInput>; argv: string[]; endpoint?: string; needsPort: boolean }> = [
    { name: 'the documented JARVIS pip profile', exec: pip({ entrypoint_args: ['serve'] }), argv: [EXE, 'serve', '--port', '4242'], endpoint: 'http://127.0.0.1:4242', needsPort: true },
    { name: 'entrypoint_args omitted', exec: pip(), argv: [EXE, 'serve', '--port', '4242'], endpoint: 'http://127.0.0.1:4242', needsPort: true },
    { name: 'entrypoint_args null', exec: pip({ entrypoint_args: null }), argv: [EXE, 'serve', '--port', '4242'], endpoint: 'http://127.0.0.1:4242', needsPort: true },
    { name: 'entrypoint_args []', exec: pip({ entrypoint_args: [] }), argv: [EXE, 'serve', '--port', '4242'], endpoint: 'http://127.0.0.1:4242', needsPort: true },
    { name: 'args without placeholders still get the port', exec: pip({ entrypoint_args: ['serve', '--port', '0'] }), argv: [EXE, 'serve', '--port', '0', '--port', '4242'], endpoint: 'http://127.0.0.1:4242', needsPort: true },
    { name: '{port} in entrypoint_args: nothing appended', exec: pip({ entrypoint_args: ['run', '--listen={host}:{port}'] }), argv: [EXE, 'run', '--listen=127.0.0.1:4242'], endpoint: 'http://127.0.0.1:4242', needsPort: true },
    { name: '{host} alone: nothing appended, no port chosen (the runtime prints its URL)', exec: pip({ entrypoint_args: ['serve', '--host', '{host}', '--port', '0'] }), more: { port: undefined }, argv: [EXE, 'serve', '--host', '127.0.0.1', '--port', '0'], needsPort: false },
    { name: 'npm is built the same way', exec: npm(), argv: [EXE, 'serve', '--port', '4242'], endpoint: 'http://127.0.0.1:4242', needsPort: true },
    { name: 'npm with {port}', exec: npm({ entrypoint_args: ['--port={port}'] }), argv: [EXE, '--port=4242'], endpoint: 'http://127.0.0.1:4242', needsPort: true },
    { name: 'a command with {port}', exec: command(['rt', 'serve', '--port', '{port}']), argv: ['rt', 'serve', '--port', '4242'], endpoint: 'http://127.0.0.1:4242', needsPort: true },
    { name: 'a command without {port}: as configured, no port', exec: command(['rt', '--port', '0']), more: { port: undefined }, argv: ['rt', '--port', '0'], needsPort: false },
    { name: '{node} and {arpd_runtime}', exec: command(['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0']), more: { port: undefined }, argv: ['/usr/bin/node', '--import=tsx', '/opt/arpd/runtime/main.js', '--host', '127.0.0.1', '--port', '0'], needsPort: false },
    {
      name: 'defaults.args then overrides.args after the port, as given (no placeholders filled there)',
      exec: pip({ entrypoint_args: ['serve'] }),
      more: { defaults: { args: ['--mode', 'stub'] }, overrides: { args: ['--x={port}'] } },
      argv: [EXE, 'serve', '--port', '4242', '--mode', 'stub', '--x={port}'],
      endpoint: 'http://127.0.0.1:4242',
      needsPort: true,
    },
    { name: 'an IPv6 host is bracketed in the endpoint', exec: pip(), more: { host: '::1' }, argv: [EXE, 'serve', '--port', '4242'], endpoint: 'http://[::1]:4242', needsPort: true },
  ];
  for (const row of rows) {
    const i = input(row.exec, row.more);
    t.equal(launchNeedsPort(i.launch, row.exec), row.needsPort, `${row.name}: needsPort`);
    const plan = planLaunch(i);
    t.same(plan.argv, row.argv, `${row.name}: argv`);
    t.equal(plan.endpoint, row.endpoint, `${row.name}: endpoint`);
  }
  t.equal(appendsPort(pip({ entrypoint_args: ['{host}'] })), false);
  t.equal(appendsPort(command(['rt'])), false, 'a command driver never gets --port appended');
});

t.test('refuses to plan a launch that needs a port without one', async (t) => {
  for (const port of [undefined, 0, -1, 70_000, 1.5]) {
    t.throws(() => planLaunch(input(pip(), { port })), { code: 'E_INTERNAL' }, `port ${String(port)}`);
  }
});

t.test('points ARP_TRACE_DIR and JARVIS_TRACE_DIR at the runtimes\' own folder unless a value is given', async (t) => {
  const rows: Array<{ name: string; more: Partial<LaunchPlanInput>; launchEnv?: Record<string, string>; arp: string; jarvis: string }> = [
    { name: 'nothing given: both default (the daemon\'s own ARP_TRACE_DIR is not a profile\'s choice)', more: {}, arp: TRACES, jarvis: TRACES },
    { name: 'defaults.env JARVIS_TRACE_DIR', more: { defaults: { env: { JARVIS_TRACE_DIR: '/traces/j' } } }, arp: TRACES, jarvis: '/traces/j' },
    { name: 'overrides.env ARP_TRACE_DIR', more: { overrides: { env: { ARP_TRACE_DIR: '/traces/a' } } }, arp: '/traces/a', jarvis: TRACES },
    { name: 'the exec env', more: {}, launchEnv: { JARVIS_TRACE_DIR: '/traces/e' }, arp: TRACES, jarvis: '/traces/e' },
    { name: 'overrides win over defaults', more: { defaults: { env: { ARP_TRACE_DIR: '/d' } }, overrides: { env: { ARP_TRACE_DIR: '/o' } } }, arp: '/o', jarvis: TRACES },
    { name: 'a folder beside runs is fine', more: { overrides: { env: { ARP_TRACE_DIR: '/data/runs-own' } } }, arp: '/data/runs-own', jarvis: TRACES },
    { name: 'the data dir itself is fine', more: { overrides: { env: { JARVIS_TRACE_DIR: '/data' } } }, arp: TRACES, jarvis: '/data' },
    { name: 'a relative value is kept as given', more: { defaults: { env: { JARVIS_TRACE_DIR: 'traces' } } }, arp: TRACES, jarvis: 'traces' },
  ];
  for (const row of rows) {
    const e = pip();
    const plan = planLaunch(input(e, { ...row.more, launch: launchOf(e, row.launchEnv) }));
    t.equal(plan.env['ARP_TRACE_DIR'], row.arp, `${row.name}: ARP_TRACE_DIR`);
    t.equal(plan.env['JARVIS_TRACE_DIR'], row.jarvis, `${row.name}: JARVIS_TRACE_DIR`);
  }
});

t.test('refuses a trace dir that resolves into the runs folder, naming the field and what to set instead', async (t) => {
  const rows: Array<{ name: string; more: Partial<LaunchPlanInput>; launchEnv?: Record<string, string>; field: string }> = [
    { name: 'the runs folder', more: { overrides: { env: { JARVIS_TRACE_DIR: RUNS } } }, field: 'overrides.env.JARVIS_TRACE_DIR' },
    { name: 'with a trailing slash', more: { defaults: { env: { ARP_TRACE_DIR: `${RUNS}/` } } }, field: 'defaults.env.ARP_TRACE_DIR' },
    { name: 'a folder inside it', more: { defaults: { env: { JARVIS_TRACE_DIR: `${RUNS}/mine` } } }, field: 'defaults.env.JARVIS_TRACE_DIR' },
    { name: 'through ..', more: { overrides: { env: { ARP_TRACE_DIR: '/data/x/../runs' } } }, field: 'overrides.env.ARP_TRACE_DIR' },
    { name: 'from the exec env', more: {}, launchEnv: { JARVIS_TRACE_DIR: RUNS }, field: 'extensions["arp.jarvis.exec"].env.JARVIS_TRACE_DIR' },
    { name: 'relative to the daemon\'s cwd', more: { daemonCwd: '/data', overrides: { env: { JARVIS_TRACE_DIR: 'runs' } } }, field: 'overrides.env.JARVIS_TRACE_DIR' },
    { name: 'relative to the profile\'s cwd', more: {}, launchEnv: { ARP_TRACE_DIR: './runs/x' }, field: 'extensions["arp.jarvis.exec"].env.ARP_TRACE_DIR' },
  ];
  for (const row of rows) {
    const e = row.name.includes("profile's cwd") ? exec({ driver: 'pip', pip_spec: '/w/x.whl', entrypoint: 'rt', cwd: '/data' }) : pip();
    const launch = { ...launchOf(e, row.launchEnv), ...(e.cwd === undefined ? {} : { cwd: e.cwd }) };
    try {
      planLaunch(input(e, { ...row.more, launch }));
      t.fail(`${row.name}: expected a refusal`);
    } catch (err) {
      t.ok(err instanceof ArpdError, `${row.name}: an ArpdError`);
      const a = err as ArpdError;
      t.equal(a.code, 'E_VALIDATION', row.name);
      t.equal(a.data?.['field'], row.field, `${row.name}: names ${row.field}`);
      t.match(a.message, new RegExp(`arpd alone writes each run's trace\\.jsonl.*remove it to use ${TRACES}, or set a folder outside ${RUNS}`), `${row.name}: says why and what to do`);
    }
  }
});

t.test('sets both tool registry variables from tool_registry_url, and an explicit value of either wins', async (t) => {
  const rows: Array<{ name: string; more: Partial<LaunchPlanInput>; launchEnv?: Record<string, string>; arp: string | undefined; jarvis: string | undefined }> = [
    { name: 'nothing given', more: {}, arp: undefined, jarvis: undefined },
    { name: 'defaults.tool_registry_url', more: { defaults: { tool_registry_url: 'http://d' } }, arp: 'http://d', jarvis: 'http://d' },
    { name: 'overrides win over defaults', more: { defaults: { tool_registry_url: 'http://d' }, overrides: { tool_registry_url: 'http://o' } }, arp: 'http://o', jarvis: 'http://o' },
    { name: 'an explicit ARP_ wins and fills JARVIS_', more: { overrides: { tool_registry_url: 'http://o' }, defaults: { env: { ARP_TOOL_REGISTRY_URL: 'http://env' } } }, arp: 'http://env', jarvis: 'http://env' },
    { name: 'an explicit JARVIS_ wins and fills ARP_', more: { defaults: { tool_registry_url: 'http://d' }, overrides: { env: { JARVIS_TOOL_REGISTRY_URL: 'http://j' } } }, arp: 'http://j', jarvis: 'http://j' },
    { name: 'both explicit, both kept', more: { defaults: { tool_registry_url: 'http://d', env: { ARP_TOOL_REGISTRY_URL: 'http://a' } }, overrides: { env: { JARVIS_TOOL_REGISTRY_URL: 'http://j' } } }, arp: 'http://a', jarvis: 'http://j' },
    { name: 'from the exec env', more: { defaults: { tool_registry_url: 'http://d' } }, launchEnv: { ARP_TOOL_REGISTRY_URL: 'http://exec' }, arp: 'http://exec', jarvis: 'http://exec' },
    { name: 'the daemon\'s own value yields to tool_registry_url', more: { baseEnv: { ARP_TOOL_REGISTRY_URL: 'http://daemon' }, defaults: { tool_registry_url: 'http://d' } }, arp: 'http://d', jarvis: 'http://d' },
    { name: 'the daemon\'s own value is inherited and mirrored (JARVIS back-compat)', more: { baseEnv: { ARP_TOOL_REGISTRY_URL: 'http://daemon' } }, arp: 'http://daemon', jarvis: 'http://daemon' },
  ];
  for (const row of rows) {
    const e = pip();
    const plan = planLaunch(input(e, { ...row.more, launch: launchOf(e, row.launchEnv) }));
    t.equal(plan.env['ARP_TOOL_REGISTRY_URL'], row.arp, `${row.name}: ARP_TOOL_REGISTRY_URL`);
    t.equal(plan.env['JARVIS_TOOL_REGISTRY_URL'], row.jarvis, `${row.name}: JARVIS_TOOL_REGISTRY_URL`);
  }
});

t.test('layers the env: daemon < driver < defaults.env < overrides.env, with ARPD_INSTANCE_ID last', async (t) => {
  const e = exec({ driver: 'pip', pip_spec: '/w/x.whl', entrypoint: 'rt', env: { A: 'exec', B: 'exec' } });
  const plan = planLaunch(input(e, {
    launch: { argv: [EXE, 'serve'], env: { ...e.env, VIRTUAL_ENV: '/v', PATH: '/v/bin:/usr/bin' } },
    baseEnv: { A: 'daemon', D: 'daemon', PATH: '/usr/bin', ARPD_INSTANCE_ID: 'forged' },
    defaults: { env: { B: 'defaults', C: 'defaults' } },
    overrides: { env: { C: 'overrides', ARPD_INSTANCE_ID: 'forged-too' } },
  }));
  t.match(plan.env, { A: 'exec', B: 'defaults', C: 'overrides', D: 'daemon', VIRTUAL_ENV: '/v', PATH: '/v/bin:/usr/bin', ARPD_INSTANCE_ID: 'inst_1' });
  t.notOk('UNSET' in planLaunch(input(pip())).env, 'an undefined daemon variable is left out');
  t.same(planLaunch(input(exec({ driver: 'command', command_template: ['rt'], cwd: '/srv/rt' }), { launch: { argv: ['rt'], env: {}, cwd: '/srv/rt' }, port: undefined })).cwd, '/srv/rt', 'the cwd is the profile\'s');
});

t.test('refuses defaults and overrides that would reach the spawn broken', async (t) => {
  const rows: Array<[Partial<LaunchPlanInput>, string]> = [
    [{ defaults: 'x' }, 'defaults'],
    [{ overrides: { env: [] } }, 'overrides.env'],
    [{ overrides: { env: { 'A=B': 'x' } } }, 'overrides.env.A=B'],
    [{ defaults: { env: { A: 1 } } }, 'defaults.env.A'],
    [{ defaults: { env: { A: 'a\0b' } } }, 'defaults.env.A'],
    [{ overrides: { args: '--x' } }, 'overrides.args'],
    [{ overrides: { args: [3] } }, 'overrides.args[0]'],
    [{ defaults: { tool_registry_url: 7 } }, 'defaults.tool_registry_url'],
  ];
  for (const [more, field] of rows) {
    t.throws(() => planLaunch(input(pip(), more)), { code: 'E_VALIDATION', data: { field } }, field);
  }
});

t.test('isWithin is lexical and exact about folder boundaries', async (t) => {
  t.ok(isWithin('/data/runs', '/data/runs'));
  t.ok(isWithin('/data/runs/x/y', '/data/runs'));
  t.notOk(isWithin('/data/runs-x', '/data/runs'));
  t.notOk(isWithin('/data/..runs', '/data/runs'));
  t.notOk(isWithin('/data', '/data/runs'));
  t.ok(isWithin('/data/runs/..x', '/data/runs'), 'a folder named ..x inside runs is inside');
});
