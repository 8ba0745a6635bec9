/**
 * The one file that loads OpenTelemetry: `run-tracer.ts` imports it dynamically, and only when an OTLP endpoint
 * is set, so a daemon without one never loads the SDK or the exporter. It turns span plans (run-trace-draft.ts)
 * into SDK spans with the plan's own ids and times, and exports them in batches over OTLP/HTTP (JSON) to
 * `<endpoint>/v1/traces` with the official exporter. Headers such as a collector's token come from the standard
 * `OTEL_EXPORTER_OTLP_HEADERS`.
 */
import { ROOT_CONTEXT, SpanStatusCode, createTraceState, trace, type Context, type Span } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type IdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import type { PlannedSpan, SpanPlan } from './run-trace-draft.js';
import { shownUrl } from './shown-url.js';

export interface SpanSink {
  export(plan: SpanPlan): void;
  /** Sends what is pending (bounded by `timeoutMs`), then stops. */
  shutdown(timeoutMs: number): Promise<void>;
}

export interface OtlpSinkOptions {
  /** The collector's base URL (spans go to `<endpoint>/v1/traces`). */
  endpoint: string;
  serviceVersion: string;
  /** Export failures are told here (at most one a minute). */
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
      done(result);
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
    },
  };
}
