import type { ArpdClient, RunListResponse, RunRequest, RunResult, RunStatus, TraceEvent } from '../client/index.js';
import { ArpdError, isErrorCode } from '../errors/index.js';
import { withArpd } from './connection.js';
import type { ResolvedGlobals } from './global-options.js';
import { readJsonObject } from './json-file.js';
import { info, out, printJson, printSortedJson, printTable, style, writeStdout } from './output.js';

/**
 * `arpd runs submit|list|status|result|trace|cancel`, and the JARVIS spellings `arpd run|runs|status|result|trace`
 * (which print the JSON the HTTP API returns, as JARVIS's CLI does). A run that ends other than
 * `succeeded` makes the command that waited for it fail with one error line naming the run's error.
 */

type Json = Record<string, unknown>;

export interface Spelling { jarvis: boolean }

function printTraceLine(line: TraceEvent, json: boolean): void {
  if (json) { writeStdout(`${JSON.stringify(line)}\n`); return; }
  let data = JSON.stringify(line.data ?? {});
  if (data.length > 140) data = `${data.slice(0, 137)}...`;
  const lvl = line.level === 'error' ? style.red(line.level, process.stdout) : style.dim(line.level);
  out(`${String(line.seq).padStart(4)} ${style.dim(line.time)} ${lvl.padEnd(5)} ${line.type.padEnd(12)} ${data}`);
}

/** The ArpdError for a run that ended other than `succeeded`: its own code when it is one of arpd's. */
function runFailure(runId: string, state: string, error: Json | undefined): ArpdError {
  const code = state === 'canceled' ? 'E_CANCELED' : isErrorCode(error?.['code']) ? error['code'] : 'E_RUNTIME_ERROR';
  const own = error?.['code'] !== undefined && !isErrorCode(error['code']) ? ` (runtime code '${String(error['code'])}')` : '';
  const message = typeof error?.['message'] === 'string' && error['message'] !== '' ? error['message'] : 'no reason given';
  return new ArpdError(code, `run ${runId} ${state}: ${message}${own}`, { run_id: runId, state });
}

function resultText(r: RunResult): string {
  const output = r.output;
  if (output !== undefined && typeof output['text'] === 'string') return output['text'];
  return JSON.stringify(output ?? r, null, 2);
}

interface SubmitFlags {
  requestJson?: string | undefined; goal?: string | undefined; profile?: string | undefined; instance?: string | undefined;
  runId?: string | undefined; timeoutMs?: number | undefined; wait: boolean; follow: boolean;
}

function requestOf(o: SubmitFlags): RunRequest {
  let request: Json;
  if (o.requestJson !== undefined) request = readJsonObject(o.requestJson, 'run request');
  else if (o.goal !== undefined) request = { input: { goal: o.goal } };
  else throw new ArpdError('E_VALIDATION', 'give the run as --goal "…" or --request-json <file>', { usage: true });
  if (o.profile !== undefined || o.instance !== undefined) {
    request['runtime_selector'] = { ...((request['runtime_selector'] as Json | undefined) ?? {}), ...(o.profile === undefined ? {} : { runtime_profile: o.profile }), ...(o.instance === undefined ? {} : { instance_id: o.instance }) };
  }
  if (o.runId !== undefined) request['run_id'] = o.runId;
  if (o.timeoutMs !== undefined) request['limits'] = { ...((request['limits'] as Json | undefined) ?? {}), timeout_ms: o.timeoutMs };
  return request as unknown as RunRequest;
}

/** Follows the run (printing its trace with `follow`), then prints its result; fails if it did not succeed. */
async function toTheEnd(arpd: ArpdClient, g: ResolvedGlobals, runId: string, follow: boolean): Promise<number> {
  let end: RunStatus;
  if (follow) {
    const stream = arpd.runs.follow(runId);
    for await (const line of stream) printTraceLine(line, g.json);
    end = await stream.status;
  } else {
    end = await arpd.runs.wait(runId);
  }
  const result = await arpd.runs.result(runId);
  if (g.json) printJson({ status: end, result });
  else {
    if (end.state === 'succeeded') {
      info(style.dim(`run ${runId} ${end.state}`, process.stderr));
      out(resultText(result));
    }
  }
  if (end.state !== 'succeeded') throw runFailure(runId, end.state, (result.error as Json | undefined) ?? (((end.extensions as Json | undefined)?.['arpd.run'] as Json | undefined)?.['error'] as Json | undefined));
  return 0;
}

export async function runsSubmit(g: ResolvedGlobals, o: SubmitFlags, s: Spelling): Promise<number> {
  const request = requestOf(o);
  return withArpd(g, async (arpd) => {
    const status = await arpd.runs.submit(request);
    if (!o.wait && !o.follow) {
      if (s.jarvis) printSortedJson(status);
      else if (g.json) printJson(status);
      else out(status.run_id);
      return 0;
    }
    if (!g.json) info(style.dim(`run ${status.run_id} ${status.state}`, process.stderr));
    return toTheEnd(arpd, g, status.run_id, o.follow);
  });
}

function intOf(v: number | undefined, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new ArpdError('E_VALIDATION', `${flag} takes a whole number from ${min} to ${max}, not '${String(v)}'`, { field: flag, usage: true });
  return v;
}

interface ListFlags {
  state?: string | undefined; pageSize?: number | undefined; pageToken?: string | undefined;
  profile?: string | undefined; instance?: string | undefined; prefix?: string | undefined; order?: string | undefined;
}

