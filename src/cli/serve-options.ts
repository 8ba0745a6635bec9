import { ArpdError } from '../errors/index.js';
import type { DaemonOptions } from '../daemon/daemon-options.js';

/**
 * The daemon's own flags (`arpd serve`, `arpd daemon start|restart`): how they are declared for cac,
 * turned into DaemonOptions, and passed on to a detached `arpd serve`.
 */

type Opts = Record<string, unknown>;

export interface FlagSpec { flag: string; key: string; description: string; kind: 'bool' | 'value' | 'list' }

export const DAEMON_FLAGS: FlagSpec[] = [
  { flag: '--idle-timeout <seconds>', key: 'idleTimeout', kind: 'value', description: 'Exit after this long with no client and no work (ephemeral mode)' },
  { flag: '--repair', key: 'repair', kind: 'bool', description: 'Cut a damaged log at the first bad line (the file is copied aside first)' },
  { flag: '--keep-instances', key: 'keepInstances', kind: 'bool', description: 'Leave managed instances running at shutdown (adopted at the next start)' },
  { flag: '--allow-unsafe-runtime-profiles', key: 'allowUnsafeRuntimeProfiles', kind: 'bool', description: 'Let instances start from profiles that are not on the safe list (they run the reference runtime)' },
  { flag: '--queue-timeout <ms>', key: 'queueTimeout', kind: 'value', description: 'How long a run waits for a ready instance (default 30000)' },
  { flag: '--no-autostart-instances', key: 'autostartInstances', kind: 'bool', description: 'Never start an instance by itself for a queued run' },
  { flag: '--health-timeout <ms>', key: 'healthTimeout', kind: 'value', description: 'How long a new instance may take to become healthy (default: the profile, 30000)' },
  { flag: '--health-interval <ms>', key: 'healthInterval', kind: 'value', description: 'How often ready instances are health-checked (default 5000)' },
  { flag: '--pip-index-url <url>', key: 'pipIndexUrl', kind: 'value', description: 'pip driver: the package index' },
  { flag: '--pip-extra-index-url <url>', key: 'pipExtraIndexUrl', kind: 'list', description: 'pip driver: an extra index (repeatable)' },
  { flag: '--pip-trusted-host <host>', key: 'pipTrustedHost', kind: 'list', description: 'pip driver: a trusted host (repeatable)' },
  { flag: '--pip-no-index', key: 'pipNoIndex', kind: 'bool', description: 'pip driver: install from local paths only' },
  { flag: '--pip-upgrade-pip', key: 'pipUpgradePip', kind: 'bool', description: 'pip driver: upgrade pip in each new venv first' },
  { flag: '--max-line-bytes <n>', key: 'maxLineBytes', kind: 'value', description: 'Largest request line on the socket (default 1048576)' },
  { flag: '--http-host <host>', key: 'httpHost', kind: 'value', description: 'HTTP API host (default 127.0.0.1)' },
  { flag: '--http-port <port>', key: 'httpPort', kind: 'value', description: 'HTTP API port (default 8082; 0 picks a free one)' },
  { flag: '--no-http', key: 'http', kind: 'bool', description: 'Do not serve the HTTP API' },
  { flag: '--http-auth <mode>', key: 'httpAuth', kind: 'value', description: 'token (default), jwt, or none (loopback only)' },
  { flag: '--jwt-issuer <iss>', key: 'jwtIssuer', kind: 'value', description: 'jwt auth: the expected issuer' },
  { flag: '--jwt-audience <aud>', key: 'jwtAudience', kind: 'value', description: 'jwt auth: the expected audience' },
  { flag: '--jwt-jwks-file <file>', key: 'jwtJwksFile', kind: 'value', description: 'jwt auth: a JWKS file of public keys' },
  { flag: '--jwt-secret-file <file>', key: 'jwtSecretFile', kind: 'value', description: 'jwt auth: a file holding an HMAC secret' },
];

function list(v: unknown): string[] | undefined {
  if (v === undefined) return undefined;
  return (Array.isArray(v) ? v : [v]).map(String);
}

