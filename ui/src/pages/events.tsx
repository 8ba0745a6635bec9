/**
 * The event log, live (filter by type and stream), and the time-travel slider: pick a seq or a time and see
 * the registry as it was then — the same fold as `arpd log replay --until`, done by the daemon.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { Badge, described, ErrorBox, Field, Json, Section, StreamDot } from '../components/common.js';
import { VirtualList } from '../components/virtual-list.js';
import { shortTime } from '../hooks.js';
import { liveStream, type StreamState } from '../live-stream.js';
import { href } from '../router.js';
import type { DaemonStatus, LogEvent, ReplayAnswer } from '../types.js';

const BACKLOG = 500;
const KEEP = 20_000;
const ROW_HEIGHT = 24;

function EventList({ onHead }: { onHead(seq: number): void }) {
  const [types, setTypes] = useState('');
  const [streamName, setStreamName] = useState('');
  const [applied, setApplied] = useState({ types: '', stream: '' });
  const [state, setState] = useState<StreamState>('connecting');
  const [detail, setDetail] = useState<string | undefined>(undefined);
  const [selected, setSelected] = useState<number | undefined>(undefined);
  const [follow, setFollow] = useState(true);
  const [, setFrame] = useState(0);
  const events = useRef<LogEvent[]>([]);
  const frame = useRef<number | undefined>(undefined);
  const head = useRef(onHead);
  head.current = onHead;

  useEffect(() => {
    events.current = [];
    setSelected(undefined);
    let s: { close(): void } | undefined;
    let closed = false;
    api<DaemonStatus>('GET', '/v1/admin/status').then((st) => {
      if (closed) return;
      const last = st.last_seq ?? 0;
      head.current(last);
      const q = [applied.types === '' ? '' : `types=${enc(applied.types)}`, applied.stream === '' ? '' : `stream=${enc(applied.stream)}`].filter((x) => x !== '').join('&');
      s = liveStream({
        path: `/v1/events${q === '' ? '' : `?${q}`}`,
        kinds: ['event'],
        after: Math.max(0, last - BACKLOG),
        onEvent: (_k, data) => {
          const e = data as LogEvent;
          events.current.push(e);
          if (events.current.length > KEEP) events.current.splice(0, events.current.length - KEEP);
          head.current(e.seq);
          if (frame.current === undefined) frame.current = requestAnimationFrame(() => { frame.current = undefined; setFrame((f) => f + 1); });
        },
        onState: (st2, d) => { setState(st2); setDetail(d); },
      });
    }, (err: unknown) => { setState('failed'); setDetail(err instanceof Error ? err.message : String(err)); });
    return () => { closed = true; s?.close(); if (frame.current !== undefined) { cancelAnimationFrame(frame.current); frame.current = undefined; } };
  }, [applied]);

  const list = events.current;
  const sel = selected === undefined ? undefined : list[selected];
  return (
    <Section title="Live events" id="live" actions={<StreamDot state={state} detail={detail} />}>
      <form class="filters" aria-label="Filter events" onSubmit={(e) => { e.preventDefault(); setApplied({ types: typeList(types), stream: streamName.trim() }); }}>
        <Field id="ev-types" label="Types" hint="Separated by commas or spaces; a prefix ending in '.' takes a family (run., instance.)">
          <input {...described('ev-types', undefined, true)} value={types} placeholder="run.,instance.ready" onInput={(e) => setTypes((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="ev-stream" label="Stream" hint="e.g. run:<run id>, instance:<id>, daemon">
          <input {...described('ev-stream', undefined, true)} value={streamName} onInput={(e) => setStreamName((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit">Apply filter</button>
        <label class="check"><input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow</label>
      </form>
      {state === 'failed' ? <ErrorBox message={detail} /> : null}
      <p class="muted" data-testid="event-count">{list.length} events shown{list.length > 0 ? `, seq ${list[0]?.seq} to ${list[list.length - 1]?.seq}` : ''}</p>
      <VirtualList
        id="event-list"
        label="Events of the log (arrow keys move, the selected event's JSON shows below)"
        count={list.length}
        rowHeight={ROW_HEIGHT}
        follow={follow}
        selected={selected}
        onSelect={setSelected}
        rowLabel={(i) => { const e = list[i]; return e === undefined ? '' : `seq ${e.seq}, ${e.type}, ${e.stream}`; }}
        row={(i) => {
          const e = list[i];
          if (e === undefined) return null;
          return (
            <span class="tline" data-seq={e.seq}>
              <span class="tseq">{e.seq}</span>
              <span class="ttime">{e.ts.slice(11, 23)}</span>
              <span class="ttype">{e.type}</span>
              <span class="tstream">{e.stream}</span>
            </span>
          );
        }}
      />
      {sel === undefined ? null : <Json value={sel} label={`Event ${sel.seq} as JSON`} />}
    </Section>
  );
}

function localInput(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '';
  const d = new Date(iso);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function TimeTravel({ head }: { head: number }) {
  const [seq, setSeq] = useState<number | undefined>(undefined);
  const [time, setTime] = useState('');
  const [until, setUntil] = useState<string | undefined>(undefined);
  const [answer, setAnswer] = useState<ReplayAnswer | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const debounce = useRef<number | undefined>(undefined);
  const value = seq ?? head;

  useEffect(() => {
    if (until === undefined) return undefined;
    const abort = new AbortController();
    setBusy(true);
    api<ReplayAnswer>('GET', `/v1/admin/replay?until=${enc(until)}&runs_limit=100`, { signal: abort.signal }).then(
      (a) => { setAnswer(a); setError(undefined); setBusy(false); if (a.last_ts !== null) setTime(localInput(a.last_ts)); },
      (err: unknown) => { if (abort.signal.aborted) return; setError(err instanceof Error ? err.message : String(err)); setBusy(false); },
    );
    return () => abort.abort();
  }, [until]);

  const pickSeq = (n: number): void => {
    setSeq(n);
    if (debounce.current !== undefined) window.clearTimeout(debounce.current);
    debounce.current = window.setTimeout(() => setUntil(String(n)), 250);
  };
  const pickTime = (e: Event): void => {
    e.preventDefault();
    const d = new Date(time);
    if (time === '' || Number.isNaN(d.getTime())) { setError('Pick a date and time.'); return; }
    setUntil(d.toISOString());
  };
  useEffect(() => { if (answer !== undefined && until !== undefined && !/^\d+$/.test(until)) setSeq(answer.last_seq); }, [answer]);

  return (
    <Section title="Time travel" id="travel" actions={busy ? <span role="status" class="muted">replaying…</span> : null}>
      <p>Move the slider (or type a time) to see the registry as it was after that event. The daemon folds its log up to there, as <code>arpd log replay --until</code> does.</p>
      <div class="travel">
        <label for="tt-seq">Event seq <output for="tt-seq" data-testid="tt-seq-value">{value}</output> of {head}</label>
        <input id="tt-seq" type="range" min={1} max={Math.max(1, head)} step={1} value={value} onInput={(e) => pickSeq(Number((e.target as HTMLInputElement).value))} aria-valuetext={`event ${value} of ${head}`} />
        <form class="inline-form" onSubmit={pickTime} aria-label="Travel to a time">
          <Field id="tt-time" label="Or a time (your local time)">
            <input {...described('tt-time', undefined)} type="datetime-local" step={1} value={time} onInput={(e) => setTime((e.target as HTMLInputElement).value)} />
          </Field>
          <button type="submit">Go to this time</button>
          <button type="button" class="quiet" onClick={() => { setSeq(undefined); setUntil(undefined); setAnswer(undefined); }}>Back to now</button>
        </form>
      </div>
      <ErrorBox message={error} />
      {answer === undefined ? null : (
        <div data-testid="replay" aria-live="polite">
          <p><strong>As of event {answer.last_seq}</strong> {answer.last_ts === null ? '' : `(${shortTime(answer.last_ts)})`}: {answer.counts.profiles} profiles, {answer.instances_total} instances, {answer.runs_total} runs ({['queued', 'running', 'succeeded', 'failed', 'canceled'].map((k) => `${answer.counts.runs[k] ?? 0} ${k}`).join(', ')}).</p>
          <div class="grid grid-2">
            <div>
              <h3>Instances</h3>
              <div class="table-wrap">
                <table>
                  <thead><tr><th scope="col">Instance</th><th scope="col">State</th><th scope="col">Profile</th></tr></thead>
                  <tbody>{answer.instances.map((i) => <tr key={i.instance_id}><td class="mono">{i.instance_id}</td><td><Badge state={i.state} /></td><td>{i.runtime_profile ?? '–'}</td></tr>)}</tbody>
                </table>
              </div>
              <h3>Profiles</h3>
              <ul>{answer.profiles.map((p) => <li key={p.runtime_profile}>{p.runtime_profile} <span class="muted">updated {shortTime(p.updated_at)}</span></li>)}</ul>
            </div>
            <div>
              <h3>Runs (newest first{answer.runs.length < answer.runs_total ? `, ${answer.runs.length} of ${answer.runs_total}` : ''})</h3>
              <div class="table-wrap">
                <table data-testid="replay-runs">
                  <thead><tr><th scope="col">Run</th><th scope="col">State</th><th scope="col">Accepted</th></tr></thead>
                  <tbody>
                    {answer.runs.length === 0 ? <tr><td colSpan={3} class="muted">No runs yet at this point.</td></tr> : null}
                    {answer.runs.map((r) => <tr key={r.run_id} data-run={r.run_id}><td class="mono"><a href={href('runs', r.run_id)}>{r.run_id}</a></td><td><Badge state={r.state} /></td><td>{shortTime(r.accepted_at)}</td></tr>)}
                  </tbody>
                </table>
              </div>
            </div>
          </div>
        </div>
      )}
    </Section>
  );
}

/**
 * What was typed in the types field as the query's list: split on commas and on whitespace ('run. instance.' is two
 * types), empty entries ('run.,', ', ,') dropped; the daemon refuses an empty type and one holding a space.
 */
export function typeList(text: string): string {
  return text.split(/[\s,]+/u).filter((t) => t !== '').join(',');
}

export function EventsPage() {
  const [head, setHead] = useState(0);
  const pending = useRef(0);
  const timer = useRef<number | undefined>(undefined);
  // the head moves with every event: update the slider's end at most twice a second
  const onHead = (seq: number): void => {
    const first = pending.current === 0;
    pending.current = Math.max(pending.current, seq);
    if (first) { setHead(pending.current); return; }
    if (timer.current === undefined) timer.current = window.setTimeout(() => { timer.current = undefined; setHead(pending.current); }, 500);
  };
  useEffect(() => () => { if (timer.current !== undefined) window.clearTimeout(timer.current); }, []);
  return (
    <>
      <div class="page-head"><h1>Event log</h1></div>
      <TimeTravel head={head} />
      <EventList onHead={onHead} />
    </>
  );
}