function orderOf(v: string | undefined): 'asc' | 'desc' | undefined {
  if (v === undefined || v === 'asc' || v === 'desc') return v;
  throw new ArpdError('E_VALIDATION', `--order takes asc (oldest first) or desc (newest first), not '${v}'`, { field: '--order', usage: true });
}

/** The same listing from `token` on: the command to print for the next page. */
function nextCommand(o: ListFlags, token: string): string {
  const flags: Array<[string, string | undefined]> = [['--state', o.state], ['--profile', o.profile], ['--instance', o.instance], ['--prefix', o.prefix], ['--order', o.order]];
  const given = flags.filter((f): f is [string, string] => f[1] !== undefined).map(([k, v]) => `${k} ${/^[\w.:-]+$/.test(v) ? v : JSON.stringify(v)}`);
  return ['arpd runs list', ...given, ...(o.pageSize === undefined ? [] : [`--page-size ${o.pageSize}`]), `--page-token ${token}`].join(' ');
}

/**
 * `arpd runs list` and JARVIS's `arpd runs`. The daemon filters; one of its pages may come back short (even empty)
 * with a token when it stopped at its scan bound, so the arpd spelling asks on until it has a page or the list ends.
 * JARVIS's spelling prints the daemon's one page as the HTTP API returns it.
 */
export async function runsList(g: ResolvedGlobals, o: ListFlags, s: Spelling): Promise<number> {
  const pageSize = intOf(o.pageSize, '--page-size', 1, 1000);
  const order = orderOf(o.order);
  const size = pageSize ?? (s.jarvis ? undefined : 100);
  return withArpd(g, async (arpd) => {
    const page = (want: number | undefined, token: string | undefined): Promise<RunListResponse> => arpd.runs.list({
      ...(o.state === undefined ? {} : { state: o.state as RunStatus['state'] }),
      ...(o.profile === undefined ? {} : { runtimeProfile: o.profile }),
      ...(o.instance === undefined ? {} : { instanceId: o.instance }),
      ...(o.prefix === undefined ? {} : { q: o.prefix }),
      ...(order === undefined ? {} : { order }),
      ...(want === undefined ? {} : { pageSize: want }),
      ...(token === undefined ? {} : { pageToken: token }),
    });
    let r = await page(size, o.pageToken);
    if (s.jarvis) { printSortedJson(r); return 0; }
    const full = size ?? 100;
    const runs = [...r.runs];
    for (let token = r.pagination?.next_page_token; token !== undefined && runs.length < full; token = r.pagination?.next_page_token) {
      r = await page(full - runs.length, token);
      runs.push(...r.runs);
    }
    const next = r.pagination?.next_page_token;
    if (g.json) { printJson({ ...r, runs, pagination: { ...r.pagination, page_size: full } }); return 0; }
    if (runs.length === 0) info('no runs');
    else printTable(['RUN', 'STATE', 'INSTANCE', 'STARTED', 'ENDED'], runs.map((x) => [x.run_id, x.state, x.runtime_instance_id ?? '-', x.started_at ?? '-', x.ended_at ?? '-']));
    if (typeof next === 'string') info(style.dim(`more: ${nextCommand(o, next)}`, process.stderr));
    return 0;
  });
}

export async function runsStatus(g: ResolvedGlobals, id: string, s: Spelling): Promise<number> {
  return withArpd(g, async (arpd) => {
    const st = await arpd.runs.get(id);
    if (s.jarvis) { printSortedJson(st); return 0; }
    if (g.json) { printJson(st); return 0; }
    const rec = st as unknown as Json;
    for (const k of ['run_id', 'state', 'runtime_instance_id', 'started_at', 'ended_at']) if (rec[k] !== undefined) out(`${style.bold(k.padEnd(20))} ${String(rec[k])}`);
    const err = ((st.extensions as Json | undefined)?.['arpd.run'] as Json | undefined)?.['error'] as Json | undefined;
    if (err !== undefined) out(`${style.bold('error'.padEnd(20))} ${String(err['message'])} [${String(err['code'])}]`);
    return 0;
  });
}

/** Prints the result; with the arpd spelling a run that did not succeed also fails the command (JARVIS's does not). */
export async function runsResult(g: ResolvedGlobals, id: string, s: Spelling): Promise<number> {
  return withArpd(g, async (arpd) => {
    const r = await arpd.runs.result(id);
    if (s.jarvis) { printSortedJson(r); return 0; }
    printJson(r);
    if (r.ok !== true) {
      const st = await arpd.runs.get(id);
      throw runFailure(id, st.state, r.error as Json | undefined);
    }
    return 0;
  });
}

export async function runsTrace(g: ResolvedGlobals, id: string, follow: boolean, s: Spelling): Promise<number> {
  return withArpd(g, async (arpd) => {
    if (s.jarvis) { printSortedJson(await arpd.runs.trace(id)); return 0; }
    if (follow) {
      const stream = arpd.runs.follow(id);
      for await (const line of stream) printTraceLine(line, g.json);
      return 0;
    }
    const r = await arpd.runs.trace(id);
    for (const line of r.events ?? []) printTraceLine(line, g.json);
    return 0;
  });
}

/** `arpd runs wait <id>`: waits for a run submitted earlier to end, then prints it as `runs submit --wait` does. */
export async function runsWait(g: ResolvedGlobals, id: string): Promise<number> {
  return withArpd(g, (arpd) => toTheEnd(arpd, g, id, false));
}

export async function runsCancel(g: ResolvedGlobals, id: string): Promise<number> {
  return withArpd(g, async (arpd) => {
    const st = await arpd.runs.cancel(id);
    if (g.json) printJson(st); else out(`run ${id} ${st.state}`);
    return 0;
  });
}

