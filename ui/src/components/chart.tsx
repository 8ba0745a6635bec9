/** A small live time-series chart (uPlot), with its latest value as text for screen readers. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface ChartProps {
  title: string;
  unit: string;
  /** Seconds since the epoch. */
  xs: number[];
  ys: number[];
  id: string;
  /** The most seconds the x axis spans (ending at the latest point; at least a minute). */
  windowS: number;
}

export function Chart(p: ChartProps) {
  const el = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);

  useEffect(() => {
    const host = el.current;
    if (host === null) return undefined;
    const width = (): number => Math.max(200, host.clientWidth);
    const u = new uPlot({
      width: width(),
      height: 160,
      legend: { show: false },
      cursor: { show: false },
      scales: { x: { time: true, range: (_u, min, max) => [Math.min(max - 60, Math.max(min, max - p.windowS)), max] }, y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.2)] } },
      axes: [
        { stroke: '#374151', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#d1d5db' }, space: 90, values: (_u, vals) => vals.map((v) => new Date(v * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })) },
        { stroke: '#374151', grid: { stroke: '#e5e7eb' }, ticks: { stroke: '#d1d5db' }, size: 44 },
      ],
      series: [{}, { label: p.title, stroke: '#1d4ed8', width: 2, fill: 'rgba(29, 78, 216, 0.12)' }],
    }, [[], []], host);
    plot.current = u;
    const ro = new ResizeObserver(() => u.setSize({ width: width(), height: 160 }));
    ro.observe(host);
    return () => { ro.disconnect(); u.destroy(); plot.current = undefined; };
  }, [p.title]);

  useEffect(() => {
    plot.current?.setData([p.xs, p.ys]);
  }, [p.xs, p.ys]);

  const latest = p.ys.length === 0 ? undefined : p.ys[p.ys.length - 1];
  return (
    <figure class="chart" aria-labelledby={`${p.id}-cap`}>
      <figcaption id={`${p.id}-cap`}>
        {p.title}: <strong data-testid={`${p.id}-value`}>{latest === undefined ? '–' : `${Number.isInteger(latest) ? latest : latest.toFixed(2)}`}</strong> {p.unit}
      </figcaption>
      <div ref={el} class="chart-plot" role="img" aria-label={`${p.title} over the last minutes`} />
    </figure>
  );
}
