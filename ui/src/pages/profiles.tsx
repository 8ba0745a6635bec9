/**
 * Profiles: the safe list. View one, add or change one with a form (errors appear next to the field the
 * daemon named), delete one (force while instances use it).
 */
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, checkSize, enc } from '../api.js';
import { described, ErrorBox, Field, Json, Section, StreamDot } from '../components/common.js';
import { JsonArea, parseJsonField } from '../components/json-area.js';
import { useLoad, useLogChanges } from '../hooks.js';
import { href, navigate } from '../router.js';
import type { RuntimeProfile } from '../types.js';

type Key = 'name' | 'runtime_name' | 'description' | 'extensions' | 'defaults' | 'metadata';
type Errors = Partial<Record<Key | 'form', string | undefined>>;

const EXAMPLE = `{
  "arp.jarvis.exec": { "driver": "command", "command_template": ["my-runtime", "serve", "--port", "{port}"] },
  "arpd.runtime": { "max_concurrent_runs": 4, "restart": "on-failure" }
}`;

/** Which form field a daemon error names (`extensions["arp.jarvis.exec"].driver` -> extensions). */
function fieldOf(err: ApiError): Key | 'form' {
  const f = err.field ?? '';
  for (const k of ['runtime_name', 'description', 'extensions', 'defaults', 'metadata'] as const) if (f === k || f.startsWith(`${k}.`) || f.startsWith(`${k}[`)) return k;
  if (f === 'runtime_profile' || f === 'name') return 'name';
  return 'form';
}

function pretty(v: unknown): string {
  return v === undefined ? '' : JSON.stringify(v, null, 2);
}

