/**
 * A real browser for the dashboard's tests and screenshots: Debian's Chromium (`/usr/bin/chromium`, or
 * `$ARPD_CHROMIUM`) driven by playwright-core, which never downloads a browser. Playwright gives every launch a
 * fresh temporary profile (its own --user-data-dir) and removes it at close. A missing Chromium is an error
 * that says how to install it, never a skipped test.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env['ARPD_CHROMIUM'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the dashboard's browser tests need Chromium at ${CHROMIUM}, and there is none: install Debian's package with 'apt-get install -y chromium' (as root), or set ARPD_CHROMIUM to a Chromium binary`);
  }
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

export const DESKTOP = { width: 1280, height: 800 } as const;
export const PHONE = { width: 390, height: 844 } as const;

/** What went wrong in a page: console errors (CSP violations among them), uncaught exceptions. */
export interface PageProblems {
  list: string[];
}

export function watchPage(page: Page): PageProblems {
  const problems: PageProblems = { list: [] };
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    // a 401 while logged out, or the refusals the tests provoke, are answers the page shows, not faults
    if (/status of (401|400|403|404|409|413)/.test(text)) return;
    problems.list.push(`console: ${text}`);
  });
  page.on('pageerror', (e) => problems.list.push(`exception: ${e.message}`));
  return problems;
}

export async function newPage(browser: Browser, viewport: { width: number; height: number } = DESKTOP): Promise<{ context: BrowserContext; page: Page; problems: PageProblems }> {
  const context = await browser.newContext({ viewport, reducedMotion: 'reduce' });
  const page = await context.newPage();
  page.setDefaultTimeout(60_000);
  return { context, page, problems: watchPage(page) };
}

/** Opens the dashboard and logs in through its form. */
export async function login(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/ui/`);
  await page.getByLabel('Token or JWT').fill(token);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('navigation', { name: 'Main' }).waitFor();
}
