/**
 * Instances: every runtime instance with its state, profile, endpoint, uptime, restarts and last error, kept
 * live from the event log; start new ones from a profile, stop and delete them, and tail one's stdout or
 * stderr live.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, enc } from '../api.js';
import { Badge, described, ErrorBox, Field, Section, StreamDot } from '../components/common.js';
import { duration, shortTime, useLoad, useLogChanges, useNow } from '../hooks.js';
import { liveStream, type StreamState } from '../live-stream.js';
import { href, navigate } from '../router.js';
import type { RuntimeInstance, RuntimeProfile } from '../types.js';

const LIVE = new Set(['starting', 'ready', 'busy', 'stopping']);
const MAX_LOG_CHARS = 400_000;

function StartForm({ onStarted }: { onStarted(): void }) {
  const profiles = useLoad((signal) => api<{ profiles: RuntimeProfile[] }>('GET', '/v1/admin/runtime-profiles', { signal }), []);
  const [profile, setProfile] = useState('default');
  const [count, setCount] = useState('1');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    const n = Number(count);
    if (!Number.isInteger(n) || n < 1 || n > 64) { setError('Count must be a whole number from 1 to 64.'); return; }
    setBusy(true);
    setError(undefined);
    try {
      await api('POST', '/v1/instances', { body: { runtime_profile: profile, count: n } });
      onStarted();
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="inline-form" onSubmit={submit} aria-label="Start instances">
      <Field id="start-profile" label="Profile">
        <select {...described('start-profile', undefined)} value={profile} onChange={(e) => setProfile((e.target as HTMLSelectElement).value)}>
          {(profiles.data?.profiles ?? [{ runtime_profile: 'default' }]).map((p) => <option key={p.runtime_profile} value={p.runtime_profile}>{p.runtime_profile}</option>)}
        </select>
      </Field>
      <Field id="start-count" label="Count" error={error}>
        <input {...described('start-count', error)} type="number" min={1} max={64} value={count} onInput={(e) => setCount((e.target as HTMLInputElement).value)} />
      </Field>
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Starting…' : 'Start'}</button>
    </form>
  );
}

function LogTail({ id }: { id: string }) {
  const [which, setWhich] = useState<'stdout' | 'stderr'>('stdout');
  const [text, setText] = useState('');
  const [state, setState] = useState<StreamState>('connecting');
  const [detail, setDetail] = useState<string | undefined>(undefined);
  const pre = useRef<HTMLPreElement>(null);
  useEffect(() => {
    setText('');
    let buf = '';
    const s = liveStream({
      path: `/v1/instances/${enc(id)}/logs?stream=${which}&tail=200&follow=true`,
      kinds: ['log', 'truncated'],
      resets: ['truncated'],
      resume: (offset) => `from_offset=${offset}`,
      onEvent: (kind, data) => {
        if (kind === 'truncated') buf += '\n[the log was capped and started over]\n';
        else buf += (data as { text: string }).text;
        if (buf.length > MAX_LOG_CHARS) buf = buf.slice(buf.length - MAX_LOG_CHARS);
        setText(buf);
      },
      onState: (st, d) => { setState(st); setDetail(d); },
    });
    return () => s.close();
  }, [id, which]);
  useEffect(() => {
    const el = pre.current;
    if (el !== null) el.scrollTop = el.scrollHeight;
  }, [text]);
  return (
    <Section title={`Output of ${id}`} id="logs" actions={<StreamDot state={state} detail={detail} />}>
      <div role="radiogroup" aria-label="Stream" class="segmented">
        {(['stdout', 'stderr'] as const).map((w) => (
          <label key={w}><input type="radio" name="log-stream" value={w} checked={which === w} onChange={() => setWhich(w)} /> {w}</label>
        ))}
      </div>
      {state === 'failed' ? <ErrorBox message={detail} /> : null}
      <pre ref={pre} class="log" tabIndex={0} aria-label={`${which} of ${id}`} aria-live="off" data-testid="log-text">{text === '' ? '(nothing yet)' : text}</pre>
    </Section>
  );
}

export function InstancesPage({ selected }: { selected?: string | undefined }) {
  const [all, setAll] = useState(false);
  const list = useLoad((signal) => api<{ instances: RuntimeInstance[] }>('GET', `/v1/instances${all ? '?all=true' : ''}`, { signal }), [all]);
  const stream = useLogChanges('instance.', list.reload);
  const now = useNow(1000);
  const [actionError, setActionError] = useState<string | undefined>(undefined);
  const [confirm, setConfirm] = useState<string | undefined>(undefined);

  const remove = async (inst: RuntimeInstance): Promise<void> => {
    if (confirm !== inst.instance_id) { setConfirm(inst.instance_id); return; }
    setConfirm(undefined);
    setActionError(undefined);
    try {
      await api('DELETE', `/v1/instances/${enc(inst.instance_id)}`);
      list.reload();
    } catch (err) {
      setActionError(err instanceof ApiError ? err.message : String(err));
    }
  };

  const instances = [...(list.data?.instances ?? [])].sort((a, b) => (b.extensions?.['arpd.instance']?.created_at ?? '').localeCompare(a.extensions?.['arpd.instance']?.created_at ?? ''));
  return (
    <>
      <div class="page-head">
        <h1>Instances</h1>
        <StreamDot state={stream} />
      </div>
      <Section title="Start instances" id="start"><StartForm onStarted={list.reload} /></Section>
      <Section title={`Runtime instances (${instances.length})`} id="list" actions={
        <label class="check"><input type="checkbox" checked={all} onChange={(e) => setAll((e.target as HTMLInputElement).checked)} /> Show stopped</label>
      }>
        <ErrorBox message={list.error ?? actionError} />
        <div class="table-wrap">
          <table>
            <thead><tr><th scope="col">Instance</th><th scope="col">State</th><th scope="col">Profile</th><th scope="col">Endpoint</th><th scope="col">Uptime</th><th scope="col">Restarts</th><th scope="col">Last error</th><th scope="col"><span class="sr-only">Actions</span></th></tr></thead>
            <tbody>
              {instances.length === 0 ? <tr><td colSpan={8} class="muted">{list.loading ? 'Loading…' : 'No instances. Start one above, or submit a run: arpd starts one for it.'}</td></tr> : null}
              {instances.map((i) => {
                const x = i.extensions?.['arpd.instance'] ?? {};
                const up = LIVE.has(i.state) && x.created_at !== undefined ? duration(now - Date.parse(x.created_at)) : '–';
                const err = x.error?.message ?? (i.state === 'error' ? x.reason : undefined);
                return (
                  <tr key={i.instance_id} class={selected === i.instance_id ? 'row-selected' : ''} data-instance={i.instance_id}>
                    <td class="mono"><a href={href('instances', i.instance_id)}>{i.instance_id}</a></td>
                    <td><Badge state={i.state} /></td>
                    <td>{i.runtime_profile ?? (i.managed === false ? 'external' : '–')}</td>
                    <td class="mono">{i.runtime_api_endpoint.endsWith(':0') ? '–' : i.runtime_api_endpoint}</td>
                    <td title={`created ${shortTime(x.created_at)}`}>{up}</td>
                    <td>{Math.max(0, (x.attempt ?? 1) - 1)}</td>
                    <td class="wrap">{err ?? '–'}</td>
                    <td><div class="actions">
                      {i.managed !== false ? <a class="button" href={href('instances', i.instance_id)} aria-label={`Output of ${i.instance_id}`}>Logs</a> : null}
                      {i.state === 'stopped' ? null : (
                        <button type="button" class={confirm === i.instance_id ? 'danger' : ''} onClick={() => void remove(i)} aria-label={`${confirm === i.instance_id ? 'Confirm: stop and delete' : i.managed === false ? 'Deregister' : 'Stop and delete'} ${i.instance_id}`}>
                          {confirm === i.instance_id ? 'Confirm' : i.managed === false ? 'Deregister' : 'Stop'}
                        </button>
                      )}
                    </div></td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      </Section>
      {selected === undefined ? null : (
        <>
          <p><button type="button" class="quiet" onClick={() => navigate(href('instances'))}>Close the output</button></p>
          <LogTail id={selected} />
        </>
      )}
    </>
  );
}
