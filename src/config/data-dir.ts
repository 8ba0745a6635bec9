import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkId } from '../ids/id-rules.js';

/** Where arpd keeps its state: `--data-dir`, else `ARPD_HOME`, else `~/.arpd`. */
export function resolveDataDir(explicit?: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (explicit !== undefined && explicit !== '') return resolve(explicit);
  const fromEnv = env['ARPD_HOME'];
  if (fromEnv !== undefined && fromEnv !== '') return resolve(fromEnv);
  return join(homedir(), '.arpd');
}

/** The fixed names inside a data dir (other tools depend on them). */
export interface DataPaths {
  root: string;
  events: string;
  lock: string;
  runs: string;
  socket: string;
  pid: string;
  logs: string;
  daemonLog: string;
  instances: string;
  httpUrl: string;
  httpToken: string;
  /** The HTTP admin token: needed to change the safe list over HTTP (kept apart from the run token). */
  httpAdminToken: string;
  /** Where runtimes write traces of their own (JARVIS_TRACE_DIR, ARP_TRACE_DIR): never arpd's `runs/`. */
  runtimeTraces: string;
  /** Snapshots of the projections. */
  snapshots: string;
}

export function dataPaths(root: string, socketOverride?: string): DataPaths {
  return {
    root,
    events: join(root, 'events.jsonl'),
    lock: join(root, 'arpd.lock'),
    runs: join(root, 'runs'),
    socket: socketOverride !== undefined && socketOverride !== '' ? resolve(socketOverride) : join(root, 'arpd.sock'),
    pid: join(root, 'arpd.pid'),
    logs: join(root, 'logs'),
    daemonLog: join(root, 'logs', 'daemon.log'),
    instances: join(root, 'instances'),
    httpUrl: join(root, 'http.url'),
    httpToken: join(root, 'http.token'),
    httpAdminToken: join(root, 'http.admin-token'),
    runtimeTraces: join(root, 'runtime-traces'),
    snapshots: join(root, 'snapshots'),
  };
}

export function instanceDir(paths: DataPaths, instanceId: string): string {
  return join(paths.instances, checkId('instance id', instanceId));
}
