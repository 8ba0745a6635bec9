import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { MAX_SOCKET_PATH_BYTES, checkSocketPath } from '../../src/protocol/socket-path.js';

t.test('a path of 107 bytes is accepted and one of 108 is refused', async (t) => {
  t.doesNotThrow(() => checkSocketPath(`/${'s'.repeat(106)}`));
  const err = t.throws(() => checkSocketPath(`/${'s'.repeat(107)}`)) as ArpdError;
  t.ok(err instanceof ArpdError);
  t.equal(err.code, 'E_VALIDATION');
  t.match(err.message, /108 bytes, over the 107-byte limit/);
  t.match(err.message, /--socket/, 'says which flag to use');
  t.same(err.data, { field: 'socketPath', bytes: 108, limit: 107 });
});

t.test('the limit counts UTF-8 bytes, not characters', async (t) => {
  const euro = '€'; // 3 bytes
  t.doesNotThrow(() => checkSocketPath(`/${euro.repeat(35)}a`), '1 + 105 + 1 = 107 bytes');
  t.throws(() => checkSocketPath(`/${euro.repeat(36)}`), { code: 'E_VALIDATION' }, '37 characters but 109 bytes');
});

t.test('an empty path is refused and the message asks for a file path', async (t) => {
  const err = t.throws(() => checkSocketPath('')) as ArpdError;
  t.equal(err.code, 'E_VALIDATION');
  t.match(err.message, /empty: use --socket with a file path/);
});

t.test('any path is accepted exactly when it has 1 to 107 bytes', async (t) => {
  // code points of 1 to 4 UTF-8 bytes
  const codePoint = fc.oneof(fc.integer({ min: 1, max: 0x7f }), fc.integer({ min: 0x80, max: 0xd7ff }), fc.integer({ min: 0x10000, max: 0x10ffff })).map((n) => String.fromCodePoint(n));
  fc.assert(fc.property(fc.string({ unit: codePoint, maxLength: 120 }), (p) => {
    const bytes = Buffer.byteLength(p);
    let accepted = true;
    try { checkSocketPath(p); } catch { accepted = false; }
    return accepted === (bytes >= 1 && bytes <= MAX_SOCKET_PATH_BYTES);
  }));
  t.pass('held');
});

t.test('a socket at the longest accepted path really listens and answers', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'arpd-sp-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 's'.repeat(MAX_SOCKET_PATH_BYTES - Buffer.byteLength(dir) - 1));
  t.equal(Buffer.byteLength(path), MAX_SOCKET_PATH_BYTES);
  checkSocketPath(path);
  const server = net.createServer((c) => c.end('hello'));
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, resolve); });
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const got = await new Promise<string>((resolve, reject) => {
    let text = '';
    net.connect(path).on('data', (d) => { text += d.toString(); }).on('end', () => resolve(text)).on('error', reject);
  });
  t.equal(got, 'hello');
});
