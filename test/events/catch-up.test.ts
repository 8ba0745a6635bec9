import fc from 'fast-check';
import { Subject } from 'rxjs';
import t from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { catchUpThenLive, type CatchUpSource, type StreamConsumer } from '../../src/events/catch-up.js';
import type { StoredEvent } from '../../src/events/envelope.js';
import { eventBytes } from '../../src/features/event-ops.js';

const event = (seq: number): StoredEvent => ({
  seq, id: `e${seq}`, ts: '2026-01-01T00:00:00.000Z', stream: 'daemon', rev: seq, type: 'daemon.started', v: 1,
  data: { pid: seq, version: 'v', boot_id: 'b', host: 'h' }, meta: {},
});

/**
 * A store in miniature: positions 1..head are stored; `append` stores one more and then publishes it
 * (durable before published, as every store does). Items with a position in `hidden` are not part of
 * the stream (a filter); pages skip them and say how far they scanned.
 */
class Storage {
  head = 0;
  readonly live$ = new Subject<StoredEvent>();
  pageReads = 0;
  constructor(initial: number, readonly pageSize: number, readonly hidden: (pos: number) => boolean = () => false) {
    this.head = initial;
  }

  append(): void {
    this.head++;
    this.live$.next(event(this.head));
  }

  /** The page after `after` as storage holds it now. */
  page(after: number): { items: number[]; atEnd: boolean; scanned: number } {
    const items: number[] = [];
    let pos = after;
    while (pos < this.head && items.length < this.pageSize) {
      pos++;
      if (!this.hidden(pos)) items.push(pos);
    }
    return { items, atEnd: pos >= this.head, scanned: pos };
  }

  source(read: (after: number) => Promise<{ items: number[]; atEnd: boolean; scanned?: number }> = (after) => Promise.resolve(this.page(after))): CatchUpSource<number> {
    return {
      live$: this.live$,
      select: (e) => (this.hidden(e.seq) ? undefined : e.seq),
      position: (n) => n,
      readPage: (after) => { this.pageReads++; return read(after); },
    };
  }
}

/** A consumer that records what it gets and whose room the test opens and closes. */
class Consumer implements StreamConsumer<number> {
  readonly got: number[] = [];
  room = true;
  private waiters: Array<() => void> = [];
  send = (n: number): boolean => { this.got.push(n); return true; };
  hasRoom = (): boolean => this.room;
  drained = (): Promise<void> => (this.room ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve)));
  setRoom(room: boolean): void {
    this.room = room;
    if (room) for (const w of this.waiters.splice(0)) w();
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

t.test('whatever the timing of live events, page reads and room, every item after the start arrives once, in order, without a gap', async () => {
  await fc.assert(fc.asyncProperty(
    fc.scheduler(),
    fc.record({
      initial: fc.integer({ min: 0, max: 12 }),
      startAt: fc.integer({ min: 0, max: 14 }),
      appends: fc.integer({ min: 0, max: 12 }),
      pageSize: fc.integer({ min: 1, max: 4 }),
      // per page read: read storage when the read starts (a snapshot) or when it completes
      snapshotReads: fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }),
      roomFlips: fc.integer({ min: 0, max: 6 }),
      filtered: fc.boolean(),
    }),
    async (s, c) => {
      const storage = new Storage(c.initial, c.pageSize, c.filtered ? (pos) => pos % 3 === 0 : undefined);
      const after = Math.min(c.startAt, c.initial);
      let reads = 0;
      const src = storage.source((from) => {
        const snapshot = c.snapshotReads[reads++ % c.snapshotReads.length] === true;
        const early = storage.page(from);
        return s.schedule(Promise.resolve(), `page after ${from}`).then(() => (snapshot ? early : storage.page(from)));
      });
      const consumer = new Consumer();
      let lives = 0;
      const errors: ArpdError[] = [];
      const handle = catchUpThenLive(src, after, consumer, { live: () => { lives++; }, error: (e) => { errors.push(e); } });
      s.scheduleSequence(range(1, c.appends).map((i) => ({ label: `append ${i}`, builder: async () => storage.append() })));
      // the room closes and opens, and in the end opens for good
      s.scheduleSequence([...range(1, c.roomFlips), 0].map((i) => ({ label: i % 2 === 1 ? 'room closes' : 'room opens', builder: async () => consumer.setRoom(i % 2 === 0) })));
      for (let i = 0; i < 100 && (s.count() > 0 || lives === 0); i++) {
        await s.waitAll();
        await turn();
      }
      const expected = range(after + 1, storage.head).filter((p) => !(c.filtered && p % 3 === 0));
      if (errors.length > 0) throw errors[0];
      if (JSON.stringify(consumer.got) !== JSON.stringify(expected)) throw new Error(`got ${JSON.stringify(consumer.got)}, expected ${JSON.stringify(expected)}`);
      if (lives !== 1) throw new Error(`live called ${lives} times`);
      handle.close();
    },
  ), { numRuns: 500 });
});

