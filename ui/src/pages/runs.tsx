/**
 * Runs: filter by state, profile and instance, search by id, page through them newest first (kept live from
 * the event log), and submit a run from a form (a goal, or a whole RunRequest as JSON).
 */
import { useState } from 'preact/hooks';
import { api, ApiError, checkSize } from '../api.js';
import { Badge, described, ErrorBox, Field, Section, StreamDot } from '../components/common.js';
import { JsonArea, parseJsonField } from '../components/json-area.js';
import { duration, shortTime, useLoad, useLogChanges } from '../hooks.js';
import { href, navigate, useRoute } from '../router.js';
import { fetchRuns, type RunFilter } from '../runs-query.js';
import type { RunStatus, RuntimeInstance, RuntimeProfile } from '../types.js';

const PAGE_SIZE = 25;
const STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'];

function SubmitForm({ profiles }: { profiles: RuntimeProfile[] }) {
  const [goal, setGoal] = useState('');
  const [profile, setProfile] = useState('');
  const [raw, setRaw] = useState('');
  const [errors, setErrors] = useState<{ goal?: string; raw?: string; form?: string }>({});
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    let body: unknown;
    if (raw.trim() !== '') {
      const r = parseJsonField(raw, 'The RunRequest');
      if (r.error !== undefined) { setErrors({ raw: r.error }); return; }
      body = r.value;
    } else {
      if (goal.trim() === '') { setErrors({ goal: 'Write a goal (e.g. What is (19*23)?), or a whole RunRequest as JSON below.' }); return; }
      body = { input: { goal }, ...(profile === '' ? {} : { runtime_selector: { runtime_profile: profile } }) };
    }
    try { checkSize(JSON.stringify(body), 'the run request'); } catch (err) { setErrors({ [raw.trim() === '' ? 'goal' : 'raw']: (err as Error).message }); return; }
    setErrors({});
    setBusy(true);
    try {
      const st = await api<RunStatus>('POST', '/v1/runs', { body });
      navigate(href('runs', st.run_id));
    } catch (err) {
      if (err instanceof ApiError) setErrors(raw.trim() !== '' ? { raw: err.message } : { form: err.message });
      else setErrors({ form: String(err) });
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} aria-label="Submit a run" noValidate>
      <ErrorBox message={errors.form} />
      <div class="form-grid">
        <Field id="run-goal" label="Goal" error={errors.goal}>
          <input {...described('run-goal', errors.goal)} value={goal} placeholder="What is (19*23)?" onInput={(e) => { setGoal((e.target as HTMLInputElement).value); setErrors({}); }} />
        </Field>
        <Field id="run-profile" label="Profile to run on">
          <select {...described('run-profile', undefined)} value={profile} onChange={(e) => setProfile((e.target as HTMLSelectElement).value)}>
            <option value="">any (arpd picks)</option>
            {profiles.map((p) => <option key={p.runtime_profile} value={p.runtime_profile}>{p.runtime_profile}</option>)}
          </select>
        </Field>
      </div>
      <details>
        <summary>Or a whole RunRequest as JSON</summary>
        <Field id="run-json" label="RunRequest (JSON)" error={errors.raw}>
          <JsonArea id="run-json" value={raw} error={errors.raw} rows={6} placeholder={'{ "input": { "goal": "What is 2+2?" }, "limits": { "timeout_ms": 60000 } }'} onInput={(v) => { setRaw(v); setErrors({}); }} onRefused={(m) => setErrors({ raw: m })} />
        </Field>
      </details>
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Submitting…' : 'Submit run'}</button>
    </form>
  );
}

function filterOf(q: URLSearchParams): RunFilter {
  const f: RunFilter = {};
  for (const k of ['state', 'profile', 'instance', 'q'] as const) {
    const v = q.get(k);
    if (v !== null && v !== '') f[k] = v;
  }
  return f;
}

