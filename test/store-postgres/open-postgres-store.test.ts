/**
 * Opening the PostgreSQL store with bad input: each case a clear ArpdError with a stable code that
 * names what to fix, never showing the password.
 */
import { createServer } from 'node:net';
import t, { type Test } from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { openPostgresStore, SCHEMA_VERSION, type PostgresStoreOptions } from '../../src/store-postgres/index.js';
import { rejection, traceEvent } from '../helpers/event-store-contract.js';
import { startPgCluster } from '../helpers/pg-cluster.js';

const cluster = await startPgCluster();
t.teardown(() => cluster.destroy());
const db = await cluster.createDatabase('opening');

/** Opens, expecting a refusal; checks that the password is nowhere in it. */
async function refused(t: Test, opts: PostgresStoreOptions, secret = cluster.password): Promise<ArpdError> {
  const err = await rejection(openPostgresStore({ connectTimeoutMs: 3000, ...opts }));
  t.notMatch(`${err.message} ${JSON.stringify(err.data ?? {})}`, secret, 'the password is not in the error');
  return err;
}

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 1));
    });
  });
}

t.test('a URL that is not a PostgreSQL URL is refused with E_VALIDATION and an example', async (t) => {
  for (const url of ['', 'not a url', 'mysql://u:hunter2@h/db', 'http://u:hunter2@h/db']) {
    const err = await refused(t, { url }, 'hunter2');
    t.equal(err.code, 'E_VALIDATION', JSON.stringify(url.replace('hunter2', '***')));
    t.match(err.message, /postgres:\/\/user:password@host:5432/);
  }
});

t.test('a server that does not answer is E_UNAVAILABLE naming host and port', async (t) => {
  const port = await closedPort();
  const err = await refused(t, { url: `postgres://u:hunter2@127.0.0.1:${port}/db` }, 'hunter2');
  t.equal(err.code, 'E_UNAVAILABLE');
  t.match(err.message, new RegExp(`127\\.0\\.0\\.1:${port}.*ECONNREFUSED.*check that the server runs`));
  t.equal(err.data?.retryable, true);
});

t.test('a wrong password is E_UNAUTHORIZED naming the user', async (t) => {
  const err = await refused(t, { url: cluster.url({ password: 'wrong-secret' }) }, 'wrong-secret');
  t.equal(err.code, 'E_UNAUTHORIZED');
  t.match(err.message, /refused the login of user 'postgres'.*check the user and password in --store/);
});

t.test('a database that does not exist is E_NOT_FOUND naming it', async (t) => {
  const err = await refused(t, { url: cluster.url({ database: 'no_such_db' }) });
  t.equal(err.code, 'E_NOT_FOUND');
  t.match(err.message, /database 'no_such_db' does not exist.*createdb no_such_db/);
});

t.test('a schema from a newer arpd is refused with E_STORE_SCHEMA naming both versions', async (t) => {
  const store = await openPostgresStore({ url: cluster.url({ database: db }), schema: 'future' });
  await store.append([traceEvent('kept', 1)]);
  await store.close();
  await cluster.query(`INSERT INTO future.schema_version (version, name, arpd_version) VALUES ($1, 'from the future', '99.0.0')`, [SCHEMA_VERSION + 1], db);
  const err = await refused(t, { url: cluster.url({ database: db }), schema: 'future' });
  t.equal(err.code, 'E_STORE_SCHEMA');
  t.match(err.message, new RegExp(`at version ${SCHEMA_VERSION + 1} \\(made by arpd 99\\.0\\.0\\), newer than this arpd .* knows \\(version ${SCHEMA_VERSION}\\): upgrade arpd`));
  t.match(err.data, { found: SCHEMA_VERSION + 1, known: SCHEMA_VERSION });
  const kept = await cluster.query('SELECT count(*)::int AS n FROM future.events', [], db);
  t.equal(kept.rows[0]?.n, 1, 'nothing was changed');
});

