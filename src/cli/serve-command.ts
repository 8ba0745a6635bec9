import { toArpdError } from '../errors/index.js';
import { Daemon, EXIT_FATAL, EXIT_LOCKED } from '../daemon/daemon.js';
import type { DaemonOptions } from '../config/daemon-options.js';
import { VERSION } from '../version.js';
import { info, reportError, style } from './output.js';
import { storePasswordInArgv } from './serve-options.js';

/**
 * `arpd serve`: runs the daemon in this process until it is asked to stop (socket, SIGTERM, SIGINT;
 * a second SIGINT exits at once). Uncaught exceptions and unhandled rejections are logged before
 * exit: a daemon never dies silently.
 */
export async function serveCommand(options: DaemonOptions, detachedChild: boolean): Promise<number> {
  // a stop asked for while the daemon boots (a long replay) is honoured once it is up: a clean stop, not a kill
  let early: string | undefined;
  const onEarly = (signal: string) => (): void => { early ??= signal; };
  const earlyTerm = onEarly('SIGTERM');
  const earlyInt = onEarly('SIGINT');
  process.on('SIGTERM', earlyTerm);
  process.on('SIGINT', earlyInt);
  if (storePasswordInArgv(process.argv)) {
    info(style.yellow('arpd: warning: the --store URL holds a password, and this command line is readable by every user of this host (ps): give the URL in ARPD_STORE_URL or the password in ~/.pgpass instead (arpd daemon start does the former itself)', process.stderr));
  }
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(options, VERSION);
  } catch (err) {
    const e = toArpdError(err);
    reportError(e, false);
    return e.code === 'E_LOCKED' ? EXIT_LOCKED : e.exitCode === 0 ? 1 : e.exitCode;
  } finally {
    process.off('SIGTERM', earlyTerm);
    process.off('SIGINT', earlyInt);
  }
  const { logger } = daemon;
  const fatal = (kind: string) => (err: unknown): void => {
    try { logger.fatal({ err }, `${kind}: the daemon exits`); } catch { /* logging failed */ }
    process.stderr.write(`arpd: fatal ${kind}: ${String((err as Error)?.stack ?? err)}\n`);
    process.exit(EXIT_FATAL);
  };
  process.on('uncaughtException', fatal('uncaught exception'));
  process.on('unhandledRejection', fatal('unhandled rejection'));
  process.on('SIGTERM', () => {
    logger.info('SIGTERM received');
    void daemon.shutdown('SIGTERM');
  });
  let sigints = 0;
  process.on('SIGINT', () => {
    sigints++;
    if (sigints > 1) {
      logger.warn('second SIGINT: exiting at once');
      process.exit(130);
    }
    logger.info('SIGINT received (press Ctrl-C again to exit at once)');
    void daemon.shutdown('SIGINT');
  });
  process.on('SIGHUP', () => logger.info('SIGHUP ignored'));
  if (!detachedChild) {
    info(`arpd ready: pid ${process.pid}, data dir ${daemon.paths.root}, socket ${daemon.paths.socket}${daemon.ctx.httpUrl() === undefined ? '' : `, http ${daemon.ctx.httpUrl()}`}`);
  }
  if (early !== undefined) {
    logger.info(`${early} received during boot`);
    void daemon.shutdown(early);
  }
  const code = await daemon.done;
  return code;
}

