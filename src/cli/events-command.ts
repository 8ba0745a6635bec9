import { once } from 'node:events';
import type { Transform } from 'node:stream';
import { ArpdError } from '../errors/index.js';
import type { StoredEvent } from '../events/envelope.js';
import { damagedRead, forEachEvent, matchesFilter, type DamageAt, type EventFilter } from '../events/log-read.js';
import { connect, type LogEvent } from '../client/index.js';
import { CLI_TIMEOUT_HINT, type ResolvedGlobals } from './global-options.js';
import { storeInPostgres } from './log-commands.js';
import { info, out, style, writeStdout } from './output.js';

/**
 * `arpd events [--follow]`: the event log, read from the files (no daemon needed), then, with
 * --follow, live through the daemon (`events.subscribe`) or, with none running, by watching the files.
 * With --json each event is one NDJSON line, written through `ndjson.stringify()` piped to stdout,
 * waiting for it to drain so a slow reader slows the reading rather than filling memory.
 */

interface EventsOptions { from?: number | undefined; types?: string[] | undefined; stream?: string | undefined; follow: boolean }

interface Sink {
  write(e: StoredEvent | LogEvent): Promise<void>;
  end(): Promise<void>;
}

async function ndjsonSink(): Promise<Sink> {
  const ndjson = (await import('ndjson')).default;
  const serializer: Transform = ndjson.stringify();
  serializer.pipe(process.stdout, { end: false });
  serializer.once('data', () => writeStdout(''));
  return {
    async write(e) {
      if (!serializer.write(e)) await once(serializer, 'drain');
    },
    async end() {
      serializer.end();
      await once(serializer, 'end');
      if (process.stdout.writableNeedDrain) await once(process.stdout, 'drain');
    },
  };
}

function textSink(): Sink {
  return {
    write(e) {
      let data = JSON.stringify(e.data);
      if (data.length > 160) data = `${data.slice(0, 157)}...`;
      out(`${String(e.seq).padStart(6)}  ${style.dim(e.ts)}  ${e.type.padEnd(20)} ${e.stream.padEnd(28)} ${data}`);
      return Promise.resolve();
    },
    end: () => Promise.resolve(),
  };
}

/** The events of the files from `from`, in pages (so a slow stdout is waited for between pages). */
async function fromFiles(root: string, from: number, filter: EventFilter, sink: Sink): Promise<number> {
  let last = from - 1;
  for (;;) {
    const page: StoredEvent[] = [];
    const stopped: { at?: DamageAt } = {};
    forEachEvent(root, (e) => {
      last = e.seq;
      if (matchesFilter(e, filter)) page.push(e);
      return page.length < 500;
    }, { fromSeq: last + 1, onDamage: (at) => { stopped.at = at; } });
    for (const e of page) await sink.write(e);
    if (stopped.at !== undefined) {
      await sink.end();
      throw damagedRead(stopped.at, 'the events after it were not printed');
    }
    if (page.length < 500) return last;
  }
}

