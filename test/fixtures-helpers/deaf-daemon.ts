/**
 * A real arpd daemon that does not hear a shutdown request: for testing `arpd daemon stop`'s escalation.
 * It is the product's Daemon started in this process, with its `shutdown` wrapped so that a request over the
 * socket is answered but not obeyed. With mode `rpc` SIGTERM still stops it gracefully (as `arpd serve` does);
 * with `rpc+term` SIGTERM is ignored too, so only SIGKILL ends it. Nothing of this ships: it composes the
 * product from the outside.
 *
 *   node --import tsx test/fixtures-helpers/deaf-daemon.ts <data-dir> <rpc|rpc+term>
 */
import { join } from 'node:path';
import { daemonOptionsOf } from '../../src/cli/serve-options.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { VERSION } from '../../src/version.js';

const [dir, mode] = process.argv.slice(2);
if (dir === undefined || (mode !== 'rpc' && mode !== 'rpc+term')) {
  process.stderr.write('usage: deaf-daemon.ts <data-dir> <rpc|rpc+term>\n');
  process.exit(2);
}
const daemon = await Daemon.start(daemonOptionsOf({ http: false }, { dataDir: dir, socketPath: join(dir, 'arpd.sock'), foreground: false }), VERSION);
const obey = daemon.shutdown.bind(daemon);
daemon.shutdown = (reason: string) => {
  daemon.logger.warn({ reason }, 'deaf-daemon fixture: not obeying a shutdown request');
  return Promise.resolve();
};
process.on('SIGTERM', () => {
  if (mode === 'rpc+term') return;
  void obey('SIGTERM');
});
process.exitCode = await daemon.done;
process.exit();
