/**
 * The reference runtime's runs, in memory: each run follows the plan `planGoal` makes from its goal, on short
 * timers, emitting RunEvents with contiguous `seq` from 1 and ending succeeded, failed or canceled.
 *
 * Per run, every change (an event, the end) goes through one promise chain, so events keep their order and
 * a cancel, a timeout and the run's own end cannot interleave. An event is written to the trace file (when
 * there is one) before anyone sees it, and a run's end state is set before its terminal event is published:
 * whoever sees the terminal event can read the result, and the trace file is complete once a run has ended.
 *
 * Length: over 300 lines because each run's chain (events, cancel, timeout, end) is one ordering guarantee; split,
 * the guarantee would span files.
 */
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArpdError } from '../errors/index.js';
import { checkId, isValidId } from '../ids/id-rules.js';
import type {
  JsonObject,
  RunEvent,
  RunEventType,
  RunRequest,
  RunResult,
  RunState,
  RunStatus,
  TraceEvent,
} from '../schemas/index.js';
import { planGoal, type GoalPlan, type RunOutcome } from './goal-evaluator.js';

/** As JARVIS runtimes: `<trace dir>/<run_id>/trace.jsonl`. arpd gives runtimes a folder of their own (`<data-dir>/runtime-traces`). */
export const DEFAULT_TRACE_FILE_NAME = 'trace.jsonl';

export interface RunEngineOptions {
  /** Pause before each planned event, in ms (default 5). */
  stepDelayMs?: number;
  /** Pause between a `crash` run's first event and the crash hook, in ms (default 50). */
  crashDelayMs?: number;
  /** Reported as `runtime_instance_id` on every RunStatus. */
  instanceId?: string;
  /** When set, each run's events are also appended to `<traceDir>/<run_id>/<traceFileName>` as TraceEvents. */
  traceDir?: string;
  /** Default `trace.jsonl`. The trace dir must not be the daemon's runs folder: arpd refuses that at instance start. */
  traceFileName?: string;
  /** Called for a `crash` goal; the standalone runtime exits with code 70 here. If it returns, the run fails `runtime.crashed`. */
  onCrash?: (runId: string) => void;
  /** Called once per run when its trace cannot be written; the run itself goes on. */
  onTraceError?: (err: unknown, runId: string) => void;
  /** Called with an unexpected failure inside a run (the run then fails `runtime.internal`). */
  onInternalError?: (err: unknown) => void;
  now?: () => Date;
  newRunId?: () => string;
  /** Ended runs beyond this many are forgotten, oldest first (default 10,000). */
  maxRuns?: number;
}

/** Receives a run's events in `seq` order, then `end()` once after the terminal event. */
export interface RunSubscriber {
  event(event: RunEvent): void;
  end(): void;
}

interface RunRecord {
  readonly runId: string;
  readonly request: RunRequest;
  readonly plan: GoalPlan;
  readonly events: RunEvent[];
  readonly subscribers: Set<RunSubscriber>;
  readonly abort: AbortController;
  state: RunState;
  startedAt: string | undefined;
  endedAt: string | undefined;
  result: RunResult | undefined;
  /** Set as soon as an end is decided, before its terminal event is out. */
  ending: boolean;
  steps: number;
  timeout: NodeJS.Timeout | undefined;
  chain: Promise<void>;
  traceDirMade: boolean;
  traceFailed: boolean;
}

const ENDED: ReadonlySet<RunState> = new Set(['succeeded', 'failed', 'canceled']);

export function isEndedState(state: RunState): boolean {
  return ENDED.has(state);
}

export class RunEngine {
  private readonly runs = new Map<string, RunRecord>();
  private readonly stepDelayMs: number;
  private readonly crashDelayMs: number;
  private readonly traceFileName: string;
  private readonly maxRuns: number;
  private closed = false;

  constructor(private readonly opts: RunEngineOptions = {}) {
    this.stepDelayMs = opts.stepDelayMs ?? 5;
    this.crashDelayMs = opts.crashDelayMs ?? 50;
    this.maxRuns = opts.maxRuns ?? 10_000;
    this.traceFileName = opts.traceFileName ?? DEFAULT_TRACE_FILE_NAME;
    if (!isValidId(this.traceFileName)) {
      throw new ArpdError(
        'E_VALIDATION',
        `trace file name '${this.traceFileName}' is not allowed: use a plain file name of letters, digits, '-', '_' or '.'`,
        { field: 'traceFileName' },
      );
    }
  }

