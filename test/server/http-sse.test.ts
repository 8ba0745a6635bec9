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

// was a gap (QA): streams were not capped, and each may hold up to 8 MiB behind a reader that does not read: 20 such
// streams cost ~175 MB, so a token holder could open streams until the daemon ran out of memory
t.test('refuses one event stream more than it serves at once with E_UNAVAILABLE, serves everything else, and takes a new one once one closes', async (t) => {
  const d = await startHttpDaemon(t);
  const { request } = await import('node:http');
  const { SSE_MAX_STREAMS } = await import('../../src/server/http-sse.js');
  interface Open { status: number; body: Promise<string>; close: () => void }
  const open = (): Promise<Open> => new Promise((resolve, reject) => {
    const req = request(`${d.url}/v1/events`, { headers: { authorization: `Bearer ${d.token}`, accept: 'text/event-stream' } }, (res) => {
      let text = '';
      const body = new Promise<string>((done) => { res.setEncoding('utf8').on('data', (c: string) => { text += c; }).on('end', () => done(text)).on('close', () => done(text)); });
      resolve({ status: res.statusCode ?? 0, body, close: () => { req.destroy(); } });
    });
    req.on('error', reject);
    req.end();
  });
  const streams: Open[] = [];
  for (let i = 0; i < SSE_MAX_STREAMS; i++) streams.push(await open());
  t.ok(streams.every((s) => s.status === 200), `${SSE_MAX_STREAMS} streams are open`);
  t.teardown(() => { for (const s of streams) s.close(); });
  const more = await open();
  t.equal(more.status, 503, 'one more is refused: 503');
  if (more.status !== 503) more.close(); // a stream: it would never end
  t.match(JSON.parse(await more.body), { error: { code: 'unavailable', details: { arpd_code: 'E_UNAVAILABLE', max_streams: SSE_MAX_STREAMS }, message: /at most \d+ event streams at once.*close streams you no longer read/ } }, 'E_UNAVAILABLE, saying what to do');
  const health = await rawRequest(d.url, 'GET', '/v1/health');
  t.equal(health.status, 200, 'the daemon serves everything else');
  streams.pop()?.close();
  let again = await open();
  for (let i = 0; again.status !== 200 && i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    again = await open();
  }
  t.equal(again.status, 200, 'once one closed, a new stream is served');
  again.close();
});
