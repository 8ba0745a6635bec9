/**
 * A run's trace context at the HTTP edge of a REAL daemon: a malformed extensions["arpd.trace"] is refused
 * naming the field, and a traced client's retry (same run_id and request, a new span id in its traceparent) is
 * the same run, not a conflict.
 */
import t from 'tap';
import { clientOf, expectError, startHttpDaemon } from '../server/http-daemon.js';

const TID = '0af7651916cd43dd8448eb211c80319c';

t.test('refuses a malformed extensions["arpd.trace"] and takes a traced client\'s retry as the same run', async (t) => {
  const daemon = await startHttpDaemon(t);
  const api = clientOf(daemon);

  const bad = await api('POST', '/v1/runs', { json: { input: { goal: 'x' }, extensions: { 'arpd.trace': { traceparent: 'not-one' } } } });
  expectError(t, bad, 400, 'validation', 'a malformed traceparent in the body');
  t.match(bad.text, /extensions\[\\"arpd\.trace\\"\]\.traceparent is not a W3C traceparent/);
  const notObject = await api('POST', '/v1/runs', { json: { input: { goal: 'x' }, extensions: { 'arpd.trace': `00-${TID}-b7ad6b7169203331-01` } } });
  expectError(t, notObject, 400, 'validation', 'a trace context that is not an object');

  const request = { run_id: 'retry-1', input: { goal: 'What is 1+1?' } };
  const first = await api('POST', '/v1/runs', { json: request, headers: { traceparent: `00-${TID}-1111111111111111-01` } });
  t.equal(first.status, 202, 'submitted with a traceparent');
  const again = await api('POST', '/v1/runs', { json: request, headers: { traceparent: `00-${TID}-2222222222222222-01` } });
  t.equal(again.status, 202, 'the retry with a new span id is the same run');
  t.match(again.body, { run_id: 'retry-1' });
  const plain = await api('POST', '/v1/runs', { json: request });
  t.equal(plain.status, 202, 'and so is a retry without one');
  const other = await api('POST', '/v1/runs', { json: { ...request, input: { goal: 'What is 2+2?' } }, headers: { traceparent: `00-${TID}-1111111111111111-01` } });
  expectError(t, other, 409, 'runs.conflict', 'another request under the same run id is still a conflict');
  const list = (await api('GET', '/v1/runs')).body as { runs: unknown[] };
  t.equal(list.runs.length, 1, 'one run');
});
