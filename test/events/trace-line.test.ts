import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { StoredEvent } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { LogStore } from '../../src/events/log-store.js';
import { encodeTraceLine, traceLineOf } from '../../src/events/trace-line.js';
import { readLogEvents, runLogProblems } from '../fixtures-helpers/events.js';
import { traceEventValidator } from '../fixtures-helpers/trace-oracle.js';

/** Every run event type, every trace level, with and without data, and awkward strings. */
function lifecycle(run: string, end: 'succeeded' | 'failed' | 'canceled'): DomainEvent[] {
  const events: DomainEvent[] = [
    { type: 'run.accepted', data: { run_id: run, request: { input: { text: 'hi \u2028 \u2029 😀 \ud800' } }, request_hash: 'sha256:0' } },
    { type: 'run.queued', data: { run_id: run, reason: 'no ready instance', deadline: '2024-05-01T12:05:00.000Z' } },
    { type: 'run.routed', data: { run_id: run, instance_id: 'i1', runtime_api_endpoint: 'http://127.0.0.1:9/' } },
    { type: 'run.started', data: { run_id: run, instance_id: 'i1' } },
    { type: 'run.trace', data: { run_id: run, level: 'debug', type: 'token', data: { t: 'a' } } },
    { type: 'run.trace', data: { run_id: run, level: 'info', type: 'step' } },
    { type: 'run.trace', data: { run_id: run, level: 'warn', type: 'slow', data: { ms: 1.5, nested: [{ a: null }] }, time: '2024-05-01T12:00:01Z' } },
    { type: 'run.trace', data: { run_id: run, level: 'error', type: 'tool.error', data: { message: 'x\ny' } } },
  ];
  if (end === 'succeeded') events.push({ type: 'run.succeeded', data: { run_id: run, result: { output: 'done' } } });
  if (end === 'failed') events.push({ type: 'run.failed', data: { run_id: run, error: { code: 'E_RUNTIME_ERROR', message: 'boom', details: { at: 1 } }, result: { partial: true } } });
  if (end === 'canceled') events.push({ type: 'run.canceled', data: { run_id: run, reason: 'asked to' } });
  return events;
}

t.test('writes run logs whose every line is an ARP TraceEvent, seq contiguous from 1', async (t) => {
  const root = t.testdir();
  const store = LogStore.open({ root });
  const runs = { 'run-ok': 'succeeded', 'run.failed_1': 'failed', R3: 'canceled' } as const;
  const lists = Object.entries(runs).map(([run, end]) => lifecycle(run, end));
  // interleave the runs and mix in events of other streams
  for (let i = 0; i < 9; i++) {
    const batch = lists.map((l) => l[i]).filter((e): e is DomainEvent => e !== undefined);
    batch.push({ type: 'instance.idle', data: { instance_id: 'i1', active_runs: 0 } });
    await store.append(batch);
  }
  await store.close();
  const validate = traceEventValidator();
  const invalid: string[] = [];
  for (const run of Object.keys(runs)) {
    const lines = readFileSync(join(root, 'runs', run, 'trace.jsonl'), 'utf8').split('\n');
    t.equal(lines.pop(), '', `${run}: ends with a newline`);
    t.equal(lines.length, 9, `${run}: one line per event`);
    const parsed = lines.map((l) => JSON.parse(l) as { seq: number; run_id: string });
    t.same(parsed.map((p) => p.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9], `${run}: seq is contiguous from 1`);
    for (const [i, p] of parsed.entries()) {
      if (validate(p) !== true) invalid.push(`${run} line ${i + 1}: ${JSON.stringify(validate.errors)}`);
      if (p.run_id !== run) invalid.push(`${run} line ${i + 1}: run_id ${p.run_id}`);
    }
  }
  t.same(invalid, [], 'every line validates against the oracle schema');
  t.same(runLogProblems(root, readLogEvents(root)), []);
});

t.test('maps an event to its trace line: level, type, data, time and a pointer to the global log', async (t) => {
  const base = { id: '0190a0b0-0000-7000-8000-000000000001', ts: '2024-05-01T12:00:00.000Z', stream: 'run:r1', v: 1, meta: {} };
  const traceEvent = { ...base, seq: 40, rev: 5, type: 'run.trace', data: { run_id: 'r1', level: 'warn', type: 'slow', data: { ms: 3 }, time: '1999-01-01T00:00:00Z' } } as StoredEvent;
  t.same(traceLineOf(traceEvent, 'r1'), {
    run_id: 'r1', seq: 5, time: '2024-05-01T12:00:00.000Z', level: 'warn', type: 'slow', data: { ms: 3 },
    extensions: { 'arpd.event': { seq: 40, id: base.id, type: 'run.trace' } },
  });
  const bare = { ...traceEvent, data: { run_id: 'r1', level: 'info', type: 'step' } } as StoredEvent;
  t.same(traceLineOf(bare, 'r1').data, {}, 'a trace without data gets an empty object');
  const failed = { ...base, seq: 41, rev: 6, type: 'run.failed', data: { run_id: 'r1', error: { code: 'E', message: 'm' } } } as StoredEvent;
  t.match(traceLineOf(failed, 'r1'), { level: 'error', type: 'failed', data: { run_id: 'r1', error: { code: 'E' } }, seq: 6 });
  const accepted = { ...base, seq: 1, rev: 1, type: 'run.accepted', data: { run_id: 'r1', request: {}, request_hash: 'h' } } as StoredEvent;
  t.match(traceLineOf(accepted, 'r1'), { level: 'info', type: 'accepted', seq: 1 });
  const line = encodeTraceLine(traceEvent, 'r1');
  t.ok(line.endsWith('}\n') && line.indexOf('\n') === line.length - 1, 'one line');
  t.ok(traceEventValidator()(JSON.parse(line)), 'the encoded line validates');
});
