/**
 * The API the dashboard adds, on a REAL daemon with real runtime processes: `GET /v1/admin/replay` (the same
 * fold as `arpd log replay --until`, bounded, newest runs first) and `GET /v1/instances/{id}/logs` (a bounded
 * tail, and a followed SSE stream that resumes from Last-Event-ID), with their refusals.
 */
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ARPD, clientOf, eventually, expectError, readSse, request, startHttpDaemon } from './http-daemon.js';

type Json = Record<string, unknown>;

interface Replay {
  until: string | null;
  last_seq: number;
  last_ts: string | null;
  counts: { runs: Record<string, number>; instances: Record<string, number>; profiles: number };
  profiles: Array<{ runtime_profile: string }>;
  instances: Array<{ instance_id: string; state: string }>;
  instances_total: number;
  runs: Array<{ run_id: string; state: string; request?: unknown }>;
  runs_total: number;
}

interface Snapshot {
  last_seq: number;
  counts: Replay['counts'];
  profiles: Array<{ runtime_profile: string }>;
  instances: Array<{ instance_id: string; state: string }>;
  runs: Array<{ run_id: string; state: string }>;
}

t.test('replay and instance logs', async (t) => {
  const daemon = await startHttpDaemon(t);
  const api = clientOf(daemon);
  const cliReplay = (until: string): Snapshot => {
    const r = spawnSync(process.execPath, [ARPD, 'log', 'replay', '--until', until, '--json', '--data-dir', daemon.dataDir, '--no-autostart'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`arpd log replay failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as Snapshot;
  };
  const replay = async (query: string): Promise<Replay> => {
    const a = await api('GET', `/v1/admin/replay${query}`);
    if (a.status !== 200) throw new Error(`replay ${query}: ${a.status} ${a.text}`);
    return a.body as Replay;
  };
  const runTo = async (goal: string): Promise<string> => {
    const id = (((await api('POST', '/v1/runs', { json: { input: { goal } } })).body) as Json)['run_id'] as string;
    await eventually(`run ${id} ends`, async () => {
      const s = ((await api('GET', `/v1/runs/${id}`)).body as Json)['state'];
      return s === 'succeeded' || s === 'failed' ? s : undefined;
    });
    return id;
  };

  const created = (await api('POST', '/v1/instances?wait=true', { json: { runtime_profile: 'default' } })).body as { instances: Array<{ instance_id: string }> };
  const instanceId = created.instances[0]?.instance_id ?? '';
  const first = await runTo('What is (19*23)?');
  const before = (await api('GET', '/v1/admin/status')).body as { last_seq: number };
  const second = await runTo('fail:boom');
  const third = await runTo('What is 2+2?');

  t.test('answers the registry as it was: the same fold as arpd log replay --until, at every seq', async (t) => {
    const head = ((await api('GET', '/v1/admin/status')).body as { last_seq: number }).last_seq;
    for (let seq = 1; seq <= head; seq += Math.max(1, Math.floor(head / 6))) {
      const a = await replay(`?until=${seq}&runs_limit=5000`);
      const cli = cliReplay(String(seq));
      t.equal(a.last_seq, cli.last_seq, `seq ${seq}: the same last seq`);
      t.same(a.counts, cli.counts, `seq ${seq}: the same counts`);
      t.same(a.runs.map((r) => [r.run_id, r.state]), cli.runs.map((r) => [r.run_id, r.state]).reverse(), `seq ${seq}: the same runs and states, newest first`);
      t.same(a.instances.map((i) => [i.instance_id, i.state]).sort(), cli.instances.map((i) => [i.instance_id, i.state]).sort(), `seq ${seq}: the same instances`);
      t.same(a.profiles.map((p) => p.runtime_profile), cli.profiles.map((p) => p.runtime_profile), `seq ${seq}: the same profiles`);
    }
  });

  t.test('before a run was submitted it is absent; after, it is there in its state then', async (t) => {
    const then = await replay(`?until=${before.last_seq}`);
    t.same(then.runs.map((r) => r.run_id), [first], 'only the first run existed');
    t.equal(then.runs[0]?.state, 'succeeded');
    const now = await replay('');
    t.same(now.runs.map((r) => r.run_id), [third, second, first], 'all three now, newest first');
    t.equal(now.runs.find((r) => r.run_id === second)?.state, 'failed');
    t.ok(now.runs.every((r) => r.request === undefined), 'run requests are left out of the answer');
  });

  t.test('takes an ISO time: the last event at or before it', async (t) => {
    const lines = readFileSync(join(daemon.dataDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seq: number; ts: string });
    const target = lines.find((e) => e.seq === before.last_seq);
    const next = lines.find((e) => Date.parse(e.ts) > Date.parse(target?.ts ?? ''));
    const a = await replay(`?until=${encodeURIComponent(target?.ts ?? '')}`);
    const cli = cliReplay(target?.ts ?? '');
    t.equal(a.last_seq, cli.last_seq, 'the same last seq as the CLI');
    t.ok(a.last_seq >= before.last_seq && (next === undefined || a.last_seq < next.seq), 'stops before the first later event');
    t.equal(a.until, new Date(target?.ts ?? '').toISOString(), 'the answer says where it stopped');
  });

  t.test('bounds the answer: runs_limit newest runs, with the total', async (t) => {
    const a = await replay('?runs_limit=2&instances_limit=0');
    t.same(a.runs.map((r) => r.run_id), [third, second], 'the two newest');
    t.equal(a.runs_total, 3, 'and how many there were');
    t.equal(a.instances.length, 0, 'no instances asked');
    t.equal(a.instances_total, 1, 'one there was');
  });

  t.test('refuses a bad until or limit, naming it', async (t) => {
    for (const [q, field] of [['?until=yesterday', 'until'], ['?until=2026-01-01', 'until'], ['?until=-3', 'until'], ['?runs_limit=99999', 'runs_limit'], ['?runs_limit=x', 'runs_limit'], ['?rest=1', 'rest'], ['?until=1&until=2', 'until'], ['?until=2026-02-30T00:00:00Z', 'until'], ['?until=2026-01-01T24:00:00Z', 'until'], ['?until=2026-04-31T12:00Z', 'until']] as const) {
      const a = await api('GET', `/v1/admin/replay${q}`);
      expectError(t, a, 400, 'validation', `replay${q}`, 'E_VALIDATION');
      t.equal(((a.body as { error: { details: Json } }).error.details)['field'], field, `replay${q} names ${field}`);
    }
    expectError(t, await request(daemon.url, 'GET', '/v1/admin/replay'), 401, 'unauthorized', 'replay without a token', 'E_UNAUTHORIZED');
  });

  t.test('tails an instance\'s stdout and stderr, bounded by tail', async (t) => {
    const out = join(daemon.dataDir, 'instances', instanceId, 'stdout.log');
    appendFileSync(out, Array.from({ length: 50 }, (_, i) => `line ${i + 1}\n`).join(''));
    const a = await api('GET', `/v1/instances/${instanceId}/logs?tail=3`);
    t.equal(a.status, 200);
    t.match(a.headers.get('content-type'), /^text\/plain/);
    t.equal(a.text, 'line 48\nline 49\nline 50\n', 'the last 3 lines');
    const whole = await api('GET', `/v1/instances/${instanceId}/logs`);
    t.ok(whole.text.includes('"event":"listening"'), 'stdout holds what the runtime printed');
    t.equal((await api('GET', `/v1/instances/${instanceId}/logs?stream=stderr&tail=0`)).text, '', 'tail=0 is nothing');
    t.equal((await api('GET', `/v1/instances/${instanceId}/logs?tail=0`)).text, '', 'tail=0 is nothing, also of a log that has lines');
  });

  t.test('follows a log over SSE, and resumes from Last-Event-ID without a gap or a repeat', async (t) => {
    const out = join(daemon.dataDir, 'instances', instanceId, 'stdout.log');
    const path = `/v1/instances/${instanceId}/logs?tail=1&follow=true`;
    const firstRead = await readSse(daemon.url, path, {
      token: daemon.token,
      until: (m, all) => {
        if (all.length === 1) appendFileSync(out, 'alpha\nbeta\n');
        return (m.data as { text: string }).text.includes('beta');
      },
    });
    t.equal(firstRead.status, 200);
    t.match(firstRead.contentType, /^text\/event-stream/);
    const texts = firstRead.events.map((e) => (e.data as { text: string }).text).join('');
    t.ok(texts.endsWith('alpha\nbeta\n'), 'new lines arrive live');
    const lastId = firstRead.events[firstRead.events.length - 1]?.id ?? '';
    appendFileSync(out, 'gamma\n');
    const resumed = await readSse(daemon.url, path, { token: daemon.token, headers: { 'last-event-id': lastId }, until: (m) => (m.data as { text: string }).text.includes('gamma') });
    t.equal(resumed.events.map((e) => (e.data as { text: string }).text).join(''), 'gamma\n', 'exactly what came after the last id');
    const gammaId = resumed.events[resumed.events.length - 1]?.id ?? '';
    appendFileSync(out, 'delta\n');
    const byQuery = await readSse(daemon.url, `${path}&from_offset=${gammaId}`, { token: daemon.token, until: (m) => (m.data as { text: string }).text.includes('delta') });
    t.equal(byQuery.events.map((e) => (e.data as { text: string }).text).join(''), 'delta\n', 'from_offset (a new connection) resumes the same way');
    const deltaId = byQuery.events[byQuery.events.length - 1]?.id ?? '';
    appendFileSync(out, 'epsilon\n');
    const capped = await readSse(daemon.url, `${path}&from_offset=${deltaId}`, {
      token: daemon.token,
      until: (m) => {
        const text = (m.data as { text?: string }).text;
        if (text === 'epsilon\n') writeFileSync(out, 'fresh\n'); // the runtime's log was capped and started over
        return text === 'fresh\n';
      },
    });
    t.same(capped.events.map((e) => [e.event, e.id]), [['log', String(Number(deltaId) + 8)], ['truncated', '0'], ['log', '6']], 'a capped file restarts the offsets: truncated, then the new text');
  });

  t.test('refuses a bad instance id before touching a path, an unknown instance, a bad stream or tail', async (t) => {
    expectError(t, await api('GET', '/v1/instances/..%2F..%2Fetc/logs'), 400, 'validation', 'a path in the id', 'E_VALIDATION');
    expectError(t, await api('GET', '/v1/instances/.hidden/logs'), 400, 'validation', 'a dot id', 'E_VALIDATION');
    expectError(t, await api('GET', '/v1/instances/inst_nope/logs'), 404, 'instances.not_found', 'an unknown instance', 'E_NOT_FOUND');
    expectError(t, await api('GET', `/v1/instances/${instanceId}/logs?stream=stdin`), 400, 'validation', 'stream=stdin', 'E_VALIDATION');
    expectError(t, await api('GET', `/v1/instances/${instanceId}/logs?tail=100001`), 400, 'validation', 'a tail too long', 'E_VALIDATION');
    expectError(t, await api('GET', `/v1/instances/${instanceId}/logs`, { headers: { 'last-event-id': '5' } }), 400, 'validation', 'Last-Event-ID without follow', 'E_VALIDATION');
    expectError(t, await request(daemon.url, 'GET', `/v1/instances/${instanceId}/logs`), 401, 'unauthorized', 'logs without a token', 'E_UNAUTHORIZED');
  });
});
