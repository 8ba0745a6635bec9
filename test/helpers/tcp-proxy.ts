/**
 * A TCP proxy in front of a real server, for fault tests on real connections: `cut()` drops every
 * connection and refuses new ones (a server that went away, a network cut) until `restore()`;
 * `loseAckAfter(text)` lets the next request containing `text` reach the server, lets the server
 * finish it, and then drops the connection before the client hears the answer (a commit whose
 * outcome the client cannot know). Speaks nothing but bytes, except that it recognises the end of a
 * PostgreSQL reply (a ReadyForQuery message) for `loseAckAfter`.
 *
 * `freeze()` stops passing bytes either way and keeps every connection open, new ones too (a host that went silent,
 * a network that drops packets: no FIN, no RST, nothing) until `restore()`.
 *
 * `delayMs` (default 0: bytes pass at once) holds every chunk that long in each direction before passing it
 * on, in order: a link with latency, as between separate hosts (for benchmarks; `tc netem` needs a kernel
 * module not everywhere available). A round trip through it takes at least 2 × delayMs.
 */
import { createServer, Socket, type Server } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  cut(): void;
  /** Drops every byte from now on, either way, and keeps the connections open: see the module comment. */
  freeze(): void;
  /** Undoes cut() and freeze(). */
  restore(): void;
  /** Arms once: see the module comment. Resolves when the reply was dropped. */
  loseAckAfter(text: string): Promise<void>;
  close(): Promise<void>;
}

/** A PostgreSQL reply ends with ReadyForQuery: 'Z', length 5, the transaction status byte. */
function endsReply(buf: Buffer): boolean {
  const n = buf.length;
  return n >= 6 && buf[n - 6] === 0x5a && buf.readUInt32BE(n - 5) === 5;
}

export interface TcpProxyOptions {
  /** Added one-way latency per direction, in ms (default 0). */
  delayMs?: number;
}

/** `targetPort` may be a function, read at each connection: a server started after the proxy (told the proxy's port). */
export async function startTcpProxy(targetPort: number | (() => number), targetHost = '127.0.0.1', opts: TcpProxyOptions = {}): Promise<TcpProxy> {
  const delayMs = opts.delayMs ?? 0;
  if (!Number.isFinite(delayMs) || delayMs < 0) throw new Error(`delayMs must be a number of ms >= 0 (got ${String(delayMs)})`);
  /** Passes a chunk on now, or after delayMs (timers of one delay fire in the order they were set: order is kept). */
  const pass = (to: Socket, chunk: Buffer): void => {
    if (frozen) return;
    if (delayMs === 0) to.write(chunk);
    else setTimeout(() => { if (!to.destroyed) to.write(chunk); }, delayMs);
  };
  const pairs = new Set<{ client: Socket; server: Socket }>();
  let down = false;
  let frozen = false;
  let armed: { text: Buffer; dropped: () => void } | undefined;

  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = new Socket();
    // as the client itself does (pg sets TCP_NODELAY): a relayed small write must not wait for the peer's ACK
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const pair = { client, server: upstream };
    pairs.add(pair);
    let doomed: (() => void) | undefined;
    const end = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    upstream.connect(typeof targetPort === 'function' ? targetPort() : targetPort, targetHost);
    client.on('data', (chunk: Buffer) => {
      if (armed !== undefined && chunk.includes(armed.text)) {
        doomed = armed.dropped;
        armed = undefined;
      }
      pass(upstream, chunk);
    });
    let held: Buffer[] = [];
    upstream.on('data', (chunk: Buffer) => {
      if (doomed !== undefined) {
        held.push(chunk);
        if (endsReply(Buffer.concat(held))) {
          const cb = doomed;
          doomed = undefined;
          held = [];
          end();
          cb();
        }
        return;
      }
      pass(client, chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;

  return {
    port,
    cut(): void {
      down = true;
      for (const p of [...pairs]) {
        p.client.destroy();
        p.server.destroy();
      }
      pairs.clear();
    },
    freeze(): void {
      frozen = true;
    },
    restore(): void {
      down = false;
      frozen = false;
    },
    loseAckAfter(text: string): Promise<void> {
      return new Promise((resolve) => {
        armed = { text: Buffer.from(text, 'utf8'), dropped: resolve };
      });
    },
    async close(): Promise<void> {
      down = true;
      for (const p of [...pairs]) {
        p.client.destroy();
        p.server.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
