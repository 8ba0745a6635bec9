/**
 * Results as data, and their two renderings (a readable report and Markdown tables for
 * BENCHMARKS.md). Every figure is arpd next to a baseline measured in the same run, with the ratio
 * arpd ÷ baseline and, where there is one, the goal for that ratio. Goals are reported, never enforced.
 */

export interface Goal {
  op: '>=' | '<=';
  /** The bound on the ratio arpd ÷ baseline. */
  ratio: number;
}

export interface Figure {
  name: string;
  unit: string;
  arpd: number;
  baseline: number;
  /** arpd ÷ baseline. */
  ratio: number;
  goal?: Goal;
  met?: boolean;
}

export interface BenchResult {
  /** Short name used on the command line (`append`, `replay`). */
  name: string;
  title: string;
  /** What the baseline is: the raw limit arpd is compared with. */
  baseline: string;
  figures: Figure[];
  /** Context worth keeping next to the figures (sizes, trial values, profiles). */
  notes: string[];
  /** Raw per-trial numbers, for the JSON output. */
  raw: Record<string, unknown>;
}

export function figure(name: string, unit: string, arpd: number, baseline: number, goal?: Goal): Figure {
  const ratio = arpd / baseline;
  const f: Figure = { name, unit, arpd, baseline, ratio };
  if (goal !== undefined) {
    f.goal = goal;
    f.met = goal.op === '>=' ? ratio >= goal.ratio : ratio <= goal.ratio;
  }
  return f;
}

export function formatValue(value: number, unit: string): string {
  if (!Number.isFinite(value)) return String(value);
  if (unit.endsWith('/s') || unit.endsWith('/CPU-s')) return Math.round(value).toLocaleString('en-US');
  if (unit === 'MiB') return value.toFixed(1);
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  if (value >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

function goalText(f: Figure): string {
  return f.goal === undefined ? '—' : `${f.goal.op === '>=' ? '≥' : '≤'} ${f.goal.ratio}×`;
}

function metText(f: Figure): string {
  return f.met === undefined ? '—' : f.met ? 'yes' : 'NO';
}

function rows(r: BenchResult): string[][] {
  return r.figures.map((f) => [
    `${f.name} (${f.unit})`,
    formatValue(f.arpd, f.unit),
    formatValue(f.baseline, f.unit),
    `${f.ratio.toFixed(2)}×`,
    goalText(f),
    metText(f),
  ]);
}

const HEAD = ['figure', 'arpd', 'baseline', 'ratio', 'goal', 'met?'];

export function formatText(r: BenchResult): string {
  const all = [HEAD, ...rows(r)];
  const widths = HEAD.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (row: string[]): string => row.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [
    `== ${r.name}: ${r.title}`,
    `baseline: ${r.baseline}`,
    '',
    line(HEAD),
    ...rows(r).map(line),
    '',
    ...r.notes.map((n) => `  ${n}`),
  ].join('\n');
}

export function formatMarkdown(r: BenchResult): string {
  const md = (row: string[]): string => `| ${row.join(' | ')} |`;
  return [
    `### ${r.name}: ${r.title}`,
    '',
    `Baseline: ${r.baseline}`,
    '',
    md(HEAD),
    md(['---', '---:', '---:', '---:', '---:', '---']),
    ...rows(r).map(md),
    '',
    ...r.notes.map((n) => `- ${n}`),
  ].join('\n');
}