t.test('catch-up pauses while the consumer has no room and goes on when it drains', async (t) => {
  const storage = new Storage(10, 2);
  const consumer = new Consumer();
  consumer.send = (n) => { consumer.got.push(n); if (consumer.got.length === 2) consumer.room = false; return true; };
  let live = false;
  catchUpThenLive(storage.source(), 0, consumer, { live: () => { live = true; } });
  for (let i = 0; i < 5; i++) await turn();
  t.same(consumer.got, [1, 2]);
  t.equal(storage.pageReads, 1, 'no page is read while there is no room');
  t.notOk(live);
  consumer.setRoom(true);
  for (let i = 0; i < 10 && !live; i++) await turn();
  t.same(consumer.got, range(1, 10));
  t.ok(live);
});

t.test('live items wait while the consumer has no room and arrive in order when it drains', async (t) => {
  const storage = new Storage(2, 10);
  const consumer = new Consumer();
  let live = false;
  catchUpThenLive(storage.source(), 0, consumer, { live: () => { live = true; } });
  for (let i = 0; i < 5 && !live; i++) await turn();
  t.ok(live);
  consumer.setRoom(false);
  storage.append();
  storage.append();
  t.same(consumer.got, [1, 2], 'nothing is sent while there is no room');
  consumer.setRoom(true);
  await turn();
  storage.append();
  await turn();
  t.same(consumer.got, [1, 2, 3, 4, 5]);
});

t.test('more than maxBuffered items waiting ends the stream with E_SLOW_CONSUMER', async (t) => {
  for (const when of ['during catch-up', 'when live'] as const) {
    const storage = new Storage(3, 10);
    const consumer = new Consumer();
    let live = false;
    const errors: ArpdError[] = [];
    if (when === 'during catch-up') consumer.room = false;
    const handle = catchUpThenLive(storage.source(), 0, consumer, { live: () => { live = true; }, error: (e) => { errors.push(e); } }, 5);
    for (let i = 0; i < 5; i++) await turn();
    if (when === 'when live') {
      t.ok(live, when);
      consumer.setRoom(false);
    }
    for (let i = 0; i < 5; i++) storage.append();
    await turn();
    t.same(errors, [], `${when}: five waiting is within the limit`);
    storage.append();
    t.equal(errors[0]?.code, 'E_SLOW_CONSUMER', `${when}: the sixth is one too many`);
    t.match(errors[0]?.message, /reconnect from the last position/);
    t.ok(handle.closed);
    const before = consumer.got.length;
    consumer.setRoom(true);
    storage.append();
    for (let i = 0; i < 3; i++) await turn();
    t.equal(consumer.got.length, before, `${when}: nothing is sent after the stream ended`);
    t.equal(errors.length, 1, 'the error is reported once');
  }
});

t.test('items waiting past maxBufferedBytes end the stream with E_SLOW_CONSUMER, and delivered ones no longer count', async (t) => {
  const storage = new Storage(0, 10);
  const consumer = new Consumer();
  let live = false;
  const errors: ArpdError[] = [];
  // each item weighs 100 bytes: at most 350 may wait (3 items), whatever the count limit (1000)
  const src: CatchUpSource<number> = { ...storage.source(), sizeOf: () => 100 };
  const handle = catchUpThenLive(src, 0, consumer, { live: () => { live = true; }, error: (e) => { errors.push(e); } }, 1000, 350);
  for (let i = 0; i < 5; i++) await turn();
  t.ok(live);
  consumer.setRoom(false);
  for (let i = 0; i < 3; i++) storage.append();
  await turn();
  t.same(errors, [], 'three waiting (300 bytes) is within the limit');
  consumer.setRoom(true);
  for (let i = 0; i < 3; i++) await turn();
  t.same(consumer.got, [1, 2, 3], 'they are delivered once there is room');
  consumer.setRoom(false);
  for (let i = 0; i < 3; i++) storage.append();
  await turn();
  t.same(errors, [], 'delivered items left the count: three more wait within the limit');
  storage.append();
  t.equal(errors[0]?.code, 'E_SLOW_CONSUMER', 'the fourth waiting (400 bytes) is too many');
  t.match(errors[0]?.message, /more than 350 bytes behind.*reconnect from the last position/);
  t.ok(handle.closed);
});

