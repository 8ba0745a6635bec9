/**
 * The worker thread of registry-replay.ts: folds the log from the start up to `until` with the very fold the
 * daemon boots with (`Registry.apply`), then posts the bounded answer. A worker, so that folding a long log
 * never stalls the daemon's event loop; terminated when the caller stops waiting.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { replayRegistry, type ReplayJob } from './registry-replay-fold.js';

const job = workerData as ReplayJob;
try {
  parentPort?.postMessage({ ok: true, answer: replayRegistry(job) });
} catch (err) {
  const e = err as { code?: unknown; message?: unknown; data?: unknown };
  parentPort?.postMessage({ ok: false, error: { code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message ?? err), data: e.data } });
}
