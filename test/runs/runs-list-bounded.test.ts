/**
 * `runs.list` / `GET /v1/runs` look at no more than LIST_SCAN_LIMIT runs a request: over a history longer than that
 * (written through the real LogStore, booted by a real daemon that archives the older runs), a rare filter comes
 * back in short or empty pages with a token, and a client that follows the tokens reaches every match once, in
 * order, with none skipped or repeated, whatever the order, page size or filter. The matches sit at the edges of
 * each request's stretch (orders 9,999 | 10,000 and 19,999 | 20,000), where an off-by-one in the token would show.
 * The CLI's `runs list` filters go to the daemon, over the socket and over `--daemon-url`.
 */
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { callOnce } from '../../src/client/rpc-client.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { LogStore, type AppendInput } from '../../src/events/log-store.js';
import { DEFAULT_PROFILE } from '../../src/features/profile-ops.js';
import { LIST_SCAN_LIMIT } from '../../src/features/run-ops.js';
import { bootId } from '../../src/system/process-identity.js';
import { daemonHarness } from '../helpers/daemon-harness.js';
import { request, startHttpDaemon, tempDir } from '../server/http-daemon.js';

type Json = Record<string, unknown>;
interface Page { runs: Json[]; pagination: { page_size: number; next_page_token?: string } }

const RUNS = 2 * LIST_SCAN_LIMIT + 5;
/** The rare runs, by submission order: on instance `inst-rare` (profile `rare`), failed; every other run succeeded elsewhere. */
const RARE = new Map<number, string>([
  [0, 'rare-first'],
  [LIST_SCAN_LIMIT - 1, `rare-${LIST_SCAN_LIMIT - 1}`], [LIST_SCAN_LIMIT, `rare-${LIST_SCAN_LIMIT}`],
  [2 * LIST_SCAN_LIMIT - 1, `rare-${2 * LIST_SCAN_LIMIT - 1}`], [2 * LIST_SCAN_LIMIT, `rare-${2 * LIST_SCAN_LIMIT}`],
  [RUNS - 1, 'rare-last'],
]);
const RARE_IDS = [...RARE.entries()].sort((a, b) => a[0] - b[0]).map(([, id]) => id);

async function writeHistory(root: string): Promise<void> {
  let ms = Date.now() - 60_000 - RUNS * 5;
  const store = LogStore.open({ root, clock: () => new Date(ms) });
  let batch: DomainEvent[] = [];
  const flush = async (actor: string): Promise<void> => {
    if (batch.length === 0) return;
    ms += batch.length;
    await store.append(batch as unknown as AppendInput[], { actor });
    batch = [];
  };
  batch.push({ type: 'daemon.started', data: { pid: 4242, version: '0.1.0', boot_id: bootId(), host: hostname() } });
  for (const profile of ['default', 'rare']) batch.push({ type: 'profile.upserted', data: { runtime_profile: profile, profile: { runtime_profile: profile, ...DEFAULT_PROFILE } } });
  const instances: Array<[string, string, number]> = [['inst-a', 'default', 41000], ['inst-rare', 'rare', 41001]];
  for (const [id, profile, port] of instances) {
    batch.push({ type: 'instance.requested', data: { instance_id: id, runtime_profile: profile } });
    batch.push({ type: 'instance.starting', data: { instance_id: id, pid: port, pid_start_time: String(port), boot_id: bootId(), argv: ['node', 'runtime.js'], attempt: 1 } });
    batch.push({ type: 'instance.ready', data: { instance_id: id, runtime_api_endpoint: `http://127.0.0.1:${port}`, runtime_name: 'arpd-reference-runtime', runtime_version: '0.1.0' } });
  }
  await flush('daemon');
  for (let i = 0; i < RUNS; i++) {
    const rare = RARE.get(i);
    const runId = rare ?? `run-${String(i).padStart(6, '0')}`;
    const [instance, , port] = (rare === undefined ? instances[0] : instances[1]) as [string, string, number];
    const request = { run_id: runId, input: { goal: `g${i}` } };
    batch.push(
      { type: 'run.accepted', data: { run_id: runId, request, request_hash: createHash('sha256').update(JSON.stringify(request)).digest('hex') } },
      { type: 'run.queued', data: { run_id: runId, reason: 'waiting for a ready instance' } },
      { type: 'run.routed', data: { run_id: runId, instance_id: instance, runtime_api_endpoint: `http://127.0.0.1:${port}` } },
      { type: 'run.started', data: { run_id: runId, instance_id: instance } },
      rare === undefined
        ? { type: 'run.succeeded', data: { run_id: runId, result: { run_id: runId, ok: true, output: { text: 'ok' } } } }
        : { type: 'run.failed', data: { run_id: runId, error: { code: 'E_RUNTIME', message: 'rare' } } },
    );
    if (batch.length >= 4000) await flush('dispatcher');
  }
  for (const [id] of instances) {
    batch.push({ type: 'instance.stopping', data: { instance_id: id, reason: 'arpd is shutting down' } });
    batch.push({ type: 'instance.stopped', data: { instance_id: id, reason: 'arpd is shutting down', exit_code: 0, signal: null } });
  }
  await flush('supervisor');
  await store.close(() => [{ type: 'daemon.stopped', data: { pid: 4242, reason: 'SIGTERM', run_logs_complete: store.runLogsComplete } }]);
}

