/**
 * A real runtime stand-in for the Runtime API client's tests: an HTTP server on 127.0.0.1 port 0 answering with the
 * test's handler, a RuntimeClient to talk to it, both closed at the test's end.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Test } from 'tap';
import { ArpdError } from '../../src/errors/index.js';
import { RuntimeClient } from '../../src/runtime-client/runtime-client.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export async function runtime(t: Test, handler: Handler): Promise<{ endpoint: string; client: RuntimeClient }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new RuntimeClient();
  t.teardown(() => { client.close(); server.closeAllConnections(); return new Promise<void>((resolve) => server.close(() => resolve())); });
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, client };
}

/** The ArpdError a promise rejects with (anything else, or no rejection, fails the test). */
export async function failure(p: Promise<unknown>): Promise<ArpdError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ArpdError) return err;
    throw err;
  }
  throw new Error('expected a failure');
}
