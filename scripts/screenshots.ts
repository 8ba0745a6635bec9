/**
 * `npm run screenshots`: starts a daemon on a scratch data dir (HTTP on a free port), gives it some history
 * (an instance, runs that succeed, one that fails, a profile), and writes a PNG of each dashboard page to
 * docs/screenshots/ (desktop 1280x800, plus the run page at phone width). Needs Debian's chromium.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DESKTOP, launchBrowser, login, newPage, PHONE } from '../test/helpers/browser.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const OUT = join(ROOT, 'docs', 'screenshots');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'arpd-shots-'));
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'bin', 'arpd.js'), 'serve', '--data-dir', dataDir, '--http-port', '0'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ARPD_HOME: '' } });
  try {
    const urlFile = join(dataDir, 'http.url');
    for (let i = 0; !existsSync(urlFile); i++) {
      if (i > 1200) throw new Error('the daemon did not start');
      await sleep(50);
    }
    const url = readFileSync(urlFile, 'utf8').trim();
    const token = readFileSync(join(dataDir, 'http.token'), 'utf8').trim();
    const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      const text = await res.text();
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
      return text === '' ? undefined : JSON.parse(text);
    };
    await call('PUT', '/v1/admin/runtime-profiles/echo-fast', { runtime_name: 'echo', description: 'The reference runtime, two runs at a time', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', '{arpd_runtime}', '--host', '{host}', '--port', '0'] }, 'arpd.runtime': { max_concurrent_runs: 2 } } });
    await call('POST', '/v1/instances?wait=true', { runtime_profile: 'default', count: 2 });
    const goals = ['What is (19*23)?', 'What is 2+3*4?', 'Summarise the day', 'What is (7*6)?', 'fail:the tool was not reachable', 'sleep:300 then What is 10/4?'];
    const ids: string[] = [];
    for (const goal of goals) ids.push(((await call('POST', '/v1/runs', { input: { goal } })) as { run_id: string }).run_id);
    for (const id of ids) {
      for (let i = 0; i < 600; i++) {
        const s = (await call('GET', `/v1/runs/${id}`)) as { state: string };
        if (['succeeded', 'failed', 'canceled'].includes(s.state)) break;
        await sleep(50);
      }
    }
    mkdirSync(OUT, { recursive: true });
    const browser = await launchBrowser();
    try {
      const { page, problems } = await newPage(browser, DESKTOP);
      await page.goto(`${url}/ui/`);
      await page.getByLabel('Token or JWT').waitFor();
      await page.screenshot({ path: join(OUT, 'login.png') });
      await login(page, url, token);
      // some traffic while the overview watches: the charts move
      for (let i = 0; i < 12; i++) {
        await call('POST', '/v1/runs', { input: { goal: `sleep:${400 + (i % 4) * 300} What is ${i}*${i + 1}?` } });
        await sleep(250);
      }
      await sleep(4000);
      await page.screenshot({ path: join(OUT, 'overview.png'), fullPage: true });
      await page.goto(`${url}/ui/#/instances/${(await call('GET', '/v1/instances') as { instances: Array<{ instance_id: string }> }).instances[0]?.instance_id ?? ''}`);
      await page.getByTestId('log-text').waitFor();
      await sleep(800);
      await page.screenshot({ path: join(OUT, 'instances.png'), fullPage: true });
      await page.goto(`${url}/ui/#/profiles/echo-fast`);
      await page.getByRole('button', { name: 'Save profile' }).waitFor();
      await page.screenshot({ path: join(OUT, 'profiles.png'), fullPage: true });
      await page.goto(`${url}/ui/#/runs`);
      await page.locator(`tr[data-run="${ids[0] ?? ''}"]`).waitFor();
      await page.screenshot({ path: join(OUT, 'runs.png'), fullPage: true });
      await page.goto(`${url}/ui/#/runs/${ids[0] ?? ''}`);
      await page.getByTestId('run-output').waitFor();
      await page.locator('#trace-list [role="option"]').nth(5).click();
      await page.screenshot({ path: join(OUT, 'run.png'), fullPage: true });
      await page.goto(`${url}/ui/#/runs/${ids[4] ?? ''}`);
      await page.getByTestId('run-error').waitFor();
      await page.screenshot({ path: join(OUT, 'run-failed.png'), fullPage: true });
      await page.goto(`${url}/ui/#/events`);
      await page.locator('#event-list [role="option"]').first().waitFor();
      const slider = page.getByLabel(/^Event seq/);
      await page.waitForFunction(() => Number((globalThis as unknown as { document: { querySelector(s: string): { max: string } | null } }).document.querySelector('#tt-seq')?.max ?? 0) > 1);
      await slider.focus();
      for (let i = 0; i < 30; i++) await page.keyboard.press('ArrowLeft');
      await page.getByTestId('replay').waitFor();
      await sleep(500);
      await page.screenshot({ path: join(OUT, 'events.png'), fullPage: true });
      const phone = await newPage(browser, PHONE);
      await login(phone.page, url, token);
      await phone.page.goto(`${url}/ui/#/runs/${ids[0] ?? ''}`);
      await phone.page.getByTestId('run-output').waitFor();
      await phone.page.screenshot({ path: join(OUT, 'run-phone.png'), fullPage: true });
      if (problems.list.length + phone.problems.list.length > 0) throw new Error(`the pages reported problems:\n${[...problems.list, ...phone.problems.list].join('\n')}`);
    } finally {
      await browser.close();
    }
    process.stdout.write(`screenshots written to ${OUT}\n`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
