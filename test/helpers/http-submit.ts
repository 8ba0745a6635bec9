/**
 * One run submitted over a daemon's HTTP API (`POST /v1/runs` with its bearer token), as a client would, and what the
 * daemon answered: acknowledged (202), or the status and stable error code it refused with (status 0: no answer within
 * the time limit, or no connection). Used in the test process, and inside a network namespace by
 * test/fixtures-helpers/http-submitter.ts.
 */
export interface SubmitAnswer {
  ok: boolean;
  status: number;
  code: string | undefined;
}

export interface SubmitOptions {
  /** The run goes to this instance (`runtime_selector.instance_id`); any ready instance when absent. */
  instanceId?: string;
  /** How long to wait for the answer (default 15 s): then status 0. */
  timeoutMs?: number;
}

export async function submitRun(url: string, token: string, runId: string, goal: string, opts: SubmitOptions = {}): Promise<SubmitAnswer> {
  try {
    const res = await fetch(`${url}/v1/runs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ run_id: runId, input: { goal }, ...(opts.instanceId === undefined ? {} : { runtime_selector: { instance_id: opts.instanceId } }) }),
      signal: AbortSignal.timeout(opts.timeoutMs ?? 15_000),
    });
    const body = await res.text();
    let code: string | undefined;
    try { code = (JSON.parse(body) as { error?: { details?: { arpd_code?: string } } }).error?.details?.arpd_code; } catch { /* not JSON */ }
    return { ok: res.status === 202, status: res.status, code };
  } catch {
    return { ok: false, status: 0, code: undefined };
  }
}
