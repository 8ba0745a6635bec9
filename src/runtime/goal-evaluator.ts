/**
 * Goal text -> the plan a reference run follows: the events it emits, the pauses between them and how it ends.
 * Pure and deterministic: the same goal always gives the same plan. No I/O, no clock, no ids.
 *
 * Fault-testing prefixes, read left to right and combinable (`sleep:200 fail:boom`):
 * - `sleep:<ms>` waits that long first; the rest of the goal (after one optional space) is then planned.
 * - `fail:<message>` ends the run `failed` with error `runtime.failed` and that message.
 * - `crash` (alone, or followed by a space or ':') makes the runtime call its crash hook.
 * Otherwise a goal holding arithmetic (`What is (19*23)?`) is answered with a calculator tool call,
 * and any other goal is echoed back as `output.text`.
 */
import type { ErrorDetail, JsonObject } from '../schemas/index.js';
import { ArithmeticError, calculate, findArithmetic } from './arithmetic.js';

/** Events a plan may emit before its end; the terminal `final` or `error` event comes from the outcome. */
export type PlannedEventType = 'step' | 'tool_call' | 'tool_result';

export type PlanStep =
  | { readonly kind: 'emit'; readonly type: PlannedEventType; readonly data: JsonObject }
  | { readonly kind: 'sleep'; readonly ms: number }
  | { readonly kind: 'crash' };

export type RunOutcome =
  | { readonly ok: true; readonly output: JsonObject }
  | { readonly ok: false; readonly error: ErrorDetail };

export interface GoalPlan {
  readonly steps: readonly PlanStep[];
  readonly outcome: RunOutcome;
}

/** Longest pause `sleep:<ms>` honours (the largest delay a Node timer takes). */
export const MAX_SLEEP_MS = 2 ** 31 - 1;

export function planGoal(goal: string): GoalPlan {
  const steps: PlanStep[] = [];
  let rest = goal.trimStart();

  for (;;) {
    const sleep = /^sleep:(\d+) ?/.exec(rest);
    if (sleep === null) break;
    const ms = Math.min(Number(sleep[1]), MAX_SLEEP_MS);
    steps.push({ kind: 'emit', type: 'step', data: { name: 'sleep', ms } }, { kind: 'sleep', ms });
    rest = rest.slice(sleep[0].length);
  }

  if (/^crash(?:$|[\s:])/.test(rest)) {
    steps.push({ kind: 'emit', type: 'step', data: { name: 'plan', goal: rest, strategy: 'crash' } }, { kind: 'crash' });
    return {
      steps,
      outcome: failure('runtime.crashed', "the runtime was asked to crash by a 'crash' goal and its crash hook returned"),
    };
  }

  if (rest.startsWith('fail:')) {
    const message = rest.slice('fail:'.length).trim();
    steps.push({ kind: 'emit', type: 'step', data: { name: 'plan', goal: rest, strategy: 'fail' } });
    return { steps, outcome: failure('runtime.failed', message === '' ? "the goal asked the run to fail ('fail:')" : message) };
  }

  const expression = findArithmetic(rest);
  if (expression !== undefined) {
    const calculator = calculatorPlan(rest, expression);
    return { steps: [...steps, ...calculator.steps], outcome: calculator.outcome };
  }

  steps.push(
    { kind: 'emit', type: 'step', data: { name: 'plan', goal: rest, strategy: 'echo' } },
    { kind: 'emit', type: 'step', data: { name: 'respond' } },
  );
  return { steps, outcome: { ok: true, output: { text: rest } } };
}

const CALL_ID = 'call_1';

/** Plan the calculator: a tool call and its result, then the answer (or a failure when it cannot be computed). */
function calculatorPlan(goal: string, expression: string): { steps: PlanStep[]; outcome: RunOutcome } {
  const call = { tool_call_id: CALL_ID, tool: 'calculator' };
  const steps: PlanStep[] = [
    { kind: 'emit', type: 'step', data: { name: 'plan', goal, strategy: 'calculator' } },
    { kind: 'emit', type: 'tool_call', data: { ...call, args: { expression } } },
  ];
  try {
    const answer = calculate(expression);
    steps.push(
      { kind: 'emit', type: 'tool_result', data: { ...call, ok: true, result: { value: answer } } },
      { kind: 'emit', type: 'step', data: { name: 'answer' } },
    );
    return { steps, outcome: { ok: true, output: { text: `${expression} = ${answer}`, answer, expression } } };
  } catch (err) {
    if (!(err instanceof ArithmeticError)) throw err;
    const error = { code: 'runtime.arithmetic', message: `cannot compute '${expression}': ${err.message}` };
    steps.push({ kind: 'emit', type: 'tool_result', data: { ...call, ok: false, error } });
    return { steps, outcome: { ok: false, error } };
  }
}

function failure(code: string, message: string): RunOutcome {
  return { ok: false, error: { code, message } };
}