function ProfileForm({ initial, onSaved }: { initial: RuntimeProfile | undefined; onSaved(name: string): void }) {
  const [v, setV] = useState<Record<Key, string>>({ name: '', runtime_name: '', description: '', extensions: '', defaults: '', metadata: '' });
  const [errors, setErrors] = useState<Errors>({});
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | undefined>(undefined);
  useEffect(() => {
    setV({
      name: initial?.runtime_profile ?? '',
      runtime_name: initial?.runtime_name ?? '',
      description: initial?.description ?? '',
      extensions: initial === undefined ? EXAMPLE : pretty(initial.extensions),
      defaults: pretty(initial?.defaults),
      metadata: pretty(initial?.metadata),
    });
    setErrors({});
    setSaved(undefined);
    // a reload of the list (a change elsewhere) must not wipe what is being typed: reset on another profile only
  }, [initial?.runtime_profile]);
  const set = (k: Key) => (value: string): void => { setV((o) => ({ ...o, [k]: value })); setErrors((e) => ({ ...e, [k]: undefined, form: undefined })); };

  const submit = async (e: Event): Promise<void> => {
    e.preventDefault();
    setSaved(undefined);
    const errs: Errors = {};
    const name = v.name.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(name)) errs.name = "Use letters, digits, '-', '_' or '.', starting with a letter or digit (max 128).";
    const body: Record<string, unknown> = {};
    if (v.runtime_name.trim() !== '') body['runtime_name'] = v.runtime_name.trim();
    if (v.description.trim() !== '') body['description'] = v.description;
    for (const k of ['extensions', 'defaults', 'metadata'] as const) {
      const r = parseJsonField(v[k], k[0]?.toUpperCase() + k.slice(1));
      if (r.error !== undefined) errs[k] = r.error;
      else if (r.value !== undefined) {
        if (r.value === null || typeof r.value !== 'object' || Array.isArray(r.value)) errs[k] = `${k} must be a JSON object ({ … }).`;
        else body[k] = r.value;
      }
    }
    try { checkSize(JSON.stringify(body), 'the profile'); } catch (err) { errs.form = (err as Error).message; }
    setErrors(errs);
    if (Object.values(errs).some((x) => x !== undefined)) return;
    setBusy(true);
    try {
      await api('PUT', `/v1/admin/runtime-profiles/${enc(name)}`, { body });
      setSaved(`Profile ${name} saved.`);
      onSaved(name);
    } catch (err) {
      if (err instanceof ApiError) setErrors({ [fieldOf(err)]: err.message });
      else setErrors({ form: String(err) });
    } finally {
      setBusy(false);
    }
  };

  return (
    <form onSubmit={submit} aria-label={initial === undefined ? 'New profile' : `Edit profile ${initial.runtime_profile}`} noValidate>
      <ErrorBox message={errors.form} />
      {saved === undefined ? null : <p class="ok-box" role="status">{saved}</p>}
      <div class="form-grid">
        <Field id="p-name" label="Name" error={errors.name}>
          <input {...described('p-name', errors.name)} value={v.name} readOnly={initial !== undefined} onInput={(e) => set('name')((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="p-runtime-name" label="Runtime name" error={errors.runtime_name}>
          <input {...described('p-runtime-name', errors.runtime_name)} value={v.runtime_name} onInput={(e) => set('runtime_name')((e.target as HTMLInputElement).value)} />
        </Field>
      </div>
      <Field id="p-description" label="Description" error={errors.description}>
        <input {...described('p-description', errors.description)} value={v.description} onInput={(e) => set('description')((e.target as HTMLInputElement).value)} />
      </Field>
      <Field id="p-extensions" label="Extensions (JSON)" error={errors.extensions} hint={'How to start the runtime: extensions["arp.jarvis.exec"] (driver command, pip or npm) and arpd\'s options in extensions["arpd.runtime"].'}>
        <JsonArea id="p-extensions" hint value={v.extensions} error={errors.extensions} rows={10} onInput={set('extensions')} onRefused={(m) => setErrors((e) => ({ ...e, extensions: m }))} />
      </Field>
      <div class="form-grid">
        <Field id="p-defaults" label="Defaults (JSON, optional)" error={errors.defaults}>
          <JsonArea id="p-defaults" value={v.defaults} error={errors.defaults} rows={4} onInput={set('defaults')} onRefused={(m) => setErrors((e) => ({ ...e, defaults: m }))} />
        </Field>
        <Field id="p-metadata" label="Metadata (JSON, optional)" error={errors.metadata}>
          <JsonArea id="p-metadata" value={v.metadata} error={errors.metadata} rows={4} onInput={set('metadata')} onRefused={(m) => setErrors((e) => ({ ...e, metadata: m }))} />
        </Field>
      </div>
      <button type="submit" class="primary" disabled={busy}>{busy ? 'Saving…' : 'Save profile'}</button>
    </form>
  );
}

export function ProfilesPage({ selected }: { selected?: string | undefined }) {
  const list = useLoad((signal) => api<{ profiles: RuntimeProfile[] }>('GET', '/v1/admin/runtime-profiles', { signal }), []);
  const stream = useLogChanges('profile.', list.reload);
  const [confirm, setConfirm] = useState(false);
  const [force, setForce] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => { setConfirm(false); setForce(false); setError(undefined); }, [selected]);
  const profiles = list.data?.profiles ?? [];
  const isNew = selected === 'new';
  const current = isNew ? undefined : profiles.find((p) => p.runtime_profile === selected);

  const remove = async (): Promise<void> => {
    if (current === undefined) return;
    if (!confirm) { setConfirm(true); return; }
    try {
      await api('DELETE', `/v1/admin/runtime-profiles/${enc(current.runtime_profile)}${force ? '?force=true' : ''}`);
      navigate(href('profiles'));
      list.reload();
    } catch (err) {
      setConfirm(false);
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  return (
    <>
      <div class="page-head">
        <h1>Profiles</h1>
        <StreamDot state={stream} />
      </div>
      <div class="split">
        <Section title={`Safe list (${profiles.length})`} id="plist" actions={<a class="button" href={href('profiles', 'new')}>New profile</a>}>
          <ErrorBox message={list.error} />
          <ul class="pick-list">
            {profiles.map((p) => {
              const exec = p.extensions?.['arp.jarvis.exec'] as { driver?: string } | undefined;
              return (
                <li key={p.runtime_profile}>
                  <a href={href('profiles', p.runtime_profile)} aria-current={selected === p.runtime_profile ? 'true' : undefined}>
                    <strong>{p.runtime_profile}</strong> <span class="muted">{p.runtime_name ?? ''}{exec?.driver === undefined ? '' : ` · ${exec.driver}`}</span>
                  </a>
                </li>
              );
            })}
          </ul>
        </Section>
        <div class="stack">
          {selected === undefined ? <p class="muted">Pick a profile to see it, or make a new one.</p> : null}
          {!isNew && selected !== undefined && current === undefined && !list.loading ? <ErrorBox message={`There is no profile '${selected}'.`} /> : null}
          {current === undefined ? null : (
            <Section title={`Profile ${current.runtime_profile}`} id="pview" actions={
              <span class="row-actions">
                {confirm ? <label class="check"><input type="checkbox" checked={force} onChange={(e) => setForce((e.target as HTMLInputElement).checked)} /> even if instances use it</label> : null}
                <button type="button" class={confirm ? 'danger' : ''} onClick={() => void remove()}>{confirm ? `Confirm delete ${current.runtime_profile}` : 'Delete'}</button>
              </span>
            }>
              <ErrorBox message={error} />
              {current.description === undefined ? null : <p>{current.description}</p>}
              <Json value={current} label={`Profile ${current.runtime_profile} as JSON`} />
            </Section>
          )}
          {isNew || current !== undefined ? (
            <Section title={isNew ? 'New profile' : `Change ${current?.runtime_profile ?? ''}`} id="pform">
              <ProfileForm initial={current} onSaved={(name) => { list.reload(); if (isNew) navigate(href('profiles', name)); }} />
            </Section>
          ) : null}
        </div>
      </div>
    </>
  );
}
