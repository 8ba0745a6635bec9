/**
 * Accessibility and layout of every dashboard page in a real browser (Chromium), at 1280x800 and at phone width
 * (390x844), against a REAL daemon with an instance and runs: every control has an accessible name, text meets
 * WCAG AA contrast, no page scrolls sideways, and the keyboard reaches everything (skip link, navigation, lists).
 */
import t from 'tap';
import type { Page } from 'playwright-core';
import { DESKTOP, launchBrowser, login, newPage, PHONE } from '../helpers/browser.js';
import { clientOf, eventually, startHttpDaemon } from '../server/http-daemon.js';

/** Controls without an accessible name, from the page's accessibility tree. */
async function unnamedControls(page: Page): Promise<string[]> {
  const tree = await page.locator('body').ariaSnapshot();
  return tree.split('\n').filter((l) => /^\s*- (textbox|searchbox|combobox|button|checkbox|radio|slider|listbox|spinbutton|switch|link|option)(\s*$|\s*\[|:$)/.test(l));
}

/** Text whose contrast with what is behind it is below WCAG AA (4.5:1; 3:1 for large text). */
const CONTRAST = `(() => {
  const parse = (c) => { const m = /rgba?\\(([^)]+)\\)/.exec(c); if (!m) return null; const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 }; };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const blend = (fg, bg) => ({ r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a), a: 1 });
  const bgOf = (el) => { const layers = []; for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; } } let bg = { r: 255, g: 255, b: 255, a: 1 }; for (const l of layers.reverse()) bg = blend(l, bg); return bg; };
  const bad = []; const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const n = walker.currentNode; const el = n.parentElement;
    if (!n.textContent.trim() || !el || seen.has(el)) continue;
    seen.add(el);
    const cs = getComputedStyle(el); const box = el.getBoundingClientRect();
    if (cs.visibility === 'hidden' || box.width <= 1 || box.height <= 1 || el.closest('[disabled]')) continue;
    const bg = bgOf(el); const fg = blend(parse(cs.color), bg);
    const l1 = lum(fg), l2 = lum(bg); const ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const size = parseFloat(cs.fontSize); const need = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700) ? 3 : 4.5;
    if (ratio < need) bad.push(el.tagName + '.' + el.className + ' "' + n.textContent.trim().slice(0, 30) + '": ' + ratio.toFixed(2) + ' < ' + need);
  }
  return bad;
})()`;

const OVERFLOW = '({ scroll: document.documentElement.scrollWidth, view: window.innerWidth, wide: [...document.querySelectorAll("body *")].filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > window.innerWidth + 1 && !e.closest(".table-wrap, .vlist, pre, nav ul, .chart-plot"); }).slice(0, 5).map((e) => e.tagName + "." + e.className) })';

t.test('every page, desktop and phone', async (t) => {
  const daemon = await startHttpDaemon(t);
  const api = clientOf(daemon);
  const created = (await api('POST', '/v1/instances?wait=true', { json: { runtime_profile: 'default' } })).body as { instances: Array<{ instance_id: string }> };
  const instanceId = created.instances[0]?.instance_id ?? '';
  const runId = ((await api('POST', '/v1/runs', { json: { input: { goal: 'What is (19*23)?' } } })).body as { run_id: string }).run_id;
  await api('POST', '/v1/runs', { json: { input: { goal: 'fail:boom' } } });
  await eventually('the run ends', async () => (((await api('GET', `/v1/runs/${runId}`)).body as { state: string }).state === 'succeeded' ? true : undefined));
  const browser = await launchBrowser();
  t.teardown(() => browser.close());

  const pages: Array<[string, string, (p: Page) => Promise<void>]> = [
    ['login', '', async (p) => { await p.getByLabel('Token or JWT').waitFor(); }],
    ['overview', '#/overview', async (p) => { await p.getByTestId('runs-succeeded').filter({ hasText: '1' }).waitFor(); }],
    ['instances', `#/instances/${instanceId}`, async (p) => { await p.getByTestId('log-text').filter({ hasText: 'listening' }).waitFor(); }],
    ['profiles', '#/profiles/default', async (p) => { await p.getByRole('button', { name: 'Save profile' }).waitFor(); }],
    ['new profile', '#/profiles/new', async (p) => { await p.getByLabel('Extensions (JSON)').waitFor(); }],
    ['runs', '#/runs', async (p) => { await p.locator(`tr[data-run="${runId}"]`).waitFor(); }],
    ['run', `#/runs/${runId}`, async (p) => { await p.getByTestId('run-output').waitFor(); await p.locator('#trace-list [role="option"]').nth(2).click(); }],
    ['event log', '#/events', async (p) => { await p.locator('#event-list [role="option"]').first().waitFor(); const s = p.getByRole('slider', { name: /Event seq/ }); await eventually('the slider has the head', async () => (Number(await s.getAttribute('max')) > 5 ? true : undefined)); await s.fill('5'); await p.getByTestId('replay').waitFor(); }],
  ];

  for (const [size, viewport] of [['1280x800', DESKTOP], ['390x844 (phone)', PHONE]] as const) {
    t.test(`at ${size}: names, contrast, no sideways scrolling`, async (t) => {
      const { page, problems } = await newPage(browser, viewport);
      for (const [name, hash, ready] of pages) {
        if (name === 'login') await page.goto(`${daemon.url}/ui/`);
        else await page.goto(`${daemon.url}/ui/${hash}`);
        await ready(page);
        t.same(await unnamedControls(page), [], `${name}: every control has an accessible name`);
        t.same(await page.evaluate(CONTRAST), [], `${name}: every text meets WCAG AA contrast`);
        const o = (await page.evaluate(OVERFLOW)) as { scroll: number; view: number; wide: string[] };
        t.ok(o.scroll <= o.view, `${name}: no horizontal overflow (${o.scroll} <= ${o.view}; ${o.wide.join(', ')})`);
        if (name === 'login') await login(page, daemon.url, daemon.token);
      }
      t.same(problems.list, [], 'no errors in the pages');
    });
  }

  t.test('the keyboard reaches everything: skip link, navigation, the trace list', async (t) => {
    const { page } = await newPage(browser, DESKTOP);
    await login(page, daemon.url, daemon.token);
    await page.goto(`${daemon.url}/ui/#/overview`);
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    await page.locator('body').focus();
    await page.keyboard.press('Tab');
    t.equal(await page.evaluate('document.activeElement.textContent'), 'Skip to content', 'the first Tab stop is the skip link');
    t.not(await page.evaluate('getComputedStyle(document.activeElement).outlineStyle'), 'none', 'the focus is visible');
    await page.keyboard.press('Enter');
    t.equal(await page.evaluate('document.activeElement.id'), 'main', 'the skip link moves the focus to the content');
    await page.reload();
    await page.getByRole('heading', { name: 'Overview' }).waitFor();
    let found = false;
    for (let i = 0; i < 12 && !found; i++) {
      await page.keyboard.press('Tab');
      found = (await page.evaluate('document.activeElement.textContent')) === 'Runs';
    }
    t.ok(found, 'Tab reaches the Runs link');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Runs', exact: true }).waitFor();
    t.match(page.url(), /#\/runs$/, 'Enter follows it');
    await page.goto(`${daemon.url}/ui/#/runs/${runId}`);
    await page.getByTestId('run-output').waitFor();
    await page.getByRole('listbox', { name: /Trace lines/ }).focus();
    await page.keyboard.press('End');
    const last = await page.locator('#trace-list [aria-selected="true"]').getAttribute('aria-label');
    t.match(last, /succeeded$/, 'End selects the last line');
    await page.keyboard.press('ArrowUp');
    t.match(await page.locator('#trace-list [aria-selected="true"]').getAttribute('aria-label'), /final$/, 'ArrowUp the one before');
    t.match(await page.getByRole('region', { name: 'Trace' }).locator('pre.json').textContent(), /"type": "final"/, 'its JSON shows');
  });
});
