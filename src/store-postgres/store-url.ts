import { ArpdError } from '../errors/index.js';

/** What arpd says about a store URL in messages, logs and status: never the password. */
export interface StoreTarget {
  /** The URL with its password replaced by `***` (safe to show). */
  redacted: string;
  /** `user@host:port/database`, for messages. */
  label: string;
  user: string;
  host: string;
  port: number;
  database: string;
}

const SCHEMES = new Set(['postgres:', 'postgresql:']);
const EXAMPLE = 'postgres://user:password@host:5432/arpd';

/**
 * The URL with any password replaced by `***`: in the userinfo (`postgres://u:secret@h/db`) and in a
 * `password=` query parameter. Anything that does not parse as a URL keeps only its scheme and host
 * part after a best-effort cut of `user:password@`. Safe on any string.
 */
export function redactStoreUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return url.replace(/\/\/([^/@:]*):[^/@]*@/, '//$1:***@').replace(/(password=)[^&\s]*/gi, '$1***');
  }
  if (u.password !== '') u.password = '***';
  for (const key of [...u.searchParams.keys()]) {
    if (key.toLowerCase() === 'password') u.searchParams.set(key, '***');
  }
  return u.toString().replace('%2A%2A%2A', '***');
}

/** Checks a `--store` URL and describes it without its password. Throws E_VALIDATION. */
export function parseStoreUrl(url: string): StoreTarget {
  if (typeof url !== 'string' || url.trim() === '') {
    throw new ArpdError('E_VALIDATION', `the store URL is empty: give --store (or ARPD_STORE_URL) a PostgreSQL URL like ${EXAMPLE}`);
  }
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ArpdError('E_VALIDATION', `the store URL '${redactStoreUrl(url)}' is not a URL: give a PostgreSQL URL like ${EXAMPLE} (percent-encode special characters in the password)`, { store: redactStoreUrl(url) });
  }
  if (!SCHEMES.has(u.protocol)) {
    throw new ArpdError('E_VALIDATION', `the store URL '${redactStoreUrl(url)}' is not a PostgreSQL URL (scheme '${u.protocol.replace(/:$/, '')}'): give one like ${EXAMPLE}`, { store: redactStoreUrl(url) });
  }
  const socketHost = u.searchParams.get('host');
  // as node-postgres reads it: a `host=` query parameter (a Unix socket's directory) wins over the URL's host
  const host = socketHost !== null && socketHost !== '' ? socketHost : u.hostname !== '' ? u.hostname.replace(/^\[(.*)\]$/, '$1') : 'localhost';
  const port = u.port === '' ? 5432 : Number(u.port);
  let user: string;
  let database: string;
  try {
    user = decodeURIComponent(u.username) || process.env.PGUSER || 'postgres';
    database = decodeURIComponent(u.pathname.replace(/^\//, '')) || user;
  } catch {
    throw new ArpdError('E_VALIDATION', `the store URL '${redactStoreUrl(url)}' has a bad percent-encoding in its user or database name: fix it (e.g. %40 for @)`, { store: redactStoreUrl(url) });
  }
  if (u.password !== '') {
    try {
      decodeURIComponent(u.password);
    } catch {
      throw new ArpdError('E_VALIDATION', `the password in the store URL '${redactStoreUrl(url)}' has a bad percent-encoding: encode special characters (e.g. %40 for @, %25 for %)`, { store: redactStoreUrl(url) });
    }
  }
  return { redacted: redactStoreUrl(url), label: `${user}@${host}:${port}/${database}`, user, host, port, database };
}
