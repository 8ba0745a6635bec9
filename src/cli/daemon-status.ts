import type { DaemonStatus } from '../client/client-types.js';
import { connect, type RpcClient } from '../client/rpc-client.js';
import { ArpdError } from '../errors/index.js';
import { CLI_TIMEOUT_HINT, type ResolvedGlobals } from './global-options.js';
import { EXIT, info, out, printJson, style } from './output.js';

/**
 * `arpd daemon status`: 0 running, 3 not running (LSB / systemctl), as a query, not a failure. On the
 * socket it loads only the JSON-RPC client (it is the command people and scripts run most); with
 * --daemon-url it asks over HTTP.
 */

function human(status: DaemonStatus): void {
  const counts = status.counts as DaemonStatus['counts'] | undefined;
  const line = (k: string, v: unknown): void => out(`${style.bold(k.padEnd(10))} ${String(v)}`);
  line('state', status.state);
  // why it is degraded, and what to do: the user who asks is the one who must act (a full disk, a read-only one)
  const degraded = status['degraded'] as { code?: string; reason?: string } | undefined;
  if (degraded?.reason !== undefined) line('why', `${degraded.reason} [${String(degraded.code)}]`);
  line('pid', status.pid);
  line('version', status.version);
  line('uptime', `${String(status.uptime_s)}s (since ${String(status.started_at)})`);
  line('data dir', status.data_dir);
  line('socket', status.socket);
  if (status.http_url !== undefined) line('http', status.http_url);
  line('clients', status.clients);
  if (counts !== undefined) {
    line('profiles', counts.profiles);
    line('instances', Object.entries(counts.instances).map(([k, v]) => `${v} ${k}`).join(', '));
    line('runs', Object.entries(counts.runs).map(([k, v]) => `${v} ${k}`).join(', '));
  }
  const store = status['store'] as { kind?: string; url?: string; node_id?: string } | undefined;
  if (store?.kind === 'postgres') {
    line('store', `postgres ${String(store.url ?? '')}, seq ${String(status.last_seq)}`);
    clusterLines(status['cluster'], line);
  } else {
    line('log', `seq ${String(status.last_seq)}, ${String(status.log_bytes)} bytes`);
  }
  if (status.idle_timeout_s !== null && status.idle_timeout_s !== undefined) line('idle exit', `after ${String(status.idle_timeout_s)}s idle`);
  const tracing = status['tracing'] as { endpoint?: string } | undefined;
  if (tracing?.endpoint !== undefined) line('tracing', `one OpenTelemetry trace per run to ${tracing.endpoint}`);
  const problems = historyLines(status, line);
  if (Array.isArray(status.warnings)) for (const w of status.warnings) info(style.yellow(`warning: ${String(w)}`));
  for (const p of problems) info(style.yellow(`warning: ${p}`));
}

interface RetentionStatus { retain_runs?: number; retain_days?: number; ended_runs_in_memory?: number; runs_archived?: number; runs_pruned?: number; archive_failing?: string }
interface SnapshotStatus { every_events?: number; every_s?: number; events_since_last?: number; last_seq?: number; last_taken_at?: string; log_budget_bytes?: number; problem?: string }

/**
 * What the history costs and how it is kept bounded: the retention policy (the issue's "shown in `arpd daemon
 * status`"), the snapshot policy and the last snapshot, the log's disk budget. Returns the problems to warn about.
 */
function historyLines(status: DaemonStatus, line: (k: string, v: unknown) => void): string[] {
  const problems: string[] = [];
  const r = status['retention'] as RetentionStatus | undefined;
  if (r !== undefined) {
    line('retention', `ended runs leave memory past ${String(r.retain_runs)} runs or ${String(r.retain_days)} days; ${String(r.ended_runs_in_memory ?? 0)} in memory, ${String(r.runs_archived ?? 0)} archived on disk, ${String(r.runs_pruned ?? 0)} pruned`);
    if (r.archive_failing !== undefined) problems.push(`ended runs cannot be archived: ${r.archive_failing}`);
  }
  const s = status['snapshots'] as SnapshotStatus | undefined;
  if (s !== undefined) {
    const last = s.last_seq === undefined ? 'none taken yet' : `last at seq ${String(s.last_seq)} (${String(s.last_taken_at)})`;
    line('snapshots', `every ${String(s.every_events)} events or ${String(s.every_s)}s; ${last}, ${String(s.events_since_last ?? 0)} events since`);
    if (s.log_budget_bytes !== undefined) line('log budget', `${String(s.log_budget_bytes)} bytes (past it, sealed segments a snapshot holds are compressed, then the oldest removed)`);
    if (s.problem !== undefined) problems.push(s.problem);
  }
  return problems;
}

