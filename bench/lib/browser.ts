import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/**
 * Debian's Chromium (`/usr/bin/chromium` or `$ARPD_CHROMIUM`) through playwright-core, for the dashboard
 * benchmark; playwright gives the launch a fresh temporary profile. (test/helpers/browser.ts is the tests' twin:
 * benchmarks do not import from test/.)
 */
export const CHROMIUM = process.env['ARPD_CHROMIUM'] ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's package with 'apt-get install -y chromium', or set ARPD_CHROMIUM`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 60_000,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
