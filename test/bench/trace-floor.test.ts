/**
 * The trace-lag floor (bench/lib/trace-floor.ts) stands for what arpd must do with each runtime event, so it must do
 * it: its global-log lines are lines `log verify` would take (whole, checksummed, `run.trace` events carrying the
 * runtime's data), its trace lines are TraceEvents of the run in order, and it refuses what arpd refuses (an event
 * that is not an ARP RunEvent, one nested too deep). A floor that skipped a step would measure nothing.
 */
import t from 'tap';
import { floorLoop, sseText } from '../../bench/lib/trace-floor.js';
import { decodeLineString } from '../../src/events/line-codec.js';

t.test('writes checksummed run.trace lines and the run\'s TraceEvent lines for every event, in order', async (t) => {
  const logLines: string[] = [];
  const traceLines: string[] = [];
  floorLoop(sseText(600), (log, trace) => {
    logLines.push(...log.toString('utf8').split('\n').filter((l) => l !== ''));
    traceLines.push(...trace.split('\n').filter((l) => l !== ''));
  });
  t.equal(logLines.length, 600, 'one global-log line per event');
  t.equal(traceLines.length, 600, 'one trace line per event');
  const decoded = logLines.map((l) => decodeLineString(l));
  t.ok(decoded.every((d) => d.ok), 'every log line decodes with a good checksum');
  const first = decoded[0];
  t.match(first?.ok === true ? first.event : undefined, { seq: 1, type: 'run.trace', stream: 'run:burst-floor', data: { run_id: 'burst-floor', type: 'token', data: { text: 'token 1' } } });
  const seqs = traceLines.map((l) => (JSON.parse(l) as { seq: number }).seq);
  t.same(seqs, Array.from({ length: 600 }, (_, i) => i + 1), 'trace lines numbered 1..600');
  t.match(JSON.parse(traceLines[599] as string), { run_id: 'burst-floor', type: 'token', data: { text: 'token 600' }, extensions: { 'arpd.event': { seq: 600, type: 'run.trace' } } });
});

t.test('refuses an event that is not an ARP RunEvent, and one nested too deep', async (t) => {
  t.throws(() => floorLoop('data: {"run_id":"r","seq":1,"type":"not-a-type","time":"2026-12-01T00:00:00.000Z"}\n\n'), 'an unknown event type is refused');
  const deep = `${'{"a":'.repeat(80)}1${'}'.repeat(80)}`;
  t.throws(() => floorLoop(`data: {"run_id":"r","seq":1,"type":"token","time":"2026-12-01T00:00:00.000Z","data":${deep}}\n\n`), /too deep/, 'nesting past the limit is refused');
});
