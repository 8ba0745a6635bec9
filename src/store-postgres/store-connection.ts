import pg from 'pg';
import { isConnectionError, sqlState } from './pg-errors.js';

/** Connecting failed: no statement was sent on this attempt. `cause` is what the driver threw. */
export class ConnectFailed extends Error {
  constructor(override readonly cause: unknown) {
    super(`connecting to PostgreSQL failed: ${(cause as Error | undefined)?.message ?? String(cause)}`);
  }

  /** The driver's code (ECONNREFUSED, 28P01, …) so callers sort it like the original error. */
  get code(): unknown {
    return (this.cause as { code?: unknown } | undefined)?.code;
  }
}

/**
 * One connection kept for one job (the writer, the tail reader): connected on first use, dropped on
 * any error that is not a plain SQL error, and connected again on the next use. So a server that
 * went away and came back is reached again without anyone reopening the store.
 */
export class DedicatedConnection {
  private client: pg.Client | undefined;
  private connecting: Promise<pg.Client> | undefined;
  private ended = false;

  constructor(private readonly config: pg.ClientConfig) {}

  /** The backend pid of the live connection, if any. */
  get backendPid(): number | undefined {
    return (this.client as (pg.Client & { processID?: number }) | undefined)?.processID;
  }

  /** Runs one statement; a failure to connect throws ConnectFailed (nothing was sent). */
  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(text: string, params?: unknown[]): Promise<pg.QueryResult<R>> {
    let c: pg.Client;
    try {
      c = await this.get();
    } catch (err) {
      throw new ConnectFailed(err);
    }
    try {
      return await c.query<R>(text, params);
    } catch (err) {
      // node-postgres refuses a query on a connection it already knows is broken, before sending it
      if (/not queryable/i.test(String((err as Error | undefined)?.message))) {
        this.drop(c);
        throw new ConnectFailed(err);
      }
      if (isConnectionError(err) || sqlState(err) === undefined) this.drop(c);
      throw err;
    }
  }

  private get(): Promise<pg.Client> {
    if (this.ended) return Promise.reject(new Error('Client was closed'));
    if (this.client !== undefined) return Promise.resolve(this.client);
    this.connecting ??= (async () => {
      const c = new pg.Client(this.config);
      c.on('error', () => this.drop(c));
      c.on('end', () => this.drop(c));
      try {
        await c.connect();
      } catch (err) {
        c.end().catch(() => undefined);
        throw err;
      } finally {
        this.connecting = undefined;
      }
      if (this.ended) {
        c.end().catch(() => undefined);
        throw new Error('Client was closed');
      }
      this.client = c;
      return c;
    })();
    return this.connecting;
  }

  private drop(c: pg.Client): void {
    if (this.client === c) this.client = undefined;
    c.end().catch(() => undefined);
  }

  async end(): Promise<void> {
    this.ended = true;
    const c = this.client;
    this.client = undefined;
    if (c !== undefined) await c.end().catch(() => undefined);
  }
}
