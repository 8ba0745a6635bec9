import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { DomainEvent } from '../../src/events/event-types.js';
import { ACTIVE_LOG } from '../../src/events/log-files.js';
import { planRepair } from '../../src/events/log-repair.js';
import { LogStore } from '../../src/events/log-store.js';

// test/runs/runs-repair.test.ts repairs a damaged log through a real daemon; this file checks the plan on crafted
// damage: what is restored from the run logs, what is lost, and which runs must be failed.

const accepted = (id: string): DomainEvent => ({ type: 'run.accepted', data: { run_id: id, request: { input: { goal: 'g' }, run_id: id }, request_hash: `h-${id}` } });
const queued = (id: string): DomainEvent => ({ type: 'run.queued', data: { run_id: id, deadline: '2026-01-01T01:00:00.000Z' } });
const routed = (id: string): DomainEvent => ({ type: 'run.routed', data: { run_id: id, instance_id: 'i1', runtime_api_endpoint: 'http://127.0.0.1:9' } });
const started = (id: string): DomainEvent => ({ type: 'run.started', data: { run_id: id, instance_id: 'i1' } });
const succeeded = (id: string): DomainEvent => ({ type: 'run.succeeded', data: { run_id: id, result: { run_id: id, ok: true } } });
const instance = (id: string): DomainEvent => ({ type: 'instance.requested', data: { instance_id: id, runtime_profile: 'p' } });

/**
 * A real log (one active file) of: 1 instance, 2-5 run a (accepted, queued, routed, succeeded), 6-8 run b
 * (accepted, queued, routed: in flight), 9 instance, 10 run c accepted, 11 run c queued.
 */
async function logOf(root: string): Promise<string[]> {
  const store = LogStore.open({ root });
  for (const e of [instance('i1'), accepted('a'), queued('a'), routed('a'), started('a'), succeeded('a'), accepted('b'), queued('b'), routed('b'), instance('i2'), accepted('c'), queued('c')]) await store.append([e]);
  await store.close();
  return readFileSync(join(root, ACTIVE_LOG), 'utf8').split('\n');
}

/** Rewrites the log with the line of seq `seq` damaged (one byte changed, so its checksum fails). */
function damage(root: string, lines: string[], ...seqs: number[]): void {
  const out = lines.map((l) => (seqs.some((s) => l.startsWith(`{"seq":${s},`)) ? l.replace('"data":{', '"data":{"x":1,') : l));
  writeFileSync(join(root, ACTIVE_LOG), out.join('\n'));
}

t.test('a log without damage is clean: nothing damaged, restored or lost', async (t) => {
  const root = t.testdir();
  await logOf(root);
  const plan = planRepair(root);
  t.equal(plan.clean, true);
  t.same([plan.damaged, plan.restored, plan.lost], [[], [], []]);
  t.equal(plan.lastSeq, 12);
});

t.test('a torn last line alone is not damage (every start cuts it)', async (t) => {
  const root = t.testdir();
  await logOf(root);
  appendFileSync(join(root, ACTIVE_LOG), '{"seq":13,"id":"half');
  const plan = planRepair(root);
  t.equal(plan.clean, true);
  t.equal(plan.lastSeq, 12);
});

t.test('a damaged run event in the middle is restored from its run log, nothing lost', async (t) => {
  const root = t.testdir();
  const lines = await logOf(root);
  damage(root, lines, 3);
  const plan = planRepair(root);
  t.equal(plan.clean, false);
  t.equal(plan.damaged.length, 1);
  t.same(plan.damaged[0]?.seqs, [3]);
  t.equal(plan.damaged[0]?.line, 3);
  t.same(plan.restored.map((r) => [r.seq, r.stream, r.type]), [[3, 'run:a', 'run.queued']]);
  t.match(plan.restored[0]?.from, /runs\/a\/trace\.jsonl$/);
  t.same(plan.lost, []);
  t.same(plan.runsToFail.map((r) => r.run_id), ['b'], 'b was routed and has no end: failed, whatever the damage');
  t.equal(plan.lastSeq, 12);
});

t.test('a damaged event that no run log holds is lost, keeping its seq', async (t) => {
  const root = t.testdir();
  const lines = await logOf(root);
  damage(root, lines, 10);
  const plan = planRepair(root);
  t.same(plan.lost.map((l) => l.seq), [10]);
  t.match(plan.lost[0]?.reason, /no run log holds it/);
  t.same(plan.restored, []);
});

t.test('a run that ended is not failed even when an event of its history was lost', async (t) => {
  const root = t.testdir();
  const lines = await logOf(root);
  damage(root, lines, 3);
  rmSync(join(root, 'runs', 'a'), { recursive: true }); // a's run log is gone: its seq 3 cannot come back
  const plan = planRepair(root);
  t.same(plan.lost.map((l) => l.seq), [3]);
  const fail = new Map(plan.runsToFail.map((r) => [r.run_id, r.why]));
  t.notOk(fail.has('a'), 'a ended: nothing to fail');
  t.match(fail.get('b'), /routed to a runtime and its end was not recorded/);
  t.notOk(fail.has('c'), 'c is only queued: it may still be routed');
});

t.test('a hole in the middle of a run that has not ended fails it', async (t) => {
  const root = t.testdir();
  const lines = await logOf(root);
  damage(root, lines, 11);
  rmSync(join(root, 'runs', 'c'), { recursive: true });
  const plan = planRepair(root);
  t.same(plan.lost.map((l) => l.seq), [11]);
  t.match(new Map(plan.runsToFail.map((r) => [r.run_id, r.why])).get('c'), /events of this run were lost/);
});

t.test('damage at the very end is measured by the run logs: their seqs come back', async (t) => {
  const root = t.testdir();
  const lines = await logOf(root);
  // the last two lines (11, 12: run c) damaged and nothing good after them
  damage(root, lines, 11, 12);
  const plan = planRepair(root);
  t.same(plan.restored.map((r) => r.seq), [11, 12]);
  t.same(plan.lost, []);
  t.equal(plan.lastSeq, 12);
});

t.test('lines missing between two good lines are found by their seqs', async (t) => {
  const root = t.testdir();
  const lines = await logOf(root);
  writeFileSync(join(root, ACTIVE_LOG), lines.filter((l) => !l.startsWith('{"seq":9,') && !l.startsWith('{"seq":10,')).join('\n'));
  const plan = planRepair(root);
  t.same(plan.damaged.map((d) => d.seqs), [[9, 10]]);
  t.match(plan.damaged[0]?.reason, /seq 11 where 9 was expected \(lines are missing\)/);
  t.same(plan.restored.map((r) => r.seq), [9], 'b routed is in its run log');
  t.same(plan.lost.map((l) => l.seq), [10], 'the instance event is not');
});
