import t from 'tap';
import { createEventIdFactory } from '../../src/events/event-id.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('makes unique UUIDv7 ids that sort in creation order, even on a stuck or backward clock', async (t) => {
  const clocks: Array<[string, () => number]> = [
    ['a stuck clock', () => 1_700_000_000_000],
    ['a clock going backwards', (() => { let ms = 1_700_000_000_000; return () => (ms -= 3); })()],
    ['a real clock', Date.now],
  ];
  for (const [name, now] of clocks) {
    const next = createEventIdFactory(now);
    const ids = Array.from({ length: 10_000 }, () => next());
    const bad = ids.filter((id) => !UUID_V7.test(id));
    t.same(bad, [], `${name}: every id is a UUIDv7`);
    t.equal(new Set(ids).size, ids.length, `${name}: ids are unique`);
    const unordered = ids.findIndex((id, i) => i > 0 && id <= (ids[i - 1] as string));
    t.equal(unordered, -1, `${name}: each id sorts after the one before`);
  }
});

t.test('puts the clock milliseconds in the first 48 bits', async (t) => {
  const ms = Date.UTC(2024, 4, 1, 12, 0, 0, 123);
  const id = createEventIdFactory(() => ms)();
  t.equal(parseInt(id.slice(0, 8) + id.slice(9, 13), 16), ms);
});
