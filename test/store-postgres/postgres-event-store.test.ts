import t from 'tap';
import type { EventStore } from '../../src/events/event-store.js';
import { openPostgresStore, type PostgresEventStore, type PostgresStoreOptions } from '../../src/store-postgres/index.js';
import { eventStoreContract, rejection, traceEvent, until } from '../helpers/event-store-contract.js';
import { startPgCluster } from '../helpers/pg-cluster.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const cluster = await startPgCluster();
t.teardown(() => cluster.destroy());
const db = await cluster.createDatabase('contract');

let n = 0;
const proxies = new WeakMap<EventStore, TcpProxy>();
const schemas = new WeakMap<EventStore, string>();

/** A store on a fresh schema, reached through a proxy of its own (so faults hit only it). */
async function openStore(schema = `s${++n}`, extra: Partial<PostgresStoreOptions> = {}): Promise<PostgresEventStore> {
  const proxy = await startTcpProxy(cluster.port);
  const store = await openPostgresStore({
    url: cluster.url({ database: db, port: proxy.port }),
    schema,
    pollIntervalMs: 200,
    resolveTimeoutMs: 20_000,
    connectTimeoutMs: 2000,
    ...extra,
  });
  const close = store.close.bind(store);
  store.close = async () => {
    await close();
    await proxy.close();
  };
  proxies.set(store, proxy);
  schemas.set(store, schema);
  return store;
}

t.test('the EventStore contract holds for PostgreSQL', async (t) => {
  eventStoreContract(t, {
    open: () => openStore(),
    openPeer: (store) => openStore(schemas.get(store)),
    faults: {
      loseNextCommitAck: async (store) => {
        const dropped = (proxies.get(store) as TcpProxy).loseAckAfter('.append_read($1::json');
        return dropped;
      },
      cutOff: async (store) => {
        const proxy = proxies.get(store) as TcpProxy;
        proxy.cut();
        // the reader notices on its next poll; an append already in flight at the cut is the other test's case
        await until(() => !(store as PostgresEventStore).status().available, 20_000, 'the store to notice the cut');
        return async () => proxy.restore();
      },
    },
  });
});

t.test('appends made in the same tick share one transaction', async (t) => {
  const store = await openStore();
  t.teardown(() => store.close());
  const got = await Promise.all(Array.from({ length: 64 }, (_, i) => store.append([traceEvent(`g${i}`, i)])));
  t.equal(got.length, 64);
  const r = await cluster.query<{ n: string }>(`SELECT count(DISTINCT tx) AS n FROM ${store.schema}.events`, [], db);
  t.equal(Number(r.rows[0]?.n), 1, '64 appends, one transaction');
});

t.test('a seq that is not an event of the store is refused by readPage and subscribe', async (t) => {
  const store = await openStore();
  t.teardown(() => store.close());
  await store.append([traceEvent('x', 1)]);
  const err = await rejection(store.readPage(store.head + 1000, 10));
  t.equal(err.code, 'E_VALIDATION');
  t.match(err.message, /not an event of this store/);
  let failed: string | undefined;
  store.subscribe(store.head + 1000, undefined, { event: () => undefined, error: (e) => { failed = e.code; } });
  await until(() => failed !== undefined, 10_000, 'the subscription to fail');
  t.equal(failed, 'E_VALIDATION');
});

t.test('status and warnings never show the password', async (t) => {
  const warnings: string[] = [];
  const store = await openStore(undefined, { onWarning: (m, d) => warnings.push(m, JSON.stringify(d)) });
  t.teardown(() => store.close());
  const proxy = proxies.get(store) as TcpProxy;
  proxy.cut();
  const err = await rejection(store.append([traceEvent('pw', 1)]));
  const statusDown = JSON.stringify(store.status());
  proxy.restore();
  await until(() => store.status().available, 20_000, 'the store to answer again');
  const text = [err.message, JSON.stringify(err.data), statusDown, JSON.stringify(store.status()), ...warnings].join('\n');
  t.notMatch(text, cluster.password, 'the password is nowhere');
  t.match(statusDown, /"available":false/);
  t.match(statusDown, /postgres:\*\*\*@/, 'the store URL is shown redacted');
  t.ok(warnings.some((w) => /unreachable/.test(w)) && warnings.some((w) => /answers again/.test(w)), 'the outage and the recovery were reported');
});

t.test('a retry after a lost commit acknowledgement finds its events by id: the append resolves, stored once', async (t) => {
  // a poll interval of ten minutes: the retry, not the reader, learns the outcome
  const store = await openStore(undefined, { pollIntervalMs: 600_000 });
  t.teardown(() => store.close());
  await store.append([traceEvent('once', 1)]);
  const dropped = (proxies.get(store) as TcpProxy).loseAckAfter('.append_read($1::json');
  const got = await store.append([traceEvent('once', 2), traceEvent('once', 3)]);
  await dropped;
  t.same(got.map((e) => e.rev), [2, 3], 'resolved with the revisions the first attempt wrote');
  const rows = await cluster.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${store.schema}.events WHERE stream = 'run:once'`, [], db);
  t.equal(rows.rows[0]?.n, 3, 'stored once');
});

t.test('a store closed right after it opened closes (its listener may still be connecting)', async (t) => {
  for (let i = 0; i < 5; i++) {
    const store = await openStore();
    await store.close();
  }
  t.pass('every close returned');
});

t.test('caughtUp publishes what another node committed before it was called, without waiting for a poll or a NOTIFY', async (t) => {
  const writer = await openStore();
  t.teardown(() => writer.close());
  // a reader that polls only every 10 minutes, and a writer that sends no NOTIFY: only caughtUp can bring the event in
  const reader = await openStore(writer.schema, { pollIntervalMs: 600_000 });
  t.teardown(() => reader.close());
  (writer as unknown as { listener: { notify(): void } }).listener.notify = () => undefined;
  await until(() => reader.head === writer.head, 10_000, 'the reader to start at the writer\'s head');
  const [e] = await writer.append([traceEvent('caught-up', 1)]);
  const seq = (e as { seq: number }).seq;
  t.ok(reader.head < seq, 'not published on the reader yet');
  await reader.caughtUp(10_000);
  t.ok(reader.head >= seq, `published on the reader once caughtUp resolved (head ${reader.head}, event ${seq})`);
  // nothing new: resolves at once, and stays put
  await reader.caughtUp(10_000);
  t.equal(reader.head, writer.head);
});
