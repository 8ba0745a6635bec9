/**
 * Issue 11, point 2: `--http-auth none` on loopback was remote code execution through any web page (no Host or
 * Origin check, so a DNS-rebinding page could PUT a profile whose command is `sh -c …` and start it), and anyone
 * with the run-submit token could rewrite the safe list. Now, on real daemons in each auth mode:
 *
 * - a request whose `Host` is not an address of the daemon (DNS rebinding: `Host: evil.example:<port>`) is refused,
 *   reads and changes alike, in every mode; `--allowed-hosts` adds a name a proxy forwards;
 * - a change that comes with a foreign `Origin` (or `Origin: null`, or `Sec-Fetch-Site: cross-site`) is refused in
 *   every mode; the daemon's own origin (the dashboard) and no Origin at all (tools) are not;
 * - the safe list changes only with more than the run credential: the admin token (token mode), a JWT with the
 *   `arp.admin` scope (jwt mode), never over HTTP in `none` mode; the socket (its owner) always can.
 * - so does what a safe-listed profile runs: an instance create with `overrides.env` or `overrides.args` (with
 *   `NODE_OPTIONS=--import=data:…` the run token ran any code it liked in the `default` profile's runtime).
 *
 * Every refusal is checked to change nothing: the profile it tried to write is not there afterwards.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import t, { type Test } from 'tap';
import { daemonHarness } from '../helpers/daemon-harness.js';
import { rawRequest, type RawAnswer } from '../helpers/raw-http.js';
import { startHttpDaemon, tempDir, type HttpDaemon } from '../server/http-daemon.js';

type Json = Record<string, unknown>;

/** The profile a hostile page would like to add: a shell. */
const SHELL_PROFILE = { extensions: { 'arp.jarvis.exec': { driver: 'command', command_template: ['/bin/sh', '-c', 'touch /tmp/arpd-pwned; sleep 60'] } } };

function arpdCode(a: RawAnswer): string | undefined {
  return ((a.body as { error?: { details?: { arpd_code?: string } } } | undefined)?.error?.details?.arpd_code);
}

function reason(a: RawAnswer): string | undefined {
  return ((a.body as { error?: { details?: { reason?: string } } } | undefined)?.error?.details?.reason);
}

