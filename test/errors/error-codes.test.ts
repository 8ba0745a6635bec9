import { readFileSync } from 'node:fs';
import t from 'tap';
import { ArpdError, ERROR_CODES, EXIT, isErrorCode, toArpdError } from '../../src/errors/index.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = new Map<string, { http: number; rpc: number; exit: number }>();
for (const m of doc.matchAll(/^\| `(E_[A-Z_]+)` \| (\d+) \| (-?\d+) \| (\d+) \|/gm)) {
  rows.set(m[1] as string, { http: Number(m[2]), rpc: Number(m[3]), exit: Number(m[4]) });
}

t.test('docs/errors.md lists every code of the table with the same mappings', async (t) => {
  for (const [code, v] of Object.entries(ERROR_CODES)) {
    t.same(rows.get(code), { http: v.http, rpc: v.rpc, exit: v.exit }, code);
  }
});

t.test('the table has every code docs/errors.md lists', async (t) => {
  t.ok(rows.size > 0, 'the document has rows');
  for (const code of rows.keys()) t.ok(isErrorCode(code), `${code} is in the table`);
});

t.test('every exit code is one of the documented CLI exit codes', async (t) => {
  const allowed = new Set<number>(Object.values(EXIT));
  for (const [code, v] of Object.entries(ERROR_CODES)) t.ok(allowed.has(v.exit), `${code} exits ${v.exit}`);
});

t.test('an ArpdError round-trips through its wire form with code, message and data', async (t) => {
  const e = new ArpdError('E_CONFLICT', 'run x exists', { run_id: 'x' });
  const back = ArpdError.fromWire(JSON.parse(JSON.stringify(e.toWire())));
  t.ok(back instanceof ArpdError);
  t.equal(back.code, 'E_CONFLICT');
  t.equal(back.message, 'run x exists');
  t.same(back.data, { run_id: 'x' });
  t.equal(back.httpStatus, 409);
  t.equal(back.exitCode, 5);
});

t.test('an unknown failure becomes E_INTERNAL with a short message and keeps the cause', async (t) => {
  const cause = new Error('disk on fire at /secret/path');
  const e = toArpdError(cause);
  t.equal(e.code, 'E_INTERNAL');
  t.notMatch(e.message, /secret/);
  t.equal(e.cause, cause);
});

t.test('a wire error with an unknown code becomes E_INTERNAL', async (t) => {
  t.equal(ArpdError.fromWire({ code: 'E_NOPE', message: 'x' }).code, 'E_INTERNAL');
  t.equal(ArpdError.fromWire(null).code, 'E_INTERNAL');
});

t.test('JSON-RPC codes are unique per arpd code except the JSON-RPC standard ones', async (t) => {
  const seen = new Map<number, string>();
  const shared = new Set([-32600, -32601]);
  for (const [code, v] of Object.entries(ERROR_CODES)) {
    if (shared.has(v.rpc)) continue;
    t.notOk(seen.has(v.rpc), `${code} does not reuse ${v.rpc} of ${seen.get(v.rpc) ?? ''}`);
    seen.set(v.rpc, code);
  }
});
