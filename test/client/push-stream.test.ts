/**
 * PushStream: a source that pushes (socket notifications) read as an async iterator, with a bounded
 * queue between them. Properties: every item arrives once and in order whatever the interleaving of
 * pushes and reads; the source is paused at the high-water mark and resumed once the reader has taken
 * half; the queue never holds more than the hard limit.
 */
import fc from 'fast-check';
import t from 'tap';
import { PushStream, type PushSource } from '../../src/client/push-stream.js';

interface Probe extends PushSource {
  paused: boolean;
  pauses: number;
  resumes: number;
  canceled: number;
}

function probe(): Probe {
  const p: Probe = {
    paused: false, pauses: 0, resumes: 0, canceled: 0,
    pause() { p.paused = true; p.pauses++; },
    resume() { p.paused = false; p.resumes++; },
    cancel() { p.canceled++; },
  };
  return p;
}

t.test('delivers every item once and in order, then the end value, whatever the interleaving', async (t) => {
  await fc.assert(fc.asyncProperty(
    fc.array(fc.boolean(), { minLength: 1, maxLength: 300 }),
    fc.integer({ min: 1, max: 20 }),
    async (steps, highWater) => {
      const src = probe();
      const s = new PushStream<number, string>(src, { highWater, hardLimit: 10_000 });
      let pushed = 0;
      const got: number[] = [];
      for (const push of steps) {
        if (push) {
          if (!src.paused) s.push(pushed++);
        } else if (s.queued > 0) {
          const r = await s.next();
          if (r.done === true) throw new Error('ended early');
          got.push(r.value);
          if (src.paused && s.queued <= highWater / 2) throw new Error(`still paused with ${s.queued} queued (high water ${highWater})`);
        }
        if (s.queued > highWater) throw new Error(`queued ${s.queued} over the high-water mark ${highWater}`);
      }
      s.end('the end');
      for (;;) {
        const r = await s.next();
        if (r.done === true) { if (r.value !== 'the end') throw new Error(`end value ${String(r.value)}`); break; }
        got.push(r.value);
      }
      if (got.length !== pushed || got.some((v, i) => v !== i)) throw new Error(`got ${got.join(',')} for ${pushed} pushed`);
    },
  ), { numRuns: 300 });
  t.pass('holds for 300 runs');
});

t.test('hands a pushed item straight to a reader that waits', async (t) => {
  const s = new PushStream<string, void>(probe());
  const pending = s.next();
  s.push('now');
  t.same(await pending, { done: false, value: 'now' });
  t.equal(s.queued, 0);
});

t.test('pauses the source at the high-water mark and resumes it once the reader has taken half', async (t) => {
  const src = probe();
  const s = new PushStream<number, void>(src, { highWater: 4 });
  for (let i = 0; i < 3; i++) s.push(i);
  t.equal(src.pauses, 0, 'below the mark: not paused');
  s.push(3);
  t.equal(src.pauses, 1, 'at the mark: paused');
  t.same((await s.next()).value, 0);
  t.equal(src.resumes, 0, '3 still queued: not yet');
  t.same((await s.next()).value, 1);
  t.equal(src.resumes, 1, 'half taken: resumed');
});

t.test('fails with E_SLOW_CONSUMER and cancels a source that ignores pause(), never holding more than the hard limit', async (t) => {
  const src = probe();
  const s = new PushStream<number, void>(src, { highWater: 2, hardLimit: 5 });
  for (let i = 0; i < 100; i++) s.push(i);
  t.ok(s.queued <= 5, `queued ${s.queued}`);
  t.equal(src.canceled, 1);
  const got: number[] = [];
  await t.rejects((async () => { for (;;) { const r = await s.next(); if (r.done === true) return; got.push(r.value); } })(), { code: 'E_SLOW_CONSUMER' });
  t.same(got, [0, 1, 2, 3, 4], 'what was queued first, then the error');
});

t.test('a reader that leaves cancels the source, drops the queue and ends a pending read', async (t) => {
  const src = probe();
  const s = new PushStream<number, void>(src);
  s.push(1);
  for await (const v of s) { t.equal(v, 1); break; }
  t.equal(src.canceled, 1, 'break cancels the source');
  s.push(2);
  t.equal(s.queued, 0, 'nothing is queued after it');
  const src2 = probe();
  const s2 = new PushStream<number, void>(src2);
  const pending = s2.next();
  await s2.return();
  await t.rejects(pending, { code: 'E_CANCELED' });
});

t.test('a failure reaches the reader after what was queued before it', async (t) => {
  const s = new PushStream<string, void>(probe());
  s.push('a');
  s.fail(new Error('lost'));
  s.push('late');
  t.same(await s.next(), { done: false, value: 'a' });
  await t.rejects(s.next(), { message: 'lost' });
});
