import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { damagedRead, forEachEvent } from '../events/log-read.js';
import { listLogFiles } from '../events/log-files.js';
import { describeDamage, recoverLog } from '../events/log-recovery.js';
import { planRepair, type RepairPlan } from '../events/log-repair.js';
import { defersRunLog } from '../events/run-log-queue.js';
import { isValidId } from '../ids/id-rules.js';
import { parseIsoTime } from '../ids/iso-time.js';
import { replayStart } from '../retention/replay-start.js';
import type { ResolvedGlobals } from './global-options.js';
import { out, printJson, printTable, style } from './output.js';

/**
 * Debugging from the log, read-only and without a daemon: `arpd log verify`, `arpd log replay`
 * (`arpd events` is in events-command.ts). None of these take the lock or change a file.
 */

interface RunLogProblem { run_id: string; problem: string }

/**
 * True when the data dir belongs to a daemon whose events are in PostgreSQL (`--store`): it has no JSONL log, and
 * either ARPD_STORE_URL is set, or it holds what such a daemon leaves (its pid file, its `snapshots/postgres-*`). A
 * JSONL daemon writes its log at its first start, so neither is in a data dir of its own without one.
 */
export function storeInPostgres(root: string, env: NodeJS.ProcessEnv = process.env): boolean {
  if (listLogFiles(root).some((f) => existsSync(f.path))) return false;
  if (env['ARPD_STORE_URL'] !== undefined && env['ARPD_STORE_URL'] !== '') return true;
  if (existsSync(join(root, 'arpd.pid'))) return true;
  try {
    return readdirSync(join(root, 'snapshots')).some((n) => n.startsWith('postgres-'));
  } catch {
    return false;
  }
}

/** The refusal of a tool that reads only the JSONL log, for a data dir whose events are in PostgreSQL. */
function notJsonl(root: string, tool: string): ArpdError {
  return new ArpdError('E_VALIDATION', `${tool} reads the JSONL event log of a data dir, and ${root} has none: its daemon keeps its events in PostgreSQL (--store): read them through the daemon with 'arpd events' (--type, --stream, --from), 'arpd runs list' and 'arpd daemon status'`, { data_dir: root, usage: true });
}

function verifyRunLog(path: string, runId: string, seqs: number[]): string | undefined {
  if (!existsSync(path)) return seqs.length === 0 ? undefined : `missing (${seqs.length} lines expected)`;
  const lines = readFileSync(path, 'utf8').split('\n');
  const last = lines.pop();
  if (last !== undefined && last !== '') return `torn last line (${Buffer.byteLength(last)} bytes without a newline)`;
  for (let i = 0; i < lines.length; i++) {
    let parsed: { run_id?: unknown; seq?: unknown; extensions?: { 'arpd.event'?: { seq?: unknown } } };
    try {
      parsed = JSON.parse(lines[i] as string) as typeof parsed;
    } catch {
      return `line ${i + 1} is not JSON`;
    }
    if (parsed.run_id !== runId) return `line ${i + 1} names run ${JSON.stringify(parsed.run_id)}`;
    if (parsed.seq !== i + 1) return `line ${i + 1} has seq ${JSON.stringify(parsed.seq)}, expected ${i + 1}`;
    const g = parsed.extensions?.['arpd.event']?.seq;
    if (i < seqs.length && g !== seqs[i]) return `line ${i + 1} points at global seq ${JSON.stringify(g)}, but that line of the run is seq ${seqs[i]}`;
  }
  if (lines.length < seqs.length) return `behind the global log: ${lines.length} of ${seqs.length} lines (the daemon completes it at its next start)`;
  if (lines.length > seqs.length) return `ahead of the global log: ${lines.length} lines, the log has ${seqs.length}`;
  return undefined;
}

