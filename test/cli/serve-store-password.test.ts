/**
 * A foreground `arpd serve --store <URL with a password>` keeps the password on its command line, readable by every
 * user of the host (`ps`) for as long as it runs (`arpd daemon start` moves it into ARPD_STORE_URL itself): serve
 * warns at start, without printing the password. A URL without one, or one given in ARPD_STORE_URL, gets no warning.
 */
import t from 'tap';
import { storePasswordInArgv } from '../../src/cli/serve-options.js';
import { daemonHarness } from '../helpers/daemon-harness.js';

t.test('a --store URL with a password in its user part or its query is seen; one without is not', async (t) => {
  t.ok(storePasswordInArgv(['serve', '--store', 'postgres://arpd:s3cret@db:5432/arpd']));
  t.ok(storePasswordInArgv(['serve', '--store=postgres://arpd:s3cret@db/arpd']));
  t.ok(storePasswordInArgv(['serve', '--store', 'postgres:///arpd?host=/run/postgresql&password=s3cret']));
  t.ok(storePasswordInArgv(['serve', '--store', 'postgres://arpd:s3%@db/arpd']), 'not a URL to parse, but one that holds a password');
  t.notOk(storePasswordInArgv(['serve', '--store', 'postgres://arpd@db:5432/arpd']), 'a user without a password');
  t.notOk(storePasswordInArgv(['serve', '--store', 'postgres:///arpd?host=/run/postgresql']));
  t.notOk(storePasswordInArgv(['serve', '--data-dir', 'postgres://a:b@c/d']), 'another option\'s value');
  t.notOk(storePasswordInArgv(['serve', '--store']), 'no value');
});

t.test('arpd serve warns of a password on its command line, without printing it, before it tries the store', async (t) => {
  const h = daemonHarness(t);
  const dir = h.newDataDir();
  // port 1 on loopback: nothing listens, so the start fails fast (E_UNAVAILABLE) after the warning
  const r = await h.cli(dir, ['serve', '--no-http', '--store', 'postgres://arpd:s3cretPW@127.0.0.1:1/arpd']);
  t.not(r.code, 0, `the start fails: nothing listens there (exit ${String(r.code)})`);
  t.match(r.stderr, /warning: the --store URL holds a password.*ARPD_STORE_URL/, 'the warning, with what to do');
  t.notMatch(r.stderr + r.stdout, /s3cretPW/, 'the password is printed nowhere');
  const quiet = await h.cli(dir, ['serve', '--no-http', '--store', 'postgres://arpd@127.0.0.1:1/arpd']);
  t.notMatch(quiet.stderr, /holds a password/, 'no password, no warning');
  const viaEnv = await h.cli(dir, ['serve', '--no-http'], { env: { ARPD_STORE_URL: 'postgres://arpd:s3cretPW@127.0.0.1:1/arpd' } });
  t.notMatch(viaEnv.stderr, /holds a password/, 'the URL in ARPD_STORE_URL: no warning');
  t.notMatch(viaEnv.stderr + viaEnv.stdout, /s3cretPW/, 'and the password is printed nowhere');
});
