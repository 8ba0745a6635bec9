/**
 * A small reader of the Prometheus text exposition format (0.0.4), written for the tests from the format's
 * description, independent of prom-client: families with their HELP and TYPE, samples with labels and values.
 * It also reports what breaks the format instead of skipping it (a sample before its TYPE, a bad label name).
 */

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Family {
  name: string;
  help?: string;
  type?: string;
  samples: Sample[];
}

export interface Exposition {
  families: Map<string, Family>;
  /** What breaks the format; empty when the text is well formed. */
  problems: string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string): number {
  // as Prometheus reads them (Go's ParseFloat): NaN and Inf in any case
  const lower = text.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Infinity;
  if (lower === '-inf') return -Infinity;
  if (lower === 'nan') return NaN;
  const v = Number(text);
  if (text.trim() === '' || !Number.isFinite(v)) throw new Error(`not a number: '${text}'`);
  return v;
}

/** `name{a="b",c="d\"e"} 1.5` -> a sample. */
function parseSample(line: string): Sample {
  let i = 0;
  while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++;
  const name = line.slice(0, i);
  if (!NAME.test(name)) throw new Error(`bad metric name '${name}'`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq === -1) throw new Error('a label without =');
      const key = line.slice(i, eq).trim();
      if (!LABEL_NAME.test(key)) throw new Error(`bad label name '${key}'`);
      if (line[eq + 1] !== '"') throw new Error(`label ${key}: value not quoted`);
      let j = eq + 2;
      let value = '';
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') {
          const next = line[++j];
          value += next === 'n' ? '\n' : next;
        } else value += line[j];
      }
      if (j >= line.length) throw new Error(`label ${key}: unterminated value`);
      if (Object.hasOwn(labels, key)) throw new Error(`label ${key} given twice`);
      labels[key] = value;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`label ${key}: expected , or }`);
    }
    i++;
  }
  const rest = line.slice(i).trim().split(/\s+/);
  if (rest.length < 1 || rest.length > 2) throw new Error('expected a value and an optional timestamp');
  return { name, labels, value: parseValue(rest[0] as string) };
}

const SUFFIXES = ['_bucket', '_sum', '_count'];

/** The family a sample belongs to (histograms and summaries spread over _bucket/_sum/_count). */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sample);
  if (direct !== undefined) return direct;
  for (const s of SUFFIXES) {
    if (!sample.endsWith(s)) continue;
    const f = families.get(sample.slice(0, -s.length));
    if (f !== undefined && (f.type === 'histogram' || f.type === 'summary')) return f;
  }
  return undefined;
}

export function parseExposition(text: string): Exposition {
  const families = new Map<string, Family>();
  const problems: string[] = [];
  const family = (name: string): Family => {
    let f = families.get(name);
    if (f === undefined) { f = { name, samples: [] }; families.set(name, f); }
    return f;
  };
  for (const [n, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, string, string, string | undefined];
      const f = family(name);
      if (kind === 'HELP') {
        if (f.help !== undefined) problems.push(`line ${n + 1}: second HELP for ${name}`);
        f.help = rest ?? '';
      } else {
        if (f.type !== undefined) problems.push(`line ${n + 1}: second TYPE for ${name}`);
        if (f.samples.length > 0) problems.push(`line ${n + 1}: TYPE of ${name} after its samples`);
        if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest ?? '')) problems.push(`line ${n + 1}: unknown type '${rest ?? ''}'`);
        f.type = rest ?? '';
      }
      continue;
    }
    if (line.startsWith('#')) continue;
    let s: Sample;
    try {
      s = parseSample(line);
    } catch (err) {
      problems.push(`line ${n + 1}: ${(err as Error).message}: ${line}`);
      continue;
    }
    const f = familyOf(s.name, families);
    if (f === undefined || f.type === undefined) {
      problems.push(`line ${n + 1}: sample ${s.name} has no TYPE before it`);
      family(s.name).samples.push(s);
      continue;
    }
    if (f.help === undefined) problems.push(`line ${n + 1}: sample ${s.name} has no HELP`);
    f.samples.push(s);
  }
  return { families, problems };
}

/** The value of the one sample of `name` whose labels include `labels` (undefined when none; throws when several). */
export function valueOf(e: Exposition, name: string, labels: Record<string, string> = {}): number | undefined {
  const f = familyOf(name, e.families);
  const hits = (f?.samples ?? []).filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length > 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return hits[0]?.value;
}
