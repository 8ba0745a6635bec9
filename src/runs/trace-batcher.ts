import type { RunTrace } from '../events/event-types.js';

export type TraceLineInput = Omit<RunTrace, 'run_id' | 'bytes'>;

/**
 * Trace lines of one run go to the log in batches: the lines that arrive while the previous batch is being written
 * go out in the next one (one command, one group commit), in order, at most MAX_BATCH_LINES at a time: a runtime
 * that writes thousands of lines at once has them recorded (and visible in trace.jsonl) a slice at a time as they
 * are parsed, not all at the end in one large command. `flush` resolves once everything pushed so far is recorded
 * (or refused).
 */
export const MAX_BATCH_LINES = 256;

export class TraceBatcher {
  private readonly queues = new Map<string, { lines: TraceLineInput[]; draining: Promise<void> | undefined }>();

  constructor(private readonly record: (runId: string, lines: TraceLineInput[]) => Promise<void>) {}

  push(runId: string, line: TraceLineInput): void {
    let q = this.queues.get(runId);
    if (q === undefined) {
      q = { lines: [], draining: undefined };
      this.queues.set(runId, q);
    }
    q.lines.push(line);
    if (q.draining === undefined) q.draining = this.drain(runId, q);
  }

  private async drain(runId: string, q: { lines: TraceLineInput[]; draining: Promise<void> | undefined }): Promise<void> {
    try {
      while (q.lines.length > 0) await this.record(runId, q.lines.splice(0, MAX_BATCH_LINES));
    } finally {
      q.draining = undefined;
      if (q.lines.length === 0 && this.queues.get(runId) === q) this.queues.delete(runId);
    }
  }

  async flush(runId: string): Promise<void> {
    for (;;) {
      const q = this.queues.get(runId);
      if (q?.draining === undefined) return;
      await q.draining;
    }
  }

  /** Runs with lines not yet recorded. */
  get pending(): number {
    return this.queues.size;
  }
}
