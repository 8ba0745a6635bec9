import { createHash } from 'node:crypto';
import { ArpdError } from '../errors/index.js';
import type { JsonObject } from '../events/event-types.js';
import type { AppendInput } from '../events/log-store.js';
import { checkId } from '../ids/id-rules.js';
import type { Registry } from '../projections/registry.js';
import { TERMINAL_RUN_STATES, type RunView } from '../projections/registry-types.js';

/** Pure decisions about runs. Ids and times arrive in the command. */

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value as object).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The identity of a request for idempotent retries: key order does not matter. */
export function requestHash(request: JsonObject): string {
  return createHash('sha256').update(canonical(request)).digest('hex');
}

export function runNotFound(runId: string): ArpdError {
  return new ArpdError('E_NOT_FOUND', `no run '${runId}': see 'arpd runs list'`, { run_id: runId, arp_code: 'runs.not_found' });
}

export interface SubmitRun {
  runId: string;
  request: JsonObject;
  /** ISO time after which a run still waiting for an instance fails with E_NOT_READY. */
  deadline: string;
}

/** New run → accepted + queued. Same id and same request → nothing (the caller answers the existing status). Same id, other request → E_CONFLICT. */
export function decideSubmitRun(reg: Registry, cmd: SubmitRun): AppendInput[] {
  const runId = checkId('run id', cmd.runId, 'run_id');
  const request: JsonObject = { ...cmd.request, run_id: runId };
  const hash = requestHash(request);
  const existing = reg.runs.get(runId);
  if (existing !== undefined) {
    if (existing.request_hash === hash) return [];
    throw new ArpdError('E_CONFLICT', `run '${runId}' already exists with a different request: choose another run_id, or resend the same request to get its status`, { run_id: runId, arp_code: 'runs.conflict' });
  }
  const selector = request['runtime_selector'] as { instance_id?: string } | undefined;
  if (selector?.instance_id !== undefined && !reg.instances.has(selector.instance_id)) {
    throw new ArpdError('E_NOT_FOUND', `runtime_selector.instance_id '${selector.instance_id}' is not a known instance: see 'arpd instances list'`, { field: 'runtime_selector.instance_id', instance_id: selector.instance_id, arp_code: 'instances.not_found' });
  }
  return [
    { type: 'run.accepted', expectedRev: 0, data: { run_id: runId, request, request_hash: hash } },
    { type: 'run.queued', data: { run_id: runId, deadline: cmd.deadline } },
  ];
}

export function isEnded(run: RunView): boolean {
  return TERMINAL_RUN_STATES.has(run.state);
}

/** Only a run that has not ended can end: a second terminal event is never written. */
export function decideEnd(reg: Registry, runId: string, event: AppendInput): AppendInput[] {
  const run = reg.runs.get(runId);
  if (run === undefined || isEnded(run)) return [];
  return [event];
}

export function decideRoute(reg: Registry, cmd: { runId: string; instanceId: string; endpoint: string }): AppendInput[] {
  const run = reg.runs.get(cmd.runId);
  if (run === undefined || isEnded(run) || run.phase === 'routed' || run.phase === 'started') return [];
  return [{ type: 'run.routed', data: { run_id: cmd.runId, instance_id: cmd.instanceId, runtime_api_endpoint: cmd.endpoint } }];
}

export function decideStarted(reg: Registry, cmd: { runId: string; instanceId: string }): AppendInput[] {
  const run = reg.runs.get(cmd.runId);
  if (run === undefined || isEnded(run) || run.phase === 'started') return [];
  return [{ type: 'run.started', data: { run_id: cmd.runId, instance_id: cmd.instanceId } }];
}

export function decideCancelQueued(reg: Registry, cmd: { runId: string; reason: string }): AppendInput[] {
  const run = reg.runs.get(cmd.runId);
  if (run === undefined) throw runNotFound(cmd.runId);
  if (isEnded(run) || run.phase === 'routed' || run.phase === 'started') return [];
  return [{ type: 'run.canceled', data: { run_id: cmd.runId, reason: cmd.reason } }];
}