t.test('an event held for a stream weighs its runtime event\'s bytes and an envelope allowance', async (t) => {
  const trace = { ...event(1), type: 'run.trace', stream: 'run:r', data: { run_id: 'r', level: 'info', type: 'token', data: {}, bytes: 262_144 } } as unknown as StoredEvent;
  t.equal(eventBytes(trace), 512 + 262_144, 'a 256 KiB runtime event');
  t.equal(eventBytes(event(2)), 512, 'another event: the allowance');
  t.equal(eventBytes({ ...trace, data: { bytes: 'x' } } as unknown as StoredEvent), 512, 'no usable size: the allowance');
});

t.test('a consumer that is gone stops the stream', async (t) => {
  const storage = new Storage(5, 2);
  const got: number[] = [];
  const handle = catchUpThenLive(storage.source(), 0, { send: (n) => { got.push(n); return n < 3; } });
  for (let i = 0; i < 5; i++) await turn();
  storage.append();
  t.same(got, [1, 2, 3]);
  t.ok(handle.closed);
});

t.test('close stops delivery at once', async (t) => {
  const storage = new Storage(0, 2);
  const consumer = new Consumer();
  let live = false;
  const handle = catchUpThenLive(storage.source(), 0, consumer, { live: () => { live = true; } });
  for (let i = 0; i < 5 && !live; i++) await turn();
  storage.append();
  handle.close();
  storage.append();
  t.same(consumer.got, [1]);
  t.ok(handle.closed);
});

t.test('a failing page read ends the stream with an error that says what to do', async (t) => {
  const storage = new Storage(5, 2);
  const errors: ArpdError[] = [];
  const handle = catchUpThenLive(storage.source(() => Promise.reject(new Error('EIO'))), 0, new Consumer(), { error: (e) => { errors.push(e); } });
  await turn();
  t.equal(errors[0]?.code, 'E_UNAVAILABLE');
  t.match(errors[0]?.message, /EIO.*arpd log verify/);
  t.ok(handle.closed);
  const own = new ArpdError('E_STORAGE', 'disk');
  const errors2: ArpdError[] = [];
  catchUpThenLive(storage.source(() => Promise.reject(own)), 0, new Consumer(), { error: (e) => { errors2.push(e); } });
  await turn();
  t.equal(errors2[0], own, 'an ArpdError is passed on as it is');
});

t.test('the end of the live source ends a live stream', async (t) => {
  const storage = new Storage(1, 2);
  let ended = 0;
  let live = false;
  const handle = catchUpThenLive(storage.source(), 0, new Consumer(), { live: () => { live = true; }, end: () => { ended++; } });
  for (let i = 0; i < 5 && !live; i++) await turn();
  storage.live$.complete();
  t.equal(ended, 1);
  t.ok(handle.closed);
});

t.test('a live source that ends during catch-up ends the stream once catch-up is done', async (t) => {
  const storage = new Storage(4, 2);
  const consumer = new Consumer();
  consumer.room = false;
  let ended = 0;
  const handle = catchUpThenLive(storage.source(), 0, consumer, { end: () => { ended++; } });
  await turn();
  storage.append();
  storage.live$.complete(); // the store closed while the consumer was still catching up
  consumer.setRoom(true);
  for (let i = 0; i < 10 && !handle.closed; i++) await turn();
  t.same(consumer.got, [1, 2, 3, 4, 5], 'everything stored is delivered');
  t.equal(ended, 1, 'and then the stream ends');
  t.ok(handle.closed);
});

t.test('a live source that ends while items wait for room ends the stream after they are delivered', async (t) => {
  const storage = new Storage(1, 2);
  const consumer = new Consumer();
  let ended = 0;
  let live = false;
  const handle = catchUpThenLive(storage.source(), 0, consumer, { live: () => { live = true; }, end: () => { ended++; } });
  for (let i = 0; i < 5 && !live; i++) await turn();
  consumer.setRoom(false);
  storage.append();
  storage.append();
  storage.live$.complete();
  t.equal(ended, 0, 'not while items wait');
  consumer.setRoom(true);
  for (let i = 0; i < 10 && !handle.closed; i++) await turn();
  t.same(consumer.got, [1, 2, 3]);
  t.equal(ended, 1);
});

t.test('a page that moves nothing and is not the end ends the stream with an error instead of being read forever', async (t) => {
  const storage = new Storage(5, 2);
  const errors: ArpdError[] = [];
  // a reader stopped by a damaged line: nothing read, nothing scanned, and not at the end
  const stuck = (after: number): Promise<{ items: number[]; atEnd: boolean; scanned: number }> => Promise.resolve({ items: [], atEnd: false, scanned: after });
  const handle = catchUpThenLive(storage.source(stuck), 2, new Consumer(), { error: (e) => { errors.push(e); } });
  await turn(); // a macrotask turn comes only if the reads leave the microtask queue
  t.equal(errors[0]?.code, 'E_UNAVAILABLE');
  t.match(errors[0]?.message, /no progress after position 2.*arpd log verify/);
  t.ok(handle.closed);
});
