import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { EventMeta } from '../../src/events/envelope.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { logBytes } from '../../src/events/log-compact.js';
import { LogStore, type AppendInput } from '../../src/events/log-store.js';
import { DEFAULT_PROFILE } from '../../src/features/profile-ops.js';
import { bootId } from '../../src/system/process-identity.js';
import { traceData } from './event-mix.js';

/**
 * A data dir as a user's daemon leaves it after `runs` runs, written fast but through the real store: `LogStore`
 * (the real codec, envelopes, segments, and the run logs `runs/<id>/trace.jsonl` its run-log writer makes), one
 * group commit per ~4,000 events, with a clock that ends now so every run is within `--retain-days` (retention by
 * count then decides what stays in memory: the worst case for memory). The history: a start, the default profile,
 * four instances, then runs 8 at a time with their events interleaved (accepted, queued, routed, started, 1–4
 * traces, succeeded or, 1 in 10, failed), the instances stopped, and a clean `daemon.stopped` (run logs complete).
 * No snapshot: a daemon boot (a full replay) and a clean stop make one, as for a user upgrading to snapshots.
 */

export interface History {
  runs: number;
  events: number;
  /** Bytes of the global log (segments + active file). */
  logBytes: number;
  ms: number;
}

const INSTANCES = ['inst-a1', 'inst-b2', 'inst-c3', 'inst-d4'];
/** Between events: a million runs span about two hours, so every run is within the default `--retain-days` 7. */
const STEP_MS = 1;

function runEvents(i: number): DomainEvent[] {
  const runId = `run-${String(i).padStart(7, '0')}`;
  const k = i % INSTANCES.length;
  const instance = INSTANCES[k] as string;
  const request = { run_id: runId, input: { goal: `Summarise the open bugs in acme/widgets-${i % 50} and propose a fix for the oldest` }, runtime_selector: { runtime_profile: 'default' } };
  const endpoint = `http://127.0.0.1:${41000 + k}`;
  const events: DomainEvent[] = [
    { type: 'run.accepted', data: { run_id: runId, request, request_hash: createHash('sha256').update(JSON.stringify(request)).digest('hex') } },
    { type: 'run.queued', data: { run_id: runId, reason: 'waiting for a ready instance' } },
    { type: 'run.routed', data: { run_id: runId, instance_id: instance, runtime_api_endpoint: endpoint } },
    { type: 'run.started', data: { run_id: runId, instance_id: instance } },
  ];
  const traces = 1 + (i % 4); // 1..4, 2.5 on average
  for (let s = 0; s < traces; s++) {
    const d = traceData(runId, s);
    events.push({ type: 'run.trace', data: { ...d, bytes: JSON.stringify(d.data).length } });
  }
  if (i % 10 === 7) {
    events.push({ type: 'run.failed', data: { run_id: runId, error: { code: 'E_RUNTIME', message: 'the runtime reported an error: tool shell.exec exited with status 2' } } });
  } else {
    events.push({ type: 'run.succeeded', data: { run_id: runId, result: { run_id: runId, ok: true, output: { text: 'Found 12 open bugs; the oldest (#4312) crashes on an empty config file.' } } } });
  }
  return events;
}

/** Writes the history into the (empty) data dir `root`. The caller must hold no daemon on it. */
export async function writeHistory(root: string, runs: number, progress?: (runsDone: number) => void): Promise<History> {
  const t0 = performance.now();
  // about 7.5 events a run; the history ends a minute ago
  let ms = Date.now() - 60_000 - Math.ceil(runs * 7.5 + 100) * STEP_MS;
  const store = LogStore.open({ root, clock: () => new Date(ms) });
  const pid = 4242;
  let events = 0;
  let last: Promise<unknown> = Promise.resolve();
  let staged = 0;
  const append = async (list: DomainEvent[], meta: EventMeta): Promise<void> => {
    ms += STEP_MS * list.length;
    events += list.length;
    staged += list.length;
    last = store.append(list as unknown as AppendInput[], meta);
    // one group commit per ~4,000 events: let the writer catch up (bounded memory)
    if (staged >= 4000) {
      staged = 0;
      await last;
    }
  };
  const daemon: EventMeta = { actor: 'daemon' };
  await append([{ type: 'daemon.started', data: { pid, version: '0.1.0', boot_id: bootId(), host: hostname() } }], daemon);
  await append([{ type: 'profile.upserted', data: { runtime_profile: 'default', profile: { runtime_profile: 'default', ...DEFAULT_PROFILE } } }], daemon);
  for (const [k, id] of INSTANCES.entries()) {
    await append([{ type: 'instance.requested', data: { instance_id: id, runtime_profile: 'default' } }], { actor: 'client' });
    await append([{ type: 'instance.starting', data: { instance_id: id, pid: 30000 + k, pid_start_time: String(900000 + k), boot_id: bootId(), argv: ['node', 'dist/src/runtime/main.js', '--host', '127.0.0.1', '--port', '0'], attempt: 1 } }], { actor: 'supervisor' });
    await append([{ type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: `http://127.0.0.1:${41000 + k}`, runtime_name: 'arpd-reference-runtime', runtime_version: '0.1.0' } }], { actor: 'supervisor' });
  }
  const window: Array<{ events: DomainEvent[]; next: number }> = [];
  let started = 0;
  let ended = 0;
  while (ended < runs) {
    while (window.length < 8 && started < runs) window.push({ events: runEvents(started++), next: 0 });
    // one event of each run in the window: a commit holds lines of several runs, as a busy daemon's do
    const round: DomainEvent[] = [];
    for (let k = 0; k < window.length; k++) {
      const plan = window[k] as { events: DomainEvent[]; next: number };
      round.push(plan.events[plan.next++] as DomainEvent);
      if (plan.next === plan.events.length) {
        window.splice(k--, 1);
        ended++;
        if (progress !== undefined && ended % 100_000 === 0) progress(ended);
      }
    }
    await append(round, { actor: 'dispatcher' });
  }
  for (const id of INSTANCES) {
    await append([{ type: 'instance.stopping', data: { instance_id: id, reason: 'arpd is shutting down' } }], { actor: 'supervisor' });
    await append([{ type: 'instance.stopped', data: { instance_id: id, reason: 'arpd is shutting down', exit_code: 0, signal: null } }], { actor: 'supervisor' });
  }
  await last;
  events++;
  await store.close(() => [{ type: 'daemon.stopped', data: { pid, reason: 'SIGTERM', run_logs_complete: store.runLogsComplete } }]);
  return { runs, events, logBytes: logBytes(root), ms: performance.now() - t0 };
}