interface ClusterNode { node_id: string; state: string; lease: string; host?: string; this_node?: boolean; instances?: Array<{ instance_id: string; state: string; runtime_profile?: string }>; runs_in_flight?: number }

/** With a shared store: this node, then every other node with its lease and instances. */
function clusterLines(cluster: unknown, line: (k: string, v: unknown) => void): void {
  if (typeof cluster !== 'object' || cluster === null) return;
  const c = cluster as { node_id?: string; nodes?: ClusterNode[] };
  line('node', c.node_id ?? '?');
  for (const n of c.nodes ?? []) {
    if (n.this_node === true) continue;
    const insts = (n.instances ?? []).map((i) => `${i.instance_id} ${i.state}${i.runtime_profile === undefined ? '' : ` (${i.runtime_profile})`}`);
    line('  other', `${n.node_id} ${n.state}, lease ${n.lease}${n.host === undefined ? '' : ` on ${n.host}`}, ${String(n.runs_in_flight ?? 0)} run(s) in flight${insts.length === 0 ? '' : `; instances: ${insts.join(', ')}`}`);
  }
}

async function notRunning(g: ResolvedGlobals): Promise<number> {
  const [{ readPidFile }, { isSameProcess }] = await Promise.all([import('../daemon/pid-file.js'), import('../system/process-identity.js')]);
  const pid = readPidFile(g.paths.pid);
  const stale = pid !== undefined && !isSameProcess(pid);
  if (g.json) printJson({ state: 'not running', data_dir: g.dataDir, socket: g.paths.socket, ...(stale ? { stale_pid_file: pid.pid } : {}) });
  else out(`arpd is not running for ${g.dataDir}${stale ? ` (stale pid file for pid ${pid.pid}; the next start cleans it up)` : ''}`);
  return EXIT.NOT_RUNNING;
}

/**
 * How long the status may take: 5 s (a wedged daemon is reported soon, not after the default 30 s), or what --timeout
 * says when it is given (a busy daemon's status, with the time the timeout message tells the user to allow).
 */
function statusLimitMs(g: ResolvedGlobals): number {
  return g.timeoutGiven === true ? g.timeoutMs : Math.min(g.timeoutMs, 5000);
}

/** With --daemon-url: the status over HTTP (`GET /v1/admin/status`). */
async function remoteStatus(g: ResolvedGlobals): Promise<DaemonStatus | undefined> {
  const { withArpd } = await import('./connection.js');
  try {
    return await withArpd(g, (arpd) => arpd.daemon.status({ timeoutMs: statusLimitMs(g) }));
  } catch (err) {
    if (err instanceof ArpdError && err.code === 'E_DAEMON_NOT_RUNNING') return undefined;
    throw err;
  }
}

export async function daemonStatusCommand(g: ResolvedGlobals): Promise<number> {
  if (g.daemonUrl !== undefined) {
    const status = await remoteStatus(g);
    if (status === undefined) {
      if (g.json) printJson({ state: 'not running', daemon_url: g.daemonUrl });
      else out(`no arpd daemon answers at ${g.daemonUrl}`);
      return EXIT.NOT_RUNNING;
    }
    if (g.json) printJson(status); else human(status);
    return 0;
  }
  const timeoutMs = statusLimitMs(g);
  let client: RpcClient | undefined;
  let status: DaemonStatus;
  try {
    client = await connect(g.paths.socket, { connectTimeoutMs: timeoutMs, timeoutMs, retries: 0, timeoutHint: CLI_TIMEOUT_HINT });
    status = await client.call<DaemonStatus>('daemon.status', {});
  } catch (err) {
    if (err instanceof ArpdError && err.code === 'E_DAEMON_NOT_RUNNING') return notRunning(g);
    throw err;
  } finally {
    void client?.close();
  }
  if (g.json) printJson(status);
  else human(status);
  return 0;
}
