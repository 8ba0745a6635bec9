import type { Page } from 'playwright-core';
import type { Bench, BenchContext } from './lib/bench.js';
import { launchChromium } from './lib/browser.js';
import { BURST_RUNTIME, startDaemon, type Daemon } from './lib/daemon.js';
import { figure, type BenchResult, type Figure } from './lib/report.js';
import { median, summarize } from './lib/stats.js';

/**
 * The dashboard's run page while a run writes 2,000 trace lines a second (the burst runtime, `burst:N@2000`):
 * a real daemon, the page in Debian's Chromium (1280x800), logged in with the session cookie. In the page, a
 * probe counts animation frames and long tasks and notes, each frame, the newest line drawn and how old it is
 * (now − the line's time, when arpd wrote it). Baselines from the same run: the same page idle for as long
 * (frames), a bare Node reader of the same SSE stream (how old each line is when it arrives, no drawing), and
 * the runtime's own emit rate (lines drawn per second).
 */

const RATE = 2000;

const PROBE = `(() => {
  const p = { frames: [], longTasks: [], lags: [], lastSeq: -1 };
  window.__probe = p;
  try { new PerformanceObserver((l) => { for (const e of l.getEntries()) p.longTasks.push([e.startTime, e.duration]); }).observe({ type: 'longtask', buffered: true }); } catch {}
  const loop = (t) => {
    p.frames.push(t);
    const rows = document.querySelectorAll('#trace-list [data-seq]');
    let newest = null; let seq = -1;
    for (const r of rows) { const s = Number(r.dataset.seq); if (s > seq) { seq = s; newest = r; } }
    if (newest !== null && seq > p.lastSeq) { p.lastSeq = seq; p.lags.push([t, Date.now() - Date.parse(newest.dataset.time), seq]); }
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
})()`;

interface Probe { frames: number[]; longTasks: Array<[number, number]>; lags: Array<[number, number, number]> }

interface Trial {
  fpsRun: number;
  fpsIdle: number;
  longestGapRunMs: number;
  longestGapIdleMs: number;
  longTaskMsPerSec: number;
  renderLagP50: number;
  renderLagP99: number;
  bareLagP50: number;
  bareLagP99: number;
  drawnPerSec: number;
  linesShown: number;
  linesTotal: number;
}

/** Reads a run's SSE trace with the bearer token: how old each line is when it arrives (ms). */
async function bareReader(url: string, token: string, runId: string): Promise<number[]> {
  for (let i = 0; i < 100; i++) {
    const r = await fetch(`${url}/v1/runs/${runId}`, { headers: { authorization: `Bearer ${token}` } });
    await r.text();
    if (r.ok) break;
    await new Promise((res) => setTimeout(res, 20));
  }
  const res = await fetch(`${url}/v1/runs/${runId}/events`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } });
  if (!res.ok || res.body === null) throw new Error(`the bare reader got HTTP ${res.status}`);
  const lags: number[] = [];
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of res.body) {
    buf += decoder.decode(chunk as Uint8Array, { stream: true });
    let at: number;
    while ((at = buf.indexOf('\n\n')) !== -1) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (block.includes('event: trace') && data !== undefined) lags.push(Date.now() - Date.parse((JSON.parse(data.slice(6)) as { time: string }).time));
    }
  }
  return lags;
}

function frameStats(frames: number[], from: number, to: number): { fps: number; longestGap: number } {
  const inside = frames.filter((f) => f >= from && f <= to);
  let longest = 0;
  for (let i = 1; i < inside.length; i++) longest = Math.max(longest, (inside[i] as number) - (inside[i - 1] as number));
  return { fps: (inside.length - 1) / ((to - from) / 1000), longestGap: longest };
}

