import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { ArpdError } from '../errors/index.js';
import type { RuntimeClient } from './runtime-client.js';

export interface SseMessage { id?: string | undefined; event?: string | undefined; data: string }

export interface StreamOptions {
  signal?: AbortSignal;
  lastEventId?: string;
  traceparent?: string;
  /** A message (or the bytes before one ends) larger than this ends the stream with E_TRACE_LIMIT. */
  maxMessageBytes: number;
}

/**
 * Follows a runtime's `GET /v1/runs/{id}/events` (Server-Sent Events, parsed by eventsource-parser).
 * Yields the messages of each chunk read, in order, as one array (a runtime that writes thousands of events at once
 * costs one generator step per chunk, not one per event); ends when the runtime closes the stream. Throws E_METHOD_NOT_FOUND when the
 * runtime offers no event stream (404/405/not text/event-stream), so the caller can poll instead;
 * E_RUNTIME_LOST when it cannot be reached or breaks off; E_TRACE_LIMIT when a message grows past the
 * limit (the parser never buffers an unbounded line).
 */
export async function* streamRunEvents(client: RuntimeClient, endpoint: string, runId: string, opts: StreamOptions): AsyncGenerator<SseMessage[]> {
  let res;
  try {
    res = await client.open('GET', `${endpoint.replace(/\/+$/, '')}/v1/runs/${encodeURIComponent(runId)}/events`, {
      accept: 'text/event-stream',
      timeoutMs: 10_000,
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      ...(opts.traceparent === undefined ? {} : { traceparent: opts.traceparent }),
      ...(opts.lastEventId === undefined ? {} : { headers: { 'last-event-id': opts.lastEventId } }),
    });
  } catch (err) {
    if (err instanceof ArpdError && err.code === 'E_CANCELED') return;
    throw err;
  }
  const type = String(res.headers['content-type'] ?? '');
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300 || !type.includes('text/event-stream')) {
    res.resume();
    if (status >= 500) throw new ArpdError('E_RUNTIME_ERROR', `runtime at ${endpoint} answered the event stream with ${status}`, { endpoint, http_status: status });
    throw new ArpdError('E_METHOD_NOT_FOUND', `runtime at ${endpoint} offers no event stream for runs (${status})`, { endpoint, http_status: status });
  }
  let queue: SseMessage[] = [];
  const parser = createParser({
    onEvent(m: EventSourceMessage) {
      queue.push(m);
    },
  });
  const decoder = new TextDecoder();
  let pending = 0;
  try {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      pending += chunk.length;
      parser.feed(decoder.decode(chunk, { stream: true }));
      if (queue.length > 0) pending = 0;
      else if (pending > opts.maxMessageBytes) {
        res.destroy();
        throw new ArpdError('E_TRACE_LIMIT', `runtime at ${endpoint} sent an event stream message of more than ${opts.maxMessageBytes} bytes: arpd failed the run to protect the disk`, { endpoint, limit: opts.maxMessageBytes });
      }
      if (queue.length === 0) continue;
      const batch = queue;
      queue = [];
      for (let i = 0; i < batch.length; i++) {
        const m = batch[i] as SseMessage;
        // a UTF-16 length a third of the limit cannot be over it in UTF-8
        if (m.data.length * 3 > opts.maxMessageBytes && Buffer.byteLength(m.data) > opts.maxMessageBytes) {
          res.destroy();
          if (i > 0) yield batch.slice(0, i); // the events before it are the run's, as they came
          throw new ArpdError('E_TRACE_LIMIT', `runtime at ${endpoint} sent an event of ${Buffer.byteLength(m.data)} bytes, over the limit of ${opts.maxMessageBytes}: arpd failed the run to protect the disk`, { endpoint, limit: opts.maxMessageBytes });
        }
      }
      yield batch;
    }
  } catch (err) {
    if (err instanceof ArpdError) throw err;
    if (opts.signal?.aborted === true || (err as Error).name === 'AbortError') return;
    throw new ArpdError('E_RUNTIME_LOST', `the event stream from ${endpoint} broke (${(err as Error).message})`, { endpoint }, { cause: err });
  }
}
