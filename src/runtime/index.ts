export { ArithmeticError, calculate, evaluateArithmetic, findArithmetic, parseArithmetic, type Expr } from './arithmetic.js';
export { planGoal, type GoalPlan, type PlanStep, type RunOutcome } from './goal-evaluator.js';
export { DEFAULT_TRACE_FILE_NAME, RunEngine, isEndedState, type RunEngineOptions, type RunSubscriber } from './run-engine.js';
export {
  DEFAULT_RUNTIME_NAME,
  createReferenceRuntime,
  startReferenceRuntime,
  type ReferenceRuntimeOptions,
  type RunningReferenceRuntime,
  type StartReferenceRuntimeOptions,
} from './reference-runtime.js';
export { CRASH_EXIT_CODE, parseServeArgs, runtimeServeMain, type ServeArgs } from './serve.js';
