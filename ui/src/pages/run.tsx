/**
 * One run: its status, result or error, and its trace, live over SSE as it happens. The trace is held outside
 * the component state and drawn at most once per frame through a virtualised list, so a run writing thousands
 * of lines a second keeps the page responsive. Filter by level; pick a line to see its raw JSON.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, enc } from '../api.js';
import { Badge, ErrorBox, Json, Section, StreamDot } from '../components/common.js';
import { VirtualList } from '../components/virtual-list.js';
import { duration, shortTime } from '../hooks.js';
import { liveStream, type StreamState } from '../live-stream.js';
import { href } from '../router.js';
import type { RunStatus, TraceLine } from '../types.js';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];
const ROW_HEIGHT = 24;
const LIFECYCLE = new Set(['routed', 'started', 'succeeded', 'failed', 'canceled', 'queued']);

const summaries = new WeakMap<TraceLine, string>();

/** The line's data in one short line (made once per line: rows are redrawn every frame while lines arrive). */
function summary(l: TraceLine): string {
  let s = summaries.get(l);
  if (s === undefined) {
    const d = l.data;
    s = JSON.stringify((d['data'] ?? d) as Record<string, unknown>);
    if (s.length > 240) s = `${s.slice(0, 237)}…`;
    summaries.set(l, s);
  }
  return s;
}

interface TraceStore {
  lines: TraceLine[];
  /** Indexes into `lines` of the lines the level filter shows. */
  shown: number[];
  /** Told once per frame while lines arrive (only the list redraws, not the page). */
  listeners: Set<() => void>;
}

function TraceList({ store, follow, selected, onSelect }: { store: TraceStore; follow: boolean; selected: number | undefined; onSelect(i: number): void }) {
  const [, setFrame] = useState(0);
  useEffect(() => {
    const fn = (): void => setFrame((f) => f + 1);
    store.listeners.add(fn);
    return () => { store.listeners.delete(fn); };
  }, [store]);
  const line = (i: number): TraceLine | undefined => store.lines[store.shown[i] ?? -1];
  return (
    <>
      <p class="muted trace-count" data-testid="trace-count" aria-live="off">{store.shown.length} of {store.lines.length} lines</p>
      <VirtualList
        id="trace-list"
        label="Trace lines (arrow keys move, the selected line's JSON shows below)"
        count={store.shown.length}
        rowHeight={ROW_HEIGHT}
        follow={follow}
        selected={selected}
        onSelect={onSelect}
        rowLabel={(i) => { const l = line(i); return l === undefined ? '' : `line ${l.seq}, ${l.level}, ${l.type}`; }}
        row={(i) => {
          const l = line(i);
          if (l === undefined) return null;
          return (
            <span class={`tline lvl-${l.level}`} data-seq={l.seq} data-time={l.time}>
              <span class="tseq">{l.seq}</span>
              <span class="ttime">{l.time.slice(11, 23)}</span>
              <span class="tlvl">{l.level}</span>
              <span class="ttype">{l.type}</span>
              <span class="tdata">{summary(l)}</span>
            </span>
          );
        }}
      />
    </>
  );
}

