/**
 * The PostgreSQL store when PostgreSQL misbehaves: the server killed and restarted under load, a
 * session left idle in a transaction, lost notifications.
 */
import t, { type Test } from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { openPostgresStore, type PostgresEventStore, type PostgresStoreOptions } from '../../src/store-postgres/index.js';
import { readAll, rejection, traceEvent, until } from '../helpers/event-store-contract.js';
import { startPgCluster } from '../helpers/pg-cluster.js';

const cluster = await startPgCluster();
t.teardown(() => cluster.destroy());
const db = await cluster.createDatabase('faults');
let n = 0;

async function open(t: Test, extra: Partial<PostgresStoreOptions> = {}, schema = `f${++n}`): Promise<PostgresEventStore> {
  const store = await openPostgresStore({ url: cluster.url({ database: db }), schema, ...extra });
  t.teardown(() => store.close());
  return store;
}

t.test('PostgreSQL killed and restarted under load: no acknowledged event lost, none twice, the store recovers without being reopened', async (t) => {
  const store = await open(t, { pollIntervalMs: 100, resolveTimeoutMs: 60_000, connectTimeoutMs: 2000 });
  const live: StoredEvent[] = [];
  const sub = store.live$.subscribe((e) => live.push(e));
  t.teardown(() => sub.unsubscribe());

  const PRODUCERS = 12;
  const acked: StoredEvent[] = [];
  const unknown: ArpdError[] = [];
  const steps: number[] = [];
  let stop = false;
  const producer = async (p: number): Promise<void> => {
    let k = 0;
    while (!stop) {
      try {
        acked.push(...await store.append([traceEvent(`p${p}`, k, { step: k })]));
        k++;
      } catch (err) {
        if (!(err instanceof ArpdError) || err.code !== 'E_UNAVAILABLE') throw err;
        if (err.data?.outcome === 'unknown') {
          unknown.push(err);
          break;
        }
        // not recorded: the same step again
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    steps[p] = k;
  };
  const workload = Promise.all(Array.from({ length: PRODUCERS }, (_, p) => producer(p)));

  await until(() => acked.length >= 100, 30_000, 'a first part of the workload');
  // make sure one batch is in flight at the crash: it waits on a row lock another session holds
  const locker = await cluster.connect(db);
  await locker.query('BEGIN');
  await store.append([traceEvent('locked', 0)]);
  await locker.query(`SELECT 1 FROM ${store.schema}.streams WHERE stream = 'run:locked' FOR UPDATE`);
  const inFlight = store.append([traceEvent('locked', 1, { step: 1 })]);
  await until(async () => (await cluster.query(`SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%.append_read(%'`)).rowCount === 1, 10_000, 'the append to wait on the lock');
  let during: ArpdError | undefined;
  try {
    await cluster.crash();
    await locker.end().catch(() => undefined);
    await until(() => !store.status().available, 20_000, 'the store to notice');
    during = await rejection(store.append([traceEvent('down', 1)]));
  } finally {
    await cluster.start(); // the other tests need it, whatever happened here
  }

  const [locked] = await inFlight;
  const afterRestart = acked.length;
  await until(() => acked.length >= afterRestart + 100, 30_000, 'the workload to go on after the restart');
  stop = true;
  await workload;
  t.same(unknown.map((e) => e.message), [], 'no append ended with an unknown outcome (the server came back in time)');
  t.equal(during?.code, 'E_UNAVAILABLE', 'an append made while the server is down is refused');
  t.equal(during?.data?.outcome, undefined, 'as not recorded (its outcome is known)');
  t.equal(locked?.rev, 2, 'the append in flight at the crash was committed once, after the restart');

  const all = await readAll(store);
  const ids = new Set(all.map((e) => e.id));
  t.equal(ids.size, all.length, 'no event is stored twice');
  t.ok(acked.every((e) => ids.has(e.id)), `every acknowledged event (${acked.length}) is stored`);
  for (let p = 0; p < PRODUCERS; p++) {
    const stream = all.filter((e) => e.stream === `run:p${p}`);
    const n = steps[p] as number;
    t.same(stream.map((e) => (e.data as unknown as { data: { step: number } }).data.step), Array.from({ length: n }, (_, k) => k), `run:p${p} holds each of its ${n} steps once, in order`);
    t.same(stream.map((e) => e.rev), Array.from({ length: n }, (_, k) => k + 1), `run:p${p} revisions are 1..${n}`);
  }
  await until(() => live.length === all.length, 20_000, 'live$ to catch up');
  t.same(live.map((e) => e.seq), all.map((e) => e.seq), 'live$ went on from where it was: every event once, in store order');
  t.ok(store.status().available, 'the store answers');
});

t.test('readers held back by a session idle in a transaction (in another database of the cluster) are reported with its pid, and move on once it ends', async (t) => {
  const warnings: Array<{ message: string; details: Record<string, unknown> }> = [];
  const store = await open(t, { pollIntervalMs: 50, stuckAfterMs: 300, onWarning: (message, details) => warnings.push({ message, details }) });
  await store.append([traceEvent('before', 1)]);
  const otherDb = await cluster.createDatabase();
  const idle = await cluster.connect(otherDb);
  t.teardown(() => idle.end().catch(() => undefined));
  await idle.query('BEGIN');
  const { rows } = await idle.query<{ pid: number }>('SELECT pg_current_xact_id(), pg_backend_pid() AS pid');
  const pid = (rows[0] as { pid: number }).pid;

  let resolved = false;
  const held = store.append([traceEvent('held', 1)]).then((r) => { resolved = true; return r; });
  await until(() => warnings.some((w) => /held back/.test(w.message)), 20_000, 'the held-back warning');
  const w = warnings.find((x) => /held back/.test(x.message)) as { message: string; details: Record<string, unknown> };
  t.match(w.message, new RegExp(`backend pid ${pid} \\(idle in transaction`), 'the warning names the blocking backend and its state');
  t.match(w.message, /idle_in_transaction_session_timeout/, 'and the setting that prevents it');
  t.match(w.details, { blocker: { kind: 'backend', pid, state: 'idle in transaction', database: otherDb } });
  const st = store.status();
  t.equal(st.readers_held_back?.blocker?.pid, pid, 'status names the blocking backend');
  t.ok(typeof st.readers_held_back?.blocker?.transactionAgeMs === 'number', 'and how long its transaction is open');
  t.notOk(resolved, 'the append is committed but not yet published');

  await idle.query('ROLLBACK');
  const [e] = await held;
  t.equal(e?.stream, 'run:held', 'the append resolves once the session ends');
  await until(() => warnings.some((x) => /move again/.test(x.message)) && store.status().readers_held_back === undefined, 20_000, 'the all-clear');
  t.pass('the all-clear is reported and the status clears');
});

t.test('a reader that gets no notification still finds new events by polling', async (t) => {
  const store = await open(t, { pollIntervalMs: 100 });
  const live: StoredEvent[] = [];
  store.live$.subscribe((e) => live.push(e));
  // another writer that never sends NOTIFY: its events reach us by the bounded poll alone
  const c = await cluster.connect(db);
  t.teardown(() => c.end());
  const batch = [1, 2, 3].map((i) => ({ i, g: 0, id: crypto.randomUUID(), ts: new Date().toISOString(), stream: 'run:quiet', expected: null, type: 'run.trace', v: 1, data: JSON.stringify({ run_id: 'quiet', level: 'info', type: 'x' }), meta: '{}' }));
  await c.query(`SELECT * FROM ${store.schema}.append($1::json, '5s')`, [JSON.stringify(batch)]);
  await until(() => live.length === 3, 20_000, 'the polled events');
  t.same(live.map((e) => e.id), batch.map((b) => b.id));
});

t.test('NOTIFY wakes another process without waiting for its poll, and its listener reconnects after its connection is killed', async (t) => {
  const schema = `f${++n}`;
  // a poll interval of ten minutes: anything that arrives sooner came through a notification
  const quiet = await open(t, { pollIntervalMs: 600_000, applicationName: 'arpd-quiet' }, schema);
  const loud = await open(t, {}, schema);
  const live: StoredEvent[] = [];
  quiet.live$.subscribe((e) => live.push(e));
  await loud.append([traceEvent('loud', 1)]);
  await until(() => live.length === 1, 20_000, 'the notified event');
  const killed = await cluster.query<{ pid: number }>("SELECT pg_terminate_backend(pid), pid FROM pg_stat_activity WHERE application_name = 'arpd-quiet' AND query LIKE 'LISTEN%'");
  t.equal(killed.rowCount, 1, "the quiet process's listener connection was killed");
  await until(async () => (await cluster.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'arpd-quiet' AND query LIKE 'LISTEN%'")).rowCount === 1, 20_000, 'the listener to reconnect');
  await loud.append([traceEvent('loud', 2)]);
  await until(() => live.length === 2, 20_000, 'the event notified after the reconnect');
  t.same(live.map((e) => e.rev), [1, 2]);
});
