import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * Turning a prepared launch into the exact argv: `{host}` and `{port}` placeholders (inside any
 * argument), and the whole-argument placeholders `{node}` (this node binary and its flags) and
 * `{arpd_runtime}` (the bundled reference runtime's entry script).
 */

/** The bundled reference runtime's entry: dist/src/runtime/main.js (or main.ts when run from source). */
export function referenceRuntimeEntry(): string {
  const js = fileURLToPath(new URL('../runtime/main.js', import.meta.url));
  if (existsSync(js)) return js;
  return fileURLToPath(new URL('../runtime/main.ts', import.meta.url));
}

function nodeArgv(): string[] {
  // keep loader flags (e.g. a TypeScript loader in development), drop debugger and eval flags
  const flags = process.execArgv.filter((a) => !a.startsWith('--inspect') && !a.startsWith('--eval') && a !== '-e');
  return [process.execPath, ...flags];
}

export function needsPort(argv: readonly string[]): boolean {
  return argv.some((a) => a.includes('{port}'));
}

export function resolveArgv(argv: readonly string[], vars: { host: string; port?: number }): string[] {
  const out: string[] = [];
  for (const a of argv) {
    if (a === '{node}') { out.push(...nodeArgv()); continue; }
    if (a === '{arpd_runtime}') { out.push(referenceRuntimeEntry()); continue; }
    out.push(a.replaceAll('{host}', vars.host).replaceAll('{port}', vars.port === undefined ? '0' : String(vars.port)));
  }
  return out;
}

/** A free port on the host, for runtimes that cannot report the port they bound themselves. */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Finds the runtime's "listening" line in its stdout: a JSON line with a `url`, or text naming an http URL after "listening". */
export function findListeningUrl(stdout: string): string | undefined {
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (t === '') continue;
    if (t.startsWith('{')) {
      try {
        const j = JSON.parse(t) as { url?: unknown; event?: unknown };
        if (typeof j.url === 'string' && /^https?:\/\//.test(j.url)) return j.url.replace(/\/+$/, '');
      } catch { /* not JSON */ }
      continue;
    }
    const m = /listening[^\n]*?(https?:\/\/[^\s"'<>]+)/i.exec(t);
    if (m?.[1] !== undefined) return m[1].replace(/\/+$/, '');
  }
  return undefined;
}
