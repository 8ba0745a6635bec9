import { closeSync, existsSync, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Subscription } from 'rxjs';
import type { Component, DaemonContext } from '../daemon/daemon-context.js';
import type { StoredEvent } from '../events/envelope.js';
import { runIdOfStream } from '../events/event-types.js';
import { RunLogWriter } from '../events/run-logs.js';
import { encodeTraceLine } from '../events/trace-line.js';
import { isValidId } from '../ids/id-rules.js';
import { ownsRun } from '../policy/ownership.js';

/** The seq of the last whole line of a run log (a torn last line is cut off first); 0 when there is none. */
export function lastWholeSeq(path: string): number {
  if (!existsSync(path)) return 0;
  const fd = openSync(path, 'r+');
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return 0;
    const window = Math.min(size, 1024 * 1024);
    const buf = Buffer.allocUnsafe(window);
    readSync(fd, buf, 0, window, size - window);
    const end = buf.lastIndexOf(0x0a);
    if (end === -1) {
      if (window === size) ftruncateSync(fd, 0);
      return 0;
    }
    if (end !== window - 1) ftruncateSync(fd, size - window + end + 1);
    const start = buf.lastIndexOf(0x0a, end - 1) + 1;
    try {
      const seq = (JSON.parse(buf.toString('utf8', start, end)) as { seq?: unknown }).seq;
      return typeof seq === 'number' ? seq : 0;
    } catch {
      return 0;
    }
  } finally {
    closeSync(fd);
  }
}

interface Mirror { next: number; catching: boolean }

/**
 * With a shared store the trace of a run is read from the store, on any node; the node that dispatches a run also
 * writes it to its local `runs/<id>/trace.jsonl` (for `tail -f` on that host). From the moment the node claims the
 * run, its whole stream so far is copied (read from the store), then each new event of the run as it is folded,
 * in revision order, until the run ends or its claim is released. After a restart it goes on from the last whole
 * line of the file. Derived data: a line that cannot be written is only a line missing from `tail -f`.
 */
export class RunLogMirror implements Component {
  readonly name = 'run-logs';
  private readonly writer: RunLogWriter;
  private readonly mirrors = new Map<string, Mirror>();
  private sub: Subscription | undefined;
  private stopped = false;
  private failures = 0;
  private readonly log: Logger;

  constructor(private readonly ctx: DaemonContext) {
    this.writer = new RunLogWriter(ctx.paths.runs);
    this.log = ctx.logger.child({ part: 'run-logs' });
  }

  start(): void {
    this.sub = this.ctx.events$.subscribe((e) => this.onEvent(e));
    for (const s of ['queued', 'running'] as const) {
      for (const id of this.ctx.state.runIdsInState(s)) {
        const run = this.ctx.state.runs.get(id);
        if (run !== undefined && run.node !== undefined && ownsRun(this.ctx.node?.id, run) && isValidId(id)) {
          this.follow(id, lastWholeSeq(join(this.ctx.paths.runs, id, 'trace.jsonl')) + 1);
        }
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.sub?.unsubscribe();
    this.writer.close();
  }

  status(): Record<string, unknown> {
    return { run_logs: { mirrored: this.mirrors.size, ...(this.failures === 0 ? {} : { write_failures: this.failures }) } };
  }

  private onEvent(e: StoredEvent): void {
    const runId = runIdOfStream(e.stream);
    if (runId === undefined || this.stopped) return;
    const m = this.mirrors.get(runId);
    if (m === undefined) {
      if (e.type !== 'run.routed' || e.data.node === undefined || e.data.node !== this.ctx.node?.id || !isValidId(runId)) return;
      this.follow(runId, lastWholeSeq(join(this.ctx.paths.runs, runId, 'trace.jsonl')) + 1);
      return;
    }
    if (m.catching || e.rev < m.next) return;
    if (e.rev > m.next) { void this.catchUp(runId, m); return; }
    this.write(runId, e);
    m.next++;
    this.endIfOver(runId, e);
  }

  private follow(runId: string, next: number): void {
    const m: Mirror = { next, catching: false };
    this.mirrors.set(runId, m);
    void this.catchUp(runId, m);
  }

  /** Copies what the store has of the run from `m.next` on. */
  private async catchUp(runId: string, m: Mirror): Promise<void> {
    if (m.catching) return;
    m.catching = true;
    try {
      for (;;) {
        if (this.stopped || this.mirrors.get(runId) !== m) return;
        const page = await this.ctx.log.readStream(`run:${runId}`, m.next, 1000);
        let last: StoredEvent | undefined;
        for (const e of page) {
          if (e.rev !== m.next) continue;
          this.write(runId, e);
          m.next++;
          last = e;
        }
        if (last !== undefined && this.endIfOver(runId, last)) return;
        // events folded while this page was read were not written live: read on until the file holds what is folded
        if (page.length < 1000 && (page.length === 0 || this.ctx.state.streamRev(`run:${runId}`) < m.next)) return;
      }
    } catch (err) {
      this.log.warn({ err: (err as Error).message, run_id: runId }, 'could not copy a run trace to its local run log: tried again on its next event');
    } finally {
      m.catching = false;
    }
  }

  private write(runId: string, e: StoredEvent): void {
    try {
      this.writer.append(runId, encodeTraceLine(e, runId));
    } catch {
      this.failures++;
    }
  }

  /** Stops mirroring a run at its end, or when its claim was handed back to the queue; true when it did. */
  private endIfOver(runId: string, e: StoredEvent): boolean {
    const over = e.type === 'run.released' || e.type === 'run.succeeded' || e.type === 'run.failed' || e.type === 'run.canceled';
    if (!over) return false;
    this.mirrors.delete(runId);
    this.writer.forget(runId);
    return true;
  }
}
