/**
 * Why a detached daemon did not start, told once: startFailure reads the boot log the daemon wrote
 * (JSON log lines and its own `arpd: error: … [CODE]` line) and gives that one error, not a wrapper
 * around it with a second code and the raw log. And starters racing on one data dir (a REAL daemon) get one daemon.
 */
import { readdirSync, readFileSync } from 'node:fs';
import t from 'tap';
import { startDetached, startFailure } from '../../src/client/daemon-start.js';
import { connect } from '../../src/client/index.js';
import { dataPaths } from '../../src/config/data-dir.js';
import { daemonHarness, isRunning, waitGone } from '../helpers/daemon-harness.js';

const exit = { code: 1, signal: null };

t.test('takes the daemon\'s own error line, its code and message, and leaves the log lines out', async (t) => {
  const boot = [
    '{"level":50,"time":"2026-01-01T00:00:00.000Z","msg":"the event log is damaged","code":"E_LOG_CORRUPT"}',
    'arpd: error: the event log is damaged before its last line: events.jsonl line 1 [E_LOG_CORRUPT]',
    '',
  ].join('\n');
  const e = startFailure(boot, '/d/logs/boot.log', exit);
  t.equal(e.code, 'E_LOG_CORRUPT');
  t.equal(e.message, 'the daemon could not start: the event log is damaged before its last line: events.jsonl line 1');
  t.same(e.data, { exit_code: 1, signal: null, boot_log: '/d/logs/boot.log' });
});

t.test('takes the last error line when an earlier start left one too', async (t) => {
  const e = startFailure('arpd: error: old [E_LOCKED]\nsomething\narpd: error: new problem [E_STORAGE]\n', 'b', exit);
  t.equal(e.code, 'E_STORAGE');
  t.match(e.message, /new problem$/);
});

t.test('without an error line (or with a code that is not one of arpd\'s) it says where to look', async (t) => {
  for (const text of ['', '{"level":60,"msg":"boom"}\n', 'arpd: error: odd [E_NOT_A_CODE]\n']) {
    const e = startFailure(text, '/d/logs/boot.log', { code: null, signal: 'SIGKILL' });
    t.equal(e.code, 'E_UNAVAILABLE');
    t.equal(e.message, 'the daemon exited before it was ready (SIGKILL) without an error line: see /d/logs/boot.log');
  }
});

/** Live `arpd serve` processes of a data dir, from sources or from dist (`serve ... --data-dir <dir>` in their argv). */
function servesOf(dir: string): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).map(Number).filter((pid) => {
    let argv: string[];
    try { argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { return false; }
    return argv.includes('serve') && argv.includes(dir) && isRunning(pid);
  });
}

t.test('of several starters racing on one data dir, only the one whose daemon won says it started it, and none leaves another starting', async (t) => {
  const h = daemonHarness(t);
  const paths = dataPaths(h.newDataDir());
  const results = await Promise.all(Array.from({ length: 6 }, () => startDetached({ paths, timeoutMs: 60_000, serveArgs: ['--no-http'] })));
  for (const r of results) h.trackPid(r.status.pid);
  t.equal(new Set(results.map((r) => r.status.pid)).size, 1, 'one daemon answers them all');
  t.equal(results.filter((r) => !r.alreadyRunning).length, 1, `one says it started it (${JSON.stringify(results.map((r) => r.alreadyRunning))})`);
  const pid = results[0]?.status.pid ?? 0;
  // a loser still booting would take the data dir once this daemon stops, unasked: each starter waits for its own
  t.same(servesOf(paths.root), [pid], 'no other daemon of the data dir is left starting');
  const arpd = await connect({ dataDir: paths.root });
  await arpd.daemon.shutdown({ reason: 'test over' });
  await arpd.close();
  await waitGone(pid);
});
