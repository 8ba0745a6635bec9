/**
 * Listing runs with filters, newest first. The daemon's `GET /v1/runs` filters by state only for now; until it
 * takes `runtime_profile`, `instance_id`, `q` (run id prefix) and `order=desc`, the other filters are applied
 * here over the pages it gives. Switching to the server's parameters is the one line `SERVER_RUN_FILTERS`.
 */
import { api, enc } from './api.js';
import type { RunStatus, RuntimeInstance } from './types.js';

/** True once the daemon's GET /v1/runs takes runtime_profile, instance_id, q and order=desc. */
export const SERVER_RUN_FILTERS = false;

/** The client-side path reads at most this many runs (the newest are shown first among them). */
const CLIENT_MAX_RUNS = 20_000;

export interface RunFilter {
  state?: string;
  profile?: string;
  instance?: string;
  /** A run id prefix. */
  q?: string;
}

export interface RunPage {
  runs: RunStatus[];
  next?: string;
  /** Said to the user when the list may be incomplete. */
  note?: string;
}

function query(params: Record<string, string | undefined>): string {
  const parts = Object.entries(params).filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `${k}=${enc(v as string)}`);
  return parts.length === 0 ? '' : `?${parts.join('&')}`;
}

export async function fetchRuns(f: RunFilter, size: number, token: string | undefined, signal: AbortSignal): Promise<RunPage> {
  if (SERVER_RUN_FILTERS) {
    const r = await api<{ runs: RunStatus[]; pagination?: { next_page_token?: string } }>('GET', `/v1/runs${query({ state: f.state, runtime_profile: f.profile, instance_id: f.instance, q: f.q, order: 'desc', page_size: String(size), page_token: token })}`, { signal });
    return { runs: r.runs, ...(r.pagination?.next_page_token === undefined ? {} : { next: r.pagination.next_page_token }) };
  }
  const all: RunStatus[] = [];
  let pageToken: string | undefined;
  let capped = false;
  do {
    const r = await api<{ runs: RunStatus[]; pagination?: { next_page_token?: string } }>('GET', `/v1/runs${query({ state: f.state, page_size: '1000', page_token: pageToken })}`, { signal });
    all.push(...r.runs);
    pageToken = r.pagination?.next_page_token;
    if (all.length >= CLIENT_MAX_RUNS && pageToken !== undefined) { capped = true; break; }
  } while (pageToken !== undefined);
  let profileOf: Map<string, string> | undefined;
  if (f.profile !== undefined && f.profile !== '') {
    const inst = await api<{ instances: RuntimeInstance[] }>('GET', '/v1/instances?all=true', { signal });
    profileOf = new Map(inst.instances.map((i) => [i.instance_id, i.runtime_profile ?? '']));
  }
  const q = f.q?.trim() ?? '';
  const matches = all.filter((r) =>
    (q === '' || r.run_id.startsWith(q))
    && (f.instance === undefined || f.instance === '' || r.runtime_instance_id === f.instance)
    && (profileOf === undefined || (r.runtime_instance_id !== undefined && profileOf.get(r.runtime_instance_id) === f.profile)));
  matches.reverse();
  const from = token === undefined ? 0 : Number(token);
  const runs = matches.slice(from, from + size);
  return {
    runs,
    ...(from + size < matches.length ? { next: String(from + size) } : {}),
    ...(capped ? { note: `Only the first ${CLIENT_MAX_RUNS.toLocaleString()} runs were searched.` } : {}),
  };
}
