/**
 * The OTLP sink's diagnostics, in process, against a real collector on 127.0.0.1 (port 0) that refuses every batch:
 * the failure is told once as the sink's own warning, not a second time through OpenTelemetry's diag logger
 * (which the SDK's error handler writes to, with a stack, for every batch).
 */
import { diag } from '@opentelemetry/api';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { createOtlpSink } from '../../src/telemetry/otlp-sink.js';
import { eventually } from '../server/http-daemon.js';

t.test('tells a batch the collector refused once, as its own warning, not again as an OpenTelemetry error', async (t) => {
  const collector = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(400, { 'content-type': 'application/json' }).end('{"code":3,"message":"no"}'));
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { collector.closeAllConnections(); collector.close(() => resolve()); }));
  const warnings: string[] = [];
  const sink = createOtlpSink({
    endpoint: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
    serviceVersion: 'test',
    warn: (message) => { warnings.push(message); },
    scheduledDelayMs: 10,
  });
  t.teardown(() => sink.shutdown(1000));
  const now = new Date().toISOString();
  sink.export({ traceId: '1'.repeat(32), sampled: true, spans: [{ name: 'run', spanId: '2'.repeat(16), start: now, end: now, attributes: {}, events: [], status: { code: 'unset' } }] });
  await eventually('the sink tells the refusal', async () => (warnings.some((w) => w.startsWith('could not export 1 spans')) ? true : undefined), 30_000);
  // the SDK's error handler runs once the export's promise is rejected: a later turn than the warning; wait for a second batch's
  sink.export({ traceId: '3'.repeat(32), sampled: true, spans: [{ name: 'run', spanId: '4'.repeat(16), start: now, end: now, attributes: {}, events: [], status: { code: 'unset' } }] });
  await sink.shutdown(5000);
  t.same(warnings.filter((w) => w.startsWith('OpenTelemetry: ')), [], `no OpenTelemetry line (${JSON.stringify(warnings)})`);
  t.equal(warnings.filter((w) => w.startsWith('could not export')).length, 1, 'one warning (later ones once a minute)');
});

t.test('logs OpenTelemetry\'s warnings and errors as warnings, without credentials, at most ten a minute, and none once shut down', async (t) => {
  const warnings: Array<{ message: string; details: Record<string, unknown> }> = [];
  const sink = createOtlpSink({ endpoint: 'http://127.0.0.1:9', serviceVersion: 'test', warn: (message, details) => { warnings.push({ message, details }); } });
  diag.warn('Could not parse environment-provided export URL: \'%s\'', 'http://user:S3cretPw@[bad');
  diag.error('export failed');
  diag.info('an info line');
  diag.debug('a debug line');
  await sink.shutdown(1000);
  diag.warn('after the shutdown');
  t.same(warnings, [
    { message: 'OpenTelemetry: Could not parse environment-provided export URL: \'http://***@[bad\'', details: { source: 'opentelemetry', diag_level: 'warn' } },
    { message: 'OpenTelemetry: export failed', details: { source: 'opentelemetry', diag_level: 'error' } },
  ], 'a warning (its URL without user and password) and an error; no info or debug, nothing after the shutdown');

  const many: string[] = [];
  const noisy = createOtlpSink({ endpoint: 'http://127.0.0.1:9', serviceVersion: 'test', warn: (message) => { many.push(message); } });
  for (let i = 0; i < 25; i++) diag.warn(`warning ${i}`);
  await noisy.shutdown(1000);
  t.same(many, Array.from({ length: 10 }, (_, i) => `OpenTelemetry: warning ${i}`), 'at most ten lines a minute');
});