export async function eventsCommand(g: ResolvedGlobals, o: EventsOptions): Promise<number> {
  if (o.from !== undefined && (!Number.isSafeInteger(o.from) || o.from < 1)) {
    throw new ArpdError('E_VALIDATION', `--from takes a seq number (1 or more), not '${String(o.from)}'`, { field: '--from', usage: true });
  }
  // as the daemon refuses types: [''] (it matched nothing here and on the socket, everything over HTTP)
  if (o.types?.some((type) => type.trim() === '') === true) {
    throw new ArpdError('E_VALIDATION', "--type takes an event type such as 'run.succeeded', or a family ending in '.' such as 'run.', not an empty text", { field: '--type', usage: true });
  }
  // as the daemon refuses a type with a comma or whitespace (no event type holds one: it matched nothing in the files)
  const listed = o.types?.find((type) => /[,\s]/u.test(type));
  if (listed !== undefined) {
    throw new ArpdError('E_VALIDATION', `--type takes one event type, with no commas or spaces, not '${listed}': repeat --type for several (--type run. --type instance.ready)`, { field: '--type', usage: true });
  }
  const filter: EventFilter = { ...(o.types === undefined ? {} : { types: o.types }), ...(o.stream === undefined ? {} : { stream: o.stream }) };
  const sink = g.json ? await ndjsonSink() : textSink();
  if (storeInPostgres(g.dataDir)) return fromDaemon(g, o, sink);
  let last = await fromFiles(g.dataDir, o.from ?? 1, filter, sink);
  if (!o.follow) { await sink.end(); return 0; }
  // Follow through the daemon when one runs (pushed as it appends), else by watching the files.
  let arpd;
  try {
    arpd = await connect({ dataDir: g.dataDir, socketPath: g.paths.socket, connectTimeoutMs: 1000, timeoutMs: 0 });
  } catch (err) {
    if (!(err instanceof ArpdError) || err.code !== 'E_DAEMON_NOT_RUNNING') throw err;
  }
  if (arpd !== undefined) {
    if (!g.json) info(style.dim('following through the daemon (Ctrl-C to stop)', process.stderr));
    try {
      for await (const e of arpd.events.subscribe({ fromSeq: last + 1, ...(o.types === undefined ? {} : { types: o.types }), ...(o.stream === undefined ? {} : { stream: o.stream }) })) {
        if (e.seq > last) { last = e.seq; await sink.write(e); }
      }
    } catch (err) {
      if (!(err instanceof ArpdError) || (err.code !== 'E_UNAVAILABLE' && err.code !== 'E_DAEMON_NOT_RUNNING')) throw err;
      if (!g.json) info(style.dim('the daemon went away: following the log files (Ctrl-C to stop)', process.stderr));
    } finally {
      await arpd.close();
    }
  } else if (!g.json) {
    info(style.dim('no daemon running: following the log files (Ctrl-C to stop)', process.stderr));
  }
  for (;;) {
    await new Promise((r) => setTimeout(r, 250));
    last = await fromFiles(g.dataDir, last + 1, filter, sink);
  }
}

/**
 * The events of a data dir whose daemon keeps them in PostgreSQL (`--store`): there are no files to read, so they are
 * read through its daemon, in pages (`events.read`), then, with --follow, live (`events.subscribe`).
 */
async function fromDaemon(g: ResolvedGlobals, o: EventsOptions, sink: Sink): Promise<number> {
  let arpd;
  try {
    arpd = await connect({ dataDir: g.dataDir, socketPath: g.paths.socket, connectTimeoutMs: 1000, timeoutMs: g.timeoutMs, timeoutHint: CLI_TIMEOUT_HINT });
  } catch (err) {
    if (!(err instanceof ArpdError) || err.code !== 'E_DAEMON_NOT_RUNNING') throw err;
    throw new ArpdError('E_DAEMON_NOT_RUNNING', `the events of ${g.dataDir} are in PostgreSQL (--store) and are read through its daemon, which is not running: start it ('arpd daemon start --store …' or with ARPD_STORE_URL)`, { data_dir: g.dataDir });
  }
  const q = { ...(o.types === undefined ? {} : { types: o.types }), ...(o.stream === undefined ? {} : { stream: o.stream }) };
  try {
    let from = o.from ?? 1;
    for (;;) {
      const page = await arpd.events.read({ ...q, fromSeq: from, limit: 500 });
      for (const e of page.events) await sink.write(e);
      if (page.next_seq <= from || page.next_seq > page.head_seq) { from = page.next_seq; break; }
      from = page.next_seq;
    }
    if (o.follow) {
      if (!g.json) info(style.dim('following through the daemon (Ctrl-C to stop)', process.stderr));
      for await (const e of arpd.events.subscribe({ ...q, fromSeq: from })) await sink.write(e);
    }
  } finally {
    await arpd.close();
  }
  await sink.end();
  return 0;
}
