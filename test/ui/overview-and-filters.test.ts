/**
 * What the dashboard test does not reach, in a real browser (Chromium) against a REAL daemon with real runtime
 * processes: the overview's live charts follow the daemon's metrics (the queue depth while runs wait behind a
 * busy instance, the run rate once they end), the runs page filters by instance, and the event log filters by
 * stream.
 */
import t from 'tap';
import { launchBrowser, login, newPage } from '../helpers/browser.js';
import { REFERENCE_COMMAND } from '../helpers/runtime-harness.js';
import { clientOf, eventually, startHttpDaemon } from '../server/http-daemon.js';
import { parseExposition, valueOf } from '../telemetry/exposition.js';

type Json = Record<string, unknown>;

/** Records every value a chart's caption shows, from the moment it is installed. */
const WATCH_VALUES = `(() => {
  window.__shown = { queue: [], rate: [] };
  for (const id of ['queue', 'rate']) {
    const el = document.querySelector('[data-testid="' + id + '-value"]');
    const note = () => window.__shown[id].push(el.textContent);
    note();
    new MutationObserver(note).observe(el, { characterData: true, childList: true, subtree: true });
  }
})()`;

t.test('the overview charts, the instance filter of runs and the stream filter of events', async (t) => {
  const daemon = await startHttpDaemon(t, ['--no-autostart-instances']);
  const api = clientOf(daemon);
  const admin = clientOf(daemon, { admin: true });
  const put = await admin('PUT', '/v1/admin/runtime-profiles/one', {
    json: { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: [...REFERENCE_COMMAND] }, 'arpd.runtime': { max_concurrent_runs: 1, max_instances: 1 } } },
  });
  t.equal(put.status, 200, 'a profile whose instance takes one run at a time');
  const started = async (profile: string): Promise<string> => {
    const a = await api('POST', '/v1/instances?wait=true', { json: { runtime_profile: profile } });
    t.equal(a.status, 200, `an instance of ${profile} started`);
    return String(((a.body as { instances: Json[] }).instances[0] as Json)['instance_id']);
  };
  const one = await started('one');
  const other = await started('default');
  const submit = async (goal: string, instanceId: string): Promise<string> => {
    const a = await api('POST', '/v1/runs', { json: { input: { goal }, runtime_selector: { instance_id: instanceId } } });
    t.equal(a.status, 202, `submitted '${goal}'`);
    return String((a.body as Json)['run_id']);
  };
  const state = async (runId: string): Promise<string> => String(((await api('GET', `/v1/runs/${runId}`)).body as Json)['state']);
  const scrape = async () => parseExposition((await api('GET', '/metrics')).text);

  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const { page, problems } = await newPage(browser);
  await login(page, daemon.url, daemon.token);

  t.test('the overview charts the queue depth and the run rate from the metrics, live', async (t) => {
    const holder = await submit('sleep:600000 hold the instance', one);
    await eventually('the holder runs', async () => ((await state(holder)) === 'running' ? true : undefined));
    const waiting = [await submit('What is 1+1?', one), await submit('What is 2+2?', one), await submit('What is 3+3?', one)];
    t.equal(valueOf(await scrape(), 'arpd_run_queue_depth'), 3, 'the daemon says three runs wait');

    await page.goto(`${daemon.url}/ui/#/overview`);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.getByTestId('queue-value').filter({ hasText: /^3$/ }).waitFor();
    t.pass('the queue chart shows the three waiting runs');
    t.equal(await page.getByTestId('runs-queued').textContent(), '3', 'the counts say so too');
    t.ok(await page.getByRole('region', { name: 'Queue depth' }).locator('.chart-plot canvas').count() > 0, 'the queue chart is drawn');
    t.equal(await page.getByTestId('rate-value').textContent(), '0', 'no run has ended: the rate is 0');
    await page.evaluate(WATCH_VALUES);

    t.equal((await api('POST', `/v1/runs/${holder}:cancel`)).status, 200, 'the holder is canceled');
    for (const id of waiting) await eventually(`run ${id} succeeds`, async () => ((await state(id)) === 'succeeded' ? true : undefined));
    await page.getByTestId('queue-value').filter({ hasText: /^0$/ }).waitFor();
    t.pass('the queue chart goes back to 0 without a reload');
    const rates = await eventually('the rate chart shows runs ending', async () => {
      const shown = (await page.evaluate('window.__shown.rate')) as string[];
      return shown.some((v) => Number(v) > 0) ? shown : undefined;
    });
    t.ok(rates.every((v) => Number.isFinite(Number(v)) && Number(v) >= 0), `every rate shown is a number of runs per second (${rates.join(', ')})`);
    t.equal(valueOf(await scrape(), 'arpd_runs_ended_total', { profile: 'one', outcome: 'succeeded' }), 3, 'the counter the rate is read from');
  });

  t.test('the runs page filters by instance', async (t) => {
    const elsewhere = await submit('What is 4+4?', other);
    await eventually('the run on the other instance ends', async () => ((await state(elsewhere)) === 'succeeded' ? true : undefined));
    const onOne = ((await api('GET', '/v1/runs?page_size=1000')).body as { runs: Json[] }).runs.filter((r) => r['runtime_instance_id'] === one).map((r) => String(r['run_id']));
    t.equal(onOne.length, 4, 'four runs went to the first instance');
    await page.goto(`${daemon.url}/ui/#/runs`);
    await page.locator(`tr[data-run="${elsewhere}"]`).waitFor();
    const ids = (): Promise<string[]> => page.locator('tr[data-run]').evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { run: string } }).dataset.run));
    t.equal((await ids()).length, 5, 'unfiltered: all five runs');
    await page.getByLabel('Instance', { exact: true }).selectOption(one);
    await page.locator(`tr[data-run="${elsewhere}"]`).waitFor({ state: 'detached' });
    await eventually('the filter applies', async () => ((await ids()).length === 4 ? true : undefined));
    t.same((await ids()).sort(), [...onOne].sort(), 'only the runs of that instance');
    await page.getByLabel('Instance', { exact: true }).selectOption(other);
    await page.locator(`tr[data-run="${elsewhere}"]`).waitFor();
    t.same(await ids(), [elsewhere], 'and of the other one');
  });

  t.test('the event log filters by stream', async (t) => {
    const runs = ((await api('GET', '/v1/runs?page_size=1000')).body as { runs: Json[] }).runs;
    const runId = String(runs[0]?.['run_id']);
    await page.goto(`${daemon.url}/ui/#/events`);
    await page.locator('#event-list .tstream').first().waitFor();
    const streams = (): Promise<string[]> => page.locator('#event-list .tstream').allTextContents();
    t.ok(new Set(await streams()).size > 1, 'unfiltered: events of several streams');
    await page.getByLabel('Stream', { exact: true }).fill(`run:${runId}`);
    await page.getByRole('button', { name: 'Apply filter' }).click();
    const shown = await eventually('the filter applies', async () => {
      const s = await streams();
      return s.length > 0 && s.every((x) => x === `run:${runId}`) ? s : undefined;
    });
    t.ok(shown.length >= 3, `only the run's events (${shown.length})`);
  });

  t.test('the event log filters by types typed with a trailing comma and spaces, as a list without the empty entry', async (t) => {
    await page.getByLabel('Stream', { exact: true }).fill('');
    // 'run.accepted run.accepted' is two entries, not one with a space (which the daemon refuses)
    await page.getByLabel('Types', { exact: true }).fill(' run.accepted run.accepted, ');
    await page.getByRole('button', { name: 'Apply filter' }).click();
    const types = (): Promise<string[]> => page.locator('#event-list .ttype').allTextContents();
    const shown = await eventually('the types filter applies', async () => {
      const s = await types();
      return s.length > 0 && s.every((x) => x === 'run.accepted') ? s : undefined;
    });
    t.ok(shown.length >= 1, `only run.accepted events (${shown.length}), no refused stream`);
    await page.getByLabel('Types', { exact: true }).fill('');
    await page.getByRole('button', { name: 'Apply filter' }).click();
  });

  t.test('no errors in the pages', async (t) => {
    t.same(problems.list, []);
  });
});