export function logVerify(g: ResolvedGlobals): number {
  const root = g.dataDir;
  if (storeInPostgres(root)) throw notJsonl(root, 'arpd log verify');
  const files = listLogFiles(root).filter((f) => existsSync(f.path));
  const runSeqs = new Map<string, number[]>();
  /** Runs that have only waited in the queue: their run log is created when they leave it (run-log-queue.ts). */
  const queued = new Set<string>();
  let events = 0;
  let damage: { message: string; data: Record<string, unknown> } | undefined;
  try {
    const rec = recoverLog(root, {
      mutate: false,
      fromHorizon: true,
      onEvent: (e) => {
        events++;
        // a pruned run's log is gone on purpose (a later run that reuses the id starts a new one)
        if (e.type === 'runs.pruned') for (const r of e.data.runs) runSeqs.delete(r.run_id);
        if (e.stream.startsWith('run:')) {
          const id = e.stream.slice(4);
          let list = runSeqs.get(id);
          if (list === undefined) { list = []; runSeqs.set(id, list); queued.add(id); }
          list.push(e.seq);
          if (!defersRunLog(e.type)) queued.delete(id);
        }
      },
    });
    void rec;
  } catch (err) {
    if (!(err instanceof ArpdError) || err.code !== 'E_LOG_CORRUPT') throw err;
    damage = { message: err.message, data: err.data ?? {} };
  }
  const runProblems: RunLogProblem[] = [];
  for (const [runId, seqs] of runSeqs) {
    if (!isValidId(runId)) { runProblems.push({ run_id: runId, problem: 'the run id is not a safe path segment' }); continue; }
    const path = join(root, 'runs', runId, 'trace.jsonl');
    if (queued.has(runId) && (!existsSync(path) || statSync(path).size === 0)) continue;
    const problem = verifyRunLog(path, runId, seqs);
    if (problem !== undefined) runProblems.push({ run_id: runId, problem });
  }
  const bytes = files.reduce((n, f) => n + statSync(f.path).size, 0);
  const ok = damage === undefined && runProblems.length === 0;
  // what --repair would do (a dry run: nothing is changed), when there is damage before the last line
  const plan: RepairPlan | undefined = damage !== undefined && (damage.data as { torn_tail?: boolean }).torn_tail !== true ? planRepair(root) : undefined;
  const summary = {
    ok,
    data_dir: root,
    files: files.map((f) => f.name),
    bytes,
    events,
    runs_checked: runSeqs.size,
    ...(damage === undefined ? {} : { damage: { ...damage.data, message: damage.message } }),
    ...(plan === undefined ? {} : { repair_plan: plan }),
    run_log_problems: runProblems,
  };
  if (g.json) {
    printJson(summary);
  } else {
    out(`${ok ? style.green('ok') : style.red('damaged', process.stdout)}: ${events} events in ${files.length} file(s), ${bytes} bytes; ${runSeqs.size} run logs checked`);
    if (damage !== undefined) {
      const d = damage.data as { file?: string; line?: number; offset?: number; reason?: string };
      out(`global log: ${d.file !== undefined ? describeDamage({ file: d.file, line: d.line ?? 0, offset: d.offset ?? 0, reason: d.reason ?? '' }) : damage.message}`);
      if (plan === undefined) out('  a torn last line alone is cut at the next start, without --repair');
      else printPlan(plan);
    }
    for (const p of runProblems.slice(0, 50)) out(`run log ${p.run_id}: ${p.problem}`);
    if (runProblems.length > 50) out(`… and ${runProblems.length - 50} more run log problems (use --json for all)`);
  }
  if (ok) return 0;
  const what = damage !== undefined ? 'the event log is damaged' : `${runProblems.length} run log(s) disagree with the event log`;
  throw new ArpdError('E_LOG_CORRUPT', `${what} (details above): ${damage !== undefined ? "'arpd daemon start --repair' does what the plan above says (the damaged bytes are copied aside, never deleted)" : 'run logs are copies: the event log holds every line, and the daemon answers these runs\' result and trace from it (a run log that is only behind is completed at the next start)'}`, { data_dir: root });
}

