import { spawn } from 'node:child_process';
import { ArpdError } from '../errors/index.js';
import { withArpd } from './connection.js';
import type { ResolvedGlobals } from './global-options.js';
import { info, out, printJson } from './output.js';

/**
 * `arpd ui`: opens the daemon's web UI (`<http url>/ui`, the URL it also keeps in `<data-dir>/http.url`) in the user's browser with `xdg-open` (`open` on
 * macOS), spawned without a shell. The URL is printed when no browser could be opened, and always with
 * --json or when stdout is not a terminal (a script or a remote shell wants the URL, not a browser).
 */

/** How long the opener may take to say it failed; one still running then is taken to have opened it. */
const OPENER_GRACE_MS = 3000;

/** Runs the platform's opener on `url`; resolves whether it (probably) opened it. */
function openInBrowser(url: string): Promise<boolean> {
  const opener = process.platform === 'darwin' ? 'open' : 'xdg-open';
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean): void => { if (!settled) { settled = true; clearTimeout(timer); resolve(ok); } };
    const child = spawn(opener, [url], { stdio: 'ignore', detached: true, shell: false });
    const timer = setTimeout(() => { child.unref(); done(true); }, OPENER_GRACE_MS);
    child.once('error', () => done(false));
    child.once('exit', (code) => done(code === 0));
  });
}

export async function uiCommand(g: ResolvedGlobals): Promise<number> {
  // the daemon's own word for its URL (what it wrote to <data-dir>/http.url; started if need be, unless --no-autostart)
  const base = g.daemonUrl ?? (await withArpd(g, (arpd) => arpd.daemon.status())).http_url;
  if (base === undefined) {
    throw new ArpdError('E_UNAVAILABLE', `the daemon of ${g.dataDir} serves no HTTP API (it was started with --no-http), so it has no web UI: restart it with HTTP on ('arpd daemon restart')`, { data_dir: g.dataDir });
  }
  const url = `${base.replace(/\/+$/, '')}/ui`;
  const opened = await openInBrowser(url);
  if (g.json) printJson({ url, opened });
  else if (!opened || process.stdout.isTTY !== true) out(url);
  if (!opened && !g.json) info('arpd: no browser could be opened: open the URL above yourself');
  else if (opened && process.stdout.isTTY === true && !g.json) info(`arpd: opened ${url}`);
  return 0;
}
