import fc from 'fast-check';
import t from 'tap';
import { DEFAULT_RETENTION, runsLeavingMemory, type RetentionPolicy } from '../../src/retention/retention-policy.js';

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);

/** Runs as the registry holds them: some ended (with an end time), some still live. */
interface Run { id: string; endedAt?: number }

/** The ended runs oldest end first, as the registry hands them to the policy. */
function endedInOrder(runs: Run[]): Array<{ id: string; endedAt: number }> {
  return runs.filter((r): r is { id: string; endedAt: number } => r.endedAt !== undefined).sort((a, b) => a.endedAt - b.endedAt);
}

function leaving(runs: Run[], policy: RetentionPolicy, max?: number): string[] {
  const ended = endedInOrder(runs);
  const at = new Map(ended.map((r) => [r.id, r.endedAt]));
  return runsLeavingMemory(ended.map((r) => r.id), ended.length, (id) => at.get(id) ?? Number.NaN, policy, NOW, max);
}

const endedDaysAgo = (id: string, days: number): Run => ({ id, endedAt: NOW - days * DAY });

t.test('the defaults keep the last 10,000 ended runs or 7 days', async (t) => {
  t.same(DEFAULT_RETENTION, { retainRuns: 10_000, retainDays: 7 });
});

t.test('past the count the oldest ended runs leave first, until the count is met', async (t) => {
  const runs = [endedDaysAgo('c', 1), endedDaysAgo('a', 3), endedDaysAgo('b', 2), endedDaysAgo('d', 0)];
  t.same(leaving(runs, { retainRuns: 2, retainDays: 30 }), ['a', 'b']);
  t.same(leaving(runs, { retainRuns: 4, retainDays: 30 }), [], 'at the count nothing leaves');
  t.same(leaving(runs, { retainRuns: 0, retainDays: 30 }), ['a', 'b', 'c', 'd'], '0 keeps none');
});

t.test('past the age every run that ended before the cutoff leaves, however few there are', async (t) => {
  const runs = [endedDaysAgo('old', 8), endedDaysAgo('edge', 7), endedDaysAgo('new', 6.99)];
  t.same(leaving(runs, { retainRuns: 100, retainDays: 7 }), ['old', 'edge'], 'exactly 7 days counts as old');
  t.same(leaving(runs, { retainRuns: 100, retainDays: 0 }), ['old', 'edge', 'new'], '0 days: at once');
});

t.test('the two limits together: whichever lets more runs go', async (t) => {
  const runs = [endedDaysAgo('a', 10), endedDaysAgo('b', 5), endedDaysAgo('c', 4), endedDaysAgo('d', 1)];
  t.same(leaving(runs, { retainRuns: 2, retainDays: 7 }), ['a', 'b'], 'the count lets more go');
  t.same(leaving(runs, { retainRuns: 3, retainDays: 4.5 }), ['a', 'b'], 'the age lets more go');
});

t.test('runs that have not ended never leave', async (t) => {
  const runs: Run[] = [{ id: 'live1' }, endedDaysAgo('a', 30), { id: 'live2' }];
  t.same(leaving(runs, { retainRuns: 0, retainDays: 0 }), ['a']);
});

t.test('a sweep takes at most its slice, oldest first', async (t) => {
  const runs = [endedDaysAgo('a', 3), endedDaysAgo('b', 2), endedDaysAgo('c', 1)];
  t.same(leaving(runs, { retainRuns: 0, retainDays: 30 }, 2), ['a', 'b']);
  t.same(leaving(runs, { retainRuns: 0, retainDays: 30 }, 0), []);
});

const runsArb = fc.uniqueArray(
  fc.record({ id: fc.stringMatching(/^[a-z]{1,6}$/), ended: fc.boolean(), daysAgo: fc.double({ min: 0, max: 40, noNaN: true }) }),
  { selector: (r) => r.id, maxLength: 40 },
).map((rs) => rs.map((r): Run => (r.ended ? endedDaysAgo(r.id, r.daysAgo) : { id: r.id })));
const policyArb = fc.record({ retainRuns: fc.nat({ max: 45 }), retainDays: fc.double({ min: 0, max: 40, noNaN: true }) });

t.test('property: never lets a live run go, and lets ended runs go oldest first', async (t) => {
  fc.assert(fc.property(runsArb, policyArb, (runs, policy) => {
    const out = leaving(runs, policy);
    const ended = endedInOrder(runs).map((r) => r.id);
    return out.every((id) => ended.includes(id)) && out.every((id, i) => ended[i] === id);
  }), { numRuns: 300 });
  t.pass('held');
});

t.test('property: never leaves more ended runs than the limit, nor one older than the age', async (t) => {
  fc.assert(fc.property(runsArb, policyArb, (runs, policy) => {
    const out = new Set(leaving(runs, policy));
    const stay = endedInOrder(runs).filter((r) => !out.has(r.id));
    return stay.length <= policy.retainRuns && stay.every((r) => r.endedAt > NOW - policy.retainDays * DAY);
  }), { numRuns: 300 });
  t.pass('held');
});

t.test('property: lets no more runs go than the limits ask for', async (t) => {
  fc.assert(fc.property(runsArb, policyArb, (runs, policy) => {
    const out = leaving(runs, policy);
    if (out.length === 0) return true;
    // the last one to leave was needed: with it kept, a limit would be broken
    const ended = endedInOrder(runs);
    const last = ended[out.length - 1];
    const keptIfStayed = ended.length - out.length + 1;
    return last !== undefined && (keptIfStayed > policy.retainRuns || last.endedAt <= NOW - policy.retainDays * DAY);
  }), { numRuns: 300 });
  t.pass('held');
});

t.test('property: a sweep in slices lets the same runs go as one sweep', async (t) => {
  fc.assert(fc.property(runsArb, policyArb, fc.integer({ min: 1, max: 7 }), (runs, policy, slice) => {
    const whole = leaving(runs, policy);
    let left = runs;
    const sliced: string[] = [];
    for (;;) {
      const got = leaving(left, policy, slice);
      if (got.length > slice) return false;
      if (got.length === 0) break;
      sliced.push(...got);
      left = left.filter((r) => !got.includes(r.id));
    }
    return JSON.stringify(sliced) === JSON.stringify(whole);
  }), { numRuns: 200 });
  t.pass('held');
});
