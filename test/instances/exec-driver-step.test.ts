import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { failureSummary, InstallLog, runInstallStep } from '../../src/instances/exec-driver-step.js';

const NODE = process.execPath;

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'arpd-step-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function withLog<T>(fn: (log: InstallLog, dir: string) => Promise<T>): Promise<{ result: T | ArpdError; text: string }> {
  const dir = await tempDir();
  const log = await InstallLog.create(join(dir, 'install.log'));
  let result: T | ArpdError;
  try {
    result = await fn(log, dir);
  } catch (err) {
    if (!(err instanceof ArpdError)) throw err;
    result = err;
  } finally {
    await log.close();
  }
  return { result, text: await readFile(join(dir, 'install.log'), 'utf8') };
}

const never = new AbortController().signal;

/** True while the process exists and is not a zombie waiting to be reaped. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\d+ \(.*\) Z/.test(stat);
  } catch {
    return true;
  }
}

t.test('appends the command line and all output to the log, and returns stdout when asked', async (t) => {
  const { result, text } = await withLog((log, dir) =>
    runInstallStep(log, NODE, ['-e', 'console.log("to stdout"); console.error("to stderr")'], { what: 'a step', cwd: dir, env: process.env, signal: never, capture: true }),
  );
  t.equal(result, 'to stdout\n');
  t.match(text, /^\$ .*node -e /m, 'the command line');
  t.match(text, /to stdout/);
  t.match(text, /to stderr/);
});

t.test('passes every argument as it is, with no shell in between', async (t) => {
  const tricky = ['$(echo hi)', '; rm -rf /', '`id`', 'a b', '"q"', '*', '> out.txt', ''];
  const { result } = await withLog((log, dir) =>
    runInstallStep(log, NODE, ['-e', 'process.stdout.write(JSON.stringify(process.argv.slice(1)))', ...tricky], { what: 'a step', cwd: dir, env: process.env, signal: never, capture: true }),
  );
  t.same(JSON.parse(result as string), tricky);
});

t.test('a non-zero exit is E_INSTALL_FAILED with the exit code, the log path and its last 20 lines', async (t) => {
  const script = 'for (let i = 1; i <= 30; i++) console.log("line " + i); process.exit(3)';
  const { result, text } = await withLog((log, dir) => runInstallStep(log, NODE, ['-e', script], { what: 'pip install of x==1', cwd: dir, env: process.env, signal: never }));
  t.ok(result instanceof ArpdError);
  const e = result as ArpdError;
  t.equal(e.code, 'E_INSTALL_FAILED');
  t.match(e.message, /^pip install of x==1 failed \(exit 3\): /);
  t.equal(e.data?.['exit_code'], 3);
  t.match(String(e.data?.['log']), /install\.log$/);
  const tail = String(e.data?.['tail']).split('\n');
  t.equal(tail.length, 20);
  t.equal(tail.at(-1), 'line 30');
  t.notOk(tail.includes('line 10'), 'only the last lines');
  t.match(e.message, /line 30/, 'the message carries the end of the output');
  t.notMatch(e.message, /line 25\b/, 'its last 5 lines, not all 20');
  t.match(text, /# exit 3/, 'the log records the exit');
});

// was a bug (QA): pip's retries and warnings made a message of ~3,000 characters, the line that says what failed last
t.test("a failed step's message shows the installer's error lines first, not all of its output", async (t) => {
  const pip = [
    '# pip install --no-input nosuchpkg==1',
    ...Array.from({ length: 12 }, (_, i) => `WARNING: Retrying (Retry(total=${4 - (i % 5)})) after connection broken by 'NewConnectionError': /simple/nosuchpkg/`),
    'ERROR: Could not find a version that satisfies the requirement nosuchpkg==1 (from versions: none)',
    'ERROR: No matching distribution found for nosuchpkg==1',
  ].join('\n');
  t.equal(failureSummary(pip), 'ERROR: Could not find a version that satisfies the requirement nosuchpkg==1 (from versions: none)\nERROR: No matching distribution found for nosuchpkg==1', "pip's ERROR lines only");
  t.equal(failureSummary('npm http fetch GET 404\nnpm error code E404\nnpm error 404 Not Found - nosuchpkg'), 'npm error code E404\nnpm error 404 Not Found - nosuchpkg', "npm's error lines only");
  t.equal(failureSummary('# arpd: a comment\na\nb'), 'a\nb', 'no error lines: the last lines, without arpd\'s own');
  t.ok(failureSummary(`ERROR: ${'x'.repeat(5000)}`).length < 420, 'a very long line is cut');
});

t.test('a program that cannot be found is E_INSTALL_FAILED with the hint', async (t) => {
  const { result } = await withLog((log, dir) =>
    runInstallStep(log, 'arpd-no-such-program-x', ['--version'], { what: 'creating the venv for x==1', cwd: dir, env: process.env, signal: never, notFoundHint: 'install Python 3' }),
  );
  t.ok(result instanceof ArpdError);
  t.equal((result as ArpdError).code, 'E_INSTALL_FAILED');
  t.match((result as ArpdError).message, /'arpd-no-such-program-x' was not found: install Python 3/);
  t.equal((result as ArpdError).data?.['exit_code'], null);
});

t.test('an abort kills the step and what it started, then rejects E_CANCELED', { skip: process.platform === 'win32' ? 'process groups are POSIX' : false }, async (t) => {
  const dir = await tempDir();
  const pids = join(dir, 'pids');
  // the step starts a grandchild, writes both pids, and waits forever
  const script = [
    'const { spawn } = require("node:child_process");',
    'const { renameSync, writeFileSync } = require("node:fs");',
    `const g = spawn(process.execPath, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });`,
    // written aside then renamed: the test sees the file only whole (it aborts as soon as it sees it)
    `writeFileSync(${JSON.stringify(`${pids}.tmp`)}, JSON.stringify([process.pid, g.pid]));`,
    `renameSync(${JSON.stringify(`${pids}.tmp`)}, ${JSON.stringify(pids)});`,
    'setInterval(() => {}, 1000);',
  ].join('\n');
  const controller = new AbortController();
  const { result, text } = await withLog(async (log) => {
    const step = runInstallStep(log, NODE, ['-e', script], { what: 'pip install of x==1', cwd: dir, env: process.env, signal: controller.signal });
    while (!existsSync(pids)) await sleep(20);
    controller.abort();
    return step;
  });
  t.ok(result instanceof ArpdError);
  t.equal((result as ArpdError).code, 'E_CANCELED');
  t.match((result as ArpdError).message, /pip install of x==1 was canceled/);
  const [child, grandchild] = JSON.parse(await readFile(pids, 'utf8')) as [number, number];
  t.notOk(isRunning(child), 'the step is gone');
  // the grandchild got the same signal; give the kernel a moment to deliver it (waiting, not asserting a time)
  for (let i = 0; i < 100 && isRunning(grandchild); i++) await sleep(20);
  t.notOk(isRunning(grandchild), 'what it started is gone too');
  t.match(text, /# canceled/);
});

t.test('an abort that comes while the step is starting still ends it', async (t) => {
  const controller = new AbortController();
  const { result } = await withLog((log, dir) => {
    const step = runInstallStep(log, NODE, ['-e', 'setInterval(() => {}, 1000)'], { what: 'x', cwd: dir, env: process.env, signal: controller.signal });
    controller.abort();
    return step;
  });
  t.equal((result as ArpdError).code, 'E_CANCELED');
});

t.test('an abort before the start runs nothing', async (t) => {
  const controller = new AbortController();
  controller.abort();
  const { result, text } = await withLog((log, dir) => runInstallStep(log, NODE, ['-e', ''], { what: 'x', cwd: dir, env: process.env, signal: controller.signal }));
  t.equal((result as ArpdError).code, 'E_CANCELED');
  t.equal(text, '', 'nothing was run or logged');
});