  /** Accepts a run and starts it; returns its `queued` status. */
  submit(request: RunRequest): RunStatus {
    if (this.closed) throw new ArpdError('E_UNAVAILABLE', 'the runtime is shutting down: submit the run to another instance');
    const runId = checkId('run id', request.run_id ?? this.newRunId(), 'run_id');
    const existing = this.runs.get(runId);
    if (existing !== undefined) {
      throw new ArpdError(
        'E_CONFLICT',
        `run '${runId}' already exists on this runtime (state ${existing.state}): use a new run_id, or leave it out to get one made`,
        { run_id: runId, state: existing.state },
      );
    }
    const run: RunRecord = {
      runId,
      request,
      plan: planGoal(request.input.goal),
      events: [],
      subscribers: new Set(),
      abort: new AbortController(),
      state: 'queued',
      startedAt: undefined,
      endedAt: undefined,
      result: undefined,
      ending: false,
      steps: 0,
      timeout: undefined,
      chain: Promise.resolve(),
      traceDirMade: false,
      traceFailed: false,
    };
    this.runs.set(runId, run);
    this.forgetOldRuns();

    const timeoutMs = request.limits?.timeout_ms;
    if (timeoutMs !== undefined) {
      run.timeout = setTimeout(() => {
        void this.serial(run, () =>
          this.finish(run, failure('runtime.timeout', `the run ran past its time limit of ${timeoutMs} ms (limits.timeout_ms)`), 'failed'),
        );
      }, timeoutMs);
    }
    void this.execute(run);
    return this.statusOf(run);
  }

  status(runId: string): RunStatus {
    return this.statusOf(this.get(runId));
  }

  /** The result of an ended run; E_NOT_READY while it is still queued or running. */
  result(runId: string): RunResult {
    const run = this.get(runId);
    if (run.result === undefined) {
      throw new ArpdError(
        'E_NOT_READY',
        `run '${runId}' has not ended yet (state ${run.state}): ask again once it has ended, or follow its events`,
        { run_id: runId, state: run.state },
      );
    }
    return run.result;
  }

  /** Cancels a run that has not ended; an ended run is left as it is. Returns the status either way. */
  async cancel(runId: string): Promise<RunStatus> {
    const run = this.get(runId);
    await this.serial(run, () => this.finish(run, failure('runtime.canceled', 'the run was canceled on request'), 'canceled'));
    return this.statusOf(run);
  }

  /** Events emitted so far, in order. */
  events(runId: string): readonly RunEvent[] {
    return [...this.get(runId).events];
  }

  /**
   * Replays the events after `afterSeq`, then delivers live ones, then calls `end()` after the terminal event
   * (at once if the run has already ended). Returns a function that stops the delivery.
   */
  subscribe(runId: string, afterSeq: number, subscriber: RunSubscriber): () => void {
    const run = this.get(runId);
    for (const event of run.events) if (event.seq > afterSeq) subscriber.event(event);
    if (isEndedState(run.state) || this.closed) {
      subscriber.end();
      return () => undefined;
    }
    run.subscribers.add(subscriber);
    return () => {
      run.subscribers.delete(subscriber);
    };
  }

  has(runId: string): boolean {
    return this.runs.has(runId);
  }

  /** Statuses of every run still remembered, oldest first. */
  list(): RunStatus[] {
    return [...this.runs.values()].map((run) => this.statusOf(run));
  }

  /** Stops every timer, ends every subscription and waits for pending trace writes. Runs keep their last state. */
  async close(): Promise<void> {
    this.closed = true;
    for (const run of this.runs.values()) {
      run.abort.abort();
      clearTimeout(run.timeout);
      endAll(run);
    }
    await Promise.all([...this.runs.values()].map((run) => run.chain));
  }

  // ---- internals ------------------------------------------------------------------------------

  private get(runId: string): RunRecord {
    const run = this.runs.get(runId);
    if (run === undefined) {
      throw new ArpdError('E_NOT_FOUND', `run '${runId}' is not known to this runtime: check the run id`, { run_id: runId });
    }
    return run;
  }

  private async execute(run: RunRecord): Promise<void> {
    const { signal } = run.abort;
    try {
      await sleep(this.stepDelayMs, undefined, { signal });
      await this.serial(run, () => {
        if (run.ending) return;
        run.state = 'running';
        run.startedAt = this.stamp();
      });
      for (const step of run.plan.steps) {
        if (step.kind === 'sleep') {
          await sleep(step.ms, undefined, { signal });
        } else if (step.kind === 'crash') {
          await sleep(this.crashDelayMs, undefined, { signal });
          if (!run.ending) this.opts.onCrash?.(run.runId);
        } else {
          await sleep(this.stepDelayMs, undefined, { signal });
          await this.serial(run, () => this.emitPlanned(run, step.type, step.data));
        }
        if (run.ending) return;
      }
      await sleep(this.stepDelayMs, undefined, { signal });
      const { outcome } = run.plan;
      await this.serial(run, () => this.finish(run, outcome, outcome.ok ? 'succeeded' : 'failed'));
    } catch (err) {
      if (signal.aborted) return;
      this.opts.onInternalError?.(err);
      await this.serial(run, () =>
        this.finish(run, failure('runtime.internal', 'the reference runtime failed while running the goal'), 'failed'),
      );
    }
  }

