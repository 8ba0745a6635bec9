/**
 * A detached daemon's command line is readable by every user of the host (`ps`, /proc/<pid>/cmdline) for as long as
 * it runs. `arpd daemon start` hands a collector URL holding a password (`--otlp-endpoint http://user:pw@…`) to the
 * daemon in OTEL_EXPORTER_OTLP_ENDPOINT, readable only by its own user, as it does a `--store` URL; `daemon restart`
 * keeps it. A collector URL without a password stays a flag. (The store's case: test/cluster/daemon-postgres.test.ts.)
 */
import { readFileSync } from 'node:fs';
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';

const h = daemonHarness(t);
const cmdline = (pid: number): string => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
const environ = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
const tracing = async (dir: string): Promise<unknown> => {
  const r = await h.cli(dir, ['daemon', 'status', '--json']);
  return (JSON.parse(r.stdout) as { tracing?: { endpoint?: unknown } }).tracing?.endpoint;
};

t.test('a collector URL with a password is not on the detached daemon\'s command line, and a restart keeps it', async (t) => {
  const dir = h.newDataDir();
  const url = 'http://otel-user:S3cretPw@127.0.0.1:9';
  const { pid } = await h.startDaemon(dir, ['--otlp-endpoint', url]);
  t.notMatch(cmdline(pid), /S3cretPw|otlp-endpoint/, 'not on its command line');
  t.ok(environ(pid).includes(`OTEL_EXPORTER_OTLP_ENDPOINT=${url}`), 'in its environment');
  t.match(await tracing(dir), /^http:\/\/otel-user:\*\*\*@127\.0\.0\.1:9\/?$/, 'the daemon exports to it (shown without the password)');
  const restarted = await h.cli(dir, ['daemon', 'restart', '--json']);
  t.equal(restarted.code, 0, `daemon restart: ${restarted.stderr}`);
  const after = (JSON.parse(restarted.stdout) as { pid: number }).pid;
  h.trackPid(after);
  t.not(after, pid, 'a new daemon');
  t.notMatch(cmdline(after), /S3cretPw/, 'the restarted daemon has it off its command line too');
  t.match(await tracing(dir), /^http:\/\/otel-user:\*\*\*@127\.0\.0\.1:9\/?$/, 'and still exports to it');
});

t.test('a collector URL without a password stays on the command line as the flag it was given as', async (t) => {
  const dir = h.newDataDir();
  const { pid } = await h.startDaemon(dir, ['--otlp-endpoint', 'http://127.0.0.1:9']);
  t.match(cmdline(pid), /--otlp-endpoint http:\/\/127\.0\.0\.1:9/, 'on its command line');
  t.equal(await tracing(dir), 'http://127.0.0.1:9');
  const human = await h.cli(dir, ['daemon', 'status']);
  t.match(human.stdout, /^tracing\s+one OpenTelemetry trace per run to http:\/\/127\.0\.0\.1:9$/m, 'daemon status names where traces go');
});

t.test('a second daemon start from a shell with OTEL_EXPORTER_OTLP_ENDPOINT set says nothing of other flags', async (t) => {
  const dir = h.newDataDir();
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' };
  await h.startDaemon(dir, [], { env });
  const again = await h.cli(dir, ['daemon', 'start', '--no-http'], { env });
  t.equal(again.code, 0, 'already running');
  t.notMatch(again.stderr, /other flags/, 'the variable counts as the flag it stands for, on both sides');
});
