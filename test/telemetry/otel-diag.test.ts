/**
 * OpenTelemetry's own warnings reach the daemon log: a REAL daemon process exporting to a collector started here
 * (127.0.0.1, port 0), with bad `OTEL_*` variables, logs what OpenTelemetry says of them (a URL in them without its
 * credentials) and still serves and exports; a daemon without an endpoint loads no OpenTelemetry and logs none.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { clientOf, eventually, startHttpDaemon } from '../server/http-daemon.js';

const BAD = {
  // read by the OTLP exporter as it is made: not a number
  OTEL_EXPORTER_OTLP_TIMEOUT: 'abc',
  // not a URL, with a password in it that must reach no log
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://otel-user:S3cretPw@[not-a-host',
};

const daemonLog = (dataDir: string): string => {
  const path = join(dataDir, 'logs', 'daemon.log');
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
};

// was a bug (QA): OpenTelemetry's diag logger was never set, so its warnings about bad OTEL_* values went nowhere
t.test('logs OpenTelemetry\'s warnings about bad OTEL_* variables as daemon warnings, without credentials, and keeps serving', async (t) => {
  let posts = 0;
  const collector = createServer((req, res) => {
    if (req.method === 'POST') posts++;
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { collector.closeAllConnections(); collector.close(() => resolve()); }));
  const endpoint = `http://otel-user:S3cretPw@127.0.0.1:${(collector.address() as AddressInfo).port}`;
  const d = await startHttpDaemon(t, ['--otlp-endpoint', endpoint], { env: BAD });

  const lines = await eventually('the daemon log has OpenTelemetry\'s warnings', async () => {
    const found = daemonLog(d.dataDir).split('\n').filter((l) => l.includes('OpenTelemetry: '));
    return found.length >= 2 ? found.map((l) => JSON.parse(l) as { level: number; msg: string; source?: string; diag_level?: string }) : undefined;
  }, 60_000);
  t.ok(lines.some((l) => /^OpenTelemetry: Unknown value 'abc' for OTEL_EXPORTER_OTLP_TIMEOUT/.test(l.msg)), 'the bad timeout, named as its variable');
  t.ok(lines.some((l) => l.msg.includes("Could not parse environment-provided export URL: 'http://***@[not-a-host'")), 'the bad URL, without its user and password');
  t.ok(lines.every((l) => l.level === 40 && l.source === 'opentelemetry' && l.diag_level === 'warn'), `as warnings, marked as OpenTelemetry's (${JSON.stringify(lines)})`);
  t.notMatch(daemonLog(d.dataDir), /S3cretPw/, 'the password is nowhere in the daemon log');
  t.notMatch(d.output(), /S3cretPw/, 'nor in what the daemon printed');

  const api = clientOf(d);
  t.equal((await api('GET', '/v1/health')).status, 200, 'the daemon serves');
  const submitted = await api('POST', '/v1/runs', { json: { input: { goal: 'sleep:600000' } } });
  t.equal(submitted.status, 202, 'a run is taken');
  const run = String((submitted.body as { run_id?: unknown } | undefined)?.run_id);
  t.equal((await api('POST', `/v1/runs/${run}:cancel`)).status, 200, 'a run ends (canceled)');
  await eventually('its spans reach the collector', async () => (posts > 0 ? true : undefined));
  t.notMatch(daemonLog(d.dataDir), /could not export/, 'and were taken');
});

t.test('logs nothing of OpenTelemetry when tracing is off, bad variables or not', async (t) => {
  const d = await startHttpDaemon(t, [], { env: BAD });
  t.equal((await clientOf(d)('GET', '/v1/health')).status, 200, 'the daemon serves');
  t.equal((await d.stop()).code, 0, 'and stops cleanly');
  t.notMatch(daemonLog(d.dataDir), /OpenTelemetry|OTEL_/, 'no OpenTelemetry line in its log');
});