/** What `--repair` would do, in words. */
function printPlan(plan: RepairPlan): void {
  out(`what 'arpd daemon start --repair' would do (nothing is changed now):`);
  for (const d of plan.damaged) out(`  set aside ${d.bytes} damaged byte(s) of ${d.file} at offset ${d.offset} (${d.reason})${d.seqs.length > 0 ? `: they held seq ${d.seqs[0]}${d.seqs.length > 1 ? `–${d.seqs.at(-1)}` : ''}` : ''}`);
  out(`  restore ${plan.restored.length} event(s) from run logs${plan.restored.length === 0 ? '' : `: ${plan.restored.slice(0, 10).map((r) => `seq ${r.seq} ${r.type} of ${r.stream}`).join(', ')}${plan.restored.length > 10 ? ', …' : ''}`}`);
  out(`  record ${plan.lost.length} event(s) as lost${plan.lost.length === 0 ? '' : ` (seq ${plan.lost.slice(0, 10).map((l) => l.seq).join(', ')}${plan.lost.length > 10 ? ', …' : ''}): no run log holds them`}`);
  out(`  fail ${plan.runsToFail.length} run(s) with E_LOG_REPAIRED rather than run them twice${plan.runsToFail.length === 0 ? '' : ':'}`);
  for (const r of plan.runsToFail.slice(0, 20)) out(`    ${r.run_id}: ${r.why}`);
  if (plan.runsToFail.length > 20) out(`    … and ${plan.runsToFail.length - 20} more (use --json for all)`);
  out('  every run with an end in the log keeps it; no run is dispatched again');
}

/** `--until` is a seq (digits) or an ISO time. */
function untilPredicate(until: string | undefined): (e: StoredEvent) => boolean {
  if (until === undefined || until === '') return () => true;
  if (/^\d+$/.test(until)) {
    const n = Number(until);
    return (e) => e.seq <= n;
  }
  const t = parseIsoTime(until);
  if (t === undefined) throw new ArpdError('E_VALIDATION', `--until takes a seq number or an ISO-8601 time (e.g. 2026-01-31T12:00:00Z, or a date: 2026-01-31), not '${until}'`, { field: 'until', usage: true });
  return (e) => Date.parse(e.ts) <= t;
}

export function logReplay(g: ResolvedGlobals, until: string | undefined): number {
  const keep = untilPredicate(until);
  const untilSeq = until !== undefined && /^\d+$/.test(until) ? Number(until) : undefined;
  if (storeInPostgres(g.dataDir)) throw notJsonl(g.dataDir, 'arpd log replay');
  const untilTime = until !== undefined && until !== '' && untilSeq === undefined ? parseIsoTime(until) : undefined;
  const { projection, fromSeq } = replayStart(g.dataDir, { seq: untilSeq, timeMs: untilTime });
  forEachEvent(g.dataDir, (e) => {
    if (!keep(e)) return false;
    projection.push(e);
    return true;
  }, { fromSeq, ...(untilSeq === undefined ? {} : { toSeq: untilSeq }), onDamage: (at) => { throw damagedRead(at, 'the state after it cannot be replayed'); } });
  const snap = projection.registry.snapshot();
  if (g.json) {
    printJson(snap);
    return 0;
  }
  out(`${style.bold('state at seq')} ${snap.last_seq}${until === undefined ? '' : ` (until ${until})`}`);
  out('');
  out(style.bold(`profiles (${snap.profiles.length})`));
  for (const p of snap.profiles) out(`  ${p.runtime_profile}  ${style.dim(`updated ${p.updated_at}`)}`);
  out('');
  out(style.bold(`instances (${snap.instances.length})`));
  if (snap.instances.length > 0) {
    printTable(['  INSTANCE', 'STATE', 'PROFILE', 'ENDPOINT', 'UPDATED'], snap.instances.map((i) => [`  ${i.instance_id}`, i.state, i.runtime_profile ?? '-', i.runtime_api_endpoint ?? '-', i.updated_at]));
  }
  out('');
  const c = snap.counts.runs;
  out(style.bold(`runs (${snap.runs.length}: ${c.queued} queued, ${c.running} running, ${c.succeeded} succeeded, ${c.failed} failed, ${c.canceled} canceled)`));
  const shown = snap.runs.slice(-50);
  if (shown.length > 0) {
    printTable(['  RUN', 'STATE', 'INSTANCE', 'ACCEPTED', 'ENDED'], shown.map((r) => [`  ${r.run_id}`, r.state, r.instance_id ?? '-', r.accepted_at, r.ended_at ?? '-']));
    if (snap.runs.length > shown.length) out(style.dim(`  (last ${shown.length} shown; --json prints all)`));
  }
  return 0;
}

