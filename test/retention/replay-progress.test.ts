/**
 * Replay progress: a long boot replay says how far it is, at most once per interval, out of the events the log
 * holds after where the replay started.
 */
import { join } from 'node:path';
import pino from 'pino';
import { Writable } from 'node:stream';
import t from 'tap';
import { LogStore } from '../../src/events/log-store.js';
import { lastSeqOnDisk, ReplayProgress } from '../../src/retention/replay-progress.js';
import { removeDir, tempDir } from '../fixtures-helpers/events.js';

function capture(): { logger: pino.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>); cb(); } });
  return { logger: pino({ level: 'info' }, sink), lines };
}

t.test('logs replayed N of M events at most once per interval during a long replay', async (t) => {
  const root = tempDir('replay-progress');
  try {
    const store = LogStore.open({ root });
    const events = Array.from({ length: 300 }, (_, i) => ({ type: 'profile.upserted' as const, data: { runtime_profile: `p${i}`, profile: { runtime_profile: `p${i}` } } }));
    for (let i = 0; i < events.length; i += 50) await store.append(events.slice(i, i + 50));
    await store.close();
    t.equal(lastSeqOnDisk(root), 300, 'the log\'s last seq is read from its last line');
    t.equal(lastSeqOnDisk(join(root, 'nothing-here')), undefined, 'no log: unknown');

    const { logger, lines } = capture();
    let clock = 0;
    const progress = new ReplayProgress(root, 100, logger, 1000, () => clock);
    // 200 events replayed after seq 100, as if they were 4,096 times as many (the clock is read every 4,096 ticks)
    for (let i = 0; i < 20 * 4096; i++) {
      if (i % 4096 === 0) clock += 400;
      progress.tick();
    }
    await new Promise((resolve) => setImmediate(resolve));
    t.ok(lines.length >= 6 && lines.length <= 8, `one line per second of replay (${lines.length} for 8 s)`);
    t.match(lines[0], { msg: /^replayed [\d,]+ of 200 events$/, of: 200 }, 'says N of M, M counted from where the replay started');
    const counts = lines.map((l) => l['replayed'] as number);
    t.same(counts, [...counts].sort((a, b) => a - b), 'N grows');
  } finally {
    removeDir(root);
  }
});