t.test('a schema that holds tables arpd did not make is refused with E_STORE_SCHEMA', async (t) => {
  await cluster.query('CREATE SCHEMA theirs; CREATE TABLE theirs.events (x int)', [], db);
  const err = await refused(t, { url: cluster.url({ database: db }), schema: 'theirs' });
  t.equal(err.code, 'E_STORE_SCHEMA');
  t.match(err.message, /already holds tables or functions that arpd did not make/);
  t.equal((await cluster.query("SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = 'theirs'", [], db)).rows[0]?.n, 1, 'their schema is as it was');
});

t.test('a user that may not create the schema, then lacks privileges on it, is refused with E_FORBIDDEN saying what to grant; once granted it works', async (t) => {
  await cluster.query("CREATE ROLE weak LOGIN PASSWORD 'weak-secret'");
  const weak = cluster.url({ database: db, user: 'weak', password: 'weak-secret' });
  const noCreate = await refused(t, { url: weak }, 'weak-secret');
  t.equal(noCreate.code, 'E_FORBIDDEN');
  t.match(noCreate.message, /user 'weak' lacks a permission.*permission denied for database.*grant the user CREATE on the database/);

  const owner = await openPostgresStore({ url: cluster.url({ database: db }) });
  await owner.close();
  const noUse = await refused(t, { url: weak }, 'weak-secret');
  t.equal(noUse.code, 'E_FORBIDDEN');
  t.match(noUse.message, /user 'weak' lacks USAGE on schema arpd .*GRANT USAGE ON SCHEMA arpd TO "weak"/);

  await cluster.query('GRANT USAGE ON SCHEMA arpd TO weak; GRANT SELECT ON ALL TABLES IN SCHEMA arpd TO weak', [], db);
  const partial = await refused(t, { url: weak }, 'weak-secret');
  t.equal(partial.code, 'E_FORBIDDEN');
  t.match(partial.data, { missing: ['INSERT on arpd.events', 'INSERT on arpd.streams', 'UPDATE on arpd.streams', 'USAGE on sequence arpd.events_seq_seq'] }, 'it lists exactly what is missing');

  await cluster.query('GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA arpd TO weak; GRANT USAGE ON ALL SEQUENCES IN SCHEMA arpd TO weak', [], db);
  const store = await openPostgresStore({ url: weak });
  t.teardown(() => store.close());
  t.same((await store.append([traceEvent('weak', 1)])).map((e) => e.rev), [1], 'with the grants the user appends');
});

t.test('bad options are refused with E_VALIDATION before connecting', async (t) => {
  const url = cluster.url();
  t.equal((await refused(t, { url, schema: 'Bad-Name' })).code, 'E_VALIDATION', 'a schema name');
  t.equal((await refused(t, { url, schema: 'x; drop table y' })).code, 'E_VALIDATION', 'an injection in the schema name');
  t.equal((await refused(t, { url, pollIntervalMs: 0 })).code, 'E_VALIDATION', 'a poll interval of 0');
  t.equal((await refused(t, { url, readPoolSize: 1.5 })).code, 'E_VALIDATION', 'a fractional pool size');
});

t.test('daemons opening the same new database together create the schema once', async (t) => {
  const stores = await Promise.all(Array.from({ length: 4 }, () => openPostgresStore({ url: cluster.url({ database: db }), schema: 'together' })));
  t.teardown(() => Promise.all(stores.map((s) => s.close())));
  const v = await cluster.query<{ version: number }>('SELECT version FROM together.schema_version', [], db);
  t.same(v.rows.map((r) => r.version), Array.from({ length: SCHEMA_VERSION }, (_, i) => i + 1), 'one row per migration');
  await Promise.all(stores.map((s, i) => s.append([traceEvent(`d${i}`, 1)])));
  t.equal((await cluster.query('SELECT count(*)::int AS n FROM together.events', [], db)).rows[0]?.n, 4, 'each appends');
});
