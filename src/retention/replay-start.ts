import { join } from 'node:path';
import { ArpdError } from '../errors/index.js';
import { readHorizon } from '../events/log-files.js';
import { Projection } from '../projections/projection.js';
import { Registry } from '../projections/registry.js';
import { usableSnapshots } from './snapshot-file.js';

/**
 * Where a replay of the log (`arpd log replay --until`, the dashboard's time travel) starts: seq 1, or, once old
 * segments were removed by the disk budget (log-horizon.json), the oldest usable snapshot that holds what was
 * removed. A replay from seq 1 of a log whose start was removed would fold what is left as if it were all of it.
 */
export function replayStart(root: string, until: { seq?: number | undefined; timeMs?: number | undefined } = {}): { projection: Projection; fromSeq: number } {
  const untilSeq = until.seq;
  const horizon = readHorizon(root);
  if (horizon === undefined) return { projection: new Projection(), fromSeq: 1 };
  const snaps = [...usableSnapshots(join(root, 'snapshots'), () => undefined)].filter((s) => s.position.seq >= horizon.first_seq - 1);
  const oldest = snaps.at(-1);
  if (oldest === undefined) {
    throw new ArpdError('E_LOG_CORRUPT', `the log starts at seq ${horizon.first_seq} (older segments were removed by the disk budget) and no usable snapshot holds what came before: restore a snapshot under ${join(root, 'snapshots')}`, { first_seq: horizon.first_seq });
  }
  if (untilSeq !== undefined && untilSeq < oldest.position.seq) {
    throw new ArpdError('E_VALIDATION', `the history before seq ${horizon.first_seq} was removed by the disk budget: a replay can stop no earlier than seq ${oldest.position.seq} (the oldest snapshot)`, { field: 'until', usage: true });
  }
  // a time before the oldest snapshot's last event: the state then is gone with the removed segments (the snapshot's
  // own state, later than asked, would be shown as the state at that time)
  const oldestTs = oldest.body.registry.lastTs;
  if (until.timeMs !== undefined && oldestTs !== '' && until.timeMs < Date.parse(oldestTs)) {
    throw new ArpdError('E_VALIDATION', `the history before seq ${horizon.first_seq} was removed by the disk budget: a replay can stop no earlier than ${oldestTs} (the oldest snapshot, seq ${oldest.position.seq})`, { field: 'until', usage: true });
  }
  return { projection: new Projection(Registry.importState(oldest.body.registry)), fromSeq: oldest.position.seq + 1 };
}
