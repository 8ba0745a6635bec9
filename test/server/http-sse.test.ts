/**
 * The event streams of the HTTP API (src/server/http-sse.ts) on a REAL daemon: a HEAD on a stream that stays open
 * (the event log, a run that has not ended) is answered with the stream's headers at once and ends, and the daemon goes on
 * serving; before, Node dropped every write of the HEAD answer, its headers included, and the request hung without
 * an answer until the idle timeout closed the connection.
 */
import t from 'tap';
import { rawRequest } from '../helpers/raw-http.js';
import { startHttpDaemon } from './http-daemon.js';

t.test('answers HEAD on an open event stream with its headers at once, and keeps serving', async (t) => {
  const d = await startHttpDaemon(t);
  const headers = { authorization: `Bearer ${d.token}` };
  const submitted = await rawRequest(d.url, 'POST', '/v1/runs', { headers, json: { input: { goal: 'sleep:600000' } } });
  t.equal(submitted.status, 202, `a run that goes on for ten minutes: ${submitted.text.slice(0, 200)}`);
  const runId = (submitted.body as { run_id: string }).run_id;
  for (const path of ['/v1/events', '/v1/events?from_seq=1', `/v1/runs/${runId}/events`]) {
    const a = await rawRequest(d.url, 'HEAD', path, { headers });
    t.equal(a.status, 200, `HEAD ${path}: 200`);
    t.match(a.headers['content-type'], /^text\/event-stream/, `HEAD ${path}: the stream's content type`);
    t.equal(a.text, '', `HEAD ${path}: no body`);
  }
  const unknown = await rawRequest(d.url, 'HEAD', '/v1/runs/no-such-run/events', { headers });
  t.equal(unknown.status, 404, 'HEAD on the stream of an unknown run: 404, as GET');
  const health = await rawRequest(d.url, 'GET', '/v1/health');
  t.equal(health.status, 200, 'the daemon still serves');
  const get = await rawRequest(d.url, 'GET', `/v1/runs/${runId}`, { headers });
  t.match(get.body, { run_id: runId, state: /^(queued|running)$/ }, 'and the run has not ended');
});
