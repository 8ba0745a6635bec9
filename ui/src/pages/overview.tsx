/**
 * Overview: the daemon's status and counts, and live charts of the queue depth and the run rate (runs ended
 * per second), both read from the daemon's Prometheus metrics (`arpd_run_queue_depth`, the rate of
 * `arpd_runs_ended_total`: a counter, so runs leaving memory for the archive do not bend the line). The page
 * listens to the event log (without the trace lines) and samples once a second while something happens, every
 * five seconds otherwise.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Chart } from '../components/chart.js';
import { Badge, ErrorBox, Section, StreamDot } from '../components/common.js';
import { duration, shortTime } from '../hooks.js';
import { liveStream, type StreamState } from '../live-stream.js';
import { metricSum } from '../metrics-text.js';
import { href } from '../router.js';
import type { DaemonStatus } from '../types.js';

const WINDOW_S = 300;
const CHANGE_TYPES = 'run.accepted,run.queued,run.routed,run.started,run.succeeded,run.failed,run.canceled,instance.,profile.,daemon.';


export function Overview() {
  const [status, setStatus] = useState<DaemonStatus | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [stream, setStream] = useState<StreamState>('connecting');
  const [series, setSeries] = useState<{ xs: number[]; queue: number[]; rate: number[] }>({ xs: [], queue: [], rate: [] });
  const dirty = useRef(true);
  const prev = useRef<{ t: number; ended: number } | undefined>(undefined);

  useEffect(() => {
    let stopped = false;
    let idle = 0;
    const sample = async (): Promise<void> => {
      if (stopped) return;
      idle++;
      if (dirty.current || idle >= 5 || prev.current === undefined) {
        dirty.current = false;
        idle = 0;
        try {
          const [s, metrics] = await Promise.all([api<DaemonStatus>('GET', '/v1/admin/status'), api<string>('GET', '/metrics', { text: true })]);
          if (stopped) return;
          setStatus(s);
          setError(undefined);
          const t = Date.now() / 1000;
          const e = metricSum(metrics, 'arpd_runs_ended_total') ?? 0;
          const rate = prev.current === undefined ? 0 : Math.max(0, (e - prev.current.ended) / Math.max(0.001, t - prev.current.t));
          prev.current = { t, ended: e };
          const queue = metricSum(metrics, 'arpd_run_queue_depth') ?? 0;
          setSeries((old) => {
            const keep = old.xs.findIndex((x) => x >= t - WINDOW_S);
            const from = keep === -1 ? old.xs.length : keep;
            return { xs: [...old.xs.slice(from), t], queue: [...old.queue.slice(from), queue], rate: [...old.rate.slice(from), rate] };
          });
        } catch (err) {
          if (!stopped) setError(err instanceof Error ? err.message : String(err));
        }
      }
    };
    void sample();
    const timer = window.setInterval(() => void sample(), 1000);
    const s = liveStream({ path: `/v1/events?types=${encodeURIComponent(CHANGE_TYPES)}`, kinds: ['event'], onEvent: () => { dirty.current = true; }, onState: setStream });
    return () => { stopped = true; window.clearInterval(timer); s.close(); };
  }, []);

  const c = status?.counts;
  return (
    <>
      <div class="page-head">
        <h1>Overview</h1>
        <StreamDot state={stream} />
      </div>
      <ErrorBox message={error} />
      <div class="grid">
        <Section title="Daemon" id="daemon">
          {status === undefined ? <p>Loading…</p> : (
            <dl class="facts">
              <dt>State</dt><dd><Badge state={status.state ?? 'running'} /></dd>
              <dt>Version</dt><dd>{status.version ?? '–'}</dd>
              <dt>PID</dt><dd>{status.pid ?? '–'}</dd>
              <dt>Up for</dt><dd>{duration((status.uptime_s ?? Number.NaN) * 1000)} <span class="muted">since {shortTime(status.started_at)}</span></dd>
              <dt>Data dir</dt><dd class="mono wrap">{status.data_dir ?? '–'}</dd>
              <dt>Event log</dt><dd>{status.last_seq ?? 0} events{status.log_bytes === undefined ? '' : `, ${(status.log_bytes / 1024).toFixed(0)} KB`}</dd>
              <dt>HTTP auth</dt><dd>{status.http?.auth ?? '–'}</dd>
            </dl>
          )}
        </Section>
        <Section title="Runs" id="runs-counts">
          <ul class="counts" aria-label="Runs by state">
            {['queued', 'running', 'succeeded', 'failed', 'canceled'].map((k) => (
              <li key={k}><a href={`${href('runs')}?state=${k}`}><span class="count" data-testid={`runs-${k}`}>{c?.runs[k] ?? 0}</span> <Badge state={k} /></a></li>
            ))}
          </ul>
        </Section>
        <Section title="Instances" id="instances-counts">
          <ul class="counts" aria-label="Instances by state">
            {['starting', 'ready', 'busy', 'stopping', 'error'].map((k) => (
              <li key={k}><a href={href('instances')}><span class="count">{c?.instances[k] ?? 0}</span> <Badge state={k} /></a></li>
            ))}
          </ul>
          <p><a href={href('profiles')}>{c?.profiles ?? 0} profile{c?.profiles === 1 ? '' : 's'}</a> in the safe list</p>
        </Section>
      </div>
      <div class="grid grid-2">
        <Section title="Queue depth" id="queue-chart"><Chart id="queue" title="Runs waiting" unit="queued" xs={series.xs} ys={series.queue} windowS={WINDOW_S} /></Section>
        <Section title="Run rate" id="rate-chart"><Chart id="rate" title="Runs ended" unit="per second" xs={series.xs} ys={series.rate} windowS={WINDOW_S} /></Section>
      </div>
    </>
  );
}
