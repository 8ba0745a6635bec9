import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { parseStoreUrl, redactStoreUrl } from '../../src/store-postgres/index.js';

t.test('redacts the password of a store URL wherever it is', async (t) => {
  t.equal(redactStoreUrl('postgres://arpd:s3cret@db.example:5433/arpd'), 'postgres://arpd:***@db.example:5433/arpd');
  t.equal(redactStoreUrl('postgresql://arpd:p%40ss@h/db?sslmode=require'), 'postgresql://arpd:***@h/db?sslmode=require');
  t.equal(redactStoreUrl('postgres://h/db?user=a&password=s3cret'), 'postgres://h/db?user=a&password=***');
  t.equal(redactStoreUrl('postgres://arpd@h/db'), 'postgres://arpd@h/db', 'no password, nothing to hide');
  t.equal(redactStoreUrl('post gres://arpd:s3cret@h/db'), 'post gres://arpd:***@h/db', 'a string that is not a URL still loses its password');
});

t.test('no password survives redaction, whatever its characters', async (t) => {
  fc.assert(fc.property(fc.string({ minLength: 4, maxLength: 30 }).filter((s) => s.trim().length >= 4 && !'postgres://arpd:***@host:5432/db'.includes(s) && !'postgres://arpd:***@host:5432/db'.includes(encodeURIComponent(s))), (pw) => {
    const url = `postgres://arpd:${encodeURIComponent(pw)}@host:5432/db`;
    const out = redactStoreUrl(url);
    return !out.includes(encodeURIComponent(pw)) && !out.includes(pw);
  }), { numRuns: 300 });
  t.pass('the property held');
});

t.test('describes a store URL by user, host, port and database, without the password', async (t) => {
  const d = parseStoreUrl('postgres://arpd:s3cret@db.example:5433/events');
  t.same({ user: d.user, host: d.host, port: d.port, database: d.database, label: d.label }, { user: 'arpd', host: 'db.example', port: 5433, database: 'events', label: 'arpd@db.example:5433/events' });
  t.notMatch(JSON.stringify(d), /s3cret/);
  const defaults = parseStoreUrl('postgres://arpd@[::1]/');
  t.same([defaults.host, defaults.port, defaults.database], ['::1', 5432, 'arpd'], 'port 5432 and the user name as database by default');
  // node-postgres connects to the host= of the query when there is one: the messages must name where it connects
  t.equal(parseStoreUrl('postgres://arpd@localhost/events?host=/run/postgresql').host, '/run/postgresql', 'host= wins over the URL\'s host');
  t.equal(parseStoreUrl('postgres:///events?host=/tmp').host, '/tmp', 'host= alone');
});

t.test('refuses what is not a PostgreSQL URL with E_VALIDATION, showing it redacted', async (t) => {
  for (const url of ['', '   ', 'localhost:5432', 'mysql://u:s3cret@h/db', 'postgres://u:%zz@h/db']) {
    let err: unknown;
    try { parseStoreUrl(url); } catch (e) { err = e; }
    t.ok(err instanceof ArpdError && err.code === 'E_VALIDATION', JSON.stringify(url));
    t.notMatch((err as Error).message, /s3cret/);
  }
});