export function RunsPage() {
  const route = useRoute();
  const filter = filterOf(route.query);
  const [pages, setPages] = useState<string[]>([]);
  const token = pages[pages.length - 1];
  const key = JSON.stringify(filter);
  const runs = useLoad((signal) => fetchRuns(filter, PAGE_SIZE, token, signal), [key, token]);
  const profiles = useLoad((signal) => api<{ profiles: RuntimeProfile[] }>('GET', '/v1/admin/runtime-profiles', { signal }), []);
  const instances = useLoad((signal) => api<{ instances: RuntimeInstance[] }>('GET', '/v1/instances?all=true', { signal }), []);
  // one stream keeps the list and the filters' choices live
  const stream = useLogChanges('run.accepted,run.routed,run.started,run.succeeded,run.failed,run.canceled,profile.,instance.requested,instance.registered', () => {
    runs.reload();
    profiles.reload();
    instances.reload();
  }, 1000);

  const setFilter = (k: keyof RunFilter, v: string): void => {
    const next = { ...filter, [k]: v };
    const qs = new URLSearchParams(Object.entries(next).filter(([, x]) => x !== undefined && x !== '') as Array<[string, string]>).toString();
    setPages([]);
    navigate(`${href('runs')}${qs === '' ? '' : `?${qs}`}`, true);
  };

  const list = runs.data?.runs ?? [];
  return (
    <>
      <div class="page-head">
        <h1>Runs</h1>
        <StreamDot state={stream} />
      </div>
      <Section title="Submit a run" id="submit"><SubmitForm profiles={profiles.data?.profiles ?? []} /></Section>
      <Section title="Runs, newest first" id="runs">
        <form class="filters" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
          <Field id="f-q" label="Run id starts with">
            <input {...described('f-q', undefined)} type="search" value={filter.q ?? ''} onInput={(e) => setFilter('q', (e.target as HTMLInputElement).value)} />
          </Field>
          <Field id="f-state" label="State">
            <select {...described('f-state', undefined)} value={filter.state ?? ''} onChange={(e) => setFilter('state', (e.target as HTMLSelectElement).value)}>
              <option value="">any</option>
              {STATES.map((s) => <option key={s} value={s}>{s}</option>)}
            </select>
          </Field>
          <Field id="f-profile" label="Profile">
            <select {...described('f-profile', undefined)} value={filter.profile ?? ''} onChange={(e) => setFilter('profile', (e.target as HTMLSelectElement).value)}>
              <option value="">any</option>
              {(profiles.data?.profiles ?? []).map((p) => <option key={p.runtime_profile} value={p.runtime_profile}>{p.runtime_profile}</option>)}
            </select>
          </Field>
          <Field id="f-instance" label="Instance">
            <select {...described('f-instance', undefined)} value={filter.instance ?? ''} onChange={(e) => setFilter('instance', (e.target as HTMLSelectElement).value)}>
              <option value="">any</option>
              {(instances.data?.instances ?? []).map((i) => <option key={i.instance_id} value={i.instance_id}>{i.instance_id}</option>)}
            </select>
          </Field>
        </form>
        <ErrorBox message={runs.error} />
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Run</th><th scope="col">State</th><th scope="col">Instance</th><th scope="col">Accepted</th><th scope="col">Took</th><th scope="col">Error</th></tr></thead>
            <tbody>
              {list.length === 0 ? <tr><td colSpan={6} class="muted">{runs.loading ? 'Loading…' : 'No runs match.'}</td></tr> : null}
              {list.map((r) => {
                const x = r.extensions?.['arpd.run'] ?? {};
                const took = r.ended_at !== undefined && x.accepted_at !== undefined ? duration(Date.parse(r.ended_at) - Date.parse(x.accepted_at)) : '–';
                return (
                  <tr key={r.run_id} data-run={r.run_id}>
                    <td class="mono"><a href={href('runs', r.run_id)}>{r.run_id}</a></td>
                    <td><Badge state={r.state} /></td>
                    <td class="mono">{r.runtime_instance_id ?? '–'}</td>
                    <td>{shortTime(x.accepted_at)}</td>
                    <td>{took}</td>
                    <td class="wrap">{x.error?.message ?? ''}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
        <nav class="pager" aria-label="Pages of runs">
          <button type="button" disabled={pages.length === 0} onClick={() => setPages((p) => p.slice(0, -1))}>Newer</button>
          <span>Page {pages.length + 1}</span>
          <button type="button" disabled={runs.data?.next === undefined} onClick={() => { const n = runs.data?.next; if (n !== undefined) setPages((p) => [...p, n]); }}>Older</button>
        </nav>
      </Section>
    </>
  );
}
