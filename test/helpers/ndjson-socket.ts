/**
 * A raw NDJSON connection to a daemon socket, for protocol tests: write any bytes (split anywhere),
 * collect every line the daemon sends back, wait for a response by id or for the daemon to end the
 * connection. No client library in between.
 */
import net from 'node:net';

export type RpcId = string | number | null;

export interface RpcMessage {
  jsonrpc?: string;
  id?: RpcId;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: Record<string, unknown> };
}

export class NdjsonSocket {
  /** Every message received, in order. */
  readonly messages: RpcMessage[] = [];
  /** Resolves when the daemon ended its side (or the socket closed). */
  readonly ended: Promise<void>;
  private buffer = Buffer.alloc(0);
  private readonly listeners = new Set<() => void>();
  private isEnded = false;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      let nl: number;
      while ((nl = this.buffer.indexOf(0x0a)) !== -1) {
        const line = this.buffer.subarray(0, nl).toString('utf8');
        this.buffer = this.buffer.subarray(nl + 1);
        if (line.trim() === '') continue;
        this.messages.push(JSON.parse(line) as RpcMessage);
      }
      this.notify();
    });
    socket.on('error', () => undefined);
    this.ended = new Promise<void>((resolve) => {
      const done = (): void => { this.isEnded = true; this.notify(); resolve(); };
      socket.once('end', done);
      socket.once('close', done);
    });
  }

  static open(path: string, timeoutMs = 10_000): Promise<NdjsonSocket> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path, allowHalfOpen: true });
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`could not connect to ${path} within ${timeoutMs} ms`)); }, timeoutMs);
      socket.once('connect', () => { clearTimeout(timer); socket.removeAllListeners('error'); resolve(new NdjsonSocket(socket)); });
      socket.once('error', (err) => { clearTimeout(timer); reject(err); });
    });
  }

  private notify(): void {
    for (const l of [...this.listeners]) l();
  }

  /** Writes bytes and resolves once they are handed to the kernel. */
  write(data: string | Uint8Array): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.write(data, (err) => (err === undefined || err === null ? resolve() : reject(err)));
    });
  }

  /** Sends one request line and resolves with the response carrying its id. */
  async request(id: string | number, method: string, params?: unknown, timeoutMs = 10_000): Promise<RpcMessage> {
    const line = JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
    await this.write(`${line}\n`);
    return this.waitFor(`the response to ${method} (id ${JSON.stringify(id)})`, (m) => m.id === id && m.method === undefined, timeoutMs);
  }

  /** Resolves with the first message (already received or still to come) matching `pred`. */
  waitFor(what: string, pred: (m: RpcMessage) => boolean, timeoutMs = 10_000): Promise<RpcMessage> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const found = this.messages.find(pred);
        if (found !== undefined) { finish(); resolve(found); return; }
        if (this.isEnded) { finish(); reject(new Error(`the connection ended before ${what}`)); }
      };
      const timer = setTimeout(() => { finish(); reject(new Error(`gave up waiting (${timeoutMs} ms) for ${what}`)); }, timeoutMs);
      const finish = (): void => { clearTimeout(timer); this.listeners.delete(check); };
      this.listeners.add(check);
      check();
    });
  }

  /** Half-closes (EOF) and resolves with everything received once the daemon ends its side. */
  async endAndCollect(timeoutMs = 10_000): Promise<RpcMessage[]> {
    this.socket.end();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the daemon did not end the connection within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([this.ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
    this.socket.destroy();
    return this.messages;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