/** Overrides that would run the caller's code in the `default` profile's runtime (node). */
const CODE_OVERRIDES: Array<[string, Json]> = [
  ['overrides.env', { env: { NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent("import('node:fs').then((f) => f.writeFileSync('/tmp/arpd-pwned', 'x'))")}` } }],
  ['overrides.args', { args: ['--inspect=0'] }],
];

/**
 * With `runCredential` (headers), instance creates that change what the default profile runs are refused for
 * `admin` and start nothing; `tool_registry_url` alone is not refused (the ARP golden vector sends it).
 */
async function overridesNeedAdmin(t: Test, d: HttpDaemon, runCredential: Record<string, string>): Promise<void> {
  const host = new URL(d.url).host;
  for (const [what, overrides] of CODE_OVERRIDES) {
    const a = await rawRequest(d.url, 'POST', '/v1/instances?wait=false', { headers: { host, ...runCredential }, json: { runtime_profile: 'default', overrides } });
    refused(t, a, 'admin', `POST /v1/instances with ${what} and the run credential`);
    t.match((a.body as { error?: { message?: string } } | undefined)?.error?.message, what, 'the refusal names the field');
  }
  const registry = await rawRequest(d.url, 'POST', '/v1/instances?wait=false', { headers: { host, ...runCredential }, json: { runtime_profile: 'no-such-profile', overrides: { tool_registry_url: 'http://127.0.0.1:9000', env: {}, args: [] } } });
  t.equal(registry.status, 404, `tool_registry_url (and empty env and args) pass the check: the unknown profile is what refuses it (${registry.text.slice(0, 200)})`);
  const all = await rawRequest(d.url, 'GET', '/v1/instances?all=true', { headers: { host, ...runCredential } });
  t.same((all.body as { instances?: unknown[] } | undefined)?.instances, [], 'no refused request started an instance');
}

function refused(t: Test, a: RawAnswer, why: 'host' | 'origin' | 'admin', what: string): void {
  t.equal(a.status, 403, `${what}: 403 (${a.text.slice(0, 200)})`);
  t.equal(arpdCode(a), 'E_FORBIDDEN', `${what}: E_FORBIDDEN`);
  t.equal(reason(a), why, `${what}: refused for its ${why}`);
}

/** The Host and Origin attacks, for a daemon in any mode; `auth` is a header good for changes there (or none). */
async function hostileBrowser(t: Test, d: HttpDaemon, auth: Record<string, string>): Promise<void> {
  const port = new URL(d.url).port;
  const changes: Array<[string, string, unknown]> = [
    ['PUT', '/v1/admin/runtime-profiles/pwn', SHELL_PROFILE],
    ['POST', '/v1/runs', { input: { goal: 'What is 1+1?' } }],
    ['POST', '/v1/instances', { runtime_profile: 'default' }],
    ['DELETE', '/v1/admin/runtime-profiles/default', undefined],
  ];
  for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.2:${port}`, `localhost.evil.example:${port}`]) {
    refused(t, await rawRequest(d.url, 'GET', '/v1/runs', { headers: { ...auth, host } }), 'host', `GET /v1/runs with Host ${host}`);
    refused(t, await rawRequest(d.url, 'GET', '/v1/health', { headers: { host } }), 'host', `GET /v1/health with Host ${host}`);
    for (const [method, path, json] of changes) {
      refused(t, await rawRequest(d.url, method, path, { headers: { ...auth, host }, ...(json === undefined ? {} : { json }) }), 'host', `${method} ${path} with Host ${host}`);
    }
  }
  const good = `127.0.0.1:${port}`;
  for (const origin of ['http://evil.example', `http://evil.example:${port}`, 'http://localhost:3000', `https://127.0.0.1:${port}`, 'null']) {
    for (const [method, path, json] of changes) {
      refused(t, await rawRequest(d.url, method, path, { headers: { ...auth, host: good, origin }, ...(json === undefined ? {} : { json }) }), 'origin', `${method} ${path} with Origin ${origin}`);
    }
  }
  refused(t, await rawRequest(d.url, 'POST', '/v1/runs', { headers: { ...auth, host: good, 'sec-fetch-site': 'cross-site' }, json: { input: { goal: 'x' } } }), 'origin', 'POST /v1/runs with Sec-Fetch-Site: cross-site');
  // the same hosts the daemon serves pass the check (whatever the credentials then say)
  for (const host of [good, `localhost:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`]) {
    const a = await rawRequest(d.url, 'GET', '/v1/health', { headers: { host } });
    t.equal(a.status, 200, `GET /v1/health with Host ${host} is served`);
  }
  const own = await rawRequest(d.url, 'POST', '/v1/runs/nope:cancel', { headers: { ...auth, host: good, origin: `http://127.0.0.1:${port}` } });
  t.not(reason(own), 'origin', 'a change from the daemon\'s own origin (the dashboard) passes the Origin check');
  const profiles = await rawRequest(d.url, 'GET', '/v1/admin/runtime-profiles', { headers: { ...auth, host: good } });
  t.equal(profiles.status, 200);
  const names = ((profiles.body as { profiles?: Json[]; runtime_profiles?: Json[] }).runtime_profiles ?? (profiles.body as { profiles?: Json[] }).profiles ?? []).map((p) => p['runtime_profile']);
  t.notOk(names.includes('pwn'), 'no refused request added the shell profile');
  t.ok(names.includes('default'), 'and none deleted the default profile');
}

t.test('token mode: Host and Origin are checked, and the run token cannot change the safe list nor what a profile runs', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances']);
  t.ok(d.adminToken.length >= 32 && d.adminToken !== d.token, 'an admin token of its own, not the run token');
  await hostileBrowser(t, d, { authorization: `Bearer ${d.adminToken}` });
  const good = { host: new URL(d.url).host };
  const put = (token: string): Promise<RawAnswer> => rawRequest(d.url, 'PUT', '/v1/admin/runtime-profiles/mine', { headers: { ...good, authorization: `Bearer ${token}` }, json: SHELL_PROFILE });
  refused(t, await put(d.token), 'admin', 'PUT a profile with the run token');
  refused(t, await rawRequest(d.url, 'DELETE', '/v1/admin/runtime-profiles/default', { headers: { ...good, authorization: `Bearer ${d.token}` } }), 'admin', 'DELETE a profile with the run token');
  t.equal((await put(d.adminToken)).status, 200, 'the admin token can');
  t.equal((await rawRequest(d.url, 'GET', '/v1/runs', { headers: { ...good, authorization: `Bearer ${d.token}` } })).status, 200, 'the run token still reads');
  await overridesNeedAdmin(t, d, { authorization: `Bearer ${d.token}` });
  for (const [path, what] of [['/v1/admin/log:snapshot', 'taking a log snapshot'], ['/v1/admin/log:compact', 'compacting the event log'], ['/v1/admin/runs:prune?before=2000-01-01', 'pruning ended runs']] as const) {
    const a = await rawRequest(d.url, 'POST', path, { headers: { ...good, authorization: `Bearer ${d.token}` } });
    refused(t, a, 'admin', `POST ${path} with the run token`);
    t.match((a.body as { error?: { message?: string } } | undefined)?.error?.message, new RegExp(`^${what} needs the admin token`), 'the refusal says what needs the admin token, not "changing the safe list"');
    t.equal((await rawRequest(d.url, 'POST', path, { headers: { ...good, authorization: `Bearer ${d.adminToken}` } })).status, 200, `POST ${path} with the admin token`);
  }
  const withAdmin = await rawRequest(d.url, 'POST', '/v1/instances?wait=false', { headers: { ...good, authorization: `Bearer ${d.adminToken}` }, json: { runtime_profile: 'no-such-profile', overrides: { env: { A: '1' }, args: ['x'] } } });
  t.equal(withAdmin.status, 404, 'the admin token may send overrides.env and overrides.args (the unknown profile is what refuses it)');
});

