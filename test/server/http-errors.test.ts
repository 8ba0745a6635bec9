import Fastify, { type FastifyReply } from 'fastify';
import fc from 'fast-check';
import t from 'tap';
import { ArpdError, ERROR_CODES, type ErrorCode } from '../../src/errors/index.js';
import { envelope, envelopeCodeOf, httpStatusOf, toHttpError } from '../../src/server/http-errors.js';

const codes = Object.keys(ERROR_CODES) as ErrorCode[];
const plainData = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((k) => k !== 'arp_code' && k !== '__proto__'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4 });

t.test('the envelope code of an arpd code is the code in lower case without E_', async (t) => {
  t.equal(envelopeCodeOf('E_NOT_FOUND'), 'not_found');
  t.equal(envelopeCodeOf('E_VALIDATION'), 'validation');
  t.equal(envelopeCodeOf('E_DAEMON_NOT_RUNNING'), 'daemon_not_running');
});

t.test('an error becomes an ErrorEnvelope that carries its message, its data and its arpd code', async (t) => {
  fc.assert(fc.property(fc.constantFrom(...codes), fc.string(), fc.option(plainData, { nil: undefined }), (code, message, data) => {
    const e = envelope(new ArpdError(code, message, data));
    t.same(Object.keys(e.error).sort(), ['code', 'details', 'message', 'retryable']);
    t.equal(e.error.code, envelopeCodeOf(code));
    t.equal(e.error.message, message);
    t.same(e.error.details, { ...(data ?? {}), arpd_code: code });
    t.same(JSON.parse(JSON.stringify(e)), e, 'plain JSON');
  }), { numRuns: 50 });
});

t.test('an ARP code the domain chose is the envelope code and is not repeated in the details', async (t) => {
  const e = envelope(new ArpdError('E_NOT_FOUND', "run 'r1' does not exist", { arp_code: 'runs.not_found', run_id: 'r1' }));
  t.equal(e.error.code, 'runs.not_found');
  t.same(e.error.details, { run_id: 'r1', arpd_code: 'E_NOT_FOUND' });
});

t.test('an empty or non-string ARP code falls back to the arpd code', async (t) => {
  t.equal(envelope(new ArpdError('E_CONFLICT', 'x', { arp_code: '' })).error.code, 'conflict');
  t.equal(envelope(new ArpdError('E_CONFLICT', 'x', { arp_code: 7 })).error.code, 'conflict');
});

t.test('only not-ready, unavailable, timeout and slow-consumer errors are retryable', async (t) => {
  const retryable = codes.filter((c) => envelope(new ArpdError(c, 'x')).error.retryable);
  t.same(retryable.sort(), ['E_NOT_READY', 'E_SLOW_CONSUMER', 'E_TIMEOUT', 'E_UNAVAILABLE']);
});

t.test('the HTTP status of an error is the one in the error table', async (t) => {
  t.equal(httpStatusOf(new ArpdError('E_NOT_FOUND', 'x')), 404);
  t.equal(httpStatusOf(new ArpdError('E_TOO_LARGE', 'x')), 413);
  for (const c of codes) t.equal(httpStatusOf(new ArpdError(c, 'x')), ERROR_CODES[c].http, c);
});

t.test('an ArpdError passes through toHttpError unchanged', async (t) => {
  const err = new ArpdError('E_CONFLICT', 'in use', { name: 'p' });
  t.equal(toHttpError(err, 10), err);
});

