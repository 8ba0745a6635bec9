import { dataPaths, resolveDataDir, type DataPaths } from '../config/data-dir.js';
import { ArpdError } from '../errors/index.js';
import { numberOf } from './argv-check.js';

/**
 * The options every command takes, as cac declares them (`bin/arpd.ts` declares exactly these): the one list, so that
 * whatever else must know them (a restart leaves them out of the daemon's command line: `daemon-control.ts`) cannot
 * miss a new one.
 */
export const GLOBAL_OPTIONS: ReadonlyArray<{ readonly flag: string; readonly description: string }> = [
  { flag: '--data-dir <dir>', description: 'Data directory (default: $ARPD_HOME or ~/.arpd)' },
  { flag: '--socket <path>', description: 'Socket path (default: <data-dir>/arpd.sock)' },
  { flag: '--no-autostart', description: 'Do not start the daemon when none is running (also ARPD_NO_AUTOSTART=1)' },
  { flag: '--json', description: 'Print JSON' },
  { flag: '--timeout <seconds>', description: 'Time limit for talking to the daemon (default 30)' },
  { flag: '--daemon-url <url>', description: 'Talk to the daemon at this HTTP URL instead of the local socket (also ARP_DAEMON_URL, JARVIS_DAEMON_URL)' },
  { flag: '--token <token>', description: 'Bearer token for --daemon-url (also ARPD_TOKEN; default: <data-dir>/http.token)' },
];

/** How a time-limit error (E_TIMEOUT) of the client tells a CLI user to allow more time (the SDK names its option). */
export const CLI_TIMEOUT_HINT = '--timeout <seconds>';

/** The values of the options every command takes. */
export interface GlobalOptions {
  dataDir?: string | string[];
  socket?: string | string[];
  autostart?: boolean;
  json?: boolean;
  timeout?: number | string | string[];
  /** Talk to this daemon over HTTP instead of the local socket (also ARP_DAEMON_URL, JARVIS_DAEMON_URL). */
  daemonUrl?: string | string[];
  /** Bearer token for --daemon-url (also ARPD_TOKEN; default: the data dir's http.token). */
  token?: string | string[];
}

export interface ResolvedGlobals {
  dataDir: string;
  paths: DataPaths;
  autostart: boolean;
  json: boolean;
  timeoutMs: number;
  /** --timeout was given (a command with a shorter limit of its own, such as `daemon status`, then takes it). */
  timeoutGiven?: boolean;
  /** Client mode: the daemon's HTTP URL (no socket, no auto-start). */
  daemonUrl?: string | undefined;
  /** Client mode: the token given with --token or ARPD_TOKEN (else the data dir's http.token is read). */
  token?: string | undefined;
}

/** A string option's value; given twice, the last one counts. */
function nonEmpty(v: unknown): string | undefined {
  const last: unknown = Array.isArray(v) ? v[v.length - 1] : v;
  return typeof last === 'string' && last.trim() !== '' ? last.trim() : undefined;
}

export function resolveGlobals(o: GlobalOptions, env: NodeJS.ProcessEnv = process.env): ResolvedGlobals {
  const dataDir = resolveDataDir(nonEmpty(o.dataDir), env);
  const envNoAuto = env['ARPD_NO_AUTOSTART'];
  const autostart = o.autostart !== false && !(envNoAuto !== undefined && envNoAuto !== '' && envNoAuto !== '0');
  const given: unknown = Array.isArray(o.timeout) ? o.timeout[o.timeout.length - 1] : o.timeout;
  const t = given === undefined ? 30 : numberOf(String(given));
  if (!Number.isFinite(t) || t <= 0 || t > 86_400) {
    throw new ArpdError('E_VALIDATION', `--timeout takes a number of seconds above 0 (at most 86400), not '${String(given)}'`, { field: '--timeout', usage: true });
  }
  const daemonUrl = nonEmpty(o.daemonUrl) ?? nonEmpty(env['ARP_DAEMON_URL']) ?? nonEmpty(env['JARVIS_DAEMON_URL']);
  const token = nonEmpty(o.token) ?? nonEmpty(env['ARPD_TOKEN']);
  return {
    dataDir,
    paths: dataPaths(dataDir, nonEmpty(o.socket)),
    autostart,
    json: o.json === true,
    timeoutMs: Math.round(t * 1000),
    ...(given === undefined ? {} : { timeoutGiven: true }),
    ...(daemonUrl === undefined ? {} : { daemonUrl }),
    ...(token === undefined ? {} : { token }),
  };
}
