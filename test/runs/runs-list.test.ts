/**
 * `runs.list` pages in submission order with a token that stays valid while runs arrive: walking the
 * pages while more runs are submitted shows every run once, none skipped, none twice.
 */
import t from 'tap';
import { RuntimeHarness, oracleCheck, runtimeHarness, type Json } from '../helpers/runtime-harness.js';

interface Page { runs: Json[]; pagination: { page_size: number; next_page_token?: string } }

t.test('walks every run exactly once with page_size 2 while more runs are submitted', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  // runs stay queued: the one instance never gets ready, none started by the daemon, a long queue timeout
  await r.startDaemon(dir, ['--no-autostart-instances', '--queue-timeout', '600000']);
  await r.startNeverReadyInstance(dir);
  const before: string[] = [];
  for (let i = 0; i < 13; i++) before.push(String((await r.submit(dir, { input: { goal: `before ${i}` } }))['run_id']));

  const during: string[] = [];
  let done = false;
  const submitter = (async () => {
    for (let i = 0; i < 12; i++) during.push(String((await r.submit(dir, { input: { goal: `during ${i}` } }))['run_id']));
    done = true;
  })();

  const walk = async (): Promise<{ seen: string[]; pages: number; sizes: number[] }> => {
    const seen: string[] = [];
    const sizes: number[] = [];
    let token: string | undefined;
    do {
      const page = await r.call<Page>(dir, 'runs.list', { page_size: 2, ...(token === undefined ? {} : { page_token: token }) });
      sizes.push(page.runs.length);
      seen.push(...page.runs.map((s) => String(s['run_id'])));
      token = page.pagination.next_page_token;
    } while (token !== undefined);
    return { seen, pages: sizes.length, sizes };
  };
  // walk again and again from the first page while the submitter runs
  const walks: Array<{ seen: string[]; pages: number; sizes: number[] }> = [];
  do walks.push(await walk()); while (!done);
  await submitter;
  walks.push(await walk());

  const all = (await r.call<Page>(dir, 'runs.list', { page_size: 1000 })).runs.map((s) => String(s['run_id']));
  t.same(all, [...before, ...during], 'one big page lists every run in submission order');
  oracleCheck(t, 'RunListResponse', await r.call<Page>(dir, 'runs.list', { page_size: 2 }), 'a page');
  for (const [i, w] of walks.entries()) {
    t.ok(w.sizes.every((n) => n >= 1 && n <= 2), `walk ${i + 1}: every page has 1 or 2 runs (${w.sizes.join(',')})`);
    t.equal(new Set(w.seen).size, w.seen.length, `walk ${i + 1}: no run is shown twice (${w.seen.length} runs over ${w.pages} pages)`);
    t.ok(w.seen.length >= before.length, `walk ${i + 1}: reaches every run submitted before it began`);
    t.same(w.seen, all.slice(0, w.seen.length), `walk ${i + 1}: no run is skipped (a prefix of the submission order)`);
  }
  t.same(walks.at(-1)?.seen, all, 'the walk after the submissions sees them all');
  t.ok(walks.length >= 2, `${walks.length - 1} walk(s) overlapped the submissions`);
});

t.test('keeps pages stable while runs change state, and filters by state', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances', '--queue-timeout', '600000']);
  await r.startNeverReadyInstance(dir);
  const ids: string[] = [];
  for (let i = 0; i < 6; i++) ids.push(String((await r.submit(dir, { input: { goal: `g${i}` } }))['run_id']));
  const first = await r.call<Page>(dir, 'runs.list', { page_size: 2 });
  t.same(first.runs.map((s) => s['run_id']), ids.slice(0, 2));
  // cancel runs on pages already read and on pages still to come
  await r.call(dir, 'runs.cancel', { run_id: ids[0] as string });
  await r.call(dir, 'runs.cancel', { run_id: ids[3] as string });
  const second = await r.call<Page>(dir, 'runs.list', { page_size: 2, page_token: first.pagination.next_page_token as string });
  t.same(second.runs.map((s) => s['run_id']), ids.slice(2, 4), 'the next page is the next runs, whatever their state');
  t.equal(second.runs[1]?.['state'], 'canceled', 'showing their state now');
  const canceled = await r.call<Page>(dir, 'runs.list', { state: 'canceled', page_size: 1000 });
  t.same(canceled.runs.map((s) => s['run_id']), [ids[0], ids[3]], 'state filters');
  const queued = await r.call<Page>(dir, 'runs.list', { state: 'queued', page_size: 1 });
  t.same(queued.runs.map((s) => s['run_id']), [ids[1]], 'a filtered page');
  const queued2 = await r.call<Page>(dir, 'runs.list', { state: 'queued', page_size: 1, page_token: queued.pagination.next_page_token as string });
  t.same(queued2.runs.map((s) => s['run_id']), [ids[2]], 'and its next page');
});

t.test('refuses page_size 0 and 1001, a bad page token and an unknown state with E_VALIDATION', async (t) => {
  const r = runtimeHarness(t);
  const dir = r.newDataDir();
  await r.startDaemon(dir, ['--no-autostart-instances']);
  for (const params of [{ page_size: 0 }, { page_size: 1001 }, { page_size: -1 }, { page_size: 2.5 }, { page_size: '2' }, { page_token: 'not a token' }, { state: 'done' }] as Json[]) {
    const err = await r.callError(dir, 'runs.list', params);
    t.equal(err.code, 'E_VALIDATION', `${JSON.stringify(params)}: E_VALIDATION`);
  }
  const ok = await r.call<Page>(dir, 'runs.list', { page_size: 1000 });
  t.same(ok.runs, [], 'page_size 1000 is fine');
  const one = await r.call<Page>(dir, 'runs.list', { page_size: 1 });
  t.equal(one.pagination.page_size, 1, 'page_size 1 is fine');
  for (const limit of ['0', '1001']) {
    const res = await r.cli(dir, ['runs', 'list', '--limit', limit, '--json']);
    t.equal(res.code, 2, `runs list --limit ${limit} exits 2`);
    t.equal(RuntimeHarness.errorOf(res).code, 'E_VALIDATION');
  }
});