async function trial(ctx: BenchContext, daemon: Daemon, page: Page, n: number, runId: string): Promise<Trial> {
  const { httpUrl, token } = daemon as { httpUrl: string; token: string };
  const submitted = fetch(`${httpUrl}/v1/runs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ run_id: runId, input: { goal: `burst:${n}@${RATE}` }, runtime_selector: { runtime_profile: 'burst' } }),
  });
  const bare = bareReader(httpUrl, token, runId);
  const res = await submitted;
  if (!res.ok) throw new Error(`submit: ${res.status} ${await res.text()}`);
  await page.goto(`${httpUrl}/ui/#/runs/${runId}`);
  await page.evaluate(PROBE);
  const opened = (await page.evaluate('performance.now()')) as number;
  await page.getByTestId('run-state').locator('.badge-succeeded').waitFor({ timeout: 120_000 });
  await page.waitForTimeout(300);
  const ended = (await page.evaluate('performance.now()')) as number;
  // the same page, idle, for as long
  const idleFor = Math.min(3000, ended - opened);
  await page.waitForTimeout(idleFor + 200);
  const probe = (await page.evaluate('window.__probe')) as Probe;
  const bareLags = await bare;
  // the steady part: from 1 s after the page opened (its catch-up done) to the last line drawn
  const from = opened + 1000;
  const lastDrawn = probe.lags.length === 0 ? ended : (probe.lags[probe.lags.length - 1] as [number, number, number])[0];
  const steady = probe.lags.filter(([t]) => t >= from);
  const run = frameStats(probe.frames, from, lastDrawn);
  const idle = frameStats(probe.frames, ended + 100, ended + 100 + idleFor);
  const first = steady[0];
  const last = steady[steady.length - 1];
  const count = ((await page.getByTestId('trace-count').textContent()) ?? '').split(' ');
  const longMs = probe.longTasks.filter(([s]) => s >= from && s <= lastDrawn).reduce((a, [, d]) => a + d, 0);
  const render = summarize(steady.map(([, l]) => l));
  const bareS = summarize(bareLags.slice(Math.floor(bareLags.length * 0.1)));
  ctx.log(`  ${runId}: ${steady.length} frames drew new lines; ${probe.longTasks.length} long tasks`);
  return {
    fpsRun: run.fps,
    fpsIdle: idle.fps,
    longestGapRunMs: run.longestGap,
    longestGapIdleMs: idle.longestGap,
    longTaskMsPerSec: longMs / ((lastDrawn - from) / 1000),
    renderLagP50: render.p50,
    renderLagP99: render.p99,
    bareLagP50: bareS.p50,
    bareLagP99: bareS.p99,
    drawnPerSec: first === undefined || last === undefined || last[0] === first[0] ? 0 : ((last[2] - first[2]) * 1000) / (last[0] - first[0]),
    linesShown: Number(count[0]),
    linesTotal: Number(count[2]),
  };
}

async function run(ctx: BenchContext): Promise<BenchResult> {
  const seconds = ctx.quick ? 3 : 10;
  const trials = ctx.quick ? 1 : 3;
  const n = RATE * seconds;
  const daemon = await startDaemon({ args: ['--no-autostart-instances'] });
  const browser = await launchChromium();
  const got: Trial[] = [];
  try {
    const c = await daemon.client();
    await c.call('profiles.upsert', {
      runtime_profile: 'burst',
      request: { runtime_name: 'arpd-burst-runtime', extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['{node}', BURST_RUNTIME, '--host', '{host}', '--port', '0'] } } },
    });
    await c.call('instances.create', { request: { runtime_profile: 'burst', count: 1 }, wait: true }, { timeoutMs: 60_000 });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${daemon.httpUrl ?? ''}/ui/`);
    await page.getByLabel('Token or JWT').fill(daemon.token ?? '');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    await trial(ctx, daemon, page, RATE, 'ui-warm');
    for (let i = 0; i < trials; i++) {
      await ctx.settle();
      got.push(await trial(ctx, daemon, page, n, `ui-trace-${i}`));
    }
  } finally {
    await browser.close();
    await daemon.stop();
  }
  const m = (k: keyof Trial): number => median(got.map((g) => g[k]));
  const figures: Figure[] = [
    figure('frames per second while 2,000 lines/s arrive (vs the same page idle)', 'frames/s', m('fpsRun'), m('fpsIdle'), { op: '>=', ratio: 0.9 }),
    figure('lines drawn per second (vs lines the runtime emits per second)', 'lines/s', m('drawnPerSec'), RATE, { op: '>=', ratio: 0.95 }),
    figure('age of the newest line when drawn, p50 (vs when a bare SSE reader gets it)', 'ms', m('renderLagP50'), m('bareLagP50'), { op: '<=', ratio: 2 }),
    figure('age of the newest line when drawn, p99 (vs a bare SSE reader)', 'ms', m('renderLagP99'), m('bareLagP99'), { op: '<=', ratio: 2 }),
    figure('longest frame gap while lines arrive (vs idle)', 'ms', m('longestGapRunMs'), m('longestGapIdleMs')),
  ];
  return {
    name: 'ui-trace',
    title: 'the dashboard run page with a run writing 2,000 trace lines/s',
    baseline: 'the same page idle (frames), a bare Node SSE reader of the same stream (line age), the runtime\'s emit rate (lines/s)',
    figures,
    notes: [
      `${trials} trial(s) of ${n.toLocaleString('en-US')} lines at ${RATE}/s; medians; Chromium ${browser.version()} headless at 1280x800`,
      `long tasks while lines arrive: ${m('longTaskMsPerSec').toFixed(0)} ms per second of main-thread time (median)`,
      `lines on the page at the end: ${got.map((g) => `${g.linesShown} of ${g.linesTotal}`).join(', ')}`,
    ],
    raw: { trials: got },
  };
}

export const bench: Bench = { name: 'ui-trace', title: 'the dashboard run page at 2,000 trace lines/s', run };
