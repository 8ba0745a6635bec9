import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ArpdError } from '../errors/index.js';
import { isSocket, probeStatus, runningServeArgs, startDetached, stopDaemon, withSecretVariables } from './daemon-control.js';
import type { ResolvedGlobals } from './global-options.js';
import { info, out, printJson, style, writeStdout } from './output.js';

/** `arpd daemon start|stop|restart|logs|purge|exec` (`status` is in daemon-status.ts, kept small). */

export async function daemonStartCommand(g: ResolvedGlobals, serveArgs: string[]): Promise<number> {
  const r = await startDetached({ paths: g.paths, timeoutMs: g.timeoutMs, serveArgs });
  if (r.alreadyRunning && serveArgs.length > 0) {
    // the running daemon keeps its flags: say so when the ones given differ (not when a concurrent start with the
    // same flags lost the race to it)
    const running = runningServeArgs(g.paths);
    // ARPD_STORE_URL (and OTEL_EXPORTER_OTLP_ENDPOINT) are flags of the running daemon (runningServeArgs) as much as
    // --store (and --otlp-endpoint) are: those of this shell are compared the same way
    const given = withSecretVariables(serveArgs, (name) => process.env[name]);
    if (running !== undefined && !sameArgs(running, given)) {
      // flag names only: a value may hold a secret (a --store URL's password)
      const names = [...new Set(running.filter((a) => a.startsWith('-')).map((a) => a.split('=')[0]))];
      info(`the running daemon was started with other flags (${names.length === 0 ? 'none' : names.join(' ')}); those given were not applied: to apply them, run 'arpd daemon restart' with them`);
    }
  }
  if (g.json) {
    printJson({ already_running: r.alreadyRunning, ...r.status });
    return 0;
  }
  if (r.alreadyRunning) out(`arpd is already running (pid ${String(r.status['pid'])})`);
  else out(`arpd started`);
  out(`${style.bold('pid'.padEnd(10))} ${String(r.status['pid'])}`);
  out(`${style.bold('data dir'.padEnd(10))} ${String(r.status['data_dir'])}`);
  out(`${style.bold('socket'.padEnd(10))} ${String(r.status['socket'])}`);
  if (r.status['http_url'] !== undefined) out(`${style.bold('http'.padEnd(10))} ${String(r.status['http_url'])}`);
  return 0;
}

/** The same flags with the same values, in any order of the flags. */
function sameArgs(a: readonly string[], b: readonly string[]): boolean {
  const groups = (args: readonly string[]): string => {
    const out: string[] = [];
    for (const x of args) {
      if (x.startsWith('-') || out.length === 0) out.push(x);
      else out[out.length - 1] += `\0${x}`;
    }
    return out.sort().join('\n');
  };
  return groups(a) === groups(b);
}

export async function daemonStopCommand(g: ResolvedGlobals, keepInstances: boolean): Promise<number> {
  const r = await stopDaemon(g.paths, { keepInstances, termMs: 5000, graceMs: Math.max(g.timeoutMs, 5000) });
  if (g.json) printJson(r);
  else if (!r.wasRunning) out(`arpd is not running for ${g.dataDir}`);
  else out(`arpd stopped (pid ${String(r.pid ?? '?')}${r.how === 'request' ? '' : `, after ${r.how}`})`);
  return 0;
}

/**
 * Stops the daemon and starts it again with the flags it was started with (as `pg_ctl restart` does), unless the
 * restart is given daemon flags of its own: then with those. `--keep-instances` is about this restart, not a new set.
 */
export async function daemonRestartCommand(g: ResolvedGlobals, keepInstances: boolean, serveArgs: string[]): Promise<number> {
  let args = serveArgs;
  if (serveArgs.every((a) => a === '--keep-instances')) {
    const before = runningServeArgs(g.paths);
    if (before !== undefined) {
      args = [...before, ...serveArgs.filter((a) => !before.includes(a))];
      const names = before.filter((a) => a.startsWith('-')).map((a) => a.split('=')[0]);
      if (names.length > 0) info(`restarting with the flags it was started with: ${[...new Set(names)].join(' ')}`);
    }
  }
  await stopDaemon(g.paths, { keepInstances, graceMs: Math.max(g.timeoutMs, 5000) });
  return daemonStartCommand(g, args);
}

