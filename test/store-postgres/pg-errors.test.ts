import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { isConnectionError, openError, reasonOf, sqlState, unavailable, unexpected } from '../../src/store-postgres/pg-errors.js';
import { parseStoreUrl } from '../../src/store-postgres/store-url.js';

// What node-postgres and PostgreSQL throw, as plain errors with the fields they carry (no database here).
const pgError = (code: string, message = 'server says no') => Object.assign(new Error(message), { code, severity: 'ERROR' });
const netError = (code: string) => Object.assign(new Error(`connect ${code} 10.0.0.1:5432`), { code, errno: -111, syscall: 'connect' });
const target = parseStoreUrl('postgres://arpd:s3cret-pw@db.example:6543/events');

t.test('a SQLSTATE is five digits or capitals, anything else is not one', async (t) => {
  t.equal(sqlState(pgError('57P01')), '57P01');
  t.equal(sqlState(pgError('08006')), '08006');
  for (const e of [netError('ECONNREFUSED'), pgError('5701'), pgError('57p01'), new Error('x'), null, undefined, 'text', { code: 42 }]) t.equal(sqlState(e), undefined, String((e as { code?: unknown } | null)?.code ?? e));
});

t.test('a lost connection, a server that cannot serve now and a socket failure are connection errors', async (t) => {
  for (const code of ['08000', '08003', '08006', '57P01', '57P02', '57P03', '53300']) t.ok(isConnectionError(pgError(code)), code);
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']) t.ok(isConnectionError(netError(code)), code);
  for (const msg of ['Connection terminated unexpectedly', 'Client was closed and is not queryable', 'timeout exceeded when trying to connect', 'Cannot use a pool after calling end on the pool']) t.ok(isConnectionError(new Error(msg)), msg);
});

t.test('a failure of the statement itself is not a connection error', async (t) => {
  for (const code of ['23505', '40001', '42P01', '22P02', '28P01', '3D000', '42501']) t.notOk(isConnectionError(pgError(code)), code);
  t.notOk(isConnectionError(pgError('23505', 'Connection terminated')), 'a SQLSTATE wins over the message');
  for (const v of [new Error('syntax error at or near'), null, undefined, 'ECONNRESET', 7]) t.notOk(isConnectionError(v), String(v));
});

t.test('a dual-stack connect failure or a wrapped cause is a connection error when one inside is', async (t) => {
  t.ok(isConnectionError(new AggregateError([netError('ECONNREFUSED'), netError('EADDRNOTAVAIL')], 'all failed')));
  t.notOk(isConnectionError(new AggregateError([new Error('a'), new Error('b')])));
  t.ok(isConnectionError(new Error('query failed', { cause: netError('ECONNRESET') })));
  t.notOk(isConnectionError(Object.assign(new Error('query failed', { cause: netError('ECONNRESET') }), { code: '23505' })), 'its own code decides');
});

t.test('the reason of an error is its code, else the first line of its message, cut to 160 characters', async (t) => {
  t.equal(reasonOf(pgError('57P01')), '57P01');
  t.equal(reasonOf(netError('ECONNREFUSED')), 'ECONNREFUSED');
  t.equal(reasonOf(new Error('first line\nsecond line')), 'first line');
  t.equal(reasonOf(new Error('x'.repeat(500))).length, 160);
  t.equal(reasonOf(new AggregateError([netError('ETIMEDOUT')])), 'ETIMEDOUT', 'the first inner error');
  t.equal(reasonOf(new Error('wrapped', { cause: pgError('08006') })), '08006', 'the cause');
  t.equal(reasonOf('plain text'), 'plain text');
  t.equal(reasonOf(null), 'null');
});

t.test('the reason is always one short line, whatever is thrown', async (t) => {
  const text = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '\n', '\r', 'é'), maxLength: 300 });
  const thrown = fc.oneof(
    text.map((m) => new Error(m)),
    fc.record({ code: fc.oneof(fc.string(), fc.integer(), fc.constant(undefined)), message: fc.oneof(text, fc.constant(undefined)) }).map((r) => ({ ...r })),
    text,
    fc.constantFrom(null, undefined, 0),
  );
  fc.assert(fc.property(thrown, (err) => {
    const r = reasonOf(err);
    return typeof r === 'string' && r.length <= 160 && (!r.includes('\n') || typeof (err as { code?: unknown } | null)?.code === 'string');
  }));
  t.pass('held');
});

