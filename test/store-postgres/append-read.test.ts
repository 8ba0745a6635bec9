/**
 * `<schema>.append_read` (migration 3): the append and the read back of the events up to its own in one
 * round trip. It may return events only when no older transaction is still running, so that what the
 * writer publishes from it is final: a slow commit is never skipped. Called here on raw connections.
 */
import pg from 'pg';
import t from 'tap';
import { openPostgresStore } from '../../src/store-postgres/index.js';
import { startPgCluster } from '../helpers/pg-cluster.js';

const cluster = await startPgCluster();
t.teardown(() => cluster.destroy());
const db = await cluster.createDatabase('append_read');
const schema = 'ar';
await (await openPostgresStore({ url: cluster.url({ database: db }), schema })).close();

interface Row { outcome: string; id: string; seq: string | null; tx: string | null; stream: string }

const batch = (stream: string, n = 1): Array<Record<string, unknown>> => Array.from({ length: n }, (_, k) => ({
  i: k + 1, g: 0, id: crypto.randomUUID(), ts: new Date().toISOString(), stream, expected: null, type: 'run.trace', v: 2,
  data: JSON.stringify({ run_id: stream.slice(4), level: 'info', type: 'step' }), meta: '{}',
}));

async function client(): Promise<pg.Client> {
  const c = await cluster.connect(db);
  t.teardown(() => c.end());
  return c;
}

const appendRead = async (c: pg.Client, b: unknown[], after: { tx: string; seq: string | number }, limit = 1000): Promise<Row[]> =>
  (await c.query<Row>(`SELECT outcome, id, seq, tx::text AS tx, stream FROM ${schema}.append_read($1::json, '5s', $2::xid8, $3::bigint, $4)`, [JSON.stringify(b), after.tx, after.seq, limit])).rows;

const events = (rows: Row[]): Row[] => rows.filter((r) => r.outcome === 'event');