function num(v: unknown, flag: string, min: number, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min || n > max) throw new ArpdError('E_VALIDATION', `${flag} takes a number from ${min} to ${max}, not '${String(v)}'`, { field: flag, usage: true });
  return n;
}

/** The flags as given, to pass on to a detached `arpd serve`. */
export function serveArgsOf(o: Opts): string[] {
  const out: string[] = [];
  for (const f of DAEMON_FLAGS) {
    const v = o[f.key];
    const name = f.flag.split(' ')[0] as string;
    if (f.kind === 'bool') {
      if (name.startsWith('--no-')) { if (v === false) out.push(name); } else if (v === true) out.push(name);
    } else if (f.kind === 'list') {
      for (const item of list(v) ?? []) out.push(name, item);
    } else if (v !== undefined) {
      out.push(name, String(v));
    }
  }
  return out;
}

export function daemonOptionsOf(o: Opts, base: { dataDir: string; socketPath: string; foreground: boolean }): DaemonOptions {
  const idle = num(o['idleTimeout'], '--idle-timeout', 0.001, 10_000_000);
  const testIgnore = process.env['ARPD_TEST_IGNORE_SHUTDOWN'];
  const pip = {
    ...(o['pipIndexUrl'] === undefined ? {} : { indexUrl: String(o['pipIndexUrl']) }),
    ...(o['pipExtraIndexUrl'] === undefined ? {} : { extraIndexUrls: list(o['pipExtraIndexUrl']) }),
    ...(o['pipTrustedHost'] === undefined ? {} : { trustedHosts: list(o['pipTrustedHost']) }),
    ...(o['pipNoIndex'] === true ? { noIndex: true } : {}),
    ...(o['pipUpgradePip'] === true ? { upgradePip: true } : {}),
  };
  const healthTimeoutMs = num(o['healthTimeout'], '--health-timeout', 100, 3_600_000);
  const healthIntervalMs = num(o['healthInterval'], '--health-interval', 50, 3_600_000);
  const queueTimeoutMs = num(o['queueTimeout'], '--queue-timeout', 0, 86_400_000);
  const maxLineBytes = num(o['maxLineBytes'], '--max-line-bytes', 1024, 64 * 1024 * 1024);
  const http = o['http'] === false ? false : {
    host: o['httpHost'] === undefined ? '127.0.0.1' : String(o['httpHost']),
    ...(o['httpPort'] === undefined ? {} : { port: num(o['httpPort'], '--http-port', 0, 65535) }),
    auth: o['httpAuth'] === undefined ? 'token' : String(o['httpAuth']),
    ...(o['jwtIssuer'] === undefined ? {} : { jwtIssuer: String(o['jwtIssuer']) }),
    ...(o['jwtAudience'] === undefined ? {} : { jwtAudience: String(o['jwtAudience']) }),
    ...(o['jwtJwksFile'] === undefined ? {} : { jwtJwksFile: String(o['jwtJwksFile']) }),
    ...(o['jwtSecretFile'] === undefined ? {} : { jwtSecretFile: String(o['jwtSecretFile']) }),
  };
  return {
    dataDir: base.dataDir,
    socketPath: base.socketPath,
    foreground: base.foreground,
    idleTimeoutS: idle,
    repair: o['repair'] === true,
    keepInstances: o['keepInstances'] === true,
    ...(maxLineBytes === undefined ? {} : { maxLineBytes }),
    ...(testIgnore === 'rpc' || testIgnore === 'rpc+term' ? { testIgnoreShutdown: testIgnore } : {}),
    extra: {
      instances: {
        allowUnsafe: o['allowUnsafeRuntimeProfiles'] === true,
        ...(healthTimeoutMs === undefined ? {} : { healthTimeoutMs }),
        ...(healthIntervalMs === undefined ? {} : { healthIntervalMs }),
        ...(Object.keys(pip).length === 0 ? {} : { pip }),
      },
      runs: {
        autostartInstances: o['autostartInstances'] !== false,
        ...(queueTimeoutMs === undefined ? {} : { queueTimeoutMs }),
      },
      http,
    },
  };
}