const dataDir = tempDir(t, 'arpd-bounded-');
await writeHistory(dataDir);
const daemon = await startHttpDaemon(t, ['--no-autostart-instances'], { dataDir });
const socket = join(dataDir, 'arpd.sock');
// http.url is written when the HTTP API listens, which may be before the socket does
for (const end = Date.now() + 60_000; ;) {
  try {
    await callOnce(socket, 'daemon.status', {}, { timeoutMs: 5000, retries: 0 });
    break;
  } catch (err) {
    if (Date.now() > end) throw err;
    await new Promise((r) => setTimeout(r, 50));
  }
}
const list = (params: Json): Promise<Page> => callOnce<Page>(socket, 'runs.list', params, { timeoutMs: 120_000, retries: 0 });

/** Follows the tokens to the end: every run id seen, and each answer's size and whether it had a token. */
async function walk(fetchPage: (token: string | undefined) => Promise<Page>): Promise<{ ids: string[]; pages: Array<{ n: number; more: boolean }> }> {
  const ids: string[] = [];
  const pages: Array<{ n: number; more: boolean }> = [];
  let token: string | undefined;
  do {
    const p = await fetchPage(token);
    ids.push(...p.runs.map((r) => String(r['run_id'])));
    token = p.pagination.next_page_token;
    pages.push({ n: p.runs.length, more: token !== undefined });
    if (pages.length > RUNS) throw new Error('the walk does not end');
  } while (token !== undefined);
  return { ids, pages };
}

const socketWalk = (filter: Json) => walk((token) => list({ ...filter, ...(token === undefined ? {} : { page_token: token }) }));

t.test('pages over empty answers to a lone match at the far end of a history longer than the scan bound', async (t) => {
  const asc = await socketWalk({ q: 'rare-l', page_size: 10 });
  t.same(asc.ids, ['rare-last'], 'the last run is found, once');
  t.same(asc.pages, [{ n: 0, more: true }, { n: 0, more: true }, { n: 1, more: false }], 'two empty answers with a token (one per 10,000 runs looked at), then the match and the end');
  const desc = await socketWalk({ q: 'rare-f', page_size: 10, order: 'desc' });
  t.same(desc.ids, ['rare-first'], 'newest first, the oldest run is found, once');
  t.same(desc.pages.map((p) => p.n), [0, 0, 1], 'after two empty answers');
});

t.test('lists every match once and in order at the edges of each stretch, for each filter, order and page size', async (t) => {
  for (const filter of [{ instance_id: 'inst-rare' }, { runtime_profile: 'rare' }, { state: 'failed' }, { q: 'rare-' }, { state: 'failed', runtime_profile: 'rare', instance_id: 'inst-rare', q: 'rare' }] as Json[]) {
    for (const order of ['asc', 'desc'] as const) {
      for (const size of [1, 2, 1000]) {
        const w = await socketWalk({ ...filter, order, page_size: size });
        t.same(w.ids, order === 'asc' ? RARE_IDS : [...RARE_IDS].reverse(), `${JSON.stringify(filter)} ${order} page_size ${size}`);
        t.ok(w.pages.every((p) => p.n <= size), 'no answer holds more than page_size runs');
      }
    }
  }
  const none = await socketWalk({ instance_id: 'inst-a', runtime_profile: 'rare', page_size: 5 });
  t.same(none.ids, [], 'filters that match nothing together: an empty list');
  t.equal(none.pages.at(-1)?.more, false, 'that ends');
});

t.test('lists the whole history once, unfiltered, in pages of 1000', async (t) => {
  const w = await socketWalk({ page_size: 1000 });
  t.equal(w.ids.length, RUNS, 'every run');
  t.equal(new Set(w.ids).size, RUNS, 'none twice');
  t.same(RARE_IDS.map((id) => w.ids.indexOf(id)), [...RARE.keys()].sort((a, b) => a - b), 'each in its submission place');
});

