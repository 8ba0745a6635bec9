/**
 * The one file that loads OpenTelemetry: `run-tracer.ts` imports it dynamically, and only when an OTLP endpoint
 * is set, so a daemon without one never loads the SDK or the exporter. It turns span plans (run-trace-draft.ts)
 * into SDK spans with the plan's own ids and times, and exports them in batches over OTLP/HTTP (JSON) to
 * `<endpoint>/v1/traces` with the official exporter. Headers such as a collector's token come from the standard
 * `OTEL_EXPORTER_OTLP_HEADERS`. OpenTelemetry's own warnings and errors (a bad `OTEL_*` variable, such as
 * `OTEL_EXPORTER_OTLP_TIMEOUT=abc`) go to the daemon log while the sink is up (`diagToLog`).
 */
import { DiagLogLevel, ROOT_CONTEXT, SpanStatusCode, createTraceState, diag, trace, type Context, type DiagLogger, type Span } from '@opentelemetry/api';
import { format } from 'node:util';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type IdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { PlannedSpan, SpanPlan } from './run-trace-draft.js';
import { shownText, shownUrl } from './shown-url.js';

export interface SpanSink {
  export(plan: SpanPlan): void;
  /** Sends what is pending (bounded by `timeoutMs`), then stops. */
  shutdown(timeoutMs: number): Promise<void>;
}

export interface OtlpSinkOptions {
  /** The collector's base URL (spans go to `<endpoint>/v1/traces`). */
  endpoint: string;
  serviceVersion: string;
  /** Export failures are told here (at most one a minute), and OpenTelemetry's own warnings (at most ten a minute). */
  warn(message: string, details: Record<string, unknown>): void;
  /** How long spans wait to be batched (default 1000 ms). */
  scheduledDelayMs?: number;
}

/** Ids come from the plan, not from chance: each span is started right after its ids are set (startSpan is synchronous). */
class PlannedIds implements IdGenerator {
  traceId = '';
  spanId = '';
  generateTraceId(): string {
    return this.traceId;
  }

  generateSpanId(): string {
    return this.spanId;
  }
}

/**
 * What the exporter hands the SDK for a batch it could not send, once it has told the daemon log itself: the SDK
 * passes it on to its error handler, which logs it through `diag` (below), with a stack, for every batch.
 */
const TOLD = 'arpd: this export failure is told in the daemon log (once a minute)';

/** OpenTelemetry's diagnostics at most this often, so a noisy SDK cannot fill the daemon log. */
const DIAG_LINES_PER_MINUTE = 10;

/**
 * OpenTelemetry's own diagnostics (`diag` of @opentelemetry/api: a bad `OTEL_*` variable, spans dropped) at warn
 * level and above, as warnings of the daemon log: with no logger set they went nowhere, so a user never saw that a
 * variable was ignored. URLs in them lose their credentials (`shownText`); failures the exporter told already are
 * left out; at most DIAG_LINES_PER_MINUTE lines a minute, the next line after a quiet stretch says how many were left out.
 */
function diagToLog(warn: OtlpSinkOptions['warn']): DiagLogger {
  let minuteFrom = 0;
  let told = 0;
  let leftOut = 0;
  const tell = (level: 'error' | 'warn') => (message: string, ...args: unknown[]): void => {
    const text = format(message, ...args);
    if (text.includes(TOLD)) return;
    const now = Date.now();
    if (now - minuteFrom >= 60_000) { minuteFrom = now; told = 0; }
    if (told >= DIAG_LINES_PER_MINUTE) { leftOut++; return; }
    told++;
    const more = leftOut === 0 ? '' : ` (${leftOut} more OpenTelemetry messages were left out before this one)`;
    leftOut = 0;
    warn(`OpenTelemetry: ${shownText(text).slice(0, 2000)}${more}`, { source: 'opentelemetry', diag_level: level });
  };
  const ignore = (): void => undefined;
  return { error: tell('error'), warn: tell('warn'), info: ignore, debug: ignore, verbose: ignore };
}

/** The exporter, telling the daemon log when a batch could not be sent (a collector that is down). */
class WarningExporter implements SpanExporter {
  private lastWarning = 0;

  constructor(private readonly inner: SpanExporter, private readonly warn: OtlpSinkOptions['warn'], private readonly url: string) {}

  export(spans: ReadableSpan[], done: (result: { code: number; error?: Error }) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== 0 && Date.now() - this.lastWarning > 60_000) {
        this.lastWarning = Date.now();
        this.warn(`could not export ${spans.length} spans to ${this.url}: ${result.error?.message ?? 'the collector refused them'} (later failures are told once a minute)`, { url: this.url });
      }
      done(result.code === 0 ? result : { code: result.code, error: new Error(TOLD) });
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

const STATUS = { unset: SpanStatusCode.UNSET, ok: SpanStatusCode.OK, error: SpanStatusCode.ERROR } as const;

export function createOtlpSink(o: OtlpSinkOptions): SpanSink {
  const url = `${o.endpoint.replace(/\/+$/, '')}/v1/traces`;
  const ids = new PlannedIds();
  // before the exporter and the provider read their OTEL_* variables
  diag.setLogger(diagToLog(o.warn), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  const exporter = new WarningExporter(new OTLPTraceExporter({ url, timeoutMillis: 10_000 }), o.warn, shownUrl(url));
  const provider = new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ 'service.name': 'arpd', 'service.version': o.serviceVersion, 'process.pid': process.pid })),
    idGenerator: ids,
    spanLimits: { eventCountLimit: 300, attributeValueLengthLimit: 2048 },
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: o.scheduledDelayMs ?? 1000, maxQueueSize: 8192, maxExportBatchSize: 512, exportTimeoutMillis: 10_000 })],
  });
  const tracer = provider.getTracer('arpd');

  const start = (p: PlannedSpan, traceId: string, parent: Context): Span => {
    ids.traceId = traceId;
    ids.spanId = p.spanId;
    return tracer.startSpan(p.name, { startTime: new Date(p.start), attributes: p.attributes }, parent);
  };
  const finish = (span: Span, p: PlannedSpan): void => {
    for (const e of p.events) span.addEvent(e.name, e.attributes, new Date(e.time));
    if (p.status.code !== 'unset') span.setStatus({ code: STATUS[p.status.code], ...(p.status.message === undefined ? {} : { message: p.status.message }) });
    span.end(new Date(p.end));
  };

  return {
    export(plan) {
      const [rootPlan, ...children] = plan.spans;
      if (rootPlan === undefined) return;
      const parent = plan.parent === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, {
        traceId: plan.parent.traceId,
        spanId: plan.parent.spanId,
        traceFlags: plan.parent.sampled ? 1 : 0,
        isRemote: true,
        ...(plan.tracestate === undefined ? {} : { traceState: createTraceState(plan.tracestate) }),
      });
      const root = start(rootPlan, plan.traceId, parent);
      const under = trace.setSpan(ROOT_CONTEXT, root);
      for (const c of children) finish(start(c, plan.traceId, under), c);
      finish(root, rootPlan);
    },
    async shutdown(timeoutMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        provider.shutdown().catch(() => undefined),
        new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); }),
      ]);
      if (timer !== undefined) clearTimeout(timer);
      diag.disable();
    },
  };
}
