/**
 * `arpd instances logs <id>` as a real CLI process, reading the log files a managed instance leaves in the data dir
 * (`instances/<id>/stdout.log` and `stderr.log`, written here so a line can be left half-written on purpose): text
 * as it is, and with `--json` one JSON object a line, followed too.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness, parseNdjson } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);

interface LogLine { instance_id: string; stream: string; line: string }

function instanceDir(dataDir: string, id: string): string {
  const dir = join(dataDir, 'instances', id);
  mkdirSync(dir, { recursive: true });
  return dir;
}

t.test('with --json each line of stdout and stderr is one JSON object naming the instance and the stream', async (t) => {
  const dataDir = h.newDataDir();
  const dir = instanceDir(dataDir, 'inst_a');
  writeFileSync(join(dir, 'stdout.log'), 'listening on 127.0.0.1:4000\n{"already":"json"}\n');
  writeFileSync(join(dir, 'stderr.log'), 'a warning\nno newline at the end');
  const r = await h.cli(dataDir, ['instances', 'logs', 'inst_a', '--json']);
  t.equal(r.code, 0, r.stderr);
  t.same(parseNdjson<LogLine>(r.stdout), [
    { instance_id: 'inst_a', stream: 'stdout', line: 'listening on 127.0.0.1:4000' },
    { instance_id: 'inst_a', stream: 'stdout', line: '{"already":"json"}' },
    { instance_id: 'inst_a', stream: 'stderr', line: 'a warning' },
    { instance_id: 'inst_a', stream: 'stderr', line: 'no newline at the end' },
  ], 'no "==> file <==" headers, the last line without its newline too');
  const onlyErr = await h.cli(dataDir, ['instances', 'logs', 'inst_a', '--stderr', '--json']);
  t.same(parseNdjson<LogLine>(onlyErr.stdout).map((l) => l.stream), ['stderr', 'stderr'], '--stderr: only stderr');
  const text = await h.cli(dataDir, ['instances', 'logs', 'inst_a', '--stdout']);
  t.equal(text.stdout, 'listening on 127.0.0.1:4000\n{"already":"json"}\n', 'without --json the text is printed as it is');
});

t.test('with --json and --follow a line is printed once it ends, as one object', async (t) => {
  const dataDir = h.newDataDir();
  const dir = instanceDir(dataDir, 'inst_b');
  const out = join(dir, 'stdout.log');
  writeFileSync(out, 'first\nhalf of ');
  const follower = h.spawnCli(dataDir, ['instances', 'logs', 'inst_b', '--stdout', '--json', '-f']);
  await follower.waitForOutput('the first line', (s) => s.includes('"first"'));
  appendFileSync(out, 'a line\nnext\n');
  await follower.waitForOutput('the lines appended', (s) => s.includes('"next"'));
  follower.kill();
  await follower.exited;
  t.same(parseNdjson<LogLine>(follower.stdout()).map((l) => l.line), ['first', 'half of a line', 'next'], 'the half-written line is printed whole, once');
});

t.test('a missing instance is the usual one error line, and {"error"} on stdout with --json', async (t) => {
  const dataDir = h.newDataDir();
  const r = await h.cli(dataDir, ['instances', 'logs', 'inst_none', '--json']);
  t.equal(r.code, 4);
  t.match(JSON.parse(r.stdout), { error: { code: 'E_NOT_FOUND' } });
});
