import { ArpdError } from '../errors/index.js';

/** One Server-Sent Event as the daemon sends it: `event` names it, `data` is one JSON text. */
export interface SseMessage {
  event: string;
  data: string;
  id?: string | undefined;
}

/** The largest event (or unfinished line) held in memory; the daemon's largest is one trace line. */
const DEFAULT_MAX_SSE_EVENT_CHARS = 16 * 1024 * 1024;

/**
 * Reads a text/event-stream body as events, pulling a chunk only when the reader asks for the next
 * event (so a slow reader slows the TCP stream, and the daemon drops it if it falls far behind). The
 * parser is `eventsource-parser`, imported here and only here, when a stream is opened: importing
 * the client loads no package. At most `maxEventChars` of an unfinished event are held.
 */
export async function* readSse(body: AsyncIterable<Uint8Array>, maxEventChars = DEFAULT_MAX_SSE_EVENT_CHARS): AsyncGenerator<SseMessage, void, undefined> {
  const { createParser } = await import('eventsource-parser');
  let ready: SseMessage[] = [];
  let failure: ArpdError | undefined;
  const parser = createParser({
    maxBufferSize: maxEventChars,
    onEvent: (m) => { ready.push({ event: m.event ?? 'message', data: m.data, ...(m.id === undefined ? {} : { id: m.id }) }); },
    onError: (err) => {
      if (err.type === 'max-buffer-size-exceeded') {
        failure ??= new ArpdError('E_TOO_LARGE', `the daemon sent an event over ${maxEventChars} characters: the stream was closed`, { limit: maxEventChars });
      }
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of body) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    const batch = ready;
    ready = [];
    yield* batch;
    if (failure !== undefined) throw failure;
  }
}
