import t from 'tap';
import fc from 'fast-check';
import { planGoal, type GoalPlan } from '../../src/runtime/goal-evaluator.js';

function emitted(plan: GoalPlan): string[] {
  return plan.steps.map((s) => (s.kind === 'emit' ? s.type : s.kind));
}

t.test('plans an arithmetic goal as a calculator call that answers 437', async (t) => {
  const plan = planGoal('What is (19*23)?');
  t.same(emitted(plan), ['step', 'tool_call', 'tool_result', 'step']);
  t.same(plan.outcome, { ok: true, output: { text: '(19*23) = 437', answer: 437, expression: '(19*23)' } });
});

t.test('plans any other goal as an echo', async (t) => {
  const plan = planGoal('Write a haiku about protocols.');
  t.same(emitted(plan), ['step', 'step']);
  t.same(plan.outcome, { ok: true, output: { text: 'Write a haiku about protocols.' } });
});

t.test('plans a goal that divides by zero as a failed calculator call', async (t) => {
  const plan = planGoal('What is 1/0?');
  t.same(emitted(plan), ['step', 'tool_call', 'tool_result']);
  t.match(plan.outcome, { ok: false, error: { code: 'runtime.arithmetic', message: "cannot compute '1/0': division by zero" } });
});

t.test('sleeps first for sleep:<ms> and then plans the rest of the goal', async (t) => {
  const plan = planGoal('sleep:250 What is 2+2?');
  t.same(plan.steps.slice(0, 2), [
    { kind: 'emit', type: 'step', data: { name: 'sleep', ms: 250 } },
    { kind: 'sleep', ms: 250 },
  ]);
  t.match(plan.outcome, { ok: true, output: { answer: 4 } });
  t.match(planGoal('sleep:10sleep:20 hi'), { steps: [{}, { ms: 10 }, {}, { ms: 20 }], outcome: { output: { text: 'hi' } } });
  t.match(planGoal('sleep:5 fail:boom').outcome, { ok: false, error: { code: 'runtime.failed', message: 'boom' } });
  t.match(planGoal('sleep:soon').outcome, { ok: true, output: { text: 'sleep:soon' } }, 'no number, no prefix');
});

t.test('fails for fail:<message>, with a default message when it is empty', async (t) => {
  t.same(planGoal('fail:out of cheese').outcome, { ok: false, error: { code: 'runtime.failed', message: 'out of cheese' } });
  t.match(planGoal('fail:').outcome, { ok: false, error: { code: 'runtime.failed', message: /asked the run to fail/ } });
});

t.test('crashes for crash alone or followed by a space or colon, and not for longer words', async (t) => {
  for (const goal of ['crash', 'crash now', 'crash:now', '  crash']) {
    t.ok(planGoal(goal).steps.some((s) => s.kind === 'crash'), goal);
  }
  for (const goal of ['crashing', 'Crash', 'do not crash']) {
    t.notOk(planGoal(goal).steps.some((s) => s.kind === 'crash'), goal);
  }
});

t.test('plans the same way every time for any goal, and never throws', async (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), fc.constantFrom('sleep:', 'fail:', 'crash', 'What is ').chain((p) => fc.string().map((s) => p + s))), (goal) => {
      const a = planGoal(goal);
      const b = planGoal(goal);
      return JSON.stringify(a) === JSON.stringify(b) && a.steps.length > 0;
    }),
    { numRuns: 1000 },
  );
  t.pass('the property held for 1000 runs');
});
