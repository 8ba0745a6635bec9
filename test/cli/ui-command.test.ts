/**
 * `arpd ui` against a REAL daemon: it runs the platform's opener (`xdg-open`, here a script put first on
 * PATH that records what it was asked to open) on `<http url>/ui`, without a shell, and prints the URL
 * when not on a terminal, with --json, and when no browser could be opened.
 */
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';
import { startHttpDaemon } from '../server/http-daemon.js';

if (process.platform !== 'linux') {
  t.pass('xdg-open is the opener on Linux only');
} else {
  const h = daemonHarness(t);
  const d = await startHttpDaemon(t);
  const bin = h.newDataDir();
  const record = join(bin, 'opened.txt');

  function opener(exitCode: number): void {
    const script = join(bin, 'xdg-open');
    writeFileSync(script, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${record}'\nexit ${exitCode}\n`);
    chmodSync(script, 0o700);
  }
  const env = (path: string) => ({ PATH: path });
  const opened = (): string[] => (existsSync(record) ? readFileSync(record, 'utf8').split('\n').filter((l) => l !== '') : []);

  t.test('opens <http url>/ui with xdg-open and prints the URL (stdout is not a terminal)', async (t) => {
    opener(0);
    const r = await h.cli(d.dataDir, ['ui'], { env: env(`${bin}:/usr/bin:/bin`) });
    t.equal(r.code, 0, r.stderr);
    t.same(opened(), [`${d.url}/ui`], 'the opener got the URL as its one argument');
    t.equal(r.stdout, `${d.url}/ui\n`);
    const json = await h.cli(d.dataDir, ['ui', '--json'], { env: env(`${bin}:/usr/bin:/bin`) });
    t.same(JSON.parse(json.stdout), { url: `${d.url}/ui`, opened: true });
  });

  t.test('a URL with shell characters reaches the opener as one argument (no shell)', async (t) => {
    opener(0);
    const before = opened().length;
    const weird = `${d.url}/#;touch ${join(bin, 'pwned')}`;
    const r = await h.cli(d.dataDir, ['ui', '--daemon-url', weird, '--token', d.token], { env: env(`${bin}:/usr/bin:/bin`), withDataDir: false });
    t.equal(r.code, 0, r.stderr);
    t.equal(opened()[before], `${weird}/ui`);
    t.notOk(existsSync(join(bin, 'pwned')), 'nothing ran the text as a command');
  });

  t.test('prints the URL and says so when the opener fails or is missing', async (t) => {
    opener(3);
    const failed = await h.cli(d.dataDir, ['ui'], { env: env(`${bin}:/usr/bin:/bin`) });
    t.equal(failed.code, 0, failed.stderr);
    t.equal(failed.stdout, `${d.url}/ui\n`);
    t.match(failed.stderr, /no browser could be opened/);
    const missing = await h.cli(d.dataDir, ['ui', '--json'], { env: env(join(bin, 'nothing-here')) });
    t.equal(missing.code, 0, missing.stderr);
    t.same(JSON.parse(missing.stdout), { url: `${d.url}/ui`, opened: false });
  });

  t.test('a daemon without HTTP has no UI: one error line', async (t) => {
    const dir = h.newDataDir();
    await h.startDaemon(dir);
    const r = await h.cli(dir, ['ui'], { env: env(`${bin}:/usr/bin:/bin`) });
    t.equal(r.code, 1);
    t.match(r.stderr, /^arpd: error: the daemon of .* serves no HTTP API \(it was started with --no-http\).*\[E_UNAVAILABLE\]\n$/);
  });
}
