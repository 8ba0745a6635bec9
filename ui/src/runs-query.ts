/**
 * Listing runs with filters, newest first: the daemon's `GET /v1/runs` filters (`state`, `runtime_profile`,
 * `instance_id`, `q` = run id prefix, `order=desc`). One of its answers looks at a bounded stretch of the history,
 * so it may come back short (even empty) with a `next_page_token`: `fetchRuns` asks on until it has a page or the
 * list ends, and hands back the token of the last answer for the next page.
 */
import { api, enc } from './api.js';
import type { RunStatus } from './types.js';

export interface RunFilter {
  state?: string;
  profile?: string;
  instance?: string;
  /** A run id prefix. */
  q?: string;
}

export interface RunPage {
  runs: RunStatus[];
  /** The token of the next page, when the list goes on. */
  next?: string;
}

interface RunListResponse { runs: RunStatus[]; pagination?: { next_page_token?: string } }

function query(params: Record<string, string | undefined>): string {
  const parts = Object.entries(params).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${enc(v as string)}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

export async function fetchRuns(f: RunFilter, size: number, token: string | undefined, signal: AbortSignal): Promise<RunPage> {
  const runs: RunStatus[] = [];
  let next = token;
  do {
    const r = await api<RunListResponse>('GET', `/v1/runs${query({
      state: f.state, runtime_profile: f.profile, instance_id: f.instance, q: f.q?.trim(), order: 'desc', page_size: String(size - runs.length), page_token: next,
    })}`, { signal });
    runs.push(...r.runs);
    next = r.pagination?.next_page_token;
  } while (next !== undefined && runs.length < size);
  return { runs, ...(next === undefined ? {} : { next }) };
}
