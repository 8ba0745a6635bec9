/**
 * The observers telemetry hangs on parts it does not own, each checked against what really happened: the log
 * store's onCommit against the file it wrote, the JSON-RPC dispatcher's onRequest against the requests sent,
 * and the metrics registry's optional gauges (no sample while unknown).
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import type { DomainEvent } from '../../src/events/event-types.js';
import { ACTIVE_LOG } from '../../src/events/log-files.js';
import { LogStore, type CommitStats } from '../../src/events/log-store.js';
import { Registry } from '../../src/projections/registry.js';
import { createDispatcher, type CallContext } from '../../src/server/rpc-dispatch.js';
import { ArpdMetrics } from '../../src/telemetry/arpd-metrics.js';

const trace = (runId: string, n: number): DomainEvent => ({ type: 'run.trace', data: { run_id: runId, level: 'info', type: 'step', data: { n } } });

t.test('the log store tells each group commit what it wrote, and one ack time per append', async (t) => {
  const root = t.testdir();
  const commits: CommitStats[] = [];
  const store = LogStore.open({ root, onCommit: (s) => commits.push(s) });
  // three appends at once go out in one or more group commits; then one alone
  await Promise.all([store.append([trace('r1', 1), trace('r1', 2)]), store.append(trace('r2', 1)), store.append([trace('r3', 1), trace('r3', 2), trace('r3', 3)])]);
  await store.append(trace('r1', 3));
  await store.close();
  t.equal(commits.reduce((n, c) => n + c.events, 0), 7, 'every event counted once');
  t.equal(commits.reduce((n, c) => n + c.ackMs.length, 0), 4, 'one ack time per append call');
  t.equal(commits.reduce((n, c) => n + c.bytes, 0), statSync(join(root, ACTIVE_LOG)).size, 'the bytes are the file\'s size');
  t.ok(commits.length >= 2 && commits.length <= 4, `group commits: ${commits.length}`);
  t.ok(commits.every((c) => c.writeMs >= 0 && c.syncMs >= 0 && c.ackMs.every((ms) => ms >= c.syncMs)), 'an ack waits at least for the fdatasync');
});

t.test('an observer that throws never stops the log\'s writer', async (t) => {
  const root = t.testdir();
  const store = LogStore.open({ root, onCommit: () => { throw new Error('observer bug'); } });
  const [a] = await store.append(trace('r1', 1));
  const [b] = await store.append(trace('r1', 2));
  t.equal(a?.seq, 1);
  t.equal(b?.seq, 2, 'the next append still goes through');
  await store.close();
});

function call(): CallContext {
  return { connectionId: 'c1', signal: new AbortController().signal, notify: () => true, onClose: () => undefined };
}

t.test('the dispatcher tells every request answered, under bounded method names and its outcome', async (t) => {
  const told: Array<[string, string]> = [];
  const d = createDispatcher({
    echo: { handler: (p) => p },
    missing: { handler: () => { throw new ArpdError('E_NOT_FOUND', 'no such thing: list them'); } },
    bug: { handler: () => { throw new Error('oops'); } },
  }, { onRequest: (method, outcome, ms) => { t.ok(ms >= 0); told.push([method, outcome]); }, onInternalError: () => undefined });
  const send = (x: unknown): Promise<string | null> => d.handleLine(typeof x === 'string' ? x : JSON.stringify(x), call());
  await send({ jsonrpc: '2.0', id: 1, method: 'echo', params: {} });
  await send({ jsonrpc: '2.0', id: 2, method: 'missing' });
  await send({ jsonrpc: '2.0', id: 3, method: 'bug' });
  await send({ jsonrpc: '2.0', id: 4, method: 'run_0123456789abcdef' });
  await send({ jsonrpc: '2.0', method: 'echo' });
  await send({ jsonrpc: '1.0', id: 5, method: 'echo' });
  await send('{not json');
  await send([{ jsonrpc: '2.0', id: 6, method: 'echo' }, { jsonrpc: '2.0', id: 7, method: 'missing' }]);
  await send([]);
  // the two requests of a batch run at once: either may be told first
  const batch = told.splice(7, 2).sort();
  t.same(told, [
    ['echo', 'ok'],
    ['missing', 'E_NOT_FOUND'],
    ['bug', 'E_INTERNAL'],
    ['(unknown)', 'E_METHOD_NOT_FOUND'],
    ['echo', 'ok'],
    ['(invalid)', 'E_PROTOCOL'],
    ['(invalid)', 'E_PARSE'],
    ['(invalid)', 'E_PROTOCOL'],
  ]);
  t.same(batch, [['echo', 'ok'], ['missing', 'E_NOT_FOUND']], 'each request of a batch is told');
});

t.test('a gauge whose value is unknown shows no sample, and one once it is known', async (t) => {
  const m = new ArpdMetrics({ version: '9.9.9', defaultMetrics: false });
  let age: number | undefined = undefined;
  m.bind({
    state: new Registry(), head: () => 7, now: () => 0, socketConnections: () => 2, openStreams: () => 3,
    logSizeBytes: () => undefined, snapshotAgeMs: () => age,
  }, 1500);
  const sample = (text: string, name: string): string | undefined => text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  let text = await m.exposition();
  t.match(text, /# TYPE arpd_snapshot_age_seconds gauge/, 'the metric is declared');
  t.equal(sample(text, 'arpd_snapshot_age_seconds'), undefined, 'no snapshot: no sample');
  t.equal(sample(text, 'arpd_log_size_bytes'), undefined, 'no file store: no sample');
  t.equal(sample(text, 'arpd_boot_replay_seconds'), 'arpd_boot_replay_seconds 1.5');
  t.equal(sample(text, 'arpd_log_head_seq'), 'arpd_log_head_seq 7');
  t.equal(sample(text, 'arpd_build_info'), 'arpd_build_info{version="9.9.9"} 1');
  age = 90_000;
  text = await m.exposition();
  t.equal(sample(text, 'arpd_snapshot_age_seconds'), 'arpd_snapshot_age_seconds 90');
});
