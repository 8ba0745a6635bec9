/**
 * The dashboard end to end in a real browser (Debian's Chromium through playwright-core) against a REAL daemon
 * with real runtime processes: log in, start an instance from the form, submit a run from the form and watch
 * its trace arrive live until it succeeds, see a failing run's error, travel back to before the run was
 * submitted and not find it; and a live page that loses its connection resumes without a gap or a repeat.
 */
import { createServer, connect, type Server, type Socket } from 'node:net';
import t from 'tap';
import type { Page } from 'playwright-core';
import { launchBrowser, login, newPage } from '../helpers/browser.js';
import { clientOf, eventually, startHttpDaemon } from '../server/http-daemon.js';

type Json = Record<string, unknown>;

/** A TCP proxy in front of the daemon whose connections the test can cut, and that can refuse new ones. */
async function cuttableProxy(t: { teardown(fn: () => unknown): void }): Promise<{ url: string; host: string; target(to: URL): void; cut(): void; refuse(on: boolean): void }> {
  const sockets = new Set<Socket>();
  let refusing = false;
  let to: URL | undefined;
  const server: Server = createServer((client) => {
    if (refusing || to === undefined) { client.destroy(); return; }
    const up = connect(Number(to.port), to.hostname);
    sockets.add(client);
    sockets.add(up);
    client.pipe(up).on('error', () => undefined);
    up.pipe(client).on('error', () => undefined);
    const drop = (): void => { client.destroy(); up.destroy(); sockets.delete(client); sockets.delete(up); };
    client.on('close', drop).on('error', drop);
    up.on('close', drop).on('error', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  const port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    target: (u) => { to = u; },
    cut: () => { for (const s of [...sockets]) s.destroy(); sockets.clear(); },
    refuse: (on) => { refusing = on; },
  };
}

function nav(page: Page, name: string) {
  return page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
}

/** The first and last seq and the count the event page says it shows. */
async function shownEvents(page: Page): Promise<{ count: number; first: number; last: number }> {
  const text = (await page.getByTestId('event-count').textContent()) ?? '';
  const m = /^(\d+) events shown, seq (\d+) to (\d+)/.exec(text);
  return m === null ? { count: 0, first: 0, last: 0 } : { count: Number(m[1]), first: Number(m[2]), last: Number(m[3]) };
}

t.test('the dashboard in a browser', async (t) => {
  // the cut-able proxy a live page goes through stands in for a reverse proxy: the daemon is told its address
  const proxy = await cuttableProxy(t);
  const daemon = await startHttpDaemon(t, ['--no-autostart-instances', '--allowed-hosts', proxy.host]);
  proxy.target(new URL(daemon.url));
  const api = clientOf(daemon);
  const admin = clientOf(daemon, { admin: true });
  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const { page, problems } = await newPage(browser);

  t.test('refuses a wrong token with a clear message, then logs in with the right one', async (t) => {
    await page.goto(`${daemon.url}/ui/`);
    await page.getByLabel('Token or JWT').fill('not-the-token-not-the-token-not-the-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    const err = page.locator('#login-token-error');
    await err.waitFor();
    t.match(await err.textContent(), /^that token was refused \(the bearer token is wrong\): paste the token/, 'the message says the token was refused and where the right one is');
    t.equal(await page.getByLabel('Token or JWT').getAttribute('aria-invalid'), 'true', 'the field is marked invalid');
    t.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 0, 'still logged out');
    await login(page, daemon.url, daemon.token);
    t.ok(await page.getByRole('heading', { name: 'Overview' }).isVisible(), 'the overview shows');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'arpd_session');
    t.ok(session?.httpOnly === true && session.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
    t.notOk(page.url().includes(daemon.token), 'the token is not in the URL');
    t.equal(await page.evaluate('document.cookie.includes("arpd_session")'), false, 'the page cannot read the session cookie');
  });

  t.test('starts an instance from the form and sees it become ready without a reload', async (t) => {
    await nav(page, 'Instances').click();
    await page.evaluate('window.__sameDocument = true');
    await page.getByLabel('Count').fill('1');
    await page.getByRole('button', { name: 'Start', exact: true }).click();
    const row = page.locator('tr[data-instance]').first();
    await row.locator('.badge-ready').waitFor({ timeout: 120_000 });
    const id = (await row.getAttribute('data-instance')) ?? '';
    t.match(id, /^inst_/, 'a new instance row');
    t.equal(await page.evaluate('window.__sameDocument'), true, 'the row changed state live, without a reload');
    const listed = ((await api('GET', '/v1/instances')).body as { instances: Json[] }).instances;
    t.same(listed.map((i) => [i['instance_id'], i['state']]), [[id, 'ready']], 'the daemon has exactly that instance, ready');
    await row.getByRole('link', { name: `Output of ${id}` }).click();
    await page.getByTestId('log-text').filter({ hasText: '"event":"listening"' }).waitFor();
    t.pass("the instance's stdout is tailed live");
  });

  let runId = '';
  t.test('submits a run from the form and watches its trace arrive live until it succeeds', async (t) => {
    await nav(page, 'Runs').click();
    await page.getByLabel('Goal').fill('sleep:2500 What is (19*23)?');
    await page.getByRole('button', { name: 'Submit run' }).click();
    await page.waitForURL(/#\/runs\/run_/);
    runId = decodeURIComponent(page.url().replace(/^.*#\/runs\//, ''));
    await page.evaluate('window.__sameDocument = true');
    // while the runtime sleeps: the run is running and its plan has not been traced yet
    await page.getByTestId('run-state').locator('.badge-running').waitFor();
    await page.locator('#trace-list .tdata', { hasText: '"name":"sleep"' }).waitFor();
    const early = await page.locator('#trace-list .ttype').allTextContents();
    t.notOk(early.includes('final'), `the page showed the run before its end (lines: ${early.join(', ')})`);
    // then the rest arrives over the stream
    await page.getByTestId('run-state').locator('.badge-succeeded').waitFor();
    await page.getByTestId('run-output').waitFor();
    t.equal(await page.getByTestId('run-output').textContent(), '(19*23) = 437', 'the result shows');
    const types = await page.locator('#trace-list .ttype').allTextContents();
    t.same(types.slice(-4), ['tool_result', 'step', 'final', 'succeeded'], 'the last lines arrived live');
    t.equal(await page.evaluate('window.__sameDocument'), true, 'no reload happened');
    const trace = ((await api('GET', `/v1/runs/${runId}/trace`)).body as { events: Json[] }).events;
    t.equal(await page.getByTestId('trace-count').textContent(), `${trace.length} of ${trace.length} lines`, 'every line of the trace, once');
    await page.locator('#trace-list').focus();
    await page.keyboard.press('Home');
    await page.keyboard.press('ArrowDown');
    const json = page.getByRole('region', { name: 'Trace' }).locator('pre.json');
    t.match(await json.textContent(), /"seq": 2,[\s\S]*"type": "queued"/, 'the keyboard picks line 2 and its raw JSON shows');
    await page.getByRole('checkbox', { name: 'info' }).uncheck();
    t.equal(await page.getByTestId('trace-count').textContent(), `0 of ${trace.length} lines`, 'the level filter hides the info lines');
    await page.getByRole('checkbox', { name: 'info' }).check();
  });

  t.test("shows a failing run's error", async (t) => {
    await nav(page, 'Runs').click();
    await page.getByLabel('Goal').fill('fail:boom');
    await page.getByRole('button', { name: 'Submit run' }).click();
    await page.waitForURL(/#\/runs\/run_/);
    await page.getByTestId('run-state').locator('.badge-failed').waitFor();
    const err = page.getByTestId('run-error');
    await err.waitFor();
    t.match(await err.textContent(), /runtime\.failed: boom/, 'the error code and message show');
    t.ok(await page.locator('#trace-list .lvl-error').count() > 0, 'the failure line is marked as an error');
    await page.getByRole('link', { name: 'All runs' }).click();
    await page.getByLabel('State').selectOption('failed');
    // the unfiltered list also shows the failed run, and is cleared while the filtered one loads: wait for one row
    const rows = (): Promise<string[]> => page.locator('tr[data-run]').evaluateAll((els) => els.map((r) => (r as unknown as { dataset: { run: string } }).dataset.run));
    const failed = await eventually('the state filter applies', async () => { const got = await rows(); return got.length === 1 ? got : undefined; });
    t.equal(failed.length, 1, 'the state filter shows the one failed run');
    t.equal(await page.locator('tr[data-run] .badge-failed').count(), 1, 'marked failed');
    t.notOk(failed.includes(runId), 'and not the succeeded one');
  });

  t.test('pages through runs newest first, searches by id prefix and filters by profile', async (t) => {
    await admin('PUT', '/v1/admin/runtime-profiles/idle', { json: { runtime_name: 'idle', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['true'] } } } });
    for (let i = 1; i <= 27; i++) await api('POST', '/v1/runs', { json: { run_id: `page-${String(i).padStart(2, '0')}`, input: { goal: 'What is 1+1?' } } });
    await eventually('the runs end', async () => ((((await api('GET', '/v1/runs?state=succeeded&page_size=1000')).body as { runs: Json[] }).runs.length >= 28) ? true : undefined));
    await nav(page, 'Runs').click();
    const ids = (): Promise<string[]> => page.locator('tr[data-run]').evaluateAll((rows) => rows.map((r) => (r as unknown as { dataset: { run: string } }).dataset.run));
    await page.locator('tr[data-run="page-27"]').waitFor();
    const first = await ids();
    t.equal(first.length, 25, 'a page holds 25 runs');
    t.same(first.slice(0, 3), ['page-27', 'page-26', 'page-25'], 'newest first');
    await page.getByRole('button', { name: 'Older' }).click();
    await page.locator('tr[data-run="page-02"]').waitFor();
    const second = await ids();
    t.same(second.slice(0, 2), ['page-02', 'page-01'], 'the next page goes on where the first stopped');
    t.equal(second.filter((id) => first.includes(id)).length, 0, 'no run on both pages');
    await page.getByRole('button', { name: 'Newer' }).click();
    await page.getByLabel('Run id starts with').fill('page-1');
    await page.locator('tr[data-run]').first().waitFor();
    await eventually('the search applies', async () => ((await ids()).length === 10 ? true : undefined));
    t.same(await ids(), ['page-19', 'page-18', 'page-17', 'page-16', 'page-15', 'page-14', 'page-13', 'page-12', 'page-11', 'page-10'], 'the id prefix search');
    await page.getByLabel('Run id starts with').fill('');
    await page.getByLabel('Profile', { exact: true }).selectOption('default');
    // the list is reloaded for the filter (empty for a moment): wait for a full page, and check the one that came
    const onDefault = await eventually('the profile filter applies', async () => { const got = await ids(); return got.length === 25 ? got : undefined; });
    t.equal(onDefault[0], 'page-27', 'the runs on default instances show, newest first');
    await page.getByLabel('Profile', { exact: true }).selectOption('idle');
    await page.getByText('No runs match.').waitFor();
    t.same(await ids(), [], 'a profile no run went to shows none');
    await page.getByLabel('Profile', { exact: true }).selectOption('');
  });

  t.test('travels back to before the run was submitted and does not find it', async (t) => {
    const trace = ((await api('GET', `/v1/runs/${runId}/trace`)).body as { events: Array<{ extensions: { 'arpd.event': { seq: number } } }> }).events;
    const acceptedSeq = trace[0]?.extensions['arpd.event'].seq ?? 0;
    t.ok(acceptedSeq > 1, `the run was accepted at seq ${acceptedSeq}`);
    await nav(page, 'Event log').click();
    const slider = page.getByRole('slider', { name: /Event seq/ });
    await eventually('the slider knows the head of the log', async () => (Number(await slider.getAttribute('max')) >= acceptedSeq ? true : undefined));
    await slider.fill(String(acceptedSeq - 1));
    const replay = page.getByTestId('replay');
    await replay.filter({ hasText: `As of event ${acceptedSeq - 1}` }).waitFor();
    t.equal(await replay.locator(`tr[data-run="${runId}"]`).count(), 0, 'before its submission the run is absent');
    await slider.fill(String(acceptedSeq));
    await replay.filter({ hasText: `As of event ${acceptedSeq}` }).waitFor();
    t.equal(await replay.locator(`tr[data-run="${runId}"] .badge`).textContent(), 'queued', 'at its submission it is there, queued');
    await page.getByRole('button', { name: 'Back to now' }).click();
    await page.getByLabel('Types').fill('run.failed');
    await page.getByRole('button', { name: 'Apply filter' }).click();
    await eventually('the filter applies', async () => {
      const types = await page.locator('#event-list .ttype').allTextContents();
      return types.length > 0 && types.every((x) => x === 'run.failed') ? types : undefined;
    });
    t.pass('the type filter leaves only run.failed events');
  });

  t.test('a live page that loses its connection resumes from the last seq: no gap, no repeat', async (t) => {
    const p = await newPage(browser);
    t.teardown(() => p.context.close());
    await login(p.page, proxy.url, daemon.token);
    await p.page.goto(`${proxy.url}/ui/#/events`);
    await p.page.locator('.stream-live').first().waitFor();
    const submit = async (): Promise<number> => {
      await api('POST', '/v1/runs', { json: { input: { goal: 'What is 1+1?' } } });
      return ((await api('GET', '/v1/admin/status')).body as { last_seq: number }).last_seq;
    };
    const head1 = await submit();
    await eventually('the page shows the first run', async () => ((await shownEvents(p.page)).last >= head1 ? true : undefined));
    proxy.refuse(true);
    proxy.cut();
    await p.page.locator('.stream-reconnecting').first().waitFor();
    t.pass('the page says it is reconnecting');
    const head2 = await submit();
    proxy.refuse(false);
    await p.page.locator('.stream-live').first().waitFor({ timeout: 120_000 });
    await eventually('the page catches up', async () => ((await shownEvents(p.page)).last >= head2 ? true : undefined));
    const shown = await shownEvents(p.page);
    t.ok(shown.last >= head2, 'the events written while it was cut off arrived');
    t.equal(shown.count, shown.last - shown.first + 1, `seq ${shown.first} to ${shown.last}: every seq once (no gap, no repeat)`);
    const seqs = await p.page.locator('#event-list [data-seq]').evaluateAll((els) => els.map((e) => Number((e as unknown as { dataset: { seq: string } }).dataset.seq)));
    t.same(seqs, [...seqs].sort((a, b) => a - b).filter((s, i, all) => all.indexOf(s) === i), 'the rows in view are in order without repeats');
    t.same(p.problems.list.filter((m) => !/net::ERR_(INCOMPLETE_CHUNKED_ENCODING|CONNECTION_RESET|CONNECTION_CLOSED|EMPTY_RESPONSE)/.test(m)), [], 'no errors in the page but the cut connections');
  });

  t.test('stops and deletes an instance after a confirmation', async (t) => {
    await nav(page, 'Instances').click();
    const row = page.locator('tr[data-instance]').first();
    await row.locator('.badge-ready').waitFor();
    const id = (await row.getAttribute('data-instance')) ?? '';
    await row.getByRole('button', { name: `Stop and delete ${id}` }).click();
    t.equal(((await api('GET', `/v1/instances/${id}`)).body as Json)['state'], 'ready', 'the first click only asks');
    await row.getByRole('button', { name: `Confirm: stop and delete ${id}` }).click();
    await page.locator(`tr[data-instance="${id}"]`).waitFor({ state: 'detached' });
    const after = await api('GET', `/v1/instances/${id}`);
    t.ok(after.status === 404 || (after.body as Json)['state'] === 'stopped', 'the daemon stopped it');
  });

  t.test('the pages raised no errors and broke no Content-Security-Policy rule', async (t) => {
    t.same(problems.list, []);
  });
});
