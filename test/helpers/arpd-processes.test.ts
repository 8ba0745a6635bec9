/**
 * The harness's sweep of stray daemons (test/helpers/arpd-processes.ts): it finds every arpd process a test run
 * started, however it was started, and never another run's (or another engineer's) daemon, nor a process that
 * only names a dir. Sample command lines, and one real daemon started as `node --import tsx bin/arpd.ts`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { HARNESS_MARK, isArpdCommand, isRunProcess, runProcesses } from './arpd-processes.js';
import { arpdProcessesFor, cleanEnv, daemonHarness, REPO_ROOT, waitGone } from './daemon-harness.js';

const DIR = '/tmp/arpd-AbC123';
const MARK = '4242-mark';
const ours = (argv: string[], env: Record<string, string> = {}): boolean => isRunProcess(argv, env, [DIR], MARK);

t.test('an arpd process of the run is found however it was started', async (t) => {
  const cases: Array<[string, string[], Record<string, string>?]> = [
    ['the built CLI, as the harness starts it', ['/usr/bin/node', '/repo/dist/bin/arpd.js', '--data-dir', DIR, 'serve', '--no-http']],
    ['a detached daemon', ['/usr/bin/node', '/repo/dist/bin/arpd.js', 'serve', '--detached-child', '--data-dir', DIR, '--socket', `${DIR}/arpd.sock`]],
    ['a relative path, a data dir inside the run\'s dir', ['node', 'dist/bin/arpd.js', 'serve', '--data-dir', `${DIR}/data`]],
    ['bin/arpd (a shebang shows its interpreter)', ['node', '/repo/bin/arpd', 'serve', '--data-dir', DIR]],
    ['--data-dir=DIR', ['/usr/bin/node', '/repo/dist/bin/arpd.js', 'serve', `--data-dir=${DIR}`]],
    ['the sources through tsx as a loader', ['/usr/bin/node', '--import', 'tsx', '/repo/bin/arpd.ts', 'serve', '--data-dir', DIR]],
    ['the sources through tsx\'s cli', ['/usr/bin/node', '/repo/node_modules/tsx/dist/cli.mjs', 'bin/arpd.ts', 'daemon', 'start', '--data-dir', DIR]],
    ['an executable named arpd', ['/usr/local/bin/arpd', 'serve', '--data-dir', DIR]],
    ['an npm shim with the data dir in ARPD_HOME', ['node', '/repo/node_modules/.bin/arpd', 'serve'], { ARPD_HOME: DIR }],
    ['the bench lib\'s daemon on a dir of its own, with the run\'s mark', ['/usr/bin/node', '--cpu-prof', '/repo/dist/bin/arpd.js', 'serve', '--data-dir', '/tmp/arpd-b999', '--http-port', '0'], { [HARNESS_MARK]: MARK }],
  ];
  for (const [what, argv, env] of cases) t.ok(ours(argv, env), what);
});

t.test('another run\'s daemon, a dir that only shares a prefix, and processes that are not arpd are left alone', async (t) => {
  const cases: Array<[string, string[], Record<string, string>?]> = [
    ['another engineer\'s daemon', ['/usr/bin/node', '/work/main/dist/bin/arpd.js', 'serve', '--data-dir', '/tmp/arpd-Other1'], { [HARNESS_MARK]: '77-other' }],
    ['a dir that only starts like the run\'s', ['/usr/bin/node', '/repo/dist/bin/arpd.js', 'serve', '--data-dir', `${DIR}9`]],
    ['another user\'s ARPD_HOME', ['node', '/repo/bin/arpd', 'serve'], { ARPD_HOME: '/home/else/.arpd' }],
    ['a shell removing the run\'s dir', ['rm', '-rf', DIR]],
    ['a runtime the daemon started (it inherits the mark)', ['/usr/bin/node', '/repo/dist/src/runtime/main.js', '--port', '0', '--trace-dir', `${DIR}/runs`], { [HARNESS_MARK]: MARK }],
    ['a script that only names a file called arpd', ['node', '/repo/tool.js', `${DIR}/arpd`]],
    ['an editor on the CLI\'s source', ['vim', '/repo/bin/arpd.ts', DIR]],
  ];
  for (const [what, argv, env] of cases) t.notOk(ours(argv, env), what);
  t.notOk(isArpdCommand([]), 'an empty command line (a zombie\'s)');
});

t.test('a real daemon started from the sources with --data-dir=DIR is found for its dir', async (t) => {
  const h = daemonHarness(t);
  const dir = h.newDataDir();
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bin', 'arpd.ts'), 'serve', '--no-http', `--data-dir=${dir}`], { cwd: REPO_ROOT, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s; if (err.includes('arpd ready')) resolve(); });
    child.once('exit', (code) => reject(new Error(`arpd serve exited ${String(code)}: ${err}`)));
  });
  t.same(arpdProcessesFor(dir), [child.pid], 'the sweep finds it');
  child.kill('SIGTERM');
  await exited;
});

t.test('a daemon a harness\'s CLI started on a data dir of its own carries the harness\'s mark, and only that harness finds it by it', async (t) => {
  const h = daemonHarness(t);
  const other = daemonHarness(t);
  const dir = mkdtempSync('/tmp/arpd-own-'); // not one of the harness's dirs
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const { pid } = await h.startDaemon(dir);
  t.same(runProcesses([], h.mark), [pid], 'found by the mark alone');
  t.same(runProcesses([], other.mark), [], 'not by another harness\'s');
  t.equal((await h.cli(dir, ['daemon', 'stop'])).code, 0);
  await waitGone(pid);
});
