/**
 * Tracing costs nothing when it is off: a REAL daemon without --otlp-endpoint, started with a module hook that
 * records every @opentelemetry ES module it loads, serves runs and /metrics without loading the OpenTelemetry SDK
 * or exporter; the same daemon with an endpoint loads them (so the check can see a load when there is one).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import t, { type Test } from 'tap';
import { clientOf, eventually, startHttpDaemon, tempDir } from '../server/http-daemon.js';

const HOOK = pathToFileURL(join(import.meta.dirname, 'fixtures', 'record-imports.mjs')).href;

async function loadedWith(t: Test, args: string[]): Promise<string[]> {
  const log = join(tempDir(t, 'arpd-imports-'), 'imports.log');
  const daemon = await startHttpDaemon(t, args, { env: { NODE_OPTIONS: `--import=${HOOK}`, ARPD_TEST_IMPORT_LOG: log } });
  const api = clientOf(daemon);
  const run = await api('POST', '/v1/runs', { json: { input: { goal: 'What is 6*7?' } } });
  t.equal(run.status, 202, 'a run is submitted');
  const runId = String((run.body as { run_id: string }).run_id);
  await eventually('the run ends', async () => ((await api('GET', `/v1/runs/${runId}`)).body as { state: string }).state === 'succeeded' ? true : undefined);
  t.equal((await api('GET', '/metrics')).status, 200, 'metrics are served');
  t.equal((await daemon.stop()).code, 0, 'the daemon stops cleanly');
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter((l) => l !== '') : [];
}

t.test('without --otlp-endpoint the OpenTelemetry SDK and exporter are never loaded', async (t) => {
  const loaded = await loadedWith(t, []);
  t.same(loaded.filter((u) => /@opentelemetry\/(sdk-trace|exporter-trace-otlp-http|resources)\//.test(u)), [], 'no SDK, exporter or resources module');
});

t.test('with --otlp-endpoint they are loaded (the hook sees a load when there is one)', async (t) => {
  const loaded = await loadedWith(t, ['--otlp-endpoint', 'http://127.0.0.1:9']);
  t.ok(loaded.some((u) => u.includes('/@opentelemetry/sdk-trace/')), 'the SDK');
  t.ok(loaded.some((u) => u.includes('/@opentelemetry/exporter-trace-otlp-http/')), 'the exporter');
});
