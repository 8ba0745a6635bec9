import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitExit, waitForLine } from './proc.js';
import { BareGroupCommit } from './group-commit.js';

/**
 * Bare servers that stand for the raw limit arpd is compared with, each run as its own process (as
 * the daemon is) by `startBaseline`:
 * - `ndjson`: a Unix socket server, newline-framed: JSON.parse each line, JSON.stringify a fixed
 *   `result` as the JSON-RPC answer with the request's id; with `durableDir`, each request is first
 *   appended to `<durableDir>/events.jsonl` through a bare group commit (answer after fdatasync).
 * - `http`: fastify answering fixed JSON bodies on GET routes and, on `POST /v1/runs`, appending the
 *   body through a bare group commit before answering 202 with a fixed body.
 * - `node-http`: node:http alone, for `POST /v1/runs`: reads the body, JSON.parses it, appends it through a bare
 *   group commit, answers 202 with a fixed JSON body (what a durable accept costs with no framework at all).
 * The process prints one `{"event":"listening",…}` line on stdout, and exits on SIGTERM.
 */

export interface NdjsonConfig {
  mode: 'ndjson';
  socket: string;
  result: unknown;
  durableDir?: string;
}

export interface HttpConfig {
  mode: 'http';
  /** path → JSON body answered to GET. */
  routes: Record<string, unknown>;
  /** The 202 body of POST /v1/runs. */
  postBody: unknown;
  durableDir: string;
}

export interface NodeHttpConfig {
  mode: 'node-http';
  /** The 202 body of POST /v1/runs. */
  postBody: unknown;
  durableDir: string;
}

export type BaselineConfig = NdjsonConfig | HttpConfig | NodeHttpConfig;

export interface Baseline {
  /** The socket path (ndjson) or the base URL (http). */
  readonly address: string;
  readonly pid: number;
  stop(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

/** Starts a baseline server process; `dir` holds its config file. */
export async function startBaseline(config: BaselineConfig, dir: string): Promise<Baseline> {
  const file = join(dir, `baseline-${config.mode}.json`);
  writeFileSync(file, JSON.stringify(config));
  const child: ChildProcess = spawn(process.execPath, [SELF, file], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const line = await waitForLine(child, 'stdout', (l) => l.startsWith('{"event":"listening"'), 30_000, `baseline ${config.mode} server`);
    const ready = JSON.parse(line) as { url?: string; socket?: string };
    child.stdout?.resume();
    return {
      address: ready.url ?? ready.socket ?? '',
      pid: child.pid as number,
      stop: async () => {
        child.kill('SIGTERM');
        await waitExit(child, 10_000);
      },
    };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

// ---- the server side -------------------------------------------------------------------------

function durableLine(seq: number, data: unknown): string {
  return `${JSON.stringify({ seq, ts: new Date().toISOString(), type: 'run.accepted', data })}\n`;
}

function serveNdjson(c: NdjsonConfig): void {
  const commit = c.durableDir === undefined ? undefined : new BareGroupCommit(join(c.durableDir, 'events.jsonl'));
  let seq = 0;
  const server = net.createServer((socket) => {
    let buf = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const req = JSON.parse(line) as { id: number; params?: unknown };
        const answer = (): void => { socket.write(`${JSON.stringify({ jsonrpc: '2.0', id: req.id, result: c.result })}\n`); };
        if (commit === undefined) answer();
        else void commit.append(durableLine(++seq, req.params)).then(answer);
      }
    });
    socket.on('error', () => {});
  });
  server.listen(c.socket, () => process.stdout.write(`${JSON.stringify({ event: 'listening', socket: c.socket })}\n`));
  process.once('SIGTERM', () => {
    server.close();
    commit?.close();
    process.exit(0);
  });
}

async function serveHttp(c: HttpConfig): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const commit = new BareGroupCommit(join(c.durableDir, 'events.jsonl'));
  let seq = 0;
  const app = Fastify({ logger: false });
  for (const [path, body] of Object.entries(c.routes)) app.get(path, async () => body);
  app.post('/v1/runs', async (req, reply) => {
    await commit.append(durableLine(++seq, req.body));
    return reply.code(202).send(c.postBody);
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  process.stdout.write(`${JSON.stringify({ event: 'listening', url })}\n`);
  process.once('SIGTERM', () => {
    void app.close().then(() => {
      commit.close();
      process.exit(0);
    });
  });
}

async function serveNodeHttp(c: NodeHttpConfig): Promise<void> {
  const { createServer } = await import('node:http');
  const commit = new BareGroupCommit(join(c.durableDir, 'events.jsonl'));
  const answer = JSON.stringify(c.postBody);
  let seq = 0;
  const server = createServer((req, res) => {
    if (req.method !== 'POST' || req.url !== '/v1/runs') {
      res.writeHead(404).end();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      void commit.append(durableLine(++seq, body)).then(() => {
        res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) }).end(answer);
      });
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const addr = server.address() as { port: number };
    process.stdout.write(`${JSON.stringify({ event: 'listening', url: `http://127.0.0.1:${addr.port}` })}\n`);
  });
  process.once('SIGTERM', () => {
    server.close();
    commit.close();
    process.exit(0);
  });
}

if (process.argv[1] === SELF) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: baseline-server.js <config.json> (started by the benchmarks)\n');
    process.exit(2);
  }
  const config = JSON.parse(readFileSync(file, 'utf8')) as BaselineConfig;
  if (config.mode === 'ndjson') serveNdjson(config);
  else if (config.mode === 'node-http') await serveNodeHttp(config);
  else await serveHttp(config);
}
