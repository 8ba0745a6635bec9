/**
 * What a command prints reaches a pipe whole. Before: on a pipe stdout is asynchronous and the CLI called
 * `process.exit` right after writing, so `arpd runs trace <id> --json | jq` (or `| wc -l`) got about the first 64 KiB
 * of a long trace, and the command still exited 0: a trace checked after a crash looked shorter than it was.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ARPD_JS, cleanEnv } from '../helpers/daemon-harness.js';
import { runtimeHarness } from '../helpers/runtime-harness.js';

const BURST_RUNTIME = fileURLToPath(new URL('../../fixtures/runtimes/burst-runtime/server.mjs', import.meta.url));

/** `arpd <args> | (sleep 1; wc -l)` through a shell: the reader starts late, so the pipe fills first. */
function linesThroughSlowPipe(dir: string, args: readonly string[]): Promise<{ lines: number; status: string }> {
  const quoted = [process.execPath, ARPD_JS, '--data-dir', dir, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', `(${quoted}; echo "exit $?" >&2) | (sleep 1; wc -l)`], { env: cleanEnv(), timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null) { reject(err); return; }
      resolve({ lines: Number(stdout.trim()), status: stderr.trim() });
    });
  });
}

t.test('a long trace printed into a slow pipe arrives whole, every line of it', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances']);
  await r.upsertProfile(dir, 'burst', {
    runtime_name: 'arpd-burst-runtime',
    extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', BURST_RUNTIME, '--host', '{host}', '--port', '0'] } },
  });
  await r.startInstances(dir, 'burst', 1);
  await r.submit(dir, { run_id: 'long', runtime_selector: { runtime_profile: 'burst' }, input: { goal: 'burst:2000' } });
  t.equal((await r.waitRunEnded(dir, 'long'))['state'], 'succeeded');
  const expected = r.traceFile(dir, 'long').length;
  t.ok(expected > 2000, `the trace has ${expected} lines (far more than a pipe holds)`);

  const json = await linesThroughSlowPipe(dir, ['runs', 'trace', 'long', '--json']);
  t.equal(json.status, 'exit 0');
  t.equal(json.lines, expected, 'runs trace --json: every line reached the reader');
  const text = await linesThroughSlowPipe(dir, ['runs', 'trace', 'long']);
  t.equal(text.lines, expected, 'runs trace: every line reached the reader');

  // a reader that stops early (`| head -2`) ends the command quietly: no EPIPE stack trace, exit 0
  const quoted = [process.execPath, ARPD_JS, '--data-dir', dir, 'runs', 'trace', 'long', '--json'].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const head = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
    execFile('/bin/sh', ['-c', `(${quoted} 2>/tmp/.arpd-epipe-$$; echo "exit $?" >&2; cat /tmp/.arpd-epipe-$$ >&2; rm -f /tmp/.arpd-epipe-$$) | head -2`], { env: cleanEnv(), timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null) { reject(err); return; }
      resolve({ stdout, stderr });
    });
  });
  t.equal(head.stdout.trim().split('\n').length, 2, 'head got its two lines');
  t.equal(head.stderr.trim(), 'exit 0', 'and the command ended with exit 0 and nothing on stderr');
});
