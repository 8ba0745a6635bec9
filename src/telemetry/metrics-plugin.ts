import type { FastifyInstance } from 'fastify';
import type { ArpdMetrics } from './arpd-metrics.js';

/**
 * The HTTP side of the metrics, as a plugin of the daemon's HTTP app (`HttpServer`'s `plugins`):
 * - `GET /metrics`: the exposition in the Prometheus text format. It is behind the same auth as every route (the
 *   app's hook checks the token, or JWT); with `--metrics-public` the app lets this one path through without.
 * - every answer is counted by method, route pattern (`/v1/runs/{run_id}`: never the raw URL, so ids and query
 *   strings make no series; `unmatched` when no route matched) and status, with its latency: not here, but through the
 *   app's `onAnswered` (telemetry-parts.ts `onHttpAnswer`), which costs less than an `onResponse` hook;
 * - open HTTP connections are counted.
 */
export function metricsPlugin(metrics: ArpdMetrics): (app: FastifyInstance) => void {
  return (app) => {
    app.server.on('connection', (socket) => {
      metrics.httpConnectionOpened();
      socket.once('close', () => metrics.httpConnectionClosed());
    });

    app.get('/metrics', {
      schema: {
        tags: ['arpd'],
        summary: 'Prometheus metrics (arpd)',
        description: 'arpd\'s metrics in the Prometheus text format (docs/observability.md lists them). Needs the token like every route, unless the daemon runs with --metrics-public.',
      },
    }, async (_req, reply) => {
      const text = await metrics.exposition();
      return reply.type(metrics.contentType).send(text);
    });
  };
}