t.test('each fastify body and URL failure becomes a stable arpd code with a message that says what to send', async (t) => {
  const cases: Array<[string, ErrorCode, RegExp]> = [
    ['FST_ERR_CTP_INVALID_MEDIA_TYPE', 'E_UNSUPPORTED_MEDIA', /Content-Type: application\/json/],
    ['FST_ERR_CTP_BODY_TOO_LARGE', 'E_TOO_LARGE', /limit of 1234 bytes/],
    ['FST_ERR_BAD_URL', 'E_VALIDATION', /encodeURIComponent/],
    ['FST_ERR_CTP_INVALID_JSON_BODY', 'E_PARSE', /not valid JSON/],
    ['FST_ERR_CTP_EMPTY_JSON_BODY', 'E_PARSE', /empty/],
    ['FST_ERR_CTP_INVALID_CONTENT_LENGTH', 'E_PROTOCOL', /Content-Length/],
  ];
  for (const [fst, code, message] of cases) {
    const e = toHttpError(Object.assign(new Error('fastify says no'), { code: fst, statusCode: 400 }), 1234);
    t.equal(e.code, code, fst);
    t.match(e.message, message, fst);
    t.notMatch(e.message, /fastify says no/, `${fst}: the message is arpd's own`);
  }
  t.same(toHttpError({ code: 'FST_ERR_CTP_BODY_TOO_LARGE' }, 99).data, { limit: 99 });
});

t.test('another 4xx from fastify is E_VALIDATION with its status, a 5xx or a plain throw is E_INTERNAL with the cause kept', async (t) => {
  const fourxx = toHttpError(Object.assign(new Error('bad header'), { code: 'FST_ERR_SOMETHING', statusCode: 431 }), 0);
  t.equal(fourxx.code, 'E_VALIDATION');
  t.match(fourxx.message, /bad header/);
  t.same(fourxx.data, { http_status: 431 });
  for (const thrown of [new Error('disk on fire'), Object.assign(new Error('x'), { statusCode: 500 }), 'a string', 42]) {
    const e = toHttpError(thrown, 0);
    t.equal(e.code, 'E_INTERNAL');
    t.notMatch(e.message, /disk on fire/, 'the caller gets a short message');
    t.equal(e.cause, thrown, 'the full error stays for the log');
  }
});

t.test('a JSON SyntaxError with status 400 is E_PARSE', async (t) => {
  t.equal(toHttpError(Object.assign(new SyntaxError('Unexpected token'), { statusCode: 400 }), 0).code, 'E_PARSE');
  t.equal(toHttpError(new SyntaxError('Unexpected token'), 0).code, 'E_INTERNAL', 'without a status it is our own bug');
});

t.test('the failures a real fastify raises map to the codes a client is told about', async (t) => {
  const fail = (err: unknown, reply: FastifyReply) => {
    const e = toHttpError(err, 64);
    return reply.status(httpStatusOf(e)).send(envelope(e));
  };
  // wired as the daemon's app wires it: JSON only, framework errors through the same mapping
  const app = Fastify({ bodyLimit: 64, frameworkErrors: (err, _req, reply) => { void fail(err, reply); } });
  app.removeContentTypeParser('text/plain');
  app.setErrorHandler((err, _req, reply) => fail(err, reply));
  app.post('/x', async (req) => ({ got: req.body }));
  app.get('/p/:id', async (req) => ({ id: (req.params as { id: string }).id }));
  t.teardown(() => app.close());
  const post = (payload: string, contentType = 'application/json') => app.inject({ method: 'POST', url: '/x', payload, headers: { 'content-type': contentType } });
  const code = (r: { json: () => unknown }) => (r.json() as { error: { details: { arpd_code: string } } }).error.details.arpd_code;

  t.equal((await post('{"a":1}')).statusCode, 200, 'a good body passes');
  const tooLarge = await post(JSON.stringify({ a: 'x'.repeat(100) }));
  t.equal(tooLarge.statusCode, 413);
  t.equal(code(tooLarge), 'E_TOO_LARGE');
  t.equal(code(await post('{"a":')), 'E_PARSE', 'broken JSON');
  t.equal(code(await post('{"__proto__":{"x":1}}')), 'E_PARSE', 'a __proto__ key');
  const media = await post('hello', 'text/plain');
  t.equal(media.statusCode, 415);
  t.equal(code(media), 'E_UNSUPPORTED_MEDIA');
  const badUrl = await app.inject({ method: 'GET', url: '/p/%E0%A4%A' });
  t.equal(badUrl.statusCode, 400);
  t.equal(code(badUrl), 'E_VALIDATION');
});