  private async emitPlanned(run: RunRecord, type: RunEventType, data: JsonObject): Promise<void> {
    if (run.ending) return;
    if (type === 'step') {
      const max = run.request.limits?.max_steps;
      if (max !== undefined && run.steps >= max) {
        await this.finish(run, failure('runtime.max_steps', `the run needed more than its limit of ${max} steps (limits.max_steps)`), 'failed');
        return;
      }
      run.steps++;
    }
    await this.publish(run, type, data, undefined);
  }

  /** Ends a run once: its terminal event (`final` when ok, `error` otherwise) carries `state`. */
  private async finish(run: RunRecord, outcome: RunOutcome, state: 'succeeded' | 'failed' | 'canceled'): Promise<void> {
    if (run.ending) return;
    run.ending = true;
    run.abort.abort();
    clearTimeout(run.timeout);
    const result: RunResult = outcome.ok
      ? { run_id: run.runId, ok: true, output: outcome.output }
      : { run_id: run.runId, ok: false, error: outcome.error };
    if (outcome.ok) {
      await this.publish(run, 'final', { state, output: outcome.output }, { state, result });
    } else {
      await this.publish(run, 'error', { state, code: outcome.error.code, message: outcome.error.message }, { state, result });
    }
  }

  private async publish(
    run: RunRecord,
    type: RunEventType,
    data: JsonObject,
    end: { state: RunState; result: RunResult } | undefined,
  ): Promise<void> {
    const event: RunEvent = { run_id: run.runId, seq: run.events.length + 1, type, time: this.stamp(), data };
    await this.writeTrace(run, event);
    run.events.push(event);
    if (end !== undefined) {
      run.state = end.state;
      run.endedAt = event.time;
      run.result = end.result;
    }
    for (const subscriber of run.subscribers) {
      try {
        subscriber.event(event);
      } catch {
        run.subscribers.delete(subscriber);
      }
    }
    if (end !== undefined) endAll(run);
  }

  private async writeTrace(run: RunRecord, event: RunEvent): Promise<void> {
    const dir = this.opts.traceDir;
    if (dir === undefined || run.traceFailed) return;
    const line: TraceEvent = {
      run_id: event.run_id,
      seq: event.seq,
      time: event.time,
      level: event.type === 'error' ? 'error' : 'info',
      type: event.type,
      ...(event.data === undefined ? {} : { data: event.data }),
    };
    try {
      // The run id passed checkId at submit, so it is one safe path segment.
      const runDir = join(dir, run.runId);
      if (!run.traceDirMade) {
        await mkdir(runDir, { recursive: true, mode: 0o700 });
        run.traceDirMade = true;
      }
      await appendFile(join(runDir, this.traceFileName), `${JSON.stringify(line)}\n`, { mode: 0o600 });
    } catch (err) {
      run.traceFailed = true;
      this.opts.onTraceError?.(err, run.runId);
    }
  }

  private serial(run: RunRecord, fn: () => void | Promise<void>): Promise<void> {
    const next = run.chain.then(fn);
    run.chain = next.catch(() => undefined);
    return next;
  }

  private statusOf(run: RunRecord): RunStatus {
    const status: RunStatus = { run_id: run.runId, state: run.state };
    if (run.startedAt !== undefined) status.started_at = run.startedAt;
    if (run.endedAt !== undefined) status.ended_at = run.endedAt;
    if (this.opts.instanceId !== undefined) status.runtime_instance_id = this.opts.instanceId;
    return status;
  }

  private forgetOldRuns(): void {
    if (this.runs.size <= this.maxRuns) return;
    for (const [id, run] of this.runs) {
      if (this.runs.size <= this.maxRuns) return;
      if (isEndedState(run.state)) this.runs.delete(id);
    }
  }

  private stamp(): string {
    return (this.opts.now?.() ?? new Date()).toISOString();
  }

  private newRunId(): string {
    return this.opts.newRunId?.() ?? `run_${randomUUID()}`;
  }
}

function failure(code: string, message: string): RunOutcome {
  return { ok: false, error: { code, message } };
}

function endAll(run: RunRecord): void {
  const subscribers = [...run.subscribers];
  run.subscribers.clear();
  for (const subscriber of subscribers) {
    try {
      subscriber.end();
    } catch {
      // A subscriber that cannot be ended (a closed socket) is already gone.
    }
  }
}
