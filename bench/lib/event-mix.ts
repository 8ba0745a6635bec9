import { createHash } from 'node:crypto';
import { closeSync, openSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import type { StoredEvent } from '../../src/events/envelope.js';
import { createEventIdFactory } from '../../src/events/event-id.js';
import { CURRENT_VERSION, streamOf, type DomainEvent, type RunTrace } from '../../src/events/event-types.js';
import { encodeLine } from '../../src/events/line-codec.js';
import { bootId } from '../../src/system/process-identity.js';

/**
 * Realistic events for benchmarks: what a daemon that has run agents for a while has in its log.
 * Runs accept a request with a goal, queue, route to one of a few instances, start, emit RunEvent-like
 * traces, and end (about 1 in 10 fails). Deterministic for a given count.
 */

const TRACE_KINDS = ['step.started', 'tool.call', 'tool.result', 'message.delta', 'step.finished'] as const;
const TOOLS = ['web.search', 'repo.read_file', 'shell.exec', 'issues.list'] as const;

/** The data of a `run.trace` line, as a runtime reports one step (about 360 bytes once enveloped). */
export function traceData(runId: string, step: number): RunTrace {
  const kind = TRACE_KINDS[step % TRACE_KINDS.length] as string;
  const tool = TOOLS[step % TOOLS.length] as string;
  return {
    run_id: runId,
    level: 'info',
    type: kind,
    data: {
      step,
      tool,
      input: { query: `label:bug page ${step % 7}` },
      output: 'Found 12 issues; the oldest is #4312.',
    },
  };
}

export interface GeneratedLog {
  events: number;
  runs: number;
  bytes: number;
  streams: number;
}

interface RunPlan {
  events: DomainEvent[];
  next: number;
}

const INSTANCES = ['inst-a1', 'inst-b2', 'inst-c3', 'inst-d4'];
const PROFILES = ['claude-default', 'claude-fast', 'local-llama'];

function runEvents(i: number): DomainEvent[] {
  const runId = `run-${String(i).padStart(7, '0')}`;
  const instance = INSTANCES[i % INSTANCES.length] as string;
  const goal = `Summarise the open bugs in acme/widgets-${i % 50} and propose a fix for the oldest`;
  const request = { goal, runtime_profile: PROFILES[i % PROFILES.length] as string, input: { repo: `acme/widgets-${i % 50}` } };
  const events: DomainEvent[] = [
    { type: 'run.accepted', data: { run_id: runId, request, request_hash: createHash('sha256').update(goal).update(String(i)).digest('hex') } },
    { type: 'run.queued', data: { run_id: runId, reason: 'waiting for a ready instance' } },
    { type: 'run.routed', data: { run_id: runId, instance_id: instance, runtime_api_endpoint: `http://127.0.0.1:${41000 + (i % INSTANCES.length)}` } },
    { type: 'run.started', data: { run_id: runId, instance_id: instance } },
  ];
  const traces = 4 + (i % 5); // 4..8, 6 on average
  for (let s = 0; s < traces; s++) events.push({ type: 'run.trace', data: traceData(runId, s) });
  if (i % 10 === 7) {
    events.push({ type: 'run.failed', data: { run_id: runId, error: { code: 'E_RUNTIME', message: 'the runtime reported an error: tool shell.exec exited with status 2' } } });
  } else {
    events.push({ type: 'run.succeeded', data: { run_id: runId, result: { summary: 'Found 12 open bugs; the oldest (#4312) crashes on an empty config file.', items: 12 } } });
  }
  return events;
}

/**
 * Writes a log of exactly `count` events to `path` with the real codec: `daemon.started` (with this
 * machine's boot id), profiles, instance lifecycles, then runs 8 at a time with their events
 * interleaved, and a final `daemon.stopped` with `run_logs_complete: true`.
 */
export function generateLog(path: string, count: number): GeneratedLog {
  let ms = Date.parse('2025-01-06T09:00:00.000Z');
  const nextId = createEventIdFactory(() => ms);
  const revs = new Map<string, number>();
  const fd = openSync(path, 'w', 0o600);
  let seq = 0;
  let bytes = 0;
  let runs = 0;
  let chunk: string[] = [];
  let chunkChars = 0;
  const flush = (): void => {
    const buf = Buffer.from(chunk.join(''), 'utf8');
    writeSync(fd, buf);
    bytes += buf.length;
    chunk = [];
    chunkChars = 0;
  };
  const emit = (event: DomainEvent): void => {
    seq++;
    ms += 3;
    const stream = streamOf(event);
    const rev = (revs.get(stream) ?? 0) + 1;
    revs.set(stream, rev);
    const stored = { seq, id: nextId(), ts: new Date(ms).toISOString(), stream, rev, type: event.type, v: CURRENT_VERSION[event.type], data: event.data, meta: {} } as StoredEvent;
    const line = encodeLine(stored);
    chunk.push(line);
    chunkChars += line.length;
    if (chunkChars >= 4 * 1024 * 1024) flush();
  };
  try {
    emit({ type: 'daemon.started', data: { pid: process.pid, version: '0.1.0', boot_id: bootId(), host: hostname() } });
    for (const p of PROFILES) {
      emit({ type: 'profile.upserted', data: { runtime_profile: p, profile: { runtime: 'exec', command: ['arp-runtime', '--profile', p], env: { LOG_LEVEL: 'info' }, max_concurrent_runs: 4 } } });
    }
    INSTANCES.forEach((id, k) => {
      emit({ type: 'instance.requested', data: { instance_id: id, runtime_profile: PROFILES[k % PROFILES.length] as string } });
      emit({ type: 'instance.starting', data: { instance_id: id, pid: 20000 + k, pid_start_time: String(123456 + k), argv: ['arp-runtime', '--port', String(41000 + k)], attempt: 1 } });
      emit({ type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: `http://127.0.0.1:${41000 + k}`, runtime_name: 'arp-runtime', runtime_version: '1.4.2' } });
    });
    const last = count - 1; // events before daemon.stopped
    const window: RunPlan[] = [];
    while (seq < last) {
      while (window.length < 8) {
        const i = runs++;
        window.push({ events: runEvents(i), next: 0 });
        if (i % 64 === 63 && seq < last) {
          emit({ type: i % 128 === 127 ? 'instance.idle' : 'instance.busy', data: { instance_id: INSTANCES[i % INSTANCES.length] as string, active_runs: i % 3 } });
        }
      }
      for (let k = 0; k < window.length && seq < last; k++) {
        const plan = window[k] as RunPlan;
        emit(plan.events[plan.next++] as DomainEvent);
        if (plan.next === plan.events.length) window.splice(k--, 1);
      }
    }
    emit({ type: 'daemon.stopped', data: { pid: process.pid, reason: 'SIGTERM', run_logs_complete: true } });
    flush();
  } finally {
    closeSync(fd);
  }
  return { events: seq, runs, bytes, streams: revs.size };
}
