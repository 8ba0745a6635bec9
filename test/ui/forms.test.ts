/**
 * Bad input in the dashboard's forms, in a real browser (Chromium) against a REAL daemon: invalid profile JSON
 * and a profile the daemon refuses show the error next to the field (tied to it for screen readers) and save
 * nothing; a 10 MB paste or request is refused cleanly before it is sent, and the page keeps working.
 */
import t from 'tap';
import { launchBrowser, login, newPage } from '../helpers/browser.js';
import { clientOf, startHttpDaemon } from '../server/http-daemon.js';

const PASTE_10MB = `(() => {
  const ta = document.getElementById('p-extensions');
  ta.focus();
  const dt = new DataTransfer();
  dt.setData('text/plain', 'x'.repeat(10 * 1024 * 1024));
  const accepted = ta.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
  return { accepted, length: ta.value.length };
})()`;

t.test('bad input in the forms', async (t) => {
  const daemon = await startHttpDaemon(t, ['--no-autostart-instances']);
  const api = clientOf(daemon);
  const browser = await launchBrowser();
  t.teardown(() => browser.close());
  const { page, problems } = await newPage(browser);
  // the profile forms change the safe list: that needs the admin token's session
  await login(page, daemon.url, daemon.adminToken);
  const ext = page.getByLabel('Extensions (JSON)');
  const extError = page.locator('#p-extensions-error');
  const save = page.getByRole('button', { name: 'Save profile' });

  t.test('invalid profile JSON shows where it breaks, next to the field, and saves nothing', async (t) => {
    await page.goto(`${daemon.url}/ui/#/profiles/new`);
    await page.getByLabel('Name', { exact: true }).fill('broken');
    await ext.fill('{\n  "arp.jarvis.exec": { "driver": "command",, }\n}');
    await save.click();
    await extError.filter({ hasText: 'not valid JSON' }).waitFor();
    t.match(await extError.textContent(), /^Extensions is not valid JSON at line 2, column \d+/, 'the message names the line and column');
    t.equal(await ext.getAttribute('aria-invalid'), 'true', 'the field is marked invalid');
    t.match(await ext.getAttribute('aria-describedby'), /\bp-extensions-error\b/, 'and points at its error');
    t.equal((await api('GET', '/v1/admin/runtime-profiles/broken')).status, 404, 'nothing was saved');
  });

  t.test("the daemon's refusal shows next to the field it names", async (t) => {
    await ext.fill('{ "arp.jarvis.exec": { "driver": "nope" } }');
    await save.click();
    await extError.filter({ hasText: 'is not a driver' }).waitFor();
    t.match(await extError.textContent(), /driver "nope" of profile broken is not a driver: use "command", "pip" or "npm"/, "the daemon's message, at the Extensions field");
    t.equal(await page.locator('#p-name-error').textContent(), '', 'not at the name');
    await page.getByLabel('Name', { exact: true }).fill('../etc');
    await ext.fill('{ "arp.jarvis.exec": { "driver": "command", "command_template": ["true"] } }');
    await save.click();
    await page.locator('#p-name-error').filter({ hasText: "Use letters, digits" }).waitFor();
    t.pass('a name that is no safe id is refused at the name');
    t.equal((await api('GET', '/v1/admin/runtime-profiles/broken')).status, 404, 'nothing was saved');
  });

  t.test('a 10 MB paste is refused with a message, and the form still works after', async (t) => {
    const r = (await page.evaluate(PASTE_10MB)) as { accepted: boolean; length: number };
    t.equal(r.accepted, false, 'the paste is refused (its default action is prevented)');
    t.ok(r.length < 1000, 'the field did not take it');
    await extError.filter({ hasText: 'The paste was refused' }).waitFor();
    t.match(await extError.textContent(), /it is 10\.0 MB, and the daemon takes at most 1\.0 MB per request/, 'the message gives both sizes');
    await page.getByLabel('Name', { exact: true }).fill('fine');
    await ext.fill('{ "arp.jarvis.exec": { "driver": "command", "command_template": ["true"] } }');
    await save.click();
    await page.waitForURL(/#\/profiles\/fine$/);
    await page.getByRole('heading', { name: 'Profile fine' }).waitFor();
    t.equal((await api('GET', '/v1/admin/runtime-profiles/fine')).status, 200, 'a good profile saves');
  });

  t.test('deletes a profile after a confirmation', async (t) => {
    await page.goto(`${daemon.url}/ui/#/profiles/fine`);
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    t.equal((await api('GET', '/v1/admin/runtime-profiles/fine')).status, 200, 'the first click only asks');
    await page.getByRole('button', { name: 'Confirm delete fine' }).click();
    await page.waitForURL(/#\/profiles$/);
    t.equal((await api('GET', '/v1/admin/runtime-profiles/fine')).status, 404, 'the profile is gone');
    await page.getByRole('link', { name: /^default/ }).waitFor();
    // the list follows the event stream: the deletion may reach it a moment after the page changed
    const gone = await page.getByRole('link', { name: /^fine/ }).waitFor({ state: 'detached', timeout: 15_000 }).then(() => true, () => false);
    t.ok(gone, 'and gone from the list');
  });

  t.test('a 10 MB run request is refused before it is sent, and the page stays usable', async (t) => {
    await page.goto(`${daemon.url}/ui/#/runs`);
    await page.getByText('Or a whole RunRequest as JSON').click();
    const raw = page.getByLabel('RunRequest (JSON)');
    // 10 MB put in the field the way a drop or an autofill does (an input event), made in the page itself
    const refused = await page.evaluate(`(() => {
      const ta = document.getElementById('run-json');
      ta.value = JSON.stringify({ input: { goal: 'What is 1+1?', data: { lines: Array.from({ length: 100000 }, () => 'x'.repeat(105)) } } }, null, 1);
      ta.dispatchEvent(new Event('input', { bubbles: true }));
      return ta.value.length;
    })()`);
    t.equal(refused, 0, 'the field gives the 10 MB back at once');
    const err = page.locator('#run-json-error');
    await err.filter({ hasText: 'MB' }).waitFor();
    t.match(await err.textContent(), /^That text was refused: it is 10\.\d MB, and the daemon takes at most 1\.0 MB per request/, 'the message says how big and the limit');
    await page.getByRole('button', { name: 'Submit run' }).click();
    await page.locator('#run-goal-error').filter({ hasText: 'Write a goal' }).waitFor();
    t.pass('submitting then asks for a goal: nothing of the 10 MB is left to send');
    t.same(((await api('GET', '/v1/runs')).body as { runs: unknown[] }).runs, [], 'no run was submitted');
    await raw.fill('');
    await page.getByLabel('Goal').fill('What is 2+2?');
    await page.getByRole('button', { name: 'Submit run' }).click();
    // no instance runs and the daemon may not start one: it refuses at once, and the form shows why
    const refusal = page.getByRole('alert').filter({ hasText: 'no instance is running' });
    await refusal.waitFor();
    t.match(await refusal.textContent(), /--no-autostart-instances is set, so arpd starts none: start one with 'arpd instances start --profile <name>' \(profiles: default\)/, "the daemon's refusal shows in the form, saying what to do");
    t.equal((await api('POST', '/v1/instances', { json: { runtime_profile: 'default' } })).status, 200, 'an instance is started as the message says');
    await page.getByRole('button', { name: 'Submit run' }).click();
    await page.waitForURL(/#\/runs\/run_/);
    t.pass('the form submits a good run after');
  });

  t.test('no errors in the page', async (t) => {
    t.same(problems.list, []);
  });
});
