import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { LogStore } from '../src/events/log-store.js';
import { runAsChild } from './lib/child.js';
import { nowMs } from './lib/timer.js';

/**
 * One boot replay in a fresh process (so its peak RSS is its own): `baseline <root>` or `arpd <root>`.
 * arpd's modules are imported only by the arpd side, so the baseline's memory holds none of them.
 */

export interface ReplayOutcome {
  /** Wall time of the fold. */
  ms: number;
  /** CPU time (user + system) of the fold: steadier than wall time on a shared machine. */
  cpuMs: number;
  events: number;
  streams: number;
  /** Heap in use after the fold and a full GC, with the folded state still alive (bytes). */
  retainedBytes: number;
  /** Run logs arpd checked at boot (0: the clean stop told it none needed checking). */
  runLogsChecked: number;
}

interface Fold { events: number; streams: number; state: unknown; runLogsChecked?: number }

/** Times `fold`, then measures what its state keeps alive (the child runs with --expose-gc). */
async function measure(fold: () => Promise<Fold> | Fold): Promise<ReplayOutcome> {
  const cpu0 = process.cpuUsage();
  const t0 = nowMs();
  const r = await fold();
  const ms = nowMs() - t0;
  const cpu = process.cpuUsage(cpu0);
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const retainedBytes = gc === undefined ? Number.NaN : process.memoryUsage().heapUsed;
  // keep the folded state reachable until after the measurement
  if (r.state === undefined) throw new Error('no state');
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, events: r.events, streams: r.streams, retainedBytes, runLogsChecked: r.runLogsChecked ?? 0 };
}

/** The raw limit: 8 MiB reads, split on '\n' at the Buffer level, JSON.parse each line, fold stream → small object. */
function baseline(root: string): Fold {
  interface Folded { rev: number; seq: number; type: string; ts: string; events: number }
  const byStream = new Map<string, Folded>();
  let events = 0;
  const fd = openSync(join(root, 'events.jsonl'), 'r');
  try {
    const size = fstatSync(fd).size;
    let buf = Buffer.allocUnsafe(8 * 1024 * 1024);
    let pos = 0;
    let have = 0;
    while (pos + have < size) {
      if (have === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
      const n = readSync(fd, buf, have, buf.length - have, pos + have);
      if (n === 0) break;
      const end = have + n;
      let start = 0;
      let nl = buf.indexOf(0x0a, have);
      while (nl !== -1 && nl < end) {
        const e = JSON.parse(buf.toString('utf8', start, nl)) as { seq: number; stream: string; rev: number; type: string; ts: string };
        const prev = byStream.get(e.stream);
        byStream.set(e.stream, { rev: e.rev, seq: e.seq, type: e.type, ts: e.ts, events: (prev?.events ?? 0) + 1 });
        events++;
        start = nl + 1;
        nl = start < end ? buf.indexOf(0x0a, start) : -1;
      }
      buf.copy(buf, 0, start, end);
      pos += start;
      have = end - start;
    }
  } finally {
    closeSync(fd);
  }
  return { events, streams: byStream.size, state: byStream };
}

/** arpd's boot: LogStore.open recovers the log (CRC, seq continuity) and folds every event through the Projection. */
async function arpd(root: string): Promise<ReplayOutcome> {
  const { LogStore } = await import('../src/events/log-store.js');
  const { Projection } = await import('../src/projections/projection.js');
  const projection = new Projection();
  let store: LogStore | undefined;
  const outcome = await measure(() => {
    store = LogStore.open({ root, onEvent: (e) => projection.push(e), revOf: (s) => projection.registry.streamRev(s) });
    const r = projection.registry;
    // ready to serve: the run indexes the routers read are built (the registry builds them on first read)
    r.countRunsByState();
    // the streams it folded: every run, instance and profile, and the daemon's own stream
    const streams = r.runs.size + r.instances.size + r.profiles.size + (r.streamRev('daemon') > 0 ? 1 : 0);
    return { events: projection.lastSeq, streams, state: { projection, store }, runLogsChecked: store.reconciled.checked };
  });
  await store?.close();
  return outcome;
}

runAsChild(async ([mode, root]) => {
  if (root === undefined) throw new Error('usage: log-replay-child.js baseline|arpd <root>');
  if (mode === 'baseline') return measure(() => baseline(root));
  if (mode === 'arpd') return arpd(root);
  throw new Error(`unknown mode ${String(mode)}`);
});