t.test('an unreachable store is a retryable E_UNAVAILABLE that names the server and never the password', async (t) => {
  const e = unavailable(target, netError('ECONNREFUSED'), 'the events were not written');
  t.equal(e.code, 'E_UNAVAILABLE');
  t.match(e.message, /db\.example:6543\/events is unreachable \(ECONNREFUSED\): the events were not written; check that the server runs/);
  t.equal(e.data?.['retryable'], true);
  t.notMatch(JSON.stringify({ m: e.message, d: e.data }), /s3cret-pw/);
  const u = unexpected(target, pgError('42P01', 'relation "x" does not exist'), 'read events');
  t.equal(u.code, 'E_INTERNAL');
  t.match(u.message, /failed to read events \(42P01\)/);
  t.notMatch(JSON.stringify({ m: u.message, d: u.data }), /s3cret-pw/);
});

t.test('each failure to open the store names what to fix, with the code a client can act on', async (t) => {
  const cases: Array<[unknown, string, RegExp]> = [
    [pgError('28P01'), 'E_UNAUTHORIZED', /refused the login of user 'arpd' to database 'events' .*check the user and password/],
    [pgError('28000'), 'E_UNAUTHORIZED', /pg_hba\.conf/],
    [pgError('3D000'), 'E_NOT_FOUND', /database 'events' does not exist .*createdb events/],
    [pgError('42501', 'permission denied for schema public\nDETAIL: x'), 'E_FORBIDDEN', /lacks a permission .*\(permission denied for schema public\): .*grant the user CREATE/],
    [netError('ENOTFOUND'), 'E_UNAVAILABLE', /host 'db\.example' of the store URL cannot be resolved \(ENOTFOUND\)/],
    [netError('ECONNREFUSED'), 'E_UNAVAILABLE', /cannot reach PostgreSQL at db\.example:6543 \(ECONNREFUSED\)/],
    [pgError('57P03', 'the database system is starting up'), 'E_UNAVAILABLE', /cannot reach/],
    [new Error('The server does not support SSL connections'), 'E_UNAVAILABLE', /TLS connection .*sslmode/],
    [pgError('XX000', 'internal error'), 'E_INTERNAL', /opening the event store at .* failed \(XX000\)/],
  ];
  for (const [err, code, message] of cases) {
    const e = openError(target, err);
    t.equal(e.code, code, message.source);
    t.match(e.message, message);
    t.equal(e.cause, err, 'the cause is kept for the log');
    t.notMatch(JSON.stringify({ m: e.message, d: e.data }), /s3cret-pw/, 'no password');
  }
  const mine = new ArpdError('E_STORE_SCHEMA', 'newer schema');
  t.equal(openError(target, mine), mine, 'an arpd error passes through');
});

// was a bug in src/store-postgres/pg-errors.ts (fixed): sqlState() takes any five capitals for a SQLSTATE, so Node's 'EPIPE'
// (a socket write to a closed connection) is read as SQLSTATE 'EPIPE', isConnectionError says false (the 'EPIPE'
// in NET_CODES is never reached) and openError makes it E_INTERNAL instead of a retryable E_UNAVAILABLE.
t.test('a broken pipe is a connection error', async (t) => {
  t.equal(sqlState(netError('EPIPE')), undefined);
  t.ok(isConnectionError(netError('EPIPE')));
  t.equal(openError(target, netError('EPIPE')).code, 'E_UNAVAILABLE');
});

// was a bug in src/store-postgres/pg-errors.ts (fixed): a store on a Unix socket (`postgres:///arpd?host=/run/postgresql`)
// whose server is not running fails to connect with ENOENT (no socket file), which was not a connection error: the start
// was refused with E_INTERNAL "see the daemon log", and a running daemon did not treat the outage as one.
t.test('a Unix socket with no server behind it is a connection error, and at start E_UNAVAILABLE naming the socket', async (t) => {
  const noSocket = Object.assign(new Error('connect ENOENT /run/postgresql/.s.PGSQL.5432'), { code: 'ENOENT', errno: -2, syscall: 'connect', address: '/run/postgresql/.s.PGSQL.5432' });
  t.ok(isConnectionError(noSocket));
  t.notOk(isConnectionError(Object.assign(new Error("ENOENT: no such file or directory, open '/home/a/root.crt'"), { code: 'ENOENT', syscall: 'open' })), 'a missing file that is not the socket is not');
  const socketTarget = parseStoreUrl('postgres:///events?host=/run/postgresql/&user=arpd&password=s3cret-pw');
  const e = openError(socketTarget, noSocket);
  t.equal(e.code, 'E_UNAVAILABLE');
  t.match(e.message, /cannot reach PostgreSQL on the Unix socket \/run\/postgresql\/\.s\.PGSQL\.5432 \(ENOENT\): check that the server runs/);
  t.equal(e.data?.['retryable'], true);
  t.notMatch(JSON.stringify({ m: e.message, d: e.data }), /s3cret-pw/);
});
