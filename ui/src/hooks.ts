/** Small hooks the pages share: load-and-refresh, live refresh on log events, a clock. */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.js';
import { liveStream, type StreamState } from './live-stream.js';

export interface Loaded<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload(): void;
}

/** Calls `load` now and whenever `deps` change or `reload()` is called; the older answer never wins. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  // other inputs (a filter changed): do not show the old answer as if it were the new one
  useEffect(() => { setData(undefined); }, deps);
  useEffect(() => {
    const abort = new AbortController();
    setLoading(true);
    load(abort.signal).then(
      (d) => { if (!abort.signal.aborted) { setData(d); setError(undefined); setLoading(false); } },
      (err: unknown) => {
        if (abort.signal.aborted) return;
        setError(err instanceof ApiError || err instanceof Error ? err.message : String(err));
        setLoading(false);
      },
    );
    return () => abort.abort();
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, error, loading, reload };
}

/**
 * Calls `onChange` (at most every `ms`) when the event log has events of these types: the page then reloads
 * what it shows. The stream starts at what comes next and resumes without gaps after a lost connection.
 */
export function useLogChanges(types: string, onChange: () => void, ms = 500): StreamState {
  const [state, setState] = useState<StreamState>('connecting');
  const fn = useRef(onChange);
  fn.current = onChange;
  useEffect(() => {
    let pending: number | undefined;
    let lastRun = 0;
    const fire = (): void => {
      if (pending !== undefined) return;
      const wait = Math.max(0, lastRun + ms - Date.now());
      pending = window.setTimeout(() => { pending = undefined; lastRun = Date.now(); fn.current(); }, wait);
    };
    const s = liveStream({ path: `/v1/events?types=${encodeURIComponent(types)}`, kinds: ['event'], onEvent: fire, onState: (st) => { setState(st); if (st === 'live') fire(); } });
    return () => { s.close(); if (pending !== undefined) window.clearTimeout(pending); };
  }, [types, ms]);
  return state;
}

/** The time now, updated every `ms`. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), ms);
    return () => window.clearInterval(t);
  }, [ms]);
  return now;
}

export function duration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.floor(ms / 1000);
  if (s < 60) return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

export function shortTime(iso: string | undefined | null): string {
  if (iso === undefined || iso === null || iso === '') return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}
