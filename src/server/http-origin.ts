/**
 * Who may talk to the HTTP API from where. A browser page on any site can send requests to
 * 127.0.0.1, and a DNS-rebinding page can make them same-origin: so every request's `Host` must be
 * an address the API serves (or one allowed with `--allowed-hosts`), in every auth mode, and a
 * request that changes state with an `Origin` (or `Sec-Fetch-Site: cross-site`) from elsewhere is
 * refused. Tools (curl, SDKs) send no Origin and are not affected.
 */
import type { FastifyRequest } from 'fastify';
import { ArpdError } from '../errors/index.js';

export interface HostPolicy {
  /** `host:port` values accepted in the Host header (lower case). */
  hosts: ReadonlySet<string>;
  /** Origins accepted for state-changing requests (scheme://host:port, lower case). */
  origins: ReadonlySet<string>;
}

/** The Host values a server on `host:port` answers to: itself, and the loopback names when it is on loopback. */
export function hostPolicy(host: string, port: number, allowed: readonly string[] = []): HostPolicy {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const names = new Set<string>();
  const loopback = h === '127.0.0.1' || h === 'localhost' || h === '::1' || h.startsWith('127.');
  const wildcard = h === '0.0.0.0' || h === '::';
  if (loopback || wildcard) for (const n of ['127.0.0.1', 'localhost', '[::1]']) names.add(n);
  if (!wildcard) names.add(h.includes(':') ? `[${h}]` : h);
  const hosts = new Set<string>();
  const origins = new Set<string>();
  for (const n of names) {
    hosts.add(`${n}:${port}`);
    origins.add(`http://${n}:${port}`);
  }
  for (const a of allowed) {
    const v = a.trim().toLowerCase();
    if (v === '') continue;
    const withPort = v.includes(':') && !v.endsWith(']') ? v : `${v}:${port}`;
    hosts.add(withPort);
    origins.add(`http://${withPort}`);
    origins.add(`https://${withPort}`);
  }
  return { hosts, origins };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function checkHostAndOrigin(req: FastifyRequest, policy: HostPolicy): void {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!policy.hosts.has(host)) {
    const use = [...policy.hosts][0] ?? 'its address';
    if (host.trim() === '') {
      // no name to show or to allow: say what is missing (an HTTP/1.0 request may send no Host at all)
      throw new ArpdError('E_FORBIDDEN', `the Host header is empty or missing: send Host: ${use} (the address and port you connect to)`, { reason: 'host', host });
    }
    const shown = host.slice(0, 100);
    // the name without its port ([v6]:port keeps its brackets), as --allowed-hosts takes it
    const name = (/^(\[[^\]]*\]|[^:]*)/.exec(shown)?.[1] ?? shown) || shown;
    throw new ArpdError('E_FORBIDDEN', `Host '${shown}' is not an address of this daemon: use ${use} (or start it with --allowed-hosts ${name} if a proxy forwards that name)`, { reason: 'host', host: shown });
  }
  if (SAFE_METHODS.has(req.method)) return;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null' && !policy.origins.has(origin.toLowerCase())) {
    throw new ArpdError('E_FORBIDDEN', `cross-origin requests that change state are refused (Origin '${origin.slice(0, 100)}'): call the API from a tool, or from the dashboard at /ui`, { reason: 'origin' });
  }
  if (origin === 'null' || req.headers['sec-fetch-site'] === 'cross-site') {
    throw new ArpdError('E_FORBIDDEN', 'cross-site requests that change state are refused: call the API from a tool, or from the dashboard at /ui', { reason: 'origin' });
  }
}
