/**
 * A cap on each listener's open client connections. Anyone on the machine can open TCP connections to the HTTP
 * port (the token is checked per request, after the connection is made), and every connection holds a file
 * descriptor: without a cap, some thousands of idle connections take every descriptor the process may open, and then
 * the daemon can no longer open run logs, start runtimes, reach them, or even accept its owner's `arpd` commands on
 * the socket. With the cap, a flood costs at most `max` descriptors per listener: the listener that is full refuses
 * new connections (degraded), everything else goes on.
 *
 * - HTTP: Node's own `server.maxConnections` (the connection is closed before a byte is read; the client sees a reset).
 * - Socket: the connection is accepted, told why in one JSON-RPC error line (`id: null`, `E_UNAVAILABLE`), and ended.
 * Each refusal is counted (metrics) and logged at most once a minute, with how many were refused meanwhile.
 */
import { readFileSync } from 'node:fs';

/** Default cap per listener (`--max-connections`). */
export const DEFAULT_MAX_CONNECTIONS = 1024;

/** Descriptors the daemon keeps for its own work (logs, run logs, runtimes' pipes and connections) beyond the caps. */
export const OWN_DESCRIPTORS = 1024;

/** The open-file limit (soft) of this process, from /proc/self/limits; undefined when it cannot be read or is unlimited. */
export function openFileLimit(limitsText?: string): number | undefined {
  let text = limitsText;
  if (text === undefined) {
    try { text = readFileSync('/proc/self/limits', 'utf8'); } catch { return undefined; }
  }
  const m = /^Max open files\s+(\S+)/m.exec(text);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/**
 * A warning when the open-file limit leaves too few descriptors for `listeners` full listeners plus the daemon's
 * own work; undefined when it is enough (or unknown).
 */
export function descriptorWarning(limit: number | undefined, maxConnections: number, listeners: number): string | undefined {
  if (limit === undefined) return undefined;
  const needed = maxConnections * listeners + OWN_DESCRIPTORS;
  if (limit >= needed) return undefined;
  return `the open-file limit (${limit}) is below what ${listeners} full listener(s) of --max-connections ${maxConnections} and the daemon's own work need (${needed}): `
    + 'raise it (ulimit -n, or LimitNOFILE= in a systemd unit) or lower --max-connections, or a flood of connections can leave the daemon unable to open its files';
}

/** Counts refusals and reports them at most once per `everyMs` (the first at once), with the count since the last report. */
export function refusalReporter(report: (refused: number) => void, now: () => number = Date.now, everyMs = 60_000): () => void {
  let last = -Infinity;
  let pending = 0;
  return () => {
    pending++;
    const t = now();
    if (t - last < everyMs) return;
    last = t;
    const n = pending;
    pending = 0;
    report(n);
  };
}
