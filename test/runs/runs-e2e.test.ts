/**
 * The main line, for real: on a fresh data dir `arpd runs submit --goal "What is (19*23)?" --wait`
 * starts the daemon and a `default` instance, prints 437, and leaves a result and a trace that the
 * ARP spec's schemas accept: arpd's own steps and the runtime's RunEvents, `seq` contiguous from 1.
 */
import t from 'tap';
import { oracleCheck, oracleErrors, runtimeHarness, type Json, type TraceFileLine } from '../helpers/runtime-harness.js';

t.test('answers 437 on a fresh data dir, with an ARP result and a contiguous ARP trace', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  const res = await r.cli(dir, ['runs', 'submit', '--goal', 'What is (19*23)?', '--wait'], { timeoutMs: 120_000 });
  t.equal(res.code, 0, `runs submit --wait exits 0: ${res.stderr}`);
  t.match(res.stdout, /\b437\b/, `prints 437: ${res.stdout}`);
  t.match(res.stderr, /started the daemon/, 'it started the daemon');
  t.match(res.stderr, /run \S+ succeeded/, 'and says the run succeeded on stderr');

  const instances = await r.cliJson<{ instances: Json[] }>(dir, ['instances', 'list']);
  t.equal(instances.instances.length, 1, 'it started one instance');
  t.equal(instances.instances[0]?.['runtime_profile'], 'default', 'of the default profile');

  const list = await r.cliJson<{ runs: Json[] }>(dir, ['runs', 'list']);
  oracleCheck(t, 'RunListResponse', list, 'runs list --json');
  t.equal(list.runs.length, 1);
  const runId = String(list.runs[0]?.['run_id']);
  t.equal(list.runs[0]?.['state'], 'succeeded');
  t.equal(list.runs[0]?.['runtime_instance_id'], instances.instances[0]?.['instance_id'], 'it ran on that instance');

  const status = await r.cliJson(dir, ['runs', 'status', runId]);
  oracleCheck(t, 'RunStatus', status, 'runs status --json');
  const result = await r.cli(dir, ['runs', 'result', runId, '--json']);
  t.equal(result.code, 0, result.stderr);
  const body = JSON.parse(result.stdout) as Json;
  oracleCheck(t, 'RunResult', body, 'runs result --json');
  t.equal(body['run_id'], runId);
  t.equal(body['ok'], true);
  t.match(JSON.stringify(body['output']), /437/, 'the result holds 437');

  const lines = r.traceFile(dir, runId);
  t.ok(lines.length >= 6, `the trace file has lines (${lines.length})`);
  const invalidLines = lines.map((l) => [l.seq, oracleErrors('TraceEvent', l)] as const).filter(([, e]) => e !== undefined);
  t.same(invalidLines, [], 'every line of trace.jsonl validates against trace_event.schema.json');
  t.same(lines.map((l) => l.seq), lines.map((_, i) => i + 1), 'seq is contiguous from 1');
  t.ok(lines.every((l) => l.run_id === runId), 'every line names the run');
  const types = lines.map((l) => l.type);
  const arpdSteps = types.filter((ty) => ['accepted', 'queued', 'routed', 'started', 'succeeded'].includes(ty));
  t.same(arpdSteps, ['accepted', 'queued', 'routed', 'started', 'succeeded'], 'arpd\'s steps, each once, in order');
  t.equal(types.at(-1), 'succeeded', 'the last line is the end');
  const runtimeEvents = lines.filter((l) => !['accepted', 'queued', 'routed', 'started', 'succeeded'].includes(l.type));
  t.ok(runtimeEvents.length >= 2, 'the runtime\'s RunEvents are in it');
  const invalidEvents = runtimeEvents.map((l) => [l.seq, oracleErrors('RunEvent', l.data)] as const).filter(([, e]) => e !== undefined);
  t.same(invalidEvents, [], 'each runtime event carries an ARP RunEvent');
  t.same(runtimeEvents.map((l) => l.data['seq']), runtimeEvents.map((_, i) => i + 1), 'the runtime\'s own seq is contiguous too (none lost, none twice)');
  t.ok(runtimeEvents.some((l) => l.type === 'tool_call'), 'including the calculator tool call');
  t.equal(runtimeEvents.at(-1)?.type, 'final');
  const started = types.indexOf('started');
  t.ok(lines.slice(started + 1, -1).every((l) => runtimeEvents.includes(l)), 'the runtime events come between started and succeeded');

  // the file and the daemon agree
  const trace = await r.cli(dir, ['runs', 'trace', runId, '--json']);
  t.equal(trace.code, 0);
  const printed = trace.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as TraceFileLine);
  t.same(printed, lines, '`runs trace --json` prints the file\'s lines');
  const verify = await r.cli(dir, ['log', 'verify']);
  t.equal(verify.code, 0, `log verify: ${verify.stdout}${verify.stderr}`);
});
