import net from 'node:net';
import { Samples } from './stats.js';
import { nowMs } from './timer.js';

/**
 * A lean JSON-RPC load loop over a Unix socket, the same for arpd and for its baselines: each of
 * `connections` sockets keeps `inFlight` requests outstanding (one new request per answer, the
 * requests of one read written together) until `durationMs` has passed, then waits for the last
 * answers. Lines are split at '\n' and each answer is JSON.parsed and matched to its request by id.
 */

export interface LoadOptions {
  socket: string;
  connections: number;
  inFlight: number;
  durationMs: number;
  /** The request line (without its newline) for this id. */
  line(id: number): string;
}

export interface LoadResult {
  requests: number;
  errors: number;
  firstError: string | undefined;
  elapsedMs: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
}

export async function rpcLoad(o: LoadOptions): Promise<LoadResult> {
  const lat = new Samples();
  let nextId = 1;
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  let lastAnswer = 0;
  const sockets = await Promise.all(Array.from({ length: o.connections }, () => new Promise<net.Socket>((resolve, reject) => {
    const s = net.createConnection(o.socket, () => resolve(s));
    s.once('error', reject);
  })));
  const t0 = nowMs();
  const stopAt = t0 + o.durationMs;
  await Promise.all(sockets.map((socket) => new Promise<void>((resolve, reject) => {
    const sent = new Map<number, number>();
    let buf = '';
    const next = (out: string[]): void => {
      const id = nextId++;
      sent.set(id, nowMs());
      out.push(`${o.line(id)}\n`);
    };
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const out: string[] = [];
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(text) as { id?: number; error?: { message?: string } };
        const at = msg.id === undefined ? undefined : sent.get(msg.id);
        if (at === undefined) continue; // a notification
        sent.delete(msg.id as number);
        const now = nowMs();
        lat.push(now - at);
        lastAnswer = now;
        requests++;
        if (msg.error !== undefined) {
          errors++;
          firstError ??= msg.error.message ?? text.slice(0, 300);
        }
        if (now < stopAt) next(out);
      }
      if (out.length > 0) socket.write(out.join(''));
      if (sent.size === 0 && nowMs() >= stopAt) {
        socket.end();
        resolve();
      }
    });
    const out: string[] = [];
    for (let i = 0; i < o.inFlight; i++) next(out);
    socket.write(out.join(''));
  })));
  for (const s of sockets) s.destroy();
  const elapsedMs = lastAnswer - t0;
  const s = lat.summary();
  return { requests, errors, firstError, elapsedMs, perSec: requests / (elapsedMs / 1000), p50Ms: s.p50, p99Ms: s.p99 };
}
