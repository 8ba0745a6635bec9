/**
 * `GET /v1/admin/replay` as the daemon wires it: each replay folds the log in a worker thread (the daemon's event
 * loop keeps serving), at most two at once (a third is refused, retryable), and a replay whose caller left is
 * stopped by terminating its worker.
 */
import { Worker } from 'node:worker_threads';
import { ArpdError, ERROR_CODES, type ErrorCode } from '../errors/index.js';
import type { ReplayUntil } from '../server/http-ui-api.js';
import type { ReplayAnswer, ReplayJob } from './registry-replay-fold.js';

export type { ReplayAnswer } from './registry-replay-fold.js';

const MAX_CONCURRENT = 2;

/** The worker beside this file, compiled (.js) or run from source (.ts, tests through tsx). */
function workerUrl(): URL {
  const self = import.meta.url;
  return new URL(self.endsWith('.ts') ? './registry-replay-worker.ts' : './registry-replay-worker.js', self);
}

export function registryReplayer(root: string): (until: ReplayUntil, limits: ReplayJob['limits'], signal: AbortSignal) => Promise<ReplayAnswer> {
  let running = 0;
  return async (until, limits, signal) => {
    if (signal.aborted) throw new ArpdError('E_CANCELED', 'the replay was canceled: the caller left');
    if (running >= MAX_CONCURRENT) {
      throw new ArpdError('E_UNAVAILABLE', `${running} replays of the log are running: try again when one has finished`, { running });
    }
    running++;
    const job: ReplayJob = { root, until, limits };
    const worker = new Worker(workerUrl(), { workerData: job });
    try {
      return await new Promise<ReplayAnswer>((resolve, reject) => {
        const stop = (): void => { void worker.terminate(); reject(new ArpdError('E_CANCELED', 'the replay was canceled: the caller left')); };
        signal.addEventListener('abort', stop, { once: true });
        worker.once('message', (m: { ok: true; answer: ReplayAnswer } | { ok: false; error: { code?: string; message: string; data?: Record<string, unknown> } }) => {
          signal.removeEventListener('abort', stop);
          if (m.ok) { resolve(m.answer); return; }
          const code = m.error.code !== undefined && m.error.code in ERROR_CODES ? m.error.code as ErrorCode : 'E_INTERNAL';
          reject(code === 'E_INTERNAL' ? new ArpdError('E_INTERNAL', 'internal error while replaying the log: see the daemon log', undefined, { cause: new Error(m.error.message) }) : new ArpdError(code, m.error.message, m.error.data));
        });
        worker.once('error', (err) => { signal.removeEventListener('abort', stop); reject(new ArpdError('E_INTERNAL', 'internal error while replaying the log: see the daemon log', undefined, { cause: err })); });
        worker.once('exit', (code) => { if (code !== 0 && !signal.aborted) reject(new ArpdError('E_INTERNAL', `the replay worker exited with code ${code}`)); });
      });
    } finally {
      running--;
      void worker.terminate();
    }
  };
}