export function RunPage({ runId }: { runId: string }) {
  const [status, setStatus] = useState<RunStatus | undefined>(undefined);
  const [result, setResult] = useState<unknown>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [stream, setStream] = useState<StreamState>('connecting');
  const [streamDetail, setStreamDetail] = useState<string | undefined>(undefined);
  const [levels, setLevels] = useState<Set<Level>>(new Set(LEVELS));
  const [follow, setFollow] = useState(true);
  const [selected, setSelected] = useState<number | undefined>(undefined);
  const store = useRef<TraceStore>({ lines: [], shown: [], listeners: new Set() }).current;
  const levelsRef = useRef(levels);
  const frame = useRef<number | undefined>(undefined);
  const [cancelMsg, setCancelMsg] = useState<string | undefined>(undefined);

  const redraw = (): void => {
    if (frame.current !== undefined) return;
    frame.current = requestAnimationFrame(() => { frame.current = undefined; for (const fn of store.listeners) fn(); });
  };

  const loadStatus = async (): Promise<RunStatus | undefined> => {
    try {
      const s = await api<RunStatus>('GET', `/v1/runs/${enc(runId)}`);
      setStatus(s);
      setError(undefined);
      return s;
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
      return undefined;
    }
  };
  const loadResult = async (): Promise<void> => {
    try { setResult(await api('GET', `/v1/runs/${enc(runId)}/result`)); } catch (err) { if (!(err instanceof ApiError && err.status === 409)) setResult({ unavailable: (err as Error).message }); }
  };

  useEffect(() => {
    store.lines = [];
    store.shown = [];
    redraw();
    setSelected(undefined);
    setResult(undefined);
    setStatus(undefined);
    let statusTimer: number | undefined;
    const refreshStatus = (): void => {
      if (statusTimer !== undefined) return;
      statusTimer = window.setTimeout(() => { statusTimer = undefined; void loadStatus(); }, 200);
    };
    void loadStatus().then((s) => { if (s === undefined) setStream('failed'); });
    const s = liveStream({
      path: `/v1/runs/${enc(runId)}/events`,
      kinds: ['trace'],
      after: 0,
      onEvent: (_kind, data) => {
        const l = data as TraceLine;
        const i = store.lines.push(l) - 1;
        if (levelsRef.current.has(l.level)) store.shown.push(i);
        if (LIFECYCLE.has(l.type)) refreshStatus();
        redraw();
      },
      onEnd: (data) => { setStatus(data as RunStatus); void loadResult(); },
      onState: (st, d) => { setStream(st); setStreamDetail(d); },
    });
    return () => { s.close(); if (statusTimer !== undefined) window.clearTimeout(statusTimer); if (frame.current !== undefined) { cancelAnimationFrame(frame.current); frame.current = undefined; } };
  }, [runId]);

  const toggle = (l: Level): void => {
    const next = new Set(levels);
    if (next.has(l)) next.delete(l); else next.add(l);
    levelsRef.current = next;
    store.shown = [];
    store.lines.forEach((line, i) => { if (next.has(line.level)) store.shown.push(i); });
    redraw();
    setSelected(undefined);
    setLevels(next);
  };

  const cancel = async (): Promise<void> => {
    setCancelMsg(undefined);
    try { setStatus(await api<RunStatus>('POST', `/v1/runs/${enc(runId)}:cancel`)); } catch (err) { setCancelMsg((err as Error).message); }
  };

  const x = status?.extensions?.['arpd.run'] ?? {};
  const ended = status !== undefined && ['succeeded', 'failed', 'canceled'].includes(status.state);
  const sel = selected === undefined ? undefined : store.lines[store.shown[selected] ?? -1];
  const out = (result as { output?: { text?: string } } | undefined)?.output?.text;
  return (
    <>
      <div class="page-head">
        <h1>Run <span class="mono">{runId}</span></h1>
        <a href={href('runs')}>All runs</a>
      </div>
      <ErrorBox message={error} />
      <div class="grid grid-2">
        <Section title="Status" id="status" actions={ended || status === undefined ? null : <button type="button" onClick={() => void cancel()}>Cancel run</button>}>
          <ErrorBox message={cancelMsg} />
          {status === undefined ? <p>Loading…</p> : (
            <dl class="facts">
              <dt>State</dt><dd data-testid="run-state"><Badge state={status.state} /> <span class="muted">{x.phase ?? ''}</span></dd>
              <dt>Instance</dt><dd class="mono">{status.runtime_instance_id === undefined ? '–' : <a href={href('instances', status.runtime_instance_id)}>{status.runtime_instance_id}</a>}</dd>
              <dt>Accepted</dt><dd>{shortTime(x.accepted_at)}</dd>
              <dt>Started</dt><dd>{shortTime(status.started_at)}</dd>
              <dt>Ended</dt><dd>{shortTime(status.ended_at)}{status.ended_at !== undefined && x.accepted_at !== undefined ? ` (${duration(Date.parse(status.ended_at) - Date.parse(x.accepted_at))} after it was accepted)` : ''}</dd>
            </dl>
          )}
          {x.error === undefined ? null : <p class="error-box" role="alert" data-testid="run-error"><strong>{x.error.code}</strong>: {x.error.message}</p>}
        </Section>
        <Section title="Result" id="result">
          {!ended ? <p class="muted">The result shows here once the run has ended.</p> : result === undefined ? <p>Loading…</p> : (
            <>
              {out === undefined ? null : <p class="answer" data-testid="run-output">{out}</p>}
              <Json value={result} label="The run's result as JSON" />
            </>
          )}
        </Section>
      </div>
      <Section title="Trace" id="trace" actions={<StreamDot state={stream} detail={streamDetail} />}>
        <div class="trace-tools">
          <fieldset class="levels">
            <legend>Levels</legend>
            {LEVELS.map((l) => <label key={l} class="check"><input type="checkbox" checked={levels.has(l)} onChange={() => toggle(l)} /> {l}</label>)}
          </fieldset>
          <label class="check"><input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> Follow new lines</label>
        </div>
        {stream === 'failed' && streamDetail !== undefined ? <ErrorBox message={streamDetail} /> : null}
        <TraceList store={store} follow={follow} selected={selected} onSelect={setSelected} />
        {sel === undefined ? <p class="muted">Pick a line (click it, or Tab to the list and use the arrow keys) to see its JSON.</p> : <Json value={sel} label={`Trace line ${sel.seq} as JSON`} />}
      </Section>
    </>
  );
}
