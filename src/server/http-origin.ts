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
  /** Names (`--allowed-hosts` without a port) accepted on any port or none, in the Host and in an Origin. */
  names?: ReadonlySet<string>;
}

/** A Host value (or an origin's host) as name and port: `[v6]` keeps its brackets; no port: undefined. */
function splitHost(host: string): { name: string; port: string | undefined } {
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d*))?$/.exec(host);
  return m === null ? { name: host, port: undefined } : { name: m[1] ?? host, port: m[2] };
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
  // a name a proxy forwards: without a port, on any port or none (a proxy on 443 sends `Host: name`); with one, that
  // port, and no port when it is the scheme's default one (80, 443), which clients leave out
  const allowedNames = new Set<string>();
  for (const a of allowed) {
    const v = a.trim().toLowerCase();
    if (v === '') continue;
    const { name, port: given } = splitHost(v);
    if (given === undefined || given === '') {
      allowedNames.add(name);
      continue;
    }
    hosts.add(v);
    origins.add(`http://${v}`);
    origins.add(`https://${v}`);
    if (given === '80') { hosts.add(name); origins.add(`http://${name}`); }
    if (given === '443') { hosts.add(name); origins.add(`https://${name}`); }
  }
  return { hosts, origins, names: allowedNames };
}

/** An allowed name (`HostPolicy.names`) is this Host's or this origin's (http or https). */
function namedHost(policy: HostPolicy, host: string): boolean {
  return policy.names !== undefined && policy.names.size > 0 && policy.names.has(splitHost(host).name);
}

function namedOrigin(policy: HostPolicy, origin: string): boolean {
  const m = /^https?:\/\/(.*)$/.exec(origin);
  return m !== null && namedHost(policy, m[1] ?? '');
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function checkHostAndOrigin(req: FastifyRequest, policy: HostPolicy): void {
  const host = (req.headers.host ?? '').toLowerCase();
  if (!policy.hosts.has(host) && !namedHost(policy, host)) {
    const use = [...policy.hosts][0] ?? 'its address';
    if (host.trim() === '') {
      // no name to show or to allow: say what is missing (an HTTP/1.0 request may send no Host at all)
      throw new ArpdError('E_FORBIDDEN', `the Host header is empty or missing: send Host: ${use} (the address and port you connect to)`, { reason: 'host', host });
    }
    const shown = host.slice(0, 100);
    // the name without its port ([v6]:port keeps its brackets), as --allowed-hosts takes it (then on any port)
    const name = (/^(\[[^\]]*\]|[^:]*)/.exec(shown)?.[1] ?? shown) || shown;
    throw new ArpdError('E_FORBIDDEN', `Host '${shown}' is not an address of this daemon: use ${use} (or start it with --allowed-hosts ${name} if a proxy forwards that name)`, { reason: 'host', host: shown });
  }
  if (SAFE_METHODS.has(req.method)) return;
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null' && !policy.origins.has(origin.toLowerCase()) && !namedOrigin(policy, origin.toLowerCase())) {
    throw new ArpdError('E_FORBIDDEN', `cross-origin requests that change state are refused (Origin '${origin.slice(0, 100)}'): call the API from a tool, or from the dashboard at /ui`, { reason: 'origin' });
  }
  if (origin === 'null' || req.headers['sec-fetch-site'] === 'cross-site') {
    throw new ArpdError('E_FORBIDDEN', 'cross-site requests that change state are refused: call the API from a tool, or from the dashboard at /ui', { reason: 'origin' });
  }
}