t.test('--allowed-hosts adds the name a proxy forwards, and nothing else', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances', '--allowed-hosts', 'arpd.internal,proxy.example:8443']);
  const port = new URL(d.url).port;
  const auth = { authorization: `Bearer ${d.token}` };
  t.equal((await rawRequest(d.url, 'GET', '/v1/runs', { headers: { ...auth, host: `arpd.internal:${port}` } })).status, 200, 'an allowed name on the daemon\'s port');
  t.equal((await rawRequest(d.url, 'GET', '/v1/runs', { headers: { ...auth, host: 'proxy.example:8443' } })).status, 200, 'an allowed name with its own port');
  refused(t, await rawRequest(d.url, 'GET', '/v1/runs', { headers: { ...auth, host: `proxy.example:${port}` } }), 'host', 'an allowed name on another port');
  refused(t, await rawRequest(d.url, 'GET', '/v1/runs', { headers: { ...auth, host: `evil.example:${port}` } }), 'host', 'any other name');
  t.equal((await rawRequest(d.url, 'POST', '/v1/runs/nope:cancel', { headers: { ...auth, host: 'proxy.example:8443', origin: 'https://proxy.example:8443' } })).status, 404, 'a change from the allowed origin passes the checks');
});

t.test('jwt mode: Host and Origin are checked, and only a token with the arp.admin scope changes the safe list', async (t) => {
  const dir = tempDir(t);
  const secret = 'a-test-secret-that-is-long-enough-for-hs256!!';
  const file = join(dir, 'secret');
  writeFileSync(file, secret, { mode: 0o600 });
  const d = await startHttpDaemon(t, ['--no-autostart-instances', '--http-auth', 'jwt', '--jwt-issuer', 'iss', '--jwt-audience', 'aud', '--jwt-secret-file', file]);
  const key = new TextEncoder().encode(secret);
  const jwt = (claims: Json): Promise<string> => new SignJWT({ sub: 'tester', ...claims }).setProtectedHeader({ alg: 'HS256' }).setIssuer('iss').setAudience('aud').setExpirationTime('10m').sign(key);
  const admin = await jwt({ scope: 'runs arp.admin' });
  await hostileBrowser(t, d, { authorization: `Bearer ${admin}` });
  const host = new URL(d.url).host;
  const put = async (token: string): Promise<RawAnswer> => rawRequest(d.url, 'PUT', '/v1/admin/runtime-profiles/mine', { headers: { host, authorization: `Bearer ${token}` }, json: SHELL_PROFILE });
  refused(t, await put(await jwt({})), 'admin', 'a JWT without scopes');
  refused(t, await put(await jwt({ scope: 'arp.runs arp.administrator' })), 'admin', 'a JWT with other scopes only');
  t.equal((await put(admin)).status, 200, 'a JWT with arp.admin in scope');
  t.equal((await put(await jwt({ scp: ['arp.admin'] }))).status, 200, 'a JWT with arp.admin in scp');
  await overridesNeedAdmin(t, d, { authorization: `Bearer ${await jwt({ scope: 'arp.runs' })}` });
});

t.test('none mode: Host and Origin are checked, and the safe list never changes over HTTP; the socket owner can', async (t) => {
  const d = await startHttpDaemon(t, ['--no-autostart-instances', '--http-auth', 'none']);
  await hostileBrowser(t, d, {});
  const host = new URL(d.url).host;
  refused(t, await rawRequest(d.url, 'PUT', '/v1/admin/runtime-profiles/mine', { headers: { host }, json: SHELL_PROFILE }), 'admin', 'PUT a profile with no Origin at all');
  refused(t, await rawRequest(d.url, 'PUT', '/v1/admin/runtime-profiles/mine', { headers: { host, authorization: 'Bearer anything-at-all-anything-at-all-anything' }, json: SHELL_PROFILE }), 'admin', 'PUT a profile with some bearer token');
  refused(t, await rawRequest(d.url, 'DELETE', '/v1/admin/runtime-profiles/default', { headers: { host } }), 'admin', 'DELETE a profile');
  await overridesNeedAdmin(t, d, {});
  const h = daemonHarness(t);
  const profile = join(d.dataDir, 'mine.json');
  writeFileSync(profile, JSON.stringify(SHELL_PROFILE));
  const viaSocket = await h.cli(d.dataDir, ['profiles', 'upsert', 'mine', '--request-json', profile, '--no-autostart']);
  t.equal(viaSocket.code, 0, `the socket's owner can change the safe list: ${viaSocket.stderr}`);
});