/** The daemon's maintenance methods (socket: the owner's; over HTTP they need the admin token). */
async function maintenance<T>(g: ResolvedGlobals, method: string, params: Record<string, unknown>): Promise<T> {
  const { openTransport } = await import('./connection.js');
  const transport = await openTransport(g);
  try {
    return await transport.call<T>(method, params, { timeoutMs: 0 });
  } finally {
    await transport.close().catch(() => undefined);
  }
}

/** `arpd log snapshot`: the state checkpointed now; the next boot replays only what comes after. */
export async function logSnapshot(g: ResolvedGlobals): Promise<number> {
  const r = await maintenance<{ seq: number; path: string; bytes: number; ms: number }>(g, 'log.snapshot', {});
  if (g.json) printJson(r);
  else out(`snapshot at seq ${r.seq}: ${r.path} (${r.bytes} bytes, ${r.ms} ms)`);
  return 0;
}

/** `arpd log compact`: a snapshot, then sealed segments it holds compressed; past a budget the oldest removed. */
export async function logCompact(g: ResolvedGlobals, budgetBytes: number | undefined): Promise<number> {
  // named as the flag the user gave, not as the request's field
  if (budgetBytes !== undefined && (!Number.isSafeInteger(budgetBytes) || budgetBytes < 1024 * 1024)) {
    throw new ArpdError('E_VALIDATION', `--budget-bytes takes a whole number of bytes, at least 1048576 (1 MiB), not '${String(budgetBytes)}'`, { field: '--budget-bytes', usage: true });
  }
  const r = await maintenance<{ compressed: number; removed: number; bytes_before: number; bytes_after: number; over_budget: boolean; log_starts_at_seq?: number }>(g, 'log.compact', budgetBytes === undefined ? {} : { budget_bytes: budgetBytes });
  if (g.json) { printJson(r); return 0; }
  out(`log: ${r.bytes_before} → ${r.bytes_after} bytes; ${r.compressed} segment(s) compressed, ${r.removed} removed${r.log_starts_at_seq === undefined ? '' : `; the log now starts at seq ${r.log_starts_at_seq}`}`);
  if (r.over_budget) out('still over the budget: the rest is the active file or not held by any snapshot yet (it is never removed)');
  return 0;
}

/** `arpd runs prune --before DATE`: run directories of runs that ended before it go, recorded as events. */
export async function runsPrune(g: ResolvedGlobals, before: string | undefined, dryRun: boolean): Promise<number> {
  if (before === undefined || before === '') throw new ArpdError('E_VALIDATION', "--before is required: the date runs must have ended before (e.g. 'arpd runs prune --before 2026-01-31')", { field: 'before', usage: true });
  const r = await maintenance<{ before: string; runs: number; run_ids?: string[] }>(g, 'runs.prune', { before, ...(dryRun ? { dry_run: true } : {}) });
  if (g.json) { printJson(r); return 0; }
  out(dryRun ? `${r.runs} run(s) ended before ${r.before} and would be pruned (nothing changed)` : `pruned ${r.runs} run(s) that ended before ${r.before}`);
  return 0;
}