/** A writer that waits for older transactions as long as the test wants, and where the store order ends now. */
async function patientWriter(): Promise<{ writer: pg.Client; pid: number; from: { tx: string; seq: string } }> {
  const writer = await client();
  // long enough that the test, not the bound, decides when the older transaction ends
  await writer.query("SET arpd.read_back_wait_ms = '60000'");
  const pid = (await writer.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
  const start = await cluster.query<{ tx: string; seq: string }>(`SELECT tx::text AS tx, seq FROM ${schema}.events ORDER BY tx DESC, seq DESC LIMIT 1`, [], db);
  return { writer, pid, from: start.rows[0] as { tx: string; seq: string } };
}

/** An append_read sent now, and resolved once its function waits server-side for an older transaction (or it answered). */
async function waitingAppendRead(writer: pg.Client, pid: number, b: unknown[], from: { tx: string; seq: string }): Promise<{ pending: Promise<Row[]> }> {
  let answered = false;
  const pending = appendRead(writer, b, from).finally(() => { answered = true; });
  while (!answered) {
    const w = await cluster.query<{ wait_event: string | null }>('SELECT wait_event FROM pg_stat_activity WHERE pid = $1', [pid], db);
    if (w.rows[0]?.wait_event === 'PgSleep') break;
    await new Promise((r) => setTimeout(r, 5));
  }
  return { pending }; // wrapped: an async function would wait for the promise it returns
}

t.test('reads back the events after the given position up to its own, in store order, when no older transaction runs', async (t) => {
  const other = await client();
  const writer = await client();
  const before = batch('run:other', 2);
  await other.query(`SELECT * FROM ${schema}.append($1::json, '5s')`, [JSON.stringify(before)]);
  const mine = batch('run:mine', 2);
  const rows = await appendRead(writer, mine, { tx: '0', seq: 0 });
  t.same(rows.filter((r) => r.outcome === 'ok').map((r) => r.id).sort(), mine.map((b) => b.id).sort(), 'the outcome of the append');
  const got = events(rows);
  t.same(got.map((r) => r.id), [...before, ...mine].map((b) => b.id), "the other writer's committed events, then its own");
  const order = await cluster.query<{ id: string }>(`SELECT id FROM ${schema}.events ORDER BY tx, seq`, [], db);
  t.same(got.map((r) => r.id), order.rows.map((r) => r.id), 'the store order');

  const last = got[got.length - 1] as Row;
  const next = batch('run:mine', 1);
  const after = events(await appendRead(writer, next, { tx: last.tx as string, seq: last.seq as string }));
  t.same(after.map((r) => r.id), next.map((b) => b.id), 'nothing at or before the given position');

  const limited = events(await appendRead(writer, batch('run:mine', 1), { tx: '0', seq: 0 }, 3));
  t.same(limited.map((r) => r.id), order.rows.slice(0, 3).map((r) => r.id), 'at most the limit: a prefix of the order');
});

t.test('reads back nothing while an older transaction is open, and its events in their place once it commits', async (t) => {
  const slow = await client();
  const writer = await client();
  const start = await cluster.query<{ tx: string; seq: string }>(`SELECT tx::text AS tx, seq FROM ${schema}.events ORDER BY tx DESC, seq DESC LIMIT 1`, [], db);
  const from = start.rows[0] as { tx: string; seq: string };
  // the slow transaction takes its id first, writes, and stays open
  await slow.query('BEGIN');
  await slow.query('SELECT pg_current_xact_id()');
  const slowBatch = batch('run:slow', 1);
  await slow.query(`SELECT * FROM ${schema}.append($1::json, '5s')`, [JSON.stringify(slowBatch)]);
  const fast = batch('run:fast', 1);
  const rows = await appendRead(writer, fast, from);
  t.same(rows.filter((r) => r.outcome === 'ok').map((r) => r.id), fast.map((b) => b.id), 'the fast append is committed');
  t.same(events(rows), [], 'but nothing is read back: an older transaction may still commit before it');
  await slow.query('COMMIT');
  const later = events(await appendRead(writer, batch('run:fast', 1), from));
  t.same(later.slice(0, 2).map((r) => r.id), [...slowBatch, ...fast].map((b) => b.id), 'the slow event comes first, in its place');
});

t.test('waits for an older transaction that ends meanwhile and reads back its events before its own', async (t) => {
  const slow = await client();
  const { writer, pid, from } = await patientWriter();
  await slow.query('BEGIN');
  await slow.query('SELECT pg_current_xact_id()');
  const slowBatch = batch('run:slow2', 1);
  await slow.query(`SELECT * FROM ${schema}.append($1::json, '5s')`, [JSON.stringify(slowBatch)]);
  const fast = batch('run:fast2', 1);
  // the append is done and the function waits for the older transaction (or it answered without waiting)
  const { pending } = await waitingAppendRead(writer, pid, fast, from);
  await slow.query('COMMIT');
  const rows = await pending;
  t.same(rows.filter((r) => r.outcome === 'ok').map((r) => r.id), fast.map((b) => b.id), 'the append is committed');
  t.same(events(rows).map((r) => r.id), [...slowBatch, ...fast].map((b) => b.id), 'the older transaction\'s event, then its own, in the store order');
});

t.test('reads back in transaction order when an older transaction inserted after it (holding the higher seq)', async (t) => {
  const slow = await client();
  const { writer, pid, from } = await patientWriter();
  // the older transaction takes its id, but inserts only after the younger one did
  await slow.query('BEGIN');
  await slow.query('SELECT pg_current_xact_id()');
  const fast = batch('run:fast3', 1);
  const { pending } = await waitingAppendRead(writer, pid, fast, from);
  const slowBatch = batch('run:slow3', 1);
  await slow.query(`SELECT * FROM ${schema}.append($1::json, '5s')`, [JSON.stringify(slowBatch)]);
  await slow.query('COMMIT');
  const got = events(await pending);
  t.same(got.map((r) => r.id), [...slowBatch, ...fast].map((b) => b.id), 'the older transaction\'s event first, though inserted later');
  t.ok(Number(got[0]?.seq) > Number(got[1]?.seq), 'it holds the higher seq: an order by seq alone would put it after, and a reader that moved past it would skip it');
});
