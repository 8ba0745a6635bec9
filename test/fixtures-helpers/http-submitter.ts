/**
 * Submits runs over HTTP for a test that cannot reach the daemon itself: started inside a network namespace
 * (`ip netns exec <ns> node --import tsx test/fixtures-helpers/http-submitter.ts`), it posts to a daemon whose HTTP
 * API listens on that namespace's 127.0.0.1. One request per stdin line, one answer per stdout line, in the order
 * the answers come (the `n` pairs them):
 *
 *   in:  {"n":1,"url":"http://127.0.0.1:4242","token":"…","run_id":"r00001","goal":"What is 1+1?"}   (+ "instance_id")
 *   out: {"n":1,"ok":true,"status":202}            (test/helpers/http-submit.ts: SubmitAnswer)
 *
 * Requests are sent as they arrive, concurrently. Ends when stdin ends and every answer is written.
 */
import { createInterface } from 'node:readline';
import { submitRun } from '../helpers/http-submit.js';

interface Request { n: number; url: string; token: string; run_id: string; goal: string; instance_id?: string }

const pending: Array<Promise<void>> = [];
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const r = JSON.parse(line) as Request;
  pending.push(submitRun(r.url, r.token, r.run_id, r.goal, r.instance_id === undefined ? {} : { instanceId: r.instance_id }).then((a) => {
    process.stdout.write(`${JSON.stringify({ n: r.n, ...a })}\n`);
  }));
}
await Promise.all(pending);
