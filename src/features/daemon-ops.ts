import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DaemonContext } from '../daemon/daemon-context.js';
import type { Health, HealthCheck, VersionInfo } from '../schemas/index.js';
import { packageRoot } from '../version.js';

const RANK = { ok: 0, degraded: 1, down: 2 } as const;

/** The git commit of a source checkout (`.git` beside package.json), if there is one. */
function gitCommit(root: string): string | undefined {
  const git = join(root, '.git');
  try {
    const head = readFileSync(join(git, 'HEAD'), 'utf8').trim();
    if (/^[0-9a-f]{40}$/.test(head)) return head;
    const ref = /^ref: (refs\/[A-Za-z0-9._/-]+)$/.exec(head)?.[1];
    if (ref === undefined || ref.includes('..')) return undefined;
    try {
      const sha = readFileSync(join(git, ref), 'utf8').trim();
      if (/^[0-9a-f]{40}$/.test(sha)) return sha;
    } catch { /* packed */ }
    for (const line of readFileSync(join(git, 'packed-refs'), 'utf8').split('\n')) {
      const [sha, name] = line.trim().split(' ');
      if (name === ref && sha !== undefined && /^[0-9a-f]{40}$/.test(sha)) return sha;
    }
  } catch { /* not a checkout */ }
  return undefined;
}

let build: NonNullable<VersionInfo['build']> | undefined;

function buildInfo(): NonNullable<VersionInfo['build']> {
  if (build !== undefined) return build;
  build = {};
  const commit = gitCommit(packageRoot());
  if (commit !== undefined) build.commit = commit;
  try {
    // when this file was compiled (npm packs files with a 1985 date: that is no build time)
    const m = statSync(fileURLToPath(import.meta.url)).mtime;
    if (m.getUTCFullYear() >= 2000) build.built_at = m.toISOString();
  } catch { /* unknown */ }
  return build;
}

/** The daemon's own health, version and status: what `GET /v1/health`, `/v1/version` and `daemon status` answer. */
export class DaemonOps {
  constructor(private readonly ctx: DaemonContext) {}

  health(): Health {
    const failed = this.ctx.log.failure;
    const checks: HealthCheck[] = [
      failed === undefined
        ? { name: 'event_log', status: 'ok', message: 'the event log is writable', details: { last_seq: this.ctx.log.head } }
        : { name: 'event_log', status: 'down', message: failed.message, details: { last_seq: this.ctx.log.head, arpd_code: failed.code } },
      this.ctx.stopping()
        ? { name: 'daemon', status: 'degraded', message: 'the daemon is shutting down' }
        : failed !== undefined
          ? { name: 'daemon', status: 'degraded', message: 'read-only: reads are served, changes are refused until the storage fault is fixed and arpd restarted' }
          : { name: 'daemon', status: 'ok', message: 'running' },
      { name: 'instances', status: 'ok', message: 'runtime instances by state', details: { ...countInstances(this.ctx) } },
    ];
    const worst = checks.reduce<HealthCheck['status']>((w, c) => (RANK[c.status] > RANK[w] ? c.status : w), 'ok');
    return { status: worst, time: this.ctx.now().toISOString(), checks };
  }

  version(): VersionInfo {
    const b = buildInfo();
    return {
      service_name: 'arpd',
      service_version: this.ctx.version,
      supported_api_versions: ['v1'],
      ...(Object.keys(b).length === 0 ? {} : { build: b }),
      extensions: { 'arpd.runtime': { node: process.version } },
    };
  }

  status(): Record<string, unknown> {
    return this.ctx.status();
  }
}

function countInstances(ctx: DaemonContext): Record<string, number> {
  const out: Record<string, number> = { starting: 0, ready: 0, busy: 0, stopping: 0, stopped: 0, error: 0 };
  for (const s of Object.keys(out)) out[s] = ctx.state.instanceIdsInState(s as never).size;
  return out;
}
