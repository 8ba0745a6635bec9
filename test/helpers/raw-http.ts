/**
 * HTTP requests with every header under the test's control (fetch will not send a `Host` of the test's choosing),
 * and slow bodies: `rawRequest` sends one request on its own connection and reads the whole answer;
 * `trickle` sends a body a few bytes at a time and says how the server ended it.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body as JSON, or undefined. */
  body: unknown;
}

export interface RawOptions {
  headers?: Record<string, string>;
  /** A JSON body. */
  json?: unknown;
  body?: string;
}

/** One request to `base` (http://host:port) with exactly these headers (plus Content-Type/Length for a body). */
export function rawRequest(base: string, method: string, path: string, o: RawOptions = {}): Promise<RawAnswer> {
  const url = new URL(base);
  const body = o.json !== undefined ? JSON.stringify(o.json) : o.body;
  const headers: Record<string, string> = { connection: 'close', ...o.headers };
  if (body !== undefined) {
    headers['content-type'] ??= 'application/json';
    headers['content-length'] = String(Buffer.byteLength(body));
  }
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: Number(url.port), method, path, headers, setHost: headers['host'] === undefined && headers['Host'] === undefined, timeout: 30_000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => { text += c; });
      res.on('end', () => {
        let parsed: unknown;
        try { parsed = text === '' ? undefined : JSON.parse(text); } catch { parsed = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(body);
  });
}

export interface TrickleOutcome {
  /** The status line and headers the server answered with, if it answered before closing. */
  answer: string;
  /** Body bytes sent before the server ended the connection. */
  sent: number;
  /** The whole body went out and the server answered normally. */
  completed: boolean;
  /** The server closed the connection (not the give-up timer). */
  closedByServer: boolean;
}

/**
 * Sends `POST path` announcing `length` body bytes and then one byte every `everyMs`; resolves once the server closes
 * the connection (or answers), or after `giveUpMs`, whichever comes first.
 */
export function trickle(base: string, path: string, headers: Record<string, string>, opts: { length: number; everyMs: number; giveUpMs: number }): Promise<TrickleOutcome> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let answer = '';
    let sent = 0;
    let finished = false;
    const head = [`POST ${path} HTTP/1.1`, `Host: ${url.host}`, 'Content-Type: application/json', `Content-Length: ${opts.length}`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n');
    const done = (completed: boolean, closedByServer: boolean): void => {
      if (finished) return;
      finished = true;
      clearInterval(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ answer, sent, completed, closedByServer });
    };
    const timer = setInterval(() => {
      if (sent >= opts.length) return;
      socket.write(sent === 0 ? '{' : ' ');
      sent++;
    }, opts.everyMs);
    const giveUp = setTimeout(() => done(sent >= opts.length, false), opts.giveUpMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(head));
    socket.on('data', (d: string) => { answer += d; });
    socket.on('close', () => done(false, true));
    socket.on('error', () => done(false, true));
  });
}

export interface IdleOutcome {
  /** What the server sent before it closed (the answer to the first request, if one was sent). */
  answer: string;
  /** The server closed the connection (not the give-up timer). */
  closedByServer: boolean;
}

/**
 * Opens a connection, sends `request` (raw HTTP/1.1 text, keep-alive) or nothing, then stays idle; resolves once the
 * server closes the connection, or after `giveUpMs`.
 */
export function idleConnection(base: string, request: string | undefined, giveUpMs: number): Promise<IdleOutcome> {
  const url = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(url.port), url.hostname);
    let answer = '';
    let finished = false;
    const done = (closedByServer: boolean): void => {
      if (finished) return;
      finished = true;
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ answer, closedByServer });
    };
    const giveUp = setTimeout(() => done(false), giveUpMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => { if (request !== undefined) socket.write(request); });
    socket.on('data', (d: string) => { answer += d; });
    socket.on('close', () => done(true));
    socket.on('error', () => done(true));
  });
}
