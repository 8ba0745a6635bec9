import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { parseServeArgs, runtimeServeMain, SERVE_USAGE, type ServeIo } from '../../src/runtime/serve.js';
import { readPackageVersion } from '../../src/runtime/package-version.js';
import { oracleValid } from '../schemas/oracle.js';
import { getJson, postJson } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

t.test('parses flags with defaults, both flag forms and ARP_TRACE_DIR', async (t) => {
  t.same(parseServeArgs([]), { host: '127.0.0.1', port: 0, name: 'arpd-reference-runtime', traceFileName: 'trace.jsonl', help: false });
  t.match(parseServeArgs(['--port', '4312', '--host=0.0.0.0', '--name', 'rt', '--instance-id', 'inst_1']), {
    host: '0.0.0.0',
    port: 4312,
    name: 'rt',
    instanceId: 'inst_1',
  });
  t.match(parseServeArgs([], { ARP_TRACE_DIR: '/data/runtime-traces' }), { traceDir: '/data/runtime-traces' });
  t.match(parseServeArgs(['--trace-dir', '/x'], { ARP_TRACE_DIR: '/data/runtime-traces' }), { traceDir: '/x' }, 'the flag wins');
  t.match(parseServeArgs(['--help']), { help: true });
});

t.test('refuses unknown flags, missing values and bad ports, saying what to pass', async (t) => {
  t.throws(() => parseServeArgs(['--prot', '1']), { code: 'E_VALIDATION', message: /unknown argument '--prot'/ });
  t.throws(() => parseServeArgs(['--port']), { code: 'E_VALIDATION', message: /--port needs a value/ });
  t.throws(() => parseServeArgs(['--port', 'http']), { code: 'E_VALIDATION', message: /whole number from 0 to 65535/ });
  t.throws(() => parseServeArgs(['--port', '70000']), { code: 'E_VALIDATION' });
  t.throws(() => parseServeArgs(['serve']), { code: 'E_VALIDATION' });
});

function fakeIo(): ServeIo & { out: string[]; err: string[]; codes: number[] } {
  const out: string[] = [];
  const err: string[] = [];
  const codes: number[] = [];
  return { out, err, codes, stdout: (l) => out.push(l), stderr: (l) => err.push(l), exit: (c) => codes.push(c), env: {} };
}

t.test('prints usage for --help and exits 0, and exits 2 on a bad flag', async (t) => {
  const help = fakeIo();
  await runtimeServeMain(['--help'], help);
  t.same(help.out, [SERVE_USAGE]);
  t.same(help.codes, [0]);

  const bad = fakeIo();
  await runtimeServeMain(['--nope'], bad);
  t.same(bad.out, [], 'nothing on stdout');
  t.match(bad.err.join(''), /unknown argument '--nope'/);
  t.same(bad.codes, [2]);
});

interface Spawned {
  child: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  listening: { event: string; url: string; pid: number; runtime_name: string; runtime_version: string };
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function spawnRuntime(t: Test, args: string[] = []): Promise<Spawned> {
  const child = spawn(process.execPath, ['--import=tsx', 'src/runtime/main.ts', '--port', '0', ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit').then(([code, signal]) => ({ code: code as number | null, signal: signal as NodeJS.Signals | null }));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const seen: string[] = [];
  const reader = createInterface({ input: child.stdout! });
  reader.on('line', (line) => seen.push(line));
  const [first] = (await Promise.race([
    once(reader, 'line'),
    exited.then((e) => Promise.reject(new Error(`exited early: ${JSON.stringify(e)}`))),
  ])) as [string];
  const closed = once(reader, 'close');
  return { child, lines: seen, listening: JSON.parse(first) as Spawned['listening'], exited: exited.then(async (e) => (await closed, e)) };
}

t.test('runs as a real process: one listening line, serves health, and exits 70 on a crash goal', async (t) => {
  const { child, lines, listening, exited } = await spawnRuntime(t);
  t.same(Object.keys(listening), ['event', 'url', 'pid', 'runtime_name', 'runtime_version']);
  t.match(listening, { event: 'listening', url: /^http:\/\/127\.0\.0\.1:\d+$/, pid: child.pid, runtime_name: 'arpd-reference-runtime' });
  t.equal(listening.runtime_version, readPackageVersion());

  const health = await getJson(`${listening.url}/v1/health`);
  t.equal(health.status, 200);
  t.ok(oracleValid('Health', health.body));

  const accepted = await postJson(`${listening.url}/v1/runs`, { run_id: 'run_boom', input: { goal: 'crash' } });
  t.equal(accepted.status, 200, 'the crash run is accepted first');
  t.match(accepted.body, { run_id: 'run_boom', state: 'queued' });
  t.same(await exited, { code: 70, signal: null });
  t.equal(lines.length, 1, 'exactly one line on stdout');
});

t.test('closes gracefully, with a run sleeping and its stream open, and exits 0 on SIGTERM', async (t) => {
  const { child, lines, listening, exited } = await spawnRuntime(t, ['--name', 'rt-term']);
  t.equal(listening.runtime_name, 'rt-term');
  t.match((await getJson(`${listening.url}/v1/version`)).body, { service_name: 'rt-term' });
  await postJson(`${listening.url}/v1/runs`, { run_id: 'run_long', input: { goal: 'sleep:600000' } });
  const stream = await fetch(`${listening.url}/v1/runs/run_long/events`);
  t.equal(stream.status, 200, 'an event stream is open');
  child.kill('SIGTERM');
  t.same(await exited, { code: 0, signal: null });
  t.type(await stream.text(), 'string', 'the open stream ended');
  t.equal(lines.length, 1, 'exactly one line on stdout');
});
