/**
 * `Expect: 100-continue` on a REAL daemon process, over raw sockets (only the headers are sent until the daemon says
 * to go on): a body over the limit is refused 413 at once, never asked for; a request the daemon would refuse anyway
 * (foreign Host, no token) gets the same answer it gets without Expect, and no 100 either; a body within the limit
 * gets 100 Continue and then the answer it gets without Expect; any other expectation gets 417.
 */
import { connect } from 'node:net';
import t from 'tap';
import { rawRequest } from '../helpers/raw-http.js';
import { startHttpDaemon } from './http-daemon.js';

interface Exchanged {
  /** Everything the daemon sent, until it closed the connection (or the test gave up). */
  answer: string;
  /** Whether the daemon sent 100 Continue (the body was then sent). */
  continued: boolean;
  closedByServer: boolean;
}

/**
 * Sends `head` (a request's headers) on a new connection, and `body` only if the daemon answers 100 Continue;
 * resolves with all the daemon sent until it closed the connection (each request here says Connection: close).
 */
function exchange(port: number, head: string, body: string): Promise<Exchanged> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let continued = false;
    let closedByServer = true;
    socket.setEncoding('utf8').on('data', (c: string) => {
      answer += c;
      if (!continued && answer.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) { continued = true; socket.write(body); }
    });
    socket.on('error', () => undefined);
    const giveUp = setTimeout(() => { closedByServer = false; socket.destroy(); }, 20_000);
    socket.on('close', () => { clearTimeout(giveUp); resolve({ answer, continued, closedByServer }); });
    socket.write(head);
  });
}

/** The final answer in `raw` (after any 100 Continue): status, lower-case headers, JSON body. */
function finalAnswer(raw: string): { status: number; headers: Record<string, string>; body: unknown } {
  const text = raw.startsWith('HTTP/1.1 100 ') ? raw.slice(raw.indexOf('\r\n\r\n') + 4) : raw;
  const end = text.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = text.slice(0, end === -1 ? text.length : end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const l of lines) { const i = l.indexOf(':'); headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
  let body: unknown;
  try { body = JSON.parse(text.slice(end + 4)); } catch { body = undefined; }
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1] ?? 0), headers, body };
}

const MIB = 1024 * 1024;

t.test('Expect: 100-continue on a real daemon', async (t) => {
  const daemon = await startHttpDaemon(t);
  const port = Number(new URL(daemon.url).port);
  const head = (o: { path?: string; host?: string; token?: string | null; length: number; expect?: string }): string =>
    `POST ${o.path ?? '/v1/runs'} HTTP/1.1\r\nHost: ${o.host ?? `127.0.0.1:${port}`}\r\n`
    + (o.token === null ? '' : `Authorization: Bearer ${o.token ?? daemon.token}\r\n`)
    + `Content-Type: application/json\r\nContent-Length: ${o.length}\r\nExpect: ${o.expect ?? '100-continue'}\r\nConnection: close\r\n\r\n`;

  // was a bug (QA): Node answered 100 Continue before any check, so the client uploaded the 2 MiB only to get 413
  t.test('refuses a declared body over the 1 MiB limit with 413 E_TOO_LARGE at once, without asking for it', async (t) => {
    const x = await exchange(port, head({ length: 2 * MIB }), 'x'.repeat(2 * MIB));
    t.notOk(x.continued, `no 100 Continue (${x.answer.slice(0, 60)})`);
    t.match(x.answer, /^HTTP\/1\.1 413 /, 'the first thing sent is 413');
    const a = finalAnswer(x.answer);
    t.match(a.body, { error: { code: 'too_large', message: /larger than the limit of 1048576 bytes/, details: { arpd_code: 'E_TOO_LARGE', limit: MIB } } }, 'the envelope a too-large body gets without Expect');
    t.equal(a.headers['connection'], 'close', 'Connection: close (the body it did not ask for is not read as a next request)');
    t.ok(x.closedByServer, 'the daemon closed the connection');
    // the same body declared without Expect gets the same error (the daemon refuses it by its Content-Length)
    const plain = finalAnswer((await exchange(port, head({ length: 2 * MIB }).replace('Expect: 100-continue\r\n', ''), '')).answer);
    t.equal(plain.status, 413, 'without Expect: 413 too');
    t.same(plain.body, a.body, 'with the same body');
  });

  t.test('checks Host and credentials first: a foreign Host or no token gets the answer it gets without Expect, and no 100', async (t) => {
    for (const [what, o, status, code] of [
      ['a foreign Host', { host: `evil.example:${port}` }, 403, 'E_FORBIDDEN'],
      ['no token', { token: null }, 401, 'E_UNAUTHORIZED'],
      ['a wrong token', { token: 'not-the-token' }, 401, 'E_UNAUTHORIZED'],
    ] as const) {
      for (const length of [2 * MIB, 10]) {
        const x = await exchange(port, head({ ...o, length }), '{}'.padEnd(length, ' '));
        t.notOk(x.continued, `${what}, ${length} bytes declared: no 100 Continue (${x.answer.slice(0, 60)})`);
        const a = finalAnswer(x.answer);
        t.equal(a.status, status, `${what}, ${length} bytes declared: ${status}`);
        t.match(a.body, { error: { details: { arpd_code: code } } }, `${what}, ${length} bytes declared: ${code}`);
        const plain = finalAnswer((await exchange(port, head({ ...o, length }).replace('Expect: 100-continue\r\n', ''), '')).answer);
        t.equal(plain.status, status, `${what}, ${length} bytes declared, without Expect: the same status`);
      }
    }
  });

  t.test('answers a body within the limit with 100 Continue, then the answer it gets without Expect', async (t) => {
    const body = JSON.stringify({ profile: 'no-such-profile', input: { text: 'hi' } });
    const x = await exchange(port, head({ length: Buffer.byteLength(body) }), body);
    t.ok(x.continued, `100 Continue first (${x.answer.slice(0, 60)})`);
    const a = finalAnswer(x.answer);
    const plain = await rawRequest(daemon.url, 'POST', '/v1/runs', { headers: { authorization: `Bearer ${daemon.token}` }, body });
    t.ok(a.status >= 200 && a.status < 600, `an answer (${a.status})`);
    t.equal(a.status, plain.status, `the status it gets without Expect (${plain.status})`);
    t.same((a.body as { error?: { details?: unknown } } | undefined)?.error?.details, (plain.body as { error?: { details?: unknown } } | undefined)?.error?.details, 'the same error details');
  });

  t.test('refuses a declared body over a route\'s own limit (the dashboard login: 64 KiB) with 413 at once', async (t) => {
    const x = await exchange(port, head({ path: '/ui/login', token: null, length: 100 * 1024 }), '');
    t.notOk(x.continued, `no 100 Continue (${x.answer.slice(0, 60)})`);
    t.match(finalAnswer(x.answer), { status: 413, body: { error: { details: { arpd_code: 'E_TOO_LARGE', limit: 64 * 1024 } } } }, '413 E_TOO_LARGE naming the route\'s limit');
  });

  t.test('answers any other expectation with 417', async (t) => {
    const x = await exchange(port, head({ length: 2 * MIB, expect: 'bogus' }), '');
    t.notOk(x.continued, 'no 100 Continue');
    t.match(finalAnswer(x.answer), { status: 417, body: { error: { details: { arpd_code: 'E_PROTOCOL', header: 'expect' } } } }, `417 E_PROTOCOL (${x.answer.slice(0, 60)})`);
  });

  t.test('keeps serving plain requests', async (t) => {
    t.equal((await rawRequest(daemon.url, 'GET', '/v1/health')).status, 200);
  });
});