t.test('GET /v1/runs filters and pages the same way over HTTP', async (t) => {
  const w = await walk(async (token) => {
    const a = await request(daemon.url, 'GET', `/v1/runs?runtime_profile=rare&order=desc&page_size=4${token === undefined ? '' : `&page_token=${encodeURIComponent(token)}`}`, { token: daemon.token });
    t.equal(a.status, 200, a.text);
    return a.body as Page;
  });
  t.same(w.ids, [...RARE_IDS].reverse());
  const bad = await request(daemon.url, 'GET', '/v1/runs?order=sideways', { token: daemon.token });
  t.equal(bad.status, 400, 'a bad order is a 400');
  t.match(bad.text, /order/, 'naming the field');
  const doc = await request(daemon.url, 'GET', '/openapi.json', { token: daemon.token });
  t.equal(doc.status, 200);
  t.match(JSON.stringify((doc.body as { paths: Json }).paths['/v1/runs']), LIST_SCAN_LIMIT.toLocaleString('en-US'), 'the OpenAPI description names the bound');
});

t.test('refuses a bad order or filter over the socket with E_VALIDATION naming the field', async (t) => {
  for (const [params, field] of [[{ order: 'sideways' }, 'order'], [{ order: 1 }, 'order'], [{ runtime_profile: 5 }, 'runtime_profile'], [{ q: 'x'.repeat(201) }, 'q'], [{ instance_id: ['a'] }, 'instance_id']] as Array<[Json, string]>) {
    const err = await list(params).then(() => undefined, (e: unknown) => e as { code?: string; message?: string; data?: Json });
    t.equal(err?.code, 'E_VALIDATION', `${JSON.stringify(params).slice(0, 40)}: E_VALIDATION`);
    t.match(`${String(err?.message)} ${JSON.stringify(err?.data ?? {})}`, field, `naming ${field}`);
  }
});

const h = daemonHarness(t);
const viaSocket = ['--data-dir', dataDir, '--no-autostart'];
const viaHttp = ['--data-dir', tempDir(t, 'arpd-bounded-client-'), '--daemon-url', daemon.url, '--token', daemon.token];

t.test('arpd runs list sends --profile, --instance, --prefix and --order to the daemon, over the socket and over HTTP', async (t) => {
  for (const [how, globals] of [['socket', viaSocket], ['http', viaHttp]] as const) {
    const all = await h.cli(dataDir, [...globals, 'runs', 'list', '--instance', 'inst-rare', '--json'], { withDataDir: false });
    t.equal(all.code, 0, all.stderr);
    const page = JSON.parse(all.stdout) as Page;
    t.same(page.runs.map((r) => r['run_id']), RARE_IDS, `${how}: --instance: every match in one page (asked on past the short answers)`);
    t.equal(page.pagination.next_page_token, undefined, `${how}: and the end`);

    const first = await h.cli(dataDir, [...globals, 'runs', 'list', '--profile', 'rare', '--order', 'desc', '--page-size', '4'], { withDataDir: false });
    t.equal(first.code, 0, first.stderr);
    const shown = (s: string): string[] => s.split('\n').filter((l) => l.startsWith('rare-')).map((l) => l.split(/\s+/)[0] as string);
    t.same(shown(first.stdout), [...RARE_IDS].reverse().slice(0, 4), `${how}: --profile --order desc: the newest four`);
    const more = /more: arpd runs list (.*)$/m.exec(first.stderr)?.[1];
    t.match(more, /^--profile rare --order desc --page-size 4 --page-token \S+$/, `${how}: the next command keeps the filters`);
    const second = await h.cli(dataDir, [...globals, 'runs', 'list', ...(more ?? '').split(' ')], { withDataDir: false });
    t.equal(second.code, 0, second.stderr);
    t.same(shown(second.stdout), [...RARE_IDS].reverse().slice(4), `${how}: the next page is the rest`);
    t.notMatch(second.stderr, /more:/, `${how}: and the end`);

    const one = await h.cli(dataDir, [...globals, 'runs', 'list', '--prefix', 'rare-l', '--state', 'failed', '--json'], { withDataDir: false });
    t.same((JSON.parse(one.stdout) as Page).runs.map((r) => r['run_id']), ['rare-last'], `${how}: --prefix with --state`);

    const bad = await h.cli(dataDir, [...globals, 'runs', 'list', '--order', 'sideways'], { withDataDir: false });
    t.equal(bad.code, 2, `${how}: --order sideways exits 2`);
    t.match(bad.stderr, /--order takes asc .* or desc .*, not 'sideways'.*\[E_VALIDATION\]/, `${how}: naming the flag`);
  }
});
