/** `GET /metrics` in the Prometheus text format. */
import express, { type Router } from 'express';
import type { KeelMetrics } from '../../metrics/keel-metrics.js';

export function metricsRouter(metrics: KeelMetrics): Router {
  const router = express.Router();
  router.get('/metrics', async (_req, res) => {
    res.status(200).set('Content-Type', metrics.registry.contentType).end(await metrics.registry.metrics());
  });
  return router;
}