/** `flag`: the lines option as typed (`-n` or `--lines`), to name it so in a refusal. */
export async function daemonLogsCommand(g: ResolvedGlobals, follow: boolean, lines: number, flag = '-n'): Promise<number> {
  if (!Number.isSafeInteger(lines) || lines < 0) {
    throw new ArpdError('E_VALIDATION', `${flag} takes a whole number of lines (0 or more), not '${String(lines)}'`, { field: 'lines', usage: true });
  }
  const path = g.paths.daemonLog;
  if (!existsSync(path)) {
    if (!follow) throw new ArpdError('E_NOT_FOUND', `no daemon log yet at ${path}: the daemon of ${g.dataDir} has never run`, { path });
    info(`no daemon log yet at ${path}: waiting for one (Ctrl-C to stop)`);
    while (!existsSync(path)) await new Promise((r) => setTimeout(r, 250));
  }
  const text = readFileSync(path, 'utf8');
  const all = text.split('\n').filter((l) => l !== '');
  for (const l of lines === 0 ? [] : all.slice(-lines)) out(l);
  if (!follow) return 0;
  let offset = Buffer.byteLength(text);
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    let size: number;
    try { size = statSync(path).size; } catch { continue; }
    if (size < offset) offset = 0; // rotated
    if (size === offset) continue;
    const buf = readFileSync(path).subarray(offset, size);
    const lastNl = buf.lastIndexOf(0x0a);
    if (lastNl === -1) continue;
    writeStdout(buf.subarray(0, lastNl + 1));
    offset += lastNl + 1;
  }
}

/** What purge would delete: everything in the data dir. */
function purgeList(root: string): string[] {
  if (!existsSync(root)) return [];
  return readdirSync(root).map((n) => join(root, n));
}

export async function daemonPurgeCommand(g: ResolvedGlobals, force: boolean): Promise<number> {
  const list = purgeList(g.dataDir);
  if (!force) {
    if (g.json) printJson({ would_delete: list, data_dir: g.dataDir });
    else {
      out(`arpd daemon purge would stop the daemon and delete ALL state of ${g.dataDir}:`);
      for (const p of list) out(`  ${p}`);
    }
    throw new ArpdError('E_VALIDATION', 'nothing was deleted: run again with --force to stop the daemon and delete it all', { usage: true, data_dir: g.dataDir });
  }
  await stopDaemon(g.paths, { graceMs: Math.max(g.timeoutMs, 5000) });
  const still = await probeStatus(g.paths.socket, 1000);
  if (still !== undefined) throw new ArpdError('E_CONFLICT', `the daemon (pid ${String(still['pid'])}) is still running: nothing was deleted`);
  for (const p of list) rmSync(p, { recursive: true, force: true });
  if (isSocket(g.paths.socket)) rmSync(g.paths.socket, { force: true });
  if (g.json) printJson({ deleted: list, data_dir: g.dataDir });
  else out(`purged ${list.length} entries of ${g.dataDir}`);
  return 0;
}

export async function daemonExecCommand(g: ResolvedGlobals, method: string, paramsJson: string | undefined): Promise<number> {
  let params: unknown;
  if (paramsJson !== undefined) {
    try {
      params = JSON.parse(paramsJson);
    } catch (err) {
      throw new ArpdError('E_VALIDATION', `params must be JSON (e.g. '{"limit": 10}'): ${(err as Error).message}`, { field: 'params', usage: true });
    }
    if (params === null || typeof params !== 'object' || Array.isArray(params)) {
      throw new ArpdError('E_VALIDATION', `params must be a JSON object of named fields (e.g. '{"limit": 10}'), not ${paramsJson.slice(0, 40)}`, { field: 'params', usage: true });
    }
  }
  const { openTransport } = await import('./connection.js');
  const transport = await openTransport(g);
  try {
    printJson(await transport.call(method, (params ?? {}) as Record<string, unknown>));
    return 0;
  } finally {
    await transport.close();
  }
}
