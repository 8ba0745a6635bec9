import { ArpdError, toArpdError } from '../errors/index.js';
import { jsonTextTooDeep } from '../policy/json-limits.js';
import { streamRunEvents } from '../runtime-client/run-events.js';
import type { JsonRecord, RuntimeClient } from '../runtime-client/runtime-client.js';
import type { RunResult } from '../schemas/index.js';
import { validationProblem } from '../schemas/index.js';

/**
 * Following one run on its runtime until it ends: the runtime's event stream (SSE) when it offers
 * one, else polling its status. Every event is checked (nesting, size, the ARP RunEvent schema); a
 * runtime that sends something else fails the run with E_BAD_RUNTIME. Events are handed on in
 * `seq` order without repeats (a reconnect resumes after the last one). When the runtime says the run
 * ended (its first terminal event, or its status), the result is fetched once and returned; the stream is not read
 * past that event.
 */

export type RuntimeEnd = 'succeeded' | 'failed' | 'canceled';

export interface FollowOptions {
  /** The runtime's seq of the last event already recorded (resume after it). */
  lastSeq: number;
  signal: AbortSignal;
  onEvent(ev: JsonRecord): void;
  /** Is the instance known to be gone (failed, stopped)? Then an unreachable runtime is not waited for. */
  instanceGone(): boolean;
  maxEventBytes: number;
  maxDepth: number;
  reconnectDelayMs?: number;
  traceparent?: string;
}

export interface FollowOutcome {
  state: RuntimeEnd;
  result: RunResult | undefined;
}

const TERMINAL = new Set(['succeeded', 'failed', 'canceled']);

const sleep = (ms: number, signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  const t = setTimeout(resolve, ms);
  signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

/** The end state a terminal RunEvent carries (`final`, or `error` with data.state), if any. */
function endOfEvent(ev: JsonRecord): RuntimeEnd | undefined {
  const data = ev['data'] as JsonRecord | undefined;
  const state = data?.['state'];
  if (ev['type'] === 'final') return typeof state === 'string' && TERMINAL.has(state) ? (state as RuntimeEnd) : 'succeeded';
  if (ev['type'] === 'error' && typeof state === 'string' && TERMINAL.has(state)) return state as RuntimeEnd;
  return undefined;
}

function parseEvent(data: string, runId: string, endpoint: string, o: FollowOptions): JsonRecord {
  if (jsonTextTooDeep(data, o.maxDepth)) {
    throw new ArpdError('E_TRACE_LIMIT', `runtime at ${endpoint} sent an event nested deeper than ${o.maxDepth} levels (--max-trace-depth): arpd failed the run to protect itself`, { endpoint, limit: o.maxDepth });
  }
  let ev: unknown;
  try {
    ev = JSON.parse(data);
  } catch {
    throw new ArpdError('E_BAD_RUNTIME', `runtime at ${endpoint} sent an event that is not JSON: is it an ARP runtime?`, { endpoint });
  }
  const problem = validationProblem('RunEvent', ev);
  if (problem !== undefined) throw new ArpdError('E_BAD_RUNTIME', `runtime at ${endpoint} sent an event that is not an ARP RunEvent: ${problem.message}`, { endpoint });
  const rec = ev as JsonRecord;
  if (rec['run_id'] !== runId) throw new ArpdError('E_BAD_RUNTIME', `runtime at ${endpoint} sent an event of run '${String(rec['run_id']).slice(0, 130)}' on the stream of '${runId}'`, { endpoint });
  return rec;
}

/** Resolves with how the run ended on the runtime, or undefined when `signal` aborted first. */
export async function followRun(client: RuntimeClient, endpoint: string, runId: string, o: FollowOptions): Promise<FollowOutcome | undefined> {
  let lastSeq = o.lastSeq;
  let sse = true;
  let delay = 25;
  const callOpts = { signal: o.signal, ...(o.traceparent === undefined ? {} : { traceparent: o.traceparent }) };
  for (;;) {
    if (o.signal.aborted) return undefined;
    let ended: RuntimeEnd | undefined;
    if (sse) {
      try {
        // the first terminal event ends the run: what comes after it (more events, another end) is not the run's, and a
        // stream left open after it is not waited on (leaving the loop closes it)
        stream: for await (const batch of streamRunEvents(client, endpoint, runId, { ...callOpts, maxMessageBytes: o.maxEventBytes, ...(lastSeq > 0 ? { lastEventId: String(lastSeq) } : {}) })) {
          for (const msg of batch) {
            const ev = parseEvent(msg.data, runId, endpoint, o);
            const seq = ev['seq'] as number;
            if (seq <= lastSeq) continue;
            lastSeq = seq;
            o.onEvent(ev);
            ended = endOfEvent(ev);
            if (ended !== undefined) break stream;
          }
        }
      } catch (err) {
        if (o.signal.aborted) return undefined;
        const e = toArpdError(err);
        if (e.code === 'E_METHOD_NOT_FOUND') sse = false;
        else if (e.code !== 'E_RUNTIME_LOST') throw e;
      }
    }
    if (o.signal.aborted) return undefined;
    if (ended === undefined) {
      let status;
      try {
        status = await client.getRun(endpoint, runId, callOpts);
      } catch (err) {
        if (o.signal.aborted) return undefined;
        const e = toArpdError(err);
        if (e.code !== 'E_RUNTIME_LOST') throw e;
        // the process may be gone: the supervisor says so, else keep trying a while
        if (o.instanceGone()) throw e;
        await sleep(Math.min(delay *= 2, 1000), o.signal);
        if (delay >= 1000) throw e;
        continue;
      }
      if (TERMINAL.has(status.state)) ended = status.state as RuntimeEnd;
    }
    if (ended !== undefined) {
      let result: RunResult | undefined;
      for (let tries = 0; ; tries++) {
        try {
          result = await client.getResult(endpoint, runId, callOpts);
          break;
        } catch (err) {
          if (o.signal.aborted) return undefined;
          const e = toArpdError(err);
          if (e.code === 'E_BAD_RUNTIME') throw e;
          // the end event can arrive a moment before the runtime serves the result (409 not ready)
          if (e.code === 'E_RUNTIME_ERROR' && e.data?.['http_status'] === 409 && tries < 5) {
            await sleep(20 * (tries + 1), o.signal);
            continue;
          }
          result = undefined; // it ended but gave no result: the end is recorded without one
          break;
        }
      }
      return { state: ended, result };
    }
    await sleep(sse ? (o.reconnectDelayMs ?? 50) : delay, o.signal);
    if (!sse) delay = Math.min(delay * 2, 1000);
  }
}
